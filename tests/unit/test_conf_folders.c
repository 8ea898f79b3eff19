/* folders = ... in [device PATTERN] sections: the list as it is stored,
   special-use names in any case, and every error (empty list or entry,
   a name twice, a bad name, more than CONF_MAX_FOLDERS; a name longer
   than a line may be cannot be given at all). */

#include "test_conf_fixture.h"

#define DEV "[upstream]\nhost = h\n[device phone]\n"

static const struct {
	const char *value;
	const char *want;
} folder_errors[] = {
	{ "", "an empty list (leave folders out" },
	{ "   ", "an empty list" },
	{ "INBOX,", "an empty entry" },
	{ "INBOX,,\\Sent", "an empty entry" },
	{ ",INBOX", "an empty entry" },
	{ "INBOX, \\Sent, \\sent", "'\\Sent' is listed twice" },
	{ "INBOX, inbox", "'inbox' is listed twice" },
	{ "INBOX, Archive, Archive", "'Archive' is listed twice" },
	{ "INBOX, \\Outbox", "'\\Outbox' is no special-use name (\\All, \\Archive" },
	{ "INBOX, \\", "'\\' is no special-use name" },
	{ "INBOX, a\x01" "b", "folder 'a\x01" "b': control characters are not allowed" },
	{ "INBOX, \xc3(", "not valid UTF-8" },
	{ "\\Sent, INBOX", "the first folder must be the route's mailbox" },
	{ "INBOX, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p", "more than 16 folders" },
	{ "INBOX, aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "line too long" },
};

START_TEST(errors)
{
	char text[512];

	snprintf(text, sizeof(text), DEV "folders = %s\n", folder_errors[_i].value);
	load_fails(text, 4, folder_errors[_i].want);
}
END_TEST

/* Stored in order, trimmed, special-use names as RFC 6154 writes them;
   a profile without the key, and [policy], have none (the route's
   mailbox alone). */
START_TEST(stored)
{
	struct conf *conf = load_ok(DEV "folders =  INBOX ,\\sent,Archive/2024 , \\ALL\t\n"
				    "[device office]\nshow = all\n");
	const struct conf_profile *p = &conf->profiles[0];

	ck_assert_uint_eq(p->folder_count, 4);
	ck_assert_str_eq(p->folders[0], "INBOX");
	ck_assert_str_eq(p->folders[1], "\\Sent");
	ck_assert_str_eq(p->folders[2], "Archive/2024");
	ck_assert_str_eq(p->folders[3], "\\All");
	ck_assert_ptr_null(conf_folder_special(p->folders[0]));
	ck_assert_str_eq(conf_folder_special(p->folders[1]), "\\Sent");
	ck_assert_ptr_null(conf_folder_special(p->folders[2]));
	ck_assert_uint_eq(conf->profiles[1].folder_count, 0);
	ck_assert_ptr_null(conf->profiles[1].folders);
	ck_assert_uint_eq(conf->policy_profile.folder_count, 0);
	conf_free(&conf);
}
END_TEST

/* The limit: CONF_MAX_FOLDERS load, one more does not (the errors table
   has 17 names too). */
START_TEST(limit)
{
	char text[512];
	size_t o = (size_t)snprintf(text, sizeof(text), DEV "folders = INBOX");
	struct conf *conf;

	for (unsigned int i = 1; i < CONF_MAX_FOLDERS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, ", F%u", i);
	snprintf(text + o, sizeof(text) - o, "\n");
	conf = load_ok(text);
	ck_assert_uint_eq(conf->profiles[0].folder_count, CONF_MAX_FOLDERS);
	ck_assert_str_eq(conf->profiles[0].folders[CONF_MAX_FOLDERS - 1], "F15");
	conf_free(&conf);
	snprintf(text + o, sizeof(text) - o, ", F%u\n", CONF_MAX_FOLDERS);
	load_fails(text, 4, "more than 16 folders");
}
END_TEST

/* Names differing only in case are two IMAP mailboxes (but INBOX). */
START_TEST(case_of_names)
{
	struct conf *conf = load_ok(DEV "folders = INBOX, Sent, sent\n");

	ck_assert_uint_eq(conf->profiles[0].folder_count, 3);
	conf_free(&conf);
	ck_assert_ptr_null(conf_folder_special("Sent"));
	ck_assert_ptr_null(conf_folder_special("\\Sentx"));
	ck_assert_str_eq(conf_folder_special("\\jUNK"), "\\Junk");
}
END_TEST

static Suite *conf_folders_suite(void)
{
	Suite *s = suite_create("conf_folders");
	TCase *tc = tcase_create("folders");

	tcase_add_loop_test(tc, errors, 0, N(folder_errors));
	tcase_add_test(tc, stored);
	tcase_add_test(tc, limit);
	tcase_add_test(tc, case_of_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_folders_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
