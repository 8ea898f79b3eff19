/* IMAP command builders: exact bytes, part boundaries, and an adversarial
   table proving credentials only ever travel inside literals. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "imap_cmd.h"
#include "imap_cmd_check.h"

/* Compares the whole buffer, NULs included. */
#define ck_assert_bytes(cmd, lit) do { \
	ck_assert_uint_eq((cmd)->len, sizeof(lit) - 1); \
	ck_assert_int_eq(memcmp((cmd)->buf, lit, sizeof(lit) - 1), 0); \
} while (0)

START_TEST(simple_exact)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_simple(&cmd, "A1", "SELECT INBOX", &error), 0);
	ck_assert_bytes(&cmd, "A1 SELECT INBOX\r\n");
	ck_assert_uint_eq(cmd.nparts, 1);
	ck_assert_uint_eq(cmd.part_end[0], cmd.len);

	/* The buffer is reused and fully replaced. */
	ck_assert_int_eq(imap_cmd_simple(&cmd, "A2", "NOOP", &error), 0);
	ck_assert_bytes(&cmd, "A2 NOOP\r\n");
	ck_assert_uint_eq(cmd.nparts, 1);

	imap_cmd_text_clear(&cmd);
	ck_assert_ptr_null(cmd.buf);
	ck_assert_uint_eq(cmd.len, 0);
	ck_assert_uint_eq(cmd.nparts, 0);
	/* Clearing twice is harmless. */
	imap_cmd_text_clear(&cmd);
}
END_TEST

static const char *const bad_simple_args[] = {
	"",
	"SELECT INBOX\r\nA2 LOGOUT",
	"SELECT\rINBOX",
	"SELECT\nINBOX",
	"SELECT\tINBOX",
	"NOOP\x7f",
	"NOOP\x1b[0m",
};

START_TEST(simple_refuses_control)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_simple(&cmd, "A1", bad_simple_args[_i],
					 &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_uint_eq(cmd.len, 0);
	ck_assert_uint_eq(cmd.nparts, 0);
	ck_assert_int_eq(imap_cmd_simple(&cmd, "A1", NULL, &error), -1);
	imap_cmd_text_clear(&cmd);
}
END_TEST

static const struct {
	const char *tag;
	bool ok;
} tag_table[] = {
	{ "A1", true },
	{ "a", true },
	{ "0", true },
	{ "ABCDEFGHIJ012345", true },   /* IMAP_TAG_MAX */
	{ "ABCDEFGHIJ0123456", false }, /* one more */
	{ "", false },
	{ "A 1", false },
	{ "A*", false },
	{ "A%", false },
	{ "A+", false },
	{ "A-1", false },
	{ "A.1", false },
	{ "A(", false },
	{ "A\"", false },
	{ "A{5}", false },
	{ "A\r\n", false },
	{ "\xc3\xa9", false },
};

START_TEST(tag_must_be_atom)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;
	int want = tag_table[_i].ok ? 0 : -1;

	ck_assert_int_eq(imap_cmd_simple(&cmd, tag_table[_i].tag, "NOOP",
					 &error), want);
	ck_assert_int_eq(imap_cmd_login(&cmd, tag_table[_i].tag, "u", 1,
					"p", 1, false, &error), want);
	ck_assert_int_eq(imap_cmd_authenticate_plain(&cmd, tag_table[_i].tag,
						     "AHUAcA==", 8, true,
						     &error), want);
	if (!tag_table[_i].ok)
		ck_assert_ptr_nonnull(error);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(tag_null)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_simple(&cmd, NULL, "NOOP", &error), -1);
	ck_assert_ptr_nonnull(error);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(login_sync_literals)
{
	static const char want[] =
		"A1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n";
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_login(&cmd, "A1", "alice", 5, "secret", 6,
					false, &error), 0);
	ck_assert_bytes(&cmd, want);
	/* Wait for "+" after each literal announcement. */
	ck_assert_uint_eq(cmd.nparts, 3);
	ck_assert_uint_eq(cmd.part_end[0], strlen("A1 LOGIN {5}\r\n"));
	ck_assert_uint_eq(cmd.part_end[1],
			  strlen("A1 LOGIN {5}\r\nalice {6}\r\n"));
	ck_assert_uint_eq(cmd.part_end[2], cmd.len);
	ck_assert_ptr_null(imap_check_login(&cmd, "A1", "alice", 5,
					    "secret", 6, false));
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(login_literal_plus)
{
	static const char want[] =
		"A1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n";
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_login(&cmd, "A1", "alice", 5, "secret", 6,
					true, &error), 0);
	ck_assert_bytes(&cmd, want);
	ck_assert_uint_eq(cmd.nparts, 1);
	ck_assert_uint_eq(cmd.part_end[0], cmd.len);
	ck_assert_ptr_null(imap_check_login(&cmd, "A1", "alice", 5,
					    "secret", 6, true));
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(authenticate_sasl_ir)
{
	static const char want[] =
		"A2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n";
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_authenticate_plain(
		&cmd, "A2", "AGFsaWNlAHNlY3JldA==", 20, true, &error), 0);
	ck_assert_bytes(&cmd, want);
	ck_assert_uint_eq(cmd.nparts, 1);
	ck_assert_uint_eq(cmd.part_end[0], cmd.len);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(authenticate_continuation)
{
	static const char want[] =
		"A2 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n";
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_authenticate_plain(
		&cmd, "A2", "AGFsaWNlAHNlY3JldA==", 20, false, &error), 0);
	ck_assert_bytes(&cmd, want);
	ck_assert_uint_eq(cmd.nparts, 2);
	ck_assert_uint_eq(cmd.part_end[0],
			  strlen("A2 AUTHENTICATE PLAIN\r\n"));
	ck_assert_uint_eq(cmd.part_end[1], cmd.len);
	imap_cmd_text_clear(&cmd);
}
END_TEST

static const char *const bad_b64[] = {
	"",
	"AGF",          /* not whole quanta */
	"AGFsaWNl AHNl",
	"AGFsaWNlAHNlY3JldA==\r\nA3 LOGOUT\r\n",
	"AGFsaWNl\r\n",
	"====",
	"A===",
	"AG=A",         /* padding in the middle */
	"AGFs{5}=",
	"AGFs\"AA=",
	"AGFs-_AA",     /* URL-safe alphabet is not IMAP's */
};

START_TEST(authenticate_refuses_bad_base64)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;
	const char *b64 = bad_b64[_i];

	ck_assert_int_eq(imap_cmd_authenticate_plain(&cmd, "A2", b64,
						     strlen(b64), true,
						     &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_uint_eq(cmd.len, 0);
	ck_assert_int_eq(imap_cmd_authenticate_plain(&cmd, "A2", b64,
						     strlen(b64), false,
						     &error), -1);
	imap_cmd_text_clear(&cmd);
}
END_TEST

/* The OAuth2 messages, byte for byte, and what they refuse. */
START_TEST(sasl_oauth_messages)
{
	char buf[IMAP_SASL_OAUTH_MAX];
	const char *error = NULL;
	size_t n;

	n = imap_sasl_xoauth2_message("a@b", 3, "tok==", 5, buf, sizeof(buf), &error);
	ck_assert_uint_eq(n, 28);
	ck_assert(memcmp(buf, "user=a@b\001auth=Bearer tok==\001\001", n) == 0);
	n = imap_sasl_oauthbearer_message("a,b=c", 5, "imap.example.com", 993, "t", 1, buf,
					  sizeof(buf), &error);
	ck_assert_uint_eq(n, strlen("n,a=a=2Cb=3Dc,\001host=imap.example.com\001port=993"
				    "\001auth=Bearer t\001\001"));
	ck_assert(memcmp(buf, "n,a=a=2Cb=3Dc,\001host=imap.example.com\001port=993"
			 "\001auth=Bearer t\001\001", n) == 0);
	/* Does not fit: nothing, with a reason. */
	ck_assert_uint_eq(imap_sasl_xoauth2_message("a@b", 3, "tok", 3, buf, 20, &error), 0);
	ck_assert_str_eq(error, "SASL message too long");
	ck_assert_uint_eq(imap_sasl_oauthbearer_message("a", 1, "h", 1, "t", 1, buf, 25, &error), 0);
	ck_assert_str_eq(imap_sasl_oauth_abort(true), "AQ==\r\n");
	ck_assert_str_eq(imap_sasl_oauth_abort(false), "\r\n");
}
END_TEST

static const struct {
	const char *user, *token, *host, *why;
} sasl_oauth_refused[] = {
	{ "", "t", "h", "empty user name" },
	{ "a\001b", "t", "h", "control character in user name" },
	{ "a\r\nb", "t", "h", "control character in user name" },
	{ "a\177", "t", "h", "control character in user name" },
	{ "a", "", "h", "empty access token" },
	{ "a", "=", "h", "access token is not a b64token" },
	{ "a", "t t", "h", "access token is not a b64token" },
	{ "a", "t\001", "h", "access token is not a b64token" },
	{ "a", "t=x", "h", "access token is not a b64token" },
	{ "a", "t\"", "h", "access token is not a b64token" },
	{ "a", "t", "", "bad host name for OAUTHBEARER" },
	{ "a", "t", "h\001", "bad host name for OAUTHBEARER" },
	{ "a", "t", "h h", "bad host name for OAUTHBEARER" },
};

START_TEST(sasl_oauth_refuses)
{
	char buf[256];
	const char *error = NULL;
	const char *u = sasl_oauth_refused[_i].user, *t = sasl_oauth_refused[_i].token;

	ck_assert_uint_eq(imap_sasl_oauthbearer_message(u, strlen(u), sasl_oauth_refused[_i].host,
							1, t, strlen(t), buf, sizeof(buf),
							&error), 0);
	ck_assert_str_eq(error, sasl_oauth_refused[_i].why);
	if (sasl_oauth_refused[_i].host[0] == 'h' && sasl_oauth_refused[_i].host[1] == '\0') {
		error = NULL;
		ck_assert_uint_eq(imap_sasl_xoauth2_message(u, strlen(u), t, strlen(t), buf,
							    sizeof(buf), &error), 0);
		ck_assert_str_eq(error, sasl_oauth_refused[_i].why);
	}
}
END_TEST

START_TEST(sasl_oauth_token_limit)
{
	static char token[IMAP_TOKEN_MAX + 1], buf[IMAP_SASL_OAUTH_MAX];
	const char *error = NULL;

	memset(token, 'A', sizeof(token));
	ck_assert_uint_gt(imap_sasl_xoauth2_message("a", 1, token, IMAP_TOKEN_MAX, buf,
						    sizeof(buf), &error), 0);
	ck_assert_uint_eq(imap_sasl_xoauth2_message("a", 1, token, IMAP_TOKEN_MAX + 1, buf,
						    sizeof(buf), &error), 0);
	ck_assert_str_eq(error, "access token too long");
}
END_TEST

START_TEST(authenticate_refuses_nul_and_overlong)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;
	/* Past the longest SASL message popgate builds (an OAuth2 one). */
	size_t big = 4 * ((IMAP_SASL_OAUTH_MAX + 2) / 3) + 4;
	char *b64 = malloc(big);

	ck_assert_int_eq(imap_cmd_authenticate_plain(&cmd, "A2", "AA\0A", 4,
						     true, &error), -1);
	ck_assert_int_eq(imap_cmd_authenticate_plain(&cmd, "A2", NULL, 0,
						     true, &error), -1);
	memset(b64, 'A', big);
	ck_assert_int_eq(imap_cmd_authenticate_plain(&cmd, "A2", b64, big,
						     true, &error), -1);
	free(b64);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(sasl_plain_message)
{
	char dst[64];

	ck_assert_uint_eq(imap_sasl_plain_message("alice", 5, "secret", 6,
						  dst, sizeof(dst)), 13);
	ck_assert_int_eq(memcmp(dst, "\0alice\0secret", 13), 0);
	/* Exactly fits. */
	ck_assert_uint_eq(imap_sasl_plain_message("alice", 5, "secret", 6,
						  dst, 13), 13);
	/* One short. */
	ck_assert_uint_eq(imap_sasl_plain_message("alice", 5, "secret", 6,
						  dst, 12), 0);
	ck_assert_uint_eq(imap_sasl_plain_message("", 0, "secret", 6,
						  dst, sizeof(dst)), 0);
	ck_assert_uint_eq(imap_sasl_plain_message("alice", 5, "", 0,
						  dst, sizeof(dst)), 0);
	/* A NUL would shift the authcid/passwd split: "a\0b" as a user
	   name would become authzid "", authcid "a", passwd "b...". */
	ck_assert_uint_eq(imap_sasl_plain_message("a\0b", 3, "secret", 6,
						  dst, sizeof(dst)), 0);
	ck_assert_uint_eq(imap_sasl_plain_message("alice", 5, "s\0t", 3,
						  dst, sizeof(dst)), 0);
	ck_assert_uint_eq(imap_sasl_plain_message("alice", 5, "secret", 6,
						  NULL, 0), 0);
}
END_TEST

/* Adversarial credentials. Each is tried as user and as password, with and
   without LITERAL+, through LOGIN and through AUTHENTICATE PLAIN. */
struct cred_case {
	const char *name;
	const char *data; /* NULL: filled with `fill` */
	size_t len;
	char fill;
	bool ok;
};

#define CRED(name, lit, ok) { name, lit, sizeof(lit) - 1, 0, ok }

static const struct cred_case cred_table[] = {
	CRED("plain", "alice@example.com", true),
	CRED("quote", "a\"b", true),
	CRED("quoted string", "\"x\" \"y\"", true),
	CRED("crlf injection", "a\r\nX LOGOUT", true),
	CRED("crlf injection tagged", "a\r\nA9 DELETE INBOX\r\n", true),
	CRED("bare cr", "a\rb", true),
	CRED("bare lf", "a\nb", true),
	CRED("sync literal", "{5}", true),
	CRED("sync literal crlf", "{5}\r\nhello", true),
	CRED("nonsync literal", "{5+}\r\n", true),
	CRED("backslash", "\\", true),
	CRED("backslashes", "\\\\\"", true),
	CRED("paren", ")", true),
	CRED("parens", "(x)", true),
	CRED("star", "*", true),
	CRED("percent", "%", true),
	CRED("space", "a b", true),
	CRED("only space", " ", true),
	CRED("bracket", "]", true),
	CRED("utf-8", "j\xc3\xb6rg@b\xc3\xbc" "cher.example", true),
	CRED("utf-8 password", "p\xc3\xa4\xc3\x9f\xe2\x82\xac", true),
	CRED("high bytes", "\xff\xfe\x80", true),
	CRED("control", "\x01\x1b\x7f", true),
	CRED("tab", "\t", true),
	CRED("empty", "", false),
	CRED("nul inside", "ab\0cd", false),
	CRED("nul first", "\0abc", false),
	CRED("nul last", "abc\0", false),
	{ "1024 bytes", NULL, IMAP_CRED_MAX, 'x', true },
	{ "1024 braces", NULL, IMAP_CRED_MAX, '{', true },
	{ "1025 bytes", NULL, IMAP_CRED_MAX + 1, 'x', false },
	{ "1024 newlines", NULL, IMAP_CRED_MAX, '\n', true },
};

#define N_CRED (sizeof(cred_table) / sizeof(cred_table[0]))

static char *cred_bytes(const struct cred_case *c)
{
	char *p = malloc(c->len + 1);

	ck_assert_ptr_nonnull(p);
	if (c->data != NULL)
		memcpy(p, c->data, c->len);
	else
		memset(p, c->fill, c->len);
	p[c->len] = '\0';
	return p;
}

static void check_login_case(const char *user, size_t user_len,
			     const char *pass, size_t pass_len, bool ok,
			     const char *name)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;
	const char *why;
	int lp;

	for (lp = 0; lp < 2; lp++) {
		int ret = imap_cmd_login(&cmd, "A7", user, user_len,
					 pass, pass_len, lp == 1, &error);

		if (!ok) {
			ck_assert_msg(ret == -1, "%s: accepted", name);
			ck_assert_ptr_nonnull(error);
			ck_assert_uint_eq(cmd.len, 0);
			ck_assert_uint_eq(cmd.nparts, 0);
			continue;
		}
		ck_assert_msg(ret == 0, "%s: refused: %s", name, error);
		why = imap_check_login(&cmd, "A7", user, user_len,
				       pass, pass_len, lp == 1);
		ck_assert_msg(why == NULL, "%s (literal+ %d): %s", name, lp,
			      why);
	}
	imap_cmd_text_clear(&cmd);
}

static void check_authenticate_case(const char *user, size_t user_len,
				    const char *pass, size_t pass_len,
				    bool ok, const char *name)
{
	struct imap_cmd_text cmd = { 0 };
	size_t cap = 2 + user_len + pass_len;
	char *msg = malloc(cap);
	char *b64 = malloc(4 * (cap / 3 + 1) + 1);
	const char *error = NULL;
	const char *why;
	size_t len, b64_len;
	int ir;

	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(b64);
	len = imap_sasl_plain_message(user, user_len, pass, pass_len,
				      msg, cap);
	if (!ok) {
		ck_assert_msg(len == 0, "%s: SASL message built", name);
		goto out;
	}
	ck_assert_msg(len == cap, "%s: SASL message refused", name);
	b64_len = imap_check_b64_encode((const unsigned char *)msg, len, b64);
	for (ir = 0; ir < 2; ir++) {
		ck_assert_msg(imap_cmd_authenticate_plain(&cmd, "A8", b64,
							  b64_len, ir == 1,
							  &error) == 0,
			      "%s: refused: %s", name, error);
		why = imap_check_authenticate(&cmd, "A8", b64, b64_len,
					      ir == 1);
		ck_assert_msg(why == NULL, "%s (sasl-ir %d): %s", name, ir,
			      why);
	}
out:
	imap_cmd_text_clear(&cmd);
	free(msg);
	free(b64);
}

START_TEST(adversarial_credentials)
{
	const struct cred_case *c = &cred_table[_i];
	char *bad = cred_bytes(c);

	/* As user name, then as password, next to a harmless other half. */
	check_login_case(bad, c->len, "pw", 2, c->ok, c->name);
	check_login_case("alice", 5, bad, c->len, c->ok, c->name);
	check_authenticate_case(bad, c->len, "pw", 2, c->ok, c->name);
	check_authenticate_case("alice", 5, bad, c->len, c->ok, c->name);
	free(bad);
}
END_TEST

/* Both halves hostile at once, every pair. */
START_TEST(adversarial_pairs)
{
	size_t i, j;

	for (i = 0; i < N_CRED; i++) {
		char *u = cred_bytes(&cred_table[i]);

		for (j = 0; j < N_CRED; j++) {
			char *p = cred_bytes(&cred_table[j]);

			check_login_case(u, cred_table[i].len,
					 p, cred_table[j].len,
					 cred_table[i].ok && cred_table[j].ok,
					 cred_table[i].name);
			free(p);
		}
		free(u);
	}
}
END_TEST

START_TEST(login_refuses_null)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_login(&cmd, "A1", NULL, 0, "p", 1, false,
					&error), -1);
	ck_assert_int_eq(imap_cmd_login(&cmd, "A1", "u", 1, NULL, 0, false,
					&error), -1);
	imap_cmd_text_clear(&cmd);
}
END_TEST

/* A failed build after a good one leaves no half command behind. */
START_TEST(failure_resets)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_login(&cmd, "A1", "u", 1, "p", 1, false,
					&error), 0);
	ck_assert_int_eq(imap_cmd_login(&cmd, "A1", "u", 1, "p\0", 2, false,
					&error), -1);
	ck_assert_uint_eq(cmd.len, 0);
	ck_assert_uint_eq(cmd.nparts, 0);
	imap_cmd_text_clear(&cmd);
}
END_TEST

/* The checker must have teeth: hand-made wrong commands fail it. */
static const struct {
	const char *bytes;
	unsigned int nparts;
	size_t part_end[IMAP_CMD_MAX_PARTS];
	bool literal_plus;
} tampered[] = {
	/* size one short: the last user byte would be syntax */
	{ "A7 LOGIN {4}\r\nalice {2}\r\npw\r\n", 3, { 14, 25, 29 }, false },
	/* quoted instead of literal */
	{ "A7 LOGIN \"alice\" {2}\r\npw\r\n", 2, { 22, 26 }, false },
	/* an injected second command */
	{ "A7 LOGIN {5}\r\nalice {2}\r\npw\r\nX LOGOUT\r\n", 3,
	  { 14, 25, 39 }, false },
	/* part boundary misplaced: would send the literal without "+" */
	{ "A7 LOGIN {5}\r\nalice {2}\r\npw\r\n", 3, { 14, 20, 29 }, false },
	/* boundary missing */
	{ "A7 LOGIN {5}\r\nalice {2}\r\npw\r\n", 2, { 14, 29 }, false },
	/* LITERAL+ claimed but synchronising literals sent */
	{ "A7 LOGIN {5}\r\nalice {2}\r\npw\r\n", 1, { 29 }, true },
	/* no CRLF at the end */
	{ "A7 LOGIN {5+}\r\nalice {2+}\r\npw", 1, { 29 }, true },
	/* atom outside the literal */
	{ "A7 LOGIN {5+}\r\nalice pw\r\n", 1, { 25 }, true },
};

START_TEST(checker_rejects_tampering)
{
	struct imap_cmd_text cmd = { 0 };

	cmd.buf = (char *)tampered[_i].bytes;
	cmd.len = strlen(tampered[_i].bytes);
	cmd.nparts = tampered[_i].nparts;
	memcpy(cmd.part_end, tampered[_i].part_end, sizeof(cmd.part_end));
	ck_assert_ptr_nonnull(imap_check_login(&cmd, "A7", "alice", 5,
					       "pw", 2,
					       tampered[_i].literal_plus));
}
END_TEST

START_TEST(nonsync_rules)
{
	/* LITERAL+: any size. */
	ck_assert(imap_cmd_nonsync_ok(true, false, 5, 6));
	ck_assert(imap_cmd_nonsync_ok(true, true, 100000, 1));
	/* LITERAL-: each literal at most 4096 octets. */
	ck_assert(imap_cmd_nonsync_ok(false, true, 5, 6));
	ck_assert(imap_cmd_nonsync_ok(false, true, IMAP_LITERAL_MINUS_MAX,
				      IMAP_LITERAL_MINUS_MAX));
	ck_assert(!imap_cmd_nonsync_ok(false, true, IMAP_LITERAL_MINUS_MAX + 1, 1));
	ck_assert(!imap_cmd_nonsync_ok(false, true, 1, IMAP_LITERAL_MINUS_MAX + 1));
	/* Neither: synchronising. */
	ck_assert(!imap_cmd_nonsync_ok(false, false, 1, 1));
	/* Every credential we pass on fits LITERAL-. */
	ck_assert(imap_cmd_nonsync_ok(false, true, IMAP_CRED_MAX, IMAP_CRED_MAX));
}
END_TEST

START_TEST(id_exact)
{
	static const char want[] =
		"A1 ID (\"name\" \"popgate\" \"version\" \"0.1\" "
		"\"x-originating-ip\" \"192.0.2.7\" \"x-originating-port\" \"50123\" "
		"\"x-connected-ip\" \"198.51.100.1\" \"x-connected-port\" \"110\" "
		"\"x-session-ext-id\" \"1a2b00003\")\r\n";
	static const char *const pairs[] = {
		"name", "popgate", "version", "0.1",
		"x-originating-ip", "192.0.2.7", "x-originating-port", "50123",
		"x-connected-ip", "198.51.100.1", "x-connected-port", "110",
		"x-session-ext-id", "1a2b00003",
	};
	struct imap_id_params id = {
		.version = "0.1", .client_ip = "192.0.2.7", .client_port = 50123,
		.local_ip = "198.51.100.1", .local_port = 110,
		.session_id = "1a2b00003",
	};
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_id(&cmd, "A1", &id, &error), 0);
	ck_assert_bytes(&cmd, want);
	ck_assert_uint_eq(cmd.nparts, 1);
	ck_assert_uint_eq(cmd.part_end[0], cmd.len);
	ck_assert_ptr_null(imap_check_id(&cmd, "A1", pairs, 7));
	imap_cmd_text_clear(&cmd);
}
END_TEST

/* Unset fields are left out, each on its own. */
START_TEST(id_optional_fields)
{
	static const char *const ipv6_pairs[] = {
		"name", "popgate", "x-originating-ip", "2001:db8::1",
		"x-connected-port", "995",
	};
	static const char *const mapped_pairs[] = {
		"name", "popgate", "x-connected-ip", "::ffff:192.0.2.1",
		"x-session-ext-id", "a-b_c.9",
	};
	struct imap_id_params none = { 0 };
	struct imap_id_params ipv6 = {
		.client_ip = "2001:db8::1", .local_port = 995,
	};
	struct imap_id_params mapped = {
		.local_ip = "::ffff:192.0.2.1", .session_id = "a-b_c.9",
	};
	struct imap_id_params ports = {
		.client_port = 1, .local_port = 65535,
	};
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_id(&cmd, "p1", &none, &error), 0);
	ck_assert_bytes(&cmd, "p1 ID (\"name\" \"popgate\")\r\n");
	ck_assert_int_eq(imap_cmd_id(&cmd, "p1", &ipv6, &error), 0);
	ck_assert_ptr_null(imap_check_id(&cmd, "p1", ipv6_pairs, 3));
	ck_assert_int_eq(imap_cmd_id(&cmd, "p1", &mapped, &error), 0);
	ck_assert_ptr_null(imap_check_id(&cmd, "p1", mapped_pairs, 3));
	ck_assert_int_eq(imap_cmd_id(&cmd, "p1", &ports, &error), 0);
	ck_assert_bytes(&cmd, "p1 ID (\"name\" \"popgate\" \"x-originating-port\" "
			"\"1\" \"x-connected-port\" \"65535\")\r\n");
	imap_cmd_text_clear(&cmd);
}
END_TEST

enum id_field { ID_CLIENT_IP, ID_LOCAL_IP, ID_SESSION, ID_VERSION };

static const struct {
	enum id_field field;
	const char *value;
	bool ok;
} id_table[] = {
	{ ID_CLIENT_IP, "127.0.0.2", true },
	{ ID_CLIENT_IP, "0.0.0.0", true },
	{ ID_CLIENT_IP, "255.255.255.255", true },
	{ ID_CLIENT_IP, "::1", true },
	{ ID_CLIENT_IP, "FE80::A:b:C", true },
	{ ID_CLIENT_IP, "0000:0000:0000:0000:0000:ffff:255.255.255.255", true },
	{ ID_CLIENT_IP, "", false },
	{ ID_CLIENT_IP, "127.0.0.1\r\nA9 LOGOUT", false },
	{ ID_CLIENT_IP, "127.0.0.1\" \"x-originating-ip\" \"10.0.0.1", false },
	{ ID_CLIENT_IP, "127.0.0.1\\", false },
	{ ID_CLIENT_IP, "127.0.0.1)", false },
	{ ID_CLIENT_IP, "127.0.0.1 ", false },
	{ ID_CLIENT_IP, " 127.0.0.1", false },
	{ ID_CLIENT_IP, "127.0.0.1:110", false },
	{ ID_CLIENT_IP, "[::1]", false },
	{ ID_CLIENT_IP, "[::1]:110", false },
	{ ID_CLIENT_IP, "fe80::1%eth0", false },
	{ ID_CLIENT_IP, "localhost", false },
	{ ID_CLIENT_IP, "unknown", false },
	{ ID_CLIENT_IP, "256.1.1.1", false },
	{ ID_CLIENT_IP, "1.2.3", false },
	{ ID_CLIENT_IP, "1.2.3.4.5", false },
	{ ID_CLIENT_IP, "1.2.3.4/24", false },
	{ ID_CLIENT_IP, "::1::2", false },
	{ ID_CLIENT_IP, "abcd", false },
	{ ID_CLIENT_IP, "g::1", false },
	{ ID_CLIENT_IP, "0000:0000:0000:0000:0000:ffff:255.255.255.2550", false },
	{ ID_CLIENT_IP, "{5}", false },
	{ ID_CLIENT_IP, "\xef\xbc\x91.2.3.4", false },  /* fullwidth digit */
	{ ID_CLIENT_IP, "1.2.3.4\t", false },
	{ ID_LOCAL_IP, "198.51.100.1", true },
	{ ID_LOCAL_IP, "198.51.100.1\r\n", false },
	{ ID_LOCAL_IP, "x", false },
	{ ID_SESSION, "1a2b00003", true },
	{ ID_SESSION, "A.b-c_9", true },
	{ ID_SESSION, "0123456789012345678901234567890123456789012345678901234567890123",
	  true },
	{ ID_SESSION, "01234567890123456789012345678901234567890123456789012345678901234",
	  false },
	{ ID_SESSION, "", false },
	{ ID_SESSION, "a b", false },
	{ ID_SESSION, "a\"b", false },
	{ ID_SESSION, "a\\b", false },
	{ ID_SESSION, "a\r\nA9 LOGOUT", false },
	{ ID_SESSION, "a\nb", false },
	{ ID_SESSION, "{5}", false },
	{ ID_SESSION, "a)b", false },
	{ ID_SESSION, "a/b", false },
	{ ID_SESSION, "a%b", false },
	{ ID_SESSION, "a*", false },
	{ ID_SESSION, "s\xc3\xa9", false },
	{ ID_SESSION, "\x7f", false },
	{ ID_VERSION, "0.1", true },
	{ ID_VERSION, "1.0~rc1+deb12u1", true },
	{ ID_VERSION, "2.3.19-1_x", true },
	{ ID_VERSION, "01234567890123456789012345678901", true },
	{ ID_VERSION, "012345678901234567890123456789012", false },
	{ ID_VERSION, "", false },
	{ ID_VERSION, "0.1 beta", false },
	{ ID_VERSION, "1\"", false },
	{ ID_VERSION, "1)", false },
	{ ID_VERSION, "1\r\nA9 LOGOUT", false },
	{ ID_VERSION, "1\\", false },
	{ ID_VERSION, "v\xff", false },
};

START_TEST(id_adversarial)
{
	static const char *const keys[] = {
		[ID_CLIENT_IP] = "x-originating-ip",
		[ID_LOCAL_IP] = "x-connected-ip",
		[ID_SESSION] = "x-session-ext-id",
		[ID_VERSION] = "version",
	};
	struct imap_id_params good = { .client_ip = "192.0.2.1" };
	struct imap_id_params id = { 0 };
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL, *why;
	const char *pairs[4];
	int ret;

	switch (id_table[_i].field) {
	case ID_CLIENT_IP:
		id.client_ip = id_table[_i].value;
		break;
	case ID_LOCAL_IP:
		id.local_ip = id_table[_i].value;
		break;
	case ID_SESSION:
		id.session_id = id_table[_i].value;
		break;
	case ID_VERSION:
		id.version = id_table[_i].value;
		break;
	}
	/* A good command first: a refusal must not leave it behind. */
	ck_assert_int_eq(imap_cmd_id(&cmd, "A5", &good, &error), 0);
	ret = imap_cmd_id(&cmd, "A5", &id, &error);
	if (!id_table[_i].ok) {
		ck_assert_msg(ret == -1, "accepted %s", id_table[_i].value);
		ck_assert_ptr_nonnull(error);
		ck_assert_uint_eq(cmd.len, 0);
		ck_assert_uint_eq(cmd.nparts, 0);
	} else {
		ck_assert_msg(ret == 0, "refused %s: %s", id_table[_i].value, error);
		pairs[0] = "name";
		pairs[1] = "popgate";
		pairs[2] = keys[id_table[_i].field];
		pairs[3] = id_table[_i].value;
		why = imap_check_id(&cmd, "A5", pairs, 2);
		ck_assert_msg(why == NULL, "%s: %s", id_table[_i].value, why);
	}
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(id_refuses_bad_tag)
{
	struct imap_id_params id = { 0 };
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;

	ck_assert_int_eq(imap_cmd_id(&cmd, "A 1", &id, &error), -1);
	ck_assert_int_eq(imap_cmd_id(&cmd, "", &id, &error), -1);
	ck_assert_int_eq(imap_cmd_id(&cmd, NULL, &id, &error), -1);
	ck_assert_uint_eq(cmd.len, 0);
	imap_cmd_text_clear(&cmd);
}
END_TEST

/* The ID checker must have teeth too. */
static const char *const tampered_id[] = {
	"A5 ID (\"name\" \"popgate\")\r\nA6 LOGOUT\r\n",
	"A5 ID (\"name\" \"popgate\"\r\n",
	"A5 ID (\"name\" \"popgate\") x\r\n",
	"A5 ID (\"name\" \"popgate\" \"x\" \"y\")\r\n",
	"A5 ID (\"name\" \"pop\"gate\")\r\n",
	"A5 ID (\"name\" \"pop\\\"gate\")\r\n",
	"A5 ID (\"name\" \"popg\xc3\xa9\")\r\n",
	"A5 ID (\"name\"  \"popgate\")\r\n",
	"A5 ID (\"name\" {7}\r\npopgate)\r\n",
	"A5 ID (name \"popgate\")\r\n",
	"A5 ID NIL\r\n",
	"A5 ID (\"name\" \"popgate\")",
};

START_TEST(id_checker_rejects_tampering)
{
	static const char *const pairs[] = { "name", "popgate" };
	struct imap_cmd_text cmd = { 0 };

	cmd.buf = (char *)tampered_id[_i];
	cmd.len = strlen(tampered_id[_i]);
	cmd.nparts = 1;
	cmd.part_end[0] = cmd.len;
	ck_assert_ptr_nonnull(imap_check_id(&cmd, "A5", pairs, 1));
}
END_TEST

static Suite *imap_cmd_suite(void)
{
	Suite *s = suite_create("imap_cmd");
	TCase *tc;

	tc = tcase_create("simple");
	tcase_add_test(tc, simple_exact);
	tcase_add_loop_test(tc, simple_refuses_control, 0,
			    sizeof(bad_simple_args) / sizeof(bad_simple_args[0]));
	tcase_add_loop_test(tc, tag_must_be_atom, 0,
			    sizeof(tag_table) / sizeof(tag_table[0]));
	tcase_add_test(tc, tag_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("login");
	tcase_add_test(tc, login_sync_literals);
	tcase_add_test(tc, login_literal_plus);
	tcase_add_test(tc, login_refuses_null);
	tcase_add_test(tc, failure_resets);
	tcase_add_test(tc, nonsync_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("id");
	tcase_add_test(tc, id_exact);
	tcase_add_test(tc, id_optional_fields);
	tcase_add_loop_test(tc, id_adversarial, 0,
			    sizeof(id_table) / sizeof(id_table[0]));
	tcase_add_test(tc, id_refuses_bad_tag);
	tcase_add_loop_test(tc, id_checker_rejects_tampering, 0,
			    sizeof(tampered_id) / sizeof(tampered_id[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("authenticate");
	tcase_add_test(tc, authenticate_sasl_ir);
	tcase_add_test(tc, authenticate_continuation);
	tcase_add_loop_test(tc, authenticate_refuses_bad_base64, 0,
			    sizeof(bad_b64) / sizeof(bad_b64[0]));
	tcase_add_test(tc, authenticate_refuses_nul_and_overlong);
	tcase_add_test(tc, sasl_oauth_messages);
	tcase_add_loop_test(tc, sasl_oauth_refuses, 0, sizeof(sasl_oauth_refused) / sizeof(sasl_oauth_refused[0]));
	tcase_add_test(tc, sasl_oauth_token_limit);
	tcase_add_test(tc, sasl_plain_message);
	suite_add_tcase(s, tc);

	tc = tcase_create("adversarial");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, adversarial_credentials, 0, N_CRED);
	tcase_add_test(tc, adversarial_pairs);
	tcase_add_loop_test(tc, checker_rejects_tampering, 0,
			    sizeof(tampered) / sizeof(tampered[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(imap_cmd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
