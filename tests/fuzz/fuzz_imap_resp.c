/*
 * libFuzzer harness for the IMAP response-line interpreter.
 *
 * Input: one response line's text (any bytes; imap_parse would never hand
 * over NUL, CR or LF, but the interpreter must cope). It is parsed as a
 * response; the code, capability and FETCH helpers run on every part of
 * it, and the whole input is also tried as a FETCH item list, whole and as
 * a prefix. All returned pointers must stay inside the input, and anything
 * that parses whole must parse the same as a prefix.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_within(const char *s, size_t len, const char *p, size_t n)
{
	if (p == NULL) {
		CHECK(n == 0);
		return;
	}
	if (p >= s && p <= s + len) {
		CHECK(n <= (size_t)(s + len - p));
		return;
	}
	/* Only the empty default may lie elsewhere. */
	CHECK(n == 0 && *p == '\0');
}

static void check_fetch(const char *items, size_t len)
{
	struct imap_fetch f, g;
	const char *error = NULL;
	char *unq;
	size_t n;

	if (imap_fetch_parse(items, len, true, &g, &error) < 0)
		CHECK(error != NULL);
	if (imap_fetch_parse(items, len, false, &f, &error) < 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(memchr(f.body.section, '\0', sizeof(f.body.section)) != NULL);
	CHECK(f.body_count > 0 || f.body.kind == IMAP_VALUE_NONE);
	CHECK(!f.ends_with_body_literal);
	CHECK(!f.has_uid || f.uid != 0);
	CHECK(f.size <= INT64_MAX);
	if (f.body.kind == IMAP_VALUE_QUOTED) {
		check_within(items, len, f.body.value, f.body.value_len);
		unq = malloc(f.body.value_len + 1);
		CHECK(unq != NULL);
		n = imap_unquote(f.body.value, f.body.value_len, unq);
		CHECK(n <= f.body.value_len);
		free(unq);
	}
	CHECK(imap_fetch_parse(items, len, true, &g, &error) == 0);
	CHECK(g.has_uid == f.has_uid && g.uid == f.uid &&
	      g.has_size == f.has_size && g.size == f.size &&
	      g.has_flags == f.has_flags && g.flags == f.flags &&
	      g.body_count == f.body_count &&
	      strcmp(g.body.section, f.body.section) == 0 &&
	      g.body.kind == f.body.kind &&
	      g.body.literal_size == f.body.literal_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy so that reads past `size` are caught by ASan. */
	char *line = malloc(size + 1);
	struct imap_resp r;
	const char *error = NULL, *args;
	size_t args_len;
	uint32_t num;

	CHECK(line != NULL);
	memcpy(line, data, size);
	(void)imap_caps_parse(line, size);
	check_fetch(line, size);
	{
		/* LIST data and date-times: bounded output, sane ranges */
		char name[64];
		unsigned int attrs;
		int64_t t;

		if (imap_list_parse(line, size, &attrs, name, sizeof(name), &error) == 0)
			CHECK(strlen(name) < sizeof(name));
		if (imap_parse_date_time(line, size, &t) == 0)
			CHECK(t > -62200000000LL && t < 253500000000LL);
		/* NAMESPACE: a prefix that fits, without NUL */
		char prefix[16], delim = 'x';

		if (imap_namespace_personal(line, size, prefix, sizeof(prefix), &delim,
					    &error) == 0)
			CHECK(strlen(prefix) < sizeof(prefix) && memchr(line, '"', size) != NULL);
		else
			CHECK(error != NULL);
	}
	if (imap_resp_parse(line, size, &r, &error) < 0) {
		CHECK(error != NULL);
		free(line);
		return 0;
	}
	check_within(line, size, r.tag, r.tag_len);
	check_within(line, size, r.keyword, r.keyword_len);
	check_within(line, size, r.code, r.code_len);
	check_within(line, size, r.text, r.text_len);
	check_within(line, size, r.rest, r.rest_len);
	CHECK((r.kind == IMAP_RESP_TAGGED) == (r.tag != NULL));
	CHECK((r.kind == IMAP_RESP_CONTINUATION) == (r.keyword == NULL));
	CHECK(r.code == NULL || r.status != IMAP_STATUS_NONE ||
	      r.kind == IMAP_RESP_CONTINUATION);
	if (imap_code_is(&r, "CAPABILITY", &args, &args_len)) {
		check_within(line, size, args, args_len);
		(void)imap_caps_parse(args, args_len);
	}
	if (imap_code_number(&r, "UIDVALIDITY", &num) == 0)
		CHECK(r.code != NULL);
	(void)imap_code_number(&r, "UIDNEXT", &num);
	(void)imap_resp_keyword_is(&r, "FETCH");
	check_fetch(r.rest, r.rest_len);
	free(line);
	return 0;
}
