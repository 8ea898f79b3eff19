/*
 * libFuzzer harness for the IMAP command builders.
 *
 * Input: byte 0 = flags (bit 0 LITERAL+, bit 1 SASL-IR, bits 2-3 the ID
 * field the user bytes are tried as), bytes 1-2 = where to split the rest
 * into user name and password (little endian, modulo the rest's length + 1;
 * also the ports sent in ID). Whatever the bytes, a credential the builder
 * accepts must come out inside exactly-sized literals (LOGIN) or as the
 * base64 of exactly "\0user\0pass" (AUTHENTICATE), an ID value it accepts
 * must come out as exactly one quoted string in a one-line ID, and anything
 * it refuses must be something the contract says to refuse. The user bytes
 * also go through imap_cmd_format() as a %b string (bits 4-6 of byte 0:
 * LITERAL+, LITERAL-, UTF8=ACCEPT) and as a %S sequence set: a string
 * must read back as exactly those bytes (a NUL refused), a set must be
 * taken exactly when it holds only [0-9:,*].
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_cmd.h"
#include "imap_cmd_check.h"
#include "imap_format_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_imap_cmd: %s: %s\n", what, why);
	abort();
}

static bool fuzz_cred_ok(const char *s, size_t len)
{
	return len > 0 && len <= IMAP_CRED_MAX && memchr(s, '\0', len) == NULL;
}

static bool fuzz_tag_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > IMAP_TAG_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static void fuzz_login(struct imap_cmd_text *cmd, const char *user,
		       size_t user_len, const char *pass, size_t pass_len,
		       bool literal_plus)
{
	const char *error = NULL, *why;
	bool want = fuzz_cred_ok(user, user_len) &&
		fuzz_cred_ok(pass, pass_len);
	int ret = imap_cmd_login(cmd, "A1", user, user_len, pass, pass_len,
				 literal_plus, &error);

	if (!want) {
		if (ret != -1 || error == NULL || cmd->len != 0)
			fuzz_fail("LOGIN", "bad credential accepted");
		return;
	}
	if (ret != 0)
		fuzz_fail("LOGIN", "good credential refused");
	why = imap_check_login(cmd, "A1", user, user_len, pass, pass_len,
			       literal_plus);
	if (why != NULL)
		fuzz_fail("LOGIN", why);
}

static void fuzz_authenticate(struct imap_cmd_text *cmd, const char *user,
			      size_t user_len, const char *pass,
			      size_t pass_len, bool sasl_ir)
{
	bool want = fuzz_cred_ok(user, user_len) &&
		fuzz_cred_ok(pass, pass_len);
	size_t cap = 2 + user_len + pass_len;
	char *msg = malloc(cap);
	char *b64 = malloc(4 * (cap / 3 + 1) + 1);
	const char *error = NULL, *why;
	size_t len, b64_len;

	if (msg == NULL || b64 == NULL)
		abort();
	len = imap_sasl_plain_message(user, user_len, pass, pass_len,
				      msg, cap);
	if (!want) {
		if (len != 0)
			fuzz_fail("SASL PLAIN", "bad credential accepted");
		goto out;
	}
	if (len != cap || msg[0] != '\0' || msg[1 + user_len] != '\0' ||
	    memcmp(msg + 1, user, user_len) != 0 ||
	    memcmp(msg + 2 + user_len, pass, pass_len) != 0)
		fuzz_fail("SASL PLAIN", "message is not \\0user\\0pass");
	if (imap_sasl_plain_message(user, user_len, pass, pass_len,
				    msg, cap - 1) != 0)
		fuzz_fail("SASL PLAIN", "overflowed a short buffer");
	b64_len = imap_check_b64_encode((const unsigned char *)msg, len, b64);
	if (imap_cmd_authenticate_plain(cmd, "A2", b64, b64_len, sasl_ir,
					&error) != 0)
		fuzz_fail("AUTHENTICATE", "good response refused");
	why = imap_check_authenticate(cmd, "A2", b64, b64_len, sasl_ir);
	if (why != NULL)
		fuzz_fail("AUTHENTICATE", why);
out:
	free(msg);
	free(b64);
}

/* The raw user bytes as a would-be base64 response: a non-base64 byte,
   a wrong length or padding must be refused, never spliced in. */
static void fuzz_raw_b64(struct imap_cmd_text *cmd, const char *s,
			 size_t len, bool sasl_ir)
{
	const char *error = NULL, *why;
	size_t i;

	if (imap_cmd_authenticate_plain(cmd, "A3", s, len, sasl_ir,
					&error) != 0)
		return;
	if (len == 0 || len % 4 != 0)
		fuzz_fail("AUTHENTICATE", "accepted a partial quantum");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '+' || c == '/' ||
			(c == '=' && i >= len - 2 &&
			 (i == len - 1 || s[len - 1] == '='));

		if (!b64)
			fuzz_fail("AUTHENTICATE", "accepted a non-base64 byte");
	}
	why = imap_check_authenticate(cmd, "A3", s, len, sasl_ir);
	if (why != NULL)
		fuzz_fail("AUTHENTICATE raw", why);
}

/* The user bytes as trusted command text and as a tag. */
static void fuzz_simple(struct imap_cmd_text *cmd, const char *s, size_t len)
{
	char *args = malloc(len + 1);
	const char *error = NULL;
	size_t n, i;
	bool ctl = false;
	int ret;

	if (args == NULL)
		abort();
	memcpy(args, s, len);
	args[len] = '\0';
	n = strlen(args);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)args[i];

		if (c < 0x20 || c == 0x7f)
			ctl = true;
	}
	ret = imap_cmd_simple(cmd, "A4", args, &error);
	if (n == 0 || ctl) {
		if (ret != -1)
			fuzz_fail("simple", "control character accepted");
	} else if (ret != 0 || cmd->nparts != 1 || cmd->len != n + 5 ||
		   cmd->part_end[0] != cmd->len ||
		   memcmp(cmd->buf, "A4 ", 3) != 0 ||
		   memcmp(cmd->buf + 3, args, n) != 0 ||
		   memcmp(cmd->buf + 3 + n, "\r\n", 2) != 0) {
		fuzz_fail("simple", "wrong bytes");
	}

	ret = imap_cmd_simple(cmd, args, "NOOP", &error);
	if ((ret == 0) != fuzz_tag_ok(args, n))
		fuzz_fail("simple", "tag check wrong");
	free(args);
}

/* The contract of each ID field, restated. */
static bool fuzz_id_value_ok(unsigned int field, const char *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t i, n = strlen(v), max;
	const char *extra;

	if (field < 2) {
		if (n == 0 || n > IMAP_ID_IP_MAX ||
		    strspn(v, "0123456789abcdefABCDEF.:") != n)
			return false;
		return inet_pton(strchr(v, ':') != NULL ? AF_INET6 : AF_INET,
				 v, addr) == 1;
	}
	max = field == 2 ? IMAP_ID_SESSION_MAX : IMAP_ID_VERSION_MAX;
	extra = field == 2 ? "._-" : ".+~_-";
	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

/* The user bytes (up to a NUL) as one ID field. */
static void fuzz_id(struct imap_cmd_text *cmd, const char *s, size_t len,
		    unsigned int field, uint16_t port)
{
	static const char *const keys[] = {
		"x-originating-ip", "x-connected-ip", "x-session-ext-id", "version",
	};
	struct imap_id_params id = { .client_port = port };
	char *v = malloc(len + 1), portstr[8];
	const char *pairs[6], *error = NULL, *why;
	unsigned int n = 0;
	bool want;
	int ret;

	if (v == NULL)
		abort();
	memcpy(v, s, len);
	v[len] = '\0';
	if (field == 0)
		id.client_ip = v;
	else if (field == 1)
		id.local_ip = v;
	else if (field == 2)
		id.session_id = v;
	else
		id.version = v;
	want = fuzz_id_value_ok(field, v);
	ret = imap_cmd_id(cmd, "A5", &id, &error);
	if (!want) {
		if (ret != -1 || error == NULL || cmd->len != 0)
			fuzz_fail("ID", "bad value accepted");
		goto out;
	}
	if (ret != 0)
		fuzz_fail("ID", "good value refused");
	snprintf(portstr, sizeof(portstr), "%u", (unsigned int)port);
	pairs[n++] = "name";
	pairs[n++] = "popgate";
	/* The builder's order: version, then the client's address and port. */
	if (field == 3) {
		pairs[n++] = keys[field];
		pairs[n++] = v;
	}
	if (field == 0) {
		pairs[n++] = keys[field];
		pairs[n++] = v;
	}
	if (port != 0) {
		pairs[n++] = "x-originating-port";
		pairs[n++] = portstr;
	}
	if (field == 1 || field == 2) {
		pairs[n++] = keys[field];
		pairs[n++] = v;
	}
	why = imap_check_id(cmd, "A5", pairs, n / 2);
	if (why != NULL)
		fuzz_fail("ID", why);
out:
	free(v);
}

static void fuzz_format(struct imap_cmd_text *cmd, const char *s, size_t len,
			unsigned int flags)
{
	struct imap_cmd_opts opts = {
		.literal_plus = (flags & 0x10) != 0,
		.literal_minus = (flags & 0x20) != 0,
		.utf8 = (flags & 0x40) != 0,
	};
	struct format_string *got = malloc(sizeof(*got));
	const char *error = NULL, *why;
	size_t pos = strlen("A1 SELECT ");
	unsigned int part = 0;
	char *set;
	int ret;

	if (got == NULL || len > sizeof(got->data)) {
		free(got);
		return;
	}
	ret = imap_cmd_format(cmd, "A1", &opts, &error, "SELECT %b", s, len);
	if (memchr(s, '\0', len) != NULL) {
		if (ret == 0)
			fuzz_fail("format", "accepted a NUL");
		free(got);
		return;
	}
	if (ret < 0)
		fuzz_fail("format", error);
	why = format_read_string(cmd, &pos, &part, got);
	if (why != NULL)
		fuzz_fail("format", why);
	if (got->len != len || memcmp(got->data, s, len) != 0)
		fuzz_fail("format", "string did not read back");
	if (pos + 2 != cmd->len || memcmp(cmd->buf + pos, "\r\n", 2) != 0 ||
	    cmd->nparts != part + 1 || cmd->part_end[part] != cmd->len)
		fuzz_fail("format", "command does not end after the string");
	free(got);

	set = malloc(len + 1);
	if (set == NULL)
		return;
	memcpy(set, s, len);
	set[len] = '\0';
	ret = imap_cmd_format(cmd, "A1", &opts, &error, "UID STORE %S +FLAGS (\\Seen)", set);
	if ((ret == 0) != (len > 0 && strlen(set) == len && strspn(set, "0123456789:,*") == len))
		fuzz_fail("format", "sequence set check");
	free(set);
}

/* The OAuth2 messages: built only from a control-free user and a
   b64token, and then exactly the framing around them (no ^A of the
   arguments can end a field). */
static void fuzz_sasl_oauth(const char *user, size_t user_len, const char *token,
			    size_t token_len)
{
	static char buf[IMAP_SASL_OAUTH_MAX];
	const char *error = NULL;
	size_t n, ctl = 0;

	n = imap_sasl_xoauth2_message(user, user_len, token, token_len, buf, sizeof(buf),
				      &error);
	if (n == 0) {
		if (error == NULL)
			fuzz_fail("xoauth2", "no reason");
	} else {
		if (n != user_len + token_len + 5 + 13 + 2 ||
		    memcmp(buf + 5, user, user_len) != 0)
			fuzz_fail("xoauth2", "not the framing around the arguments");
		for (size_t i = 0; i < n; i++)
			ctl += buf[i] == '\001';
		if (ctl != 3)
			fuzz_fail("xoauth2", "a separator inside an argument");
	}
	error = NULL;
	n = imap_sasl_oauthbearer_message(user, user_len, "imap.example.com", 993, token,
					  token_len, buf, sizeof(buf), &error);
	if (n == 0) {
		if (error == NULL)
			fuzz_fail("oauthbearer", "no reason");
		return;
	}
	ctl = 0;
	for (size_t i = 0; i < n; i++)
		ctl += buf[i] == '\001';
	if (ctl != 5)
		fuzz_fail("oauthbearer", "a separator inside an argument");
	if (memchr(buf + 4, ',', n - 4) == NULL ||
	    ((const char *)memchr(buf + 4, ',', n - 4))[1] != '\001')
		fuzz_fail("oauthbearer", "a ',' inside the saslname");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_cmd_text cmd = { 0 };
	const char *rest, *user, *pass;
	size_t rest_len, split, user_len, pass_len;
	unsigned int flags;

	if (size < 3)
		return 0;
	flags = data[0];
	split = (size_t)data[1] | ((size_t)data[2] << 8);
	rest = (const char *)data + 3;
	rest_len = size - 3;
	split %= rest_len + 1;
	user = rest;
	user_len = split;
	pass = rest + split;
	pass_len = rest_len - split;

	fuzz_login(&cmd, user, user_len, pass, pass_len, flags & 1);
	fuzz_authenticate(&cmd, user, user_len, pass, pass_len, flags & 2);
	fuzz_raw_b64(&cmd, user, user_len, flags & 2);
	fuzz_simple(&cmd, user, user_len);
	fuzz_id(&cmd, user, user_len, (flags >> 2) & 3, (uint16_t)split);
	fuzz_format(&cmd, user, user_len, flags);
	fuzz_sasl_oauth(user, user_len, pass, pass_len);
	imap_cmd_text_clear(&cmd);
	return 0;
}
