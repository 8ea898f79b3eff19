/* The throttle classifier: which status responses say the provider
   throttles the account (codes first, words when the code says nothing),
   on adversarial input too. */

#include <check.h>
#include <string.h>

#include "imap_throttle.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *code;      /* NULL: none */
	const char *text;
	enum imap_throttle want;
} cases[] = {
	{ "THROTTLED", "slow down", IMAP_THROTTLE_THROTTLED },
	{ "throttled", "", IMAP_THROTTLE_THROTTLED },
	{ "LIMIT", "Too many sessions", IMAP_THROTTLE_LIMIT },
	{ "LIMIT 10", "", IMAP_THROTTLE_LIMIT },          /* an argument after the atom */
	{ "UNAVAILABLE", "Backend down", IMAP_THROTTLE_UNAVAILABLE },
	{ "Unavailable", NULL, IMAP_THROTTLE_UNAVAILABLE },
	/* Gmail: in words, under [ALERT] */
	{ "ALERT", "Too many simultaneous connections. (Failure)", IMAP_THROTTLE_CONNECTIONS },
	{ "ALERT", "Account exceeded command or bandwidth limits. (Failure)",
	  IMAP_THROTTLE_THROTTLED },
	{ "ALERT", "Please log in via your web browser", IMAP_THROTTLE_NONE },
	/* Dovecot's per-user cap, no code */
	{ NULL, "Maximum number of connections from user+IP exceeded "
	  "(mail_max_userip_connections=10)", IMAP_THROTTLE_CONNECTIONS },
	{ NULL, "TOO MANY CONNECTIONS", IMAP_THROTTLE_CONNECTIONS },
	{ NULL, "xx too many connectionsxx", IMAP_THROTTLE_CONNECTIONS },
	/* not throttling */
	{ NULL, "Logging out", IMAP_THROTTLE_NONE },
	{ "AUTHENTICATIONFAILED", "Invalid credentials", IMAP_THROTTLE_NONE },
	{ "AUTHENTICATIONFAILED", "too many connections", IMAP_THROTTLE_NONE },
	{ "SERVERBUG", "", IMAP_THROTTLE_NONE },
	{ "INUSE", "", IMAP_THROTTLE_NONE },
	/* near misses */
	{ "THROTTLEDX", "", IMAP_THROTTLE_NONE },
	{ "THROTTLE", "", IMAP_THROTTLE_NONE },
	{ "LIMITS", "", IMAP_THROTTLE_NONE },
	{ "XLIMIT", "", IMAP_THROTTLE_NONE },
	{ " LIMIT", "", IMAP_THROTTLE_NONE },             /* the first atom is empty */
	{ "", "", IMAP_THROTTLE_NONE },
	{ NULL, "too many connection", IMAP_THROTTLE_NONE },
	{ NULL, "too many  connections", IMAP_THROTTLE_NONE },
	{ NULL, "", IMAP_THROTTLE_NONE },
	{ NULL, NULL, IMAP_THROTTLE_NONE },
};

START_TEST(classified)
{
	const char *code = cases[_i].code, *text = cases[_i].text;
	enum imap_throttle got = imap_throttle_of(code, code != NULL ? strlen(code) : 0, text,
						  text != NULL ? strlen(text) : 0);

	ck_assert_msg(got == cases[_i].want, "[%s] %s: %s, want %s", code ? code : "(none)",
		      text ? text : "(none)", imap_throttle_name(got),
		      imap_throttle_name(cases[_i].want));
}
END_TEST

/* Lengths decide, not NULs: a NUL inside the words breaks them, bytes
   past the given length are never looked at. */
START_TEST(lengths_not_nuls)
{
	static const char nul[] = "too many\0connections";
	static const char code[] = "LIMITED";

	ck_assert_int_eq(imap_throttle_of(NULL, 0, nul, sizeof(nul) - 1), IMAP_THROTTLE_NONE);
	ck_assert_int_eq(imap_throttle_of(code, 5, "", 0), IMAP_THROTTLE_LIMIT);
	ck_assert_int_eq(imap_throttle_of(code, 4, "", 0), IMAP_THROTTLE_NONE);
	ck_assert_int_eq(imap_throttle_of(NULL, 0, "too many connections", 19),
			 IMAP_THROTTLE_NONE);
	ck_assert_int_eq(imap_throttle_of("THROTTLED\0", 10, "", 0), IMAP_THROTTLE_NONE);
	/* a code pointer with length 0 is no code */
	ck_assert_int_eq(imap_throttle_of("LIMIT", 0, "too many connections", 20),
			 IMAP_THROTTLE_CONNECTIONS);
}
END_TEST

/* Every prefix of the words is short of them; the whole matches at any
   position of a long text, and an overlong text without them is NONE. */
START_TEST(prefixes_and_positions)
{
	static const char words[] = "too many simultaneous connections";
	char buf[4096];

	for (size_t n = 0; n < sizeof(words) - 1; n++)
		ck_assert_int_eq(imap_throttle_of(NULL, 0, words, n), IMAP_THROTTLE_NONE);
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(imap_throttle_of(NULL, 0, buf, sizeof(buf)), IMAP_THROTTLE_NONE);
	for (size_t at = 0; at + sizeof(words) - 1 <= sizeof(buf); at += 397) {
		memset(buf, 'x', sizeof(buf));
		memcpy(buf + at, words, sizeof(words) - 1);
		ck_assert_int_eq(imap_throttle_of(NULL, 0, buf, sizeof(buf)),
				 IMAP_THROTTLE_CONNECTIONS);
	}
	memcpy(buf + sizeof(buf) - (sizeof(words) - 1), words, sizeof(words) - 1);
	ck_assert_int_eq(imap_throttle_of(NULL, 0, buf, sizeof(buf)), IMAP_THROTTLE_CONNECTIONS);
	ck_assert_int_eq(imap_throttle_of(NULL, 0, buf, sizeof(buf) - 1), IMAP_THROTTLE_CONNECTIONS);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(imap_throttle_name(IMAP_THROTTLE_NONE), "none");
	ck_assert_str_eq(imap_throttle_name(IMAP_THROTTLE_THROTTLED), "throttled");
	ck_assert_str_eq(imap_throttle_name(IMAP_THROTTLE_LIMIT), "limit");
	ck_assert_str_eq(imap_throttle_name(IMAP_THROTTLE_UNAVAILABLE), "unavailable");
	ck_assert_str_eq(imap_throttle_name(IMAP_THROTTLE_CONNECTIONS), "connections");
	ck_assert_str_eq(imap_throttle_name(IMAP_THROTTLE_COUNT), "none");
	ck_assert_str_eq(imap_throttle_name((enum imap_throttle)-1), "none");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_throttle");
	TCase *tc = tcase_create("classify");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, classified, 0, N(cases));
	tcase_add_test(tc, lengths_not_nuls);
	tcase_add_test(tc, prefixes_and_positions);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
