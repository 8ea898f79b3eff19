/* IMAP command builders: exact bytes, part boundaries, and an adversarial
   table proving credentials only ever travel inside literals. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_cmd.h"
#include "tests/unit/imap_cmd_check.h"

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

START_TEST(authenticate_refuses_nul_and_overlong)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;
	size_t big = 4 * 2000;
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
	suite_add_tcase(s, tc);

	tc = tcase_create("authenticate");
	tcase_add_test(tc, authenticate_sasl_ir);
	tcase_add_test(tc, authenticate_continuation);
	tcase_add_loop_test(tc, authenticate_refuses_bad_base64, 0,
			    sizeof(bad_b64) / sizeof(bad_b64[0]));
	tcase_add_test(tc, authenticate_refuses_nul_and_overlong);
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
