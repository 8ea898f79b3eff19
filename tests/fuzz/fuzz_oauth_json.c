/* libFuzzer harness for what popgate reads from OAuth2 endpoints and IMAP
   servers (oauth_json.h) and from the state store (oauth_record.h): any
   bytes must give a clean result, and whatever is accepted must hold only
   what the contracts allow (a b64token, printable codes). The first byte
   picks the parser. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth_json.h"
#include "oauth_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_oauth_json: %s\n", what);
	abort();
}

static void fuzz_check_token(const char *s)
{
	if (s == NULL)
		return;
	if (s[0] == '\0' || strlen(s) > OAUTH_TOKEN_MAX)
		fuzz_fail("token length");
	for (const char *p = s; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' || *p == ',')
			fuzz_fail("token character");
	}
}

static void fuzz_check_printable(const char *s)
{
	for (const char *p = s; p != NULL && *p != '\0'; p++) {
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			fuzz_fail("unprintable character accepted");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data + 1;
	size_t len = size > 0 ? size - 1 : 0;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0: {
		struct oauth_token_reply r;
		enum oauth_json_kind k = oauth_json_token(json, len, &r);

		if (k == OAUTH_JSON_OK) {
			if (r.access_token == NULL)
				fuzz_fail("ok without a token");
			fuzz_check_token(r.access_token);
			fuzz_check_token(r.refresh_token);
		} else if (r.access_token != NULL || r.refresh_token != NULL) {
			fuzz_fail("a token kept from a refused reply");
		}
		if (k == OAUTH_JSON_ERROR)
			fuzz_check_printable(r.error);
		oauth_token_reply_clear(&r);
		break;
	}
	case 1: {
		struct oauth_device_reply r;

		if (oauth_json_device(json, len, &r) == OAUTH_JSON_OK) {
			fuzz_check_printable(r.user_code);
			fuzz_check_printable(r.verification_uri);
			fuzz_check_printable(r.verification_uri_complete);
			if (r.interval == 0 || r.expires_in == 0)
				fuzz_fail("zero interval or lifetime");
		}
		oauth_device_reply_clear(&r);
		break;
	}
	case 2: {
		char status[OAUTH_STATUS_MAX + 1];

		if (oauth_json_challenge_status(json, len, status, sizeof(status))) {
			if (strlen(status) == 0 || strlen(status) > OAUTH_STATUS_MAX)
				fuzz_fail("status length");
		}
		break;
	}
	default: {
		struct oauth_record rec;
		const char *why = NULL;

		if (oauth_record_parse(json, len, &rec, &why) == 0) {
			if (rec.box_len <= 16 || rec.log2_n < 10 || rec.log2_n > 20)
				fuzz_fail("record out of bounds");
		} else if (why == NULL) {
			fuzz_fail("refused without a reason");
		}
		oauth_record_clear(&rec);
		break;
	}
	}
	return 0;
}
