/* Unit tests for the NAMESPACE reader of imap_values.c (LIST and date-time
   are covered in test_imap_resp.c). */

#include <check.h>
#include <string.h>

#include "imap_values.h"

struct ns_case {
	const char *rest;
	int ret;
	const char *prefix;
	char delim;
};

static const struct ns_case ns_cases[] = {
	/* Courier and Cyrus: INBOX. is the personal prefix. */
	{ "((\"INBOX.\" \".\")) NIL NIL", 0, "INBOX.", '.' },
	/* Dovecot's default. */
	{ "((\"\" \"/\")) NIL ((\"shared/\" \"/\"))", 0, "", '/' },
	{ "((\"\" NIL)) NIL NIL", 0, "", '\0' },
	{ "((\"\" \"\\\\\")) NIL NIL", 0, "", '\\' },
	{ "((\"a\\\"b.\" \".\")) NIL NIL", 0, "a\"b.", '.' },
	{ "((\"Mail/\" \"/\")(\"#mh/\" \"/\")) NIL NIL", 0, "Mail/", '/' },
	{ "NIL NIL NIL", -1, NULL, 0 },
	{ "", -1, NULL, 0 },
	{ "(", -1, NULL, 0 },
	{ "((\"INBOX.", -1, NULL, 0 },
	{ "((\"INBOX.\"", -1, NULL, 0 },
	{ "((\"INBOX.\" \"..\")) NIL NIL", -1, NULL, 0 },
	{ "((INBOX. \".\")) NIL NIL", -1, NULL, 0 },
	{ "((\"INBOX.\"\".\")) NIL NIL", -1, NULL, 0 },
	{ "((\"0123456789012345678901234567890123456789\" \".\")) NIL NIL", -1, NULL, 0 },
};

START_TEST(namespace_personal)
{
	const struct ns_case *c = &ns_cases[_i];
	char prefix[32] = "unchanged", delim = 'z';
	const char *error = NULL;
	int ret = imap_namespace_personal(c->rest, strlen(c->rest), prefix, sizeof(prefix),
					  &delim, &error);

	ck_assert_msg(ret == c->ret, "%s: %d", c->rest, ret);
	if (ret == 0) {
		ck_assert_str_eq(prefix, c->prefix);
		ck_assert_int_eq(delim, c->delim);
	} else {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(namespace_nul_in_prefix)
{
	static const char rest[] = "((\"IN\0BOX.\" \".\")) NIL NIL";
	char prefix[32], delim;
	const char *error;

	ck_assert_int_eq(imap_namespace_personal(rest, sizeof(rest) - 1, prefix, sizeof(prefix),
						 &delim, &error), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_values");
	TCase *tc = tcase_create("namespace");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, namespace_personal, 0,
			    (int)(sizeof(ns_cases) / sizeof(ns_cases[0])));
	tcase_add_test(tc, namespace_nul_in_prefix);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
