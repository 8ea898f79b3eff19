/* [device PATTERN] profiles: the sections and their errors, which profile
   a device gets (first match wins, the account pattern), the [policy]
   values a profile takes, max_age forms, and the glob matcher. */

#include "test_conf_fixture.h"

#define HOST "[upstream]\nhost = h\n"

/* Files that must not load: the line and what the message says. */
static const struct {
	const char *text;
	unsigned int line;
	const char *want;
} device_errors[] = {
	/* the header's pattern */
	{ HOST "[device]\nshow = all\n", 3, "unknown section [device]" },
	{ HOST "[device ]\nshow = all\n", 3, "unknown section [device ]" },
	{ HOST "[device  ]\nshow = all\n", 3, "bad [device ]: the pattern must be 1 to 64" },
	{ HOST "[device phone[0-9]]\n", 3, "'*' and '?' only" },
	{ HOST "[device ph\\one]\n", 3, "'*' and '?' only" },
	{ HOST "[device ph one]\n", 3, "letters, digits, '.', '_', '-', '*' and '?' only" },
	{ HOST "[device ph@one]\n", 3, "letters, digits" },
	{ HOST "[device ph\"one]\n", 3, "letters, digits" },
	{ HOST "[device \xc3\xa4]\n", 3, "letters, digits" },
	{ HOST "[device aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", 3,
	  "the pattern must be 1 to 64 characters" },
	/* keys */
	{ HOST "[device phone]\nfolder = INBOX\n", 4, "unknown key 'folder' in [device phone]" },
	{ HOST "[device phone]\nhost = h\n", 4, "unknown key 'host' in [device phone]" },
	{ HOST "[device phone]\ntrash_mailbox = T\n", 4, "unknown key 'trash_mailbox'" },
	{ HOST "[device phone]\nshow = unseen\nshow = all\n", 5,
	  "'show' in [device phone] given twice (first on line 4)" },
	{ HOST "[device phone]\nmax_age = 2x\n", 4,
	  "bad value for 'max_age' in [device phone]: unknown unit (use s, m, h, d or w)" },
	{ HOST "[device phone]\nmax_age = 1 d\n", 4, "unknown unit" },
	{ HOST "[device phone]\nmax_age = 11w 1d\n", 4, "unknown unit" },
	{ HOST "[device phone]\nmax_age = 0x10\n", 4, "unknown unit" },
	{ HOST "[device p*]\naccount = [x]\n", 4, "bad value for 'account' in [device p*]" },
	/* one section's keys do not leak into the next one's duplicate check */
	{ HOST "[device a]\nshow = all\n[device b]\nshow = all\nshow = all\n", 7,
	  "'show' in [device b] given twice (first on line 6)" },
	/* sections given twice, or never reached */
	{ HOST "[device phone]\nshow = unseen\n[device PHONE]\nshow = all\n", 5,
	  "[device PHONE] given twice (first on line 3)" },
	{ HOST "[device phone]\naccount = a@x\n[device phone]\naccount = A@X\n", 5,
	  "[device phone] with account = A@X given twice (first on line 3)" },
	{ HOST "[device *]\n[device phone]\n", 4,
	  "[device phone] is never used: [device *] on line 3 comes first" },
	{ HOST "[device phone]\n[device phone]\naccount = a@x\n", 4, "is never used" },
	{ HOST "[device *]\naccount = a@x\n[device phone]\naccount = a@x\n", 5,
	  "is never used" },
	/* a key outside any device section stays an error */
	{ HOST "[policy]\nshow = unseen\n", 4, "unknown key 'show' in [policy]" },
	{ HOST "[policy]\nmax_age = 1d\n", 4, "unknown key 'max_age' in [policy]" },
};

START_TEST(errors)
{
	load_fails(device_errors[_i].text, device_errors[_i].line, device_errors[_i].want);
}
END_TEST

/* Ronald's set-up: office sees everything, phone today's unread; the
   policy values come from [policy] (given after the sections) unless a
   section gives its own. */
START_TEST(profiles_and_policy)
{
	struct conf *conf = load_ok(HOST "[device office]\nshow = all\n"
				    "[device phone*]\nshow = unseen\nmax_age = 1d\n"
				    "delete_action = hide\nmark_seen_on_retr = no\n"
				    "[device tablet]\naccount = *@example.org\nmax_age = 2w\n"
				    "new_device_sees = all\n"
				    "[policy]\ndelete_action = trash\nnew_device_sees = new\n"
				    "mark_seen_on_retr = yes\n");
	const struct conf_profile *office, *phone, *tablet, *other;

	ck_assert_uint_eq(conf->profile_count, 3);
	office = conf_profile_find(conf, "office", "r@example.com", 13);
	phone = conf_profile_find(conf, "Phone-2", "r@example.com", 13);
	tablet = conf_profile_find(conf, "tablet", "R@Example.ORG", 13);
	other = conf_profile_find(conf, "tablet", "r@example.com", 13);
	ck_assert_ptr_eq(office, &conf->profiles[0]);
	ck_assert_ptr_eq(phone, &conf->profiles[1]);
	ck_assert_ptr_eq(tablet, &conf->profiles[2]);
	ck_assert_ptr_eq(other, &conf->policy_profile);
	ck_assert_ptr_eq(conf_profile_find(conf, "default", "r@example.com", 13),
			 &conf->policy_profile);

	ck_assert_str_eq(office->pattern, "office");
	ck_assert_ptr_null(office->account);
	ck_assert_int_eq(office->show, CONF_SHOW_ALL);
	ck_assert_uint_eq(office->max_age_secs, 0);
	ck_assert_int_eq(office->delete_action, CONF_DELETE_TRASH);
	ck_assert_int_eq(office->new_device_sees, CONF_NEW_DEVICE_NEW);
	ck_assert(office->mark_seen_on_retr);
	ck_assert_uint_eq(office->line, 3);

	ck_assert_int_eq(phone->show, CONF_SHOW_UNSEEN);
	ck_assert_uint_eq(phone->max_age_secs, 86400);
	ck_assert_int_eq(phone->delete_action, CONF_DELETE_HIDE);
	ck_assert_int_eq(phone->new_device_sees, CONF_NEW_DEVICE_NEW);
	ck_assert(!phone->mark_seen_on_retr);

	ck_assert_str_eq(tablet->account, "*@example.org");
	ck_assert_uint_eq(tablet->max_age_secs, 14 * 86400);
	ck_assert_int_eq(tablet->new_device_sees, CONF_NEW_DEVICE_ALL);
	ck_assert_int_eq(tablet->delete_action, CONF_DELETE_TRASH);

	ck_assert_ptr_null(conf->policy_profile.pattern);
	ck_assert_int_eq(conf->policy_profile.show, CONF_SHOW_ALL);
	ck_assert_uint_eq(conf->policy_profile.max_age_secs, 0);
	ck_assert_int_eq(conf->policy_profile.delete_action, CONF_DELETE_TRASH);
	ck_assert_int_eq(conf->policy_profile.new_device_sees, CONF_NEW_DEVICE_NEW);
	ck_assert(conf->policy_profile.mark_seen_on_retr);
	conf_free(&conf);
}
END_TEST

/* Without sections every device has the [policy] profile; so do the
   built-in defaults. */
START_TEST(no_profiles)
{
	struct conf *conf = load_ok(HOST), *def = conf_new_defaults();

	ck_assert_uint_eq(conf->profile_count, 0);
	ck_assert_ptr_eq(conf_profile_find(conf, "x", "a@b", 3), &conf->policy_profile);
	ck_assert_int_eq(conf->policy_profile.delete_action, conf->delete_action);
	ck_assert_int_eq(def->policy_profile.new_device_sees, def->new_device_sees);
	ck_assert(def->policy_profile.mark_seen_on_retr == def->mark_seen_on_retr);
	ck_assert_ptr_eq(conf_profile_find(def, "x", "a@b", 3), &def->policy_profile);
	conf_free(&conf);
	conf_free(&def);

	/* An empty account pattern is none: any account. */
	conf = load_ok(HOST "[device phone]\naccount =\n");
	ck_assert_ptr_null(conf->profiles[0].account);
	ck_assert_ptr_eq(conf_profile_find(conf, "phone", "z", 1), &conf->profiles[0]);
	conf_free(&conf);
}
END_TEST

/* First match wins: order in the file, not specificity. */
START_TEST(first_match)
{
	struct conf *conf = load_ok(HOST "[device ph*]\naccount = boss@*\nshow = unseen\n"
				    "[device phone]\nmax_age = 3d\n[device *]\nmax_age = 1h\n");

	ck_assert_uint_eq(conf_profile_find(conf, "phone", "boss@x.org", 10)->show,
			  CONF_SHOW_UNSEEN);
	ck_assert_uint_eq(conf_profile_find(conf, "phone", "bob@x.org", 9)->max_age_secs,
			  3 * 86400);
	ck_assert_uint_eq(conf_profile_find(conf, "laptop", "boss@x.org", 10)->max_age_secs,
			  3600);
	ck_assert_ptr_eq(conf_profile_find(conf, "anything", "a", 1), &conf->profiles[2]);
	conf_free(&conf);
}
END_TEST

/* max_age forms: the duration units and whole weeks. */
static const struct {
	const char *value;
	unsigned int secs;
} ages[] = {
	{ "0", 0 }, { "90", 90 }, { "30m", 1800 }, { "12h", 43200 }, { "1d", 86400 },
	{ "1w", 604800 }, { "2w", 1209600 }, { "521w", 521 * 604800 }, { "3650d", 3650 * 86400 },
	{ "0w", 0 }, { "007d", 7 * 86400 },
};

START_TEST(max_age_forms)
{
	char text[128];
	struct conf *conf;

	snprintf(text, sizeof(text), HOST "[device x]\nmax_age = %s\n", ages[_i].value);
	conf = load_ok(text);
	ck_assert_uint_eq(conf->profiles[0].max_age_secs, ages[_i].secs);
	conf_free(&conf);
}
END_TEST

/* The most sections there may be, and one more. */
START_TEST(many_profiles)
{
	static char text[CONF_MAX_PROFILES * 40 + 64];
	struct conf *conf;
	size_t o = (size_t)snprintf(text, sizeof(text), HOST);
	char name[16];

	for (unsigned int i = 0; i < CONF_MAX_PROFILES; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "[device d%u]\nmax_age = %uh\n",
				      i, i + 1);
	conf = load_ok(text);
	ck_assert_uint_eq(conf->profile_count, CONF_MAX_PROFILES);
	for (unsigned int i = 0; i < CONF_MAX_PROFILES; i++) {
		snprintf(name, sizeof(name), "D%u", i);
		ck_assert_uint_eq(conf_profile_find(conf, name, "a", 1)->max_age_secs,
				  (i + 1) * 3600);
	}
	conf_free(&conf);
	snprintf(text + o, sizeof(text) - o, "[device last]\n");
	load_fails(text, 3 + 2 * CONF_MAX_PROFILES, "too many [device] sections (at most 256)");
}
END_TEST

/* The matcher: wildcards, case, anchoring, backtracking. */
static const struct {
	const char *pattern, *text;
	bool match;
} globs[] = {
	{ "*", "", true }, { "*", "x", true }, { "?", "", false }, { "?", "ab", false },
	{ "phone", "phone", true }, { "phone", "Phone", true }, { "PHONE", "phone", true },
	{ "phone", "phone2", false }, { "phone", "iphone", false }, { "phone*", "phone", true },
	{ "phone*", "phone-2", true }, { "*phone", "my-phone", true }, { "*phone", "phones", false },
	{ "p?one", "phone", true }, { "p?one", "pone", false }, { "*a*b*c", "xxaxxbxxc", true },
	{ "*a*b*c", "xxaxxcxxb", false }, { "a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	{ "*@example.com", "bob@example.com", true }, { "*@example.com", "bob@example.co", false },
	{ "**", "x", true }, { "*?", "", false }, { "*?", "x", true }, { "a**b", "ab", true },
};

START_TEST(glob_match)
{
	ck_assert_msg(conf_glob_match(globs[_i].pattern, globs[_i].text, strlen(globs[_i].text)) ==
		      globs[_i].match, "%s ~ %s", globs[_i].pattern, globs[_i].text);
}
END_TEST

START_TEST(glob_check)
{
	const char *why;

	ck_assert_int_eq(conf_glob_check("*@example.com", &why), 0);
	ck_assert_int_eq(conf_glob_check("", &why), -1);
	ck_assert_str_eq(why, "empty pattern");
	ck_assert_int_eq(conf_glob_check("[a]", &why), -1);
	ck_assert_int_eq(conf_glob_check("a]", &why), -1);
	ck_assert_int_eq(conf_glob_check("a\tb", &why), -1);
	ck_assert_int_eq(conf_glob_check("\x7f", &why), -1);
}
END_TEST

static Suite *conf_device_suite(void)
{
	Suite *s = suite_create("conf_device");
	TCase *tc = tcase_create("profiles");

	tcase_add_loop_test(tc, errors, 0, N(device_errors));
	tcase_add_test(tc, profiles_and_policy);
	tcase_add_test(tc, no_profiles);
	tcase_add_test(tc, first_match);
	tcase_add_loop_test(tc, max_age_forms, 0, N(ages));
	tcase_add_test(tc, many_profiles);
	tcase_add_loop_test(tc, glob_match, 0, N(globs));
	tcase_add_test(tc, glob_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_device_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
