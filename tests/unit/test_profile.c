/* The listing rule of device profiles (proxy/pop3/profile.c): which
   messages a profile lists, by flags and INTERNALDATE, at the edges; and
   the rule as popgate device show prints it. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"
#include "profile.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NOW ((time_t)1800000000)
#define DAY 86400

static const struct {
	enum conf_show show;
	unsigned int max_age;
	unsigned int flags;
	int64_t date;
	bool listed;
} rule_table[] = {
	/* show = all, any age: everything but \Deleted */
	{ CONF_SHOW_ALL, 0, 0, 0, true },
	{ CONF_SHOW_ALL, 0, IMAP_FLAG_SEEN, 0, true },
	{ CONF_SHOW_ALL, 0, IMAP_FLAG_DELETED, NOW, false },
	{ CONF_SHOW_ALL, 0, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED, NOW, false },
	/* show = unseen */
	{ CONF_SHOW_UNSEEN, 0, 0, 0, true },
	{ CONF_SHOW_UNSEEN, 0, IMAP_FLAG_SEEN, NOW, false },
	{ CONF_SHOW_UNSEEN, 0, IMAP_FLAG_DELETED, NOW, false },
	/* max_age: within, at the edge, just beyond, in the future */
	{ CONF_SHOW_ALL, DAY, 0, NOW, true },
	{ CONF_SHOW_ALL, DAY, 0, NOW - DAY, true },
	{ CONF_SHOW_ALL, DAY, 0, NOW - DAY - 1, false },
	{ CONF_SHOW_ALL, DAY, 0, NOW + 3600, true },
	{ CONF_SHOW_ALL, DAY, 0, 0, false },
	{ CONF_SHOW_ALL, DAY, 0, -1, false },
	{ CONF_SHOW_ALL, DAY, IMAP_FLAG_SEEN, NOW, true },
	{ CONF_SHOW_ALL, 3650u * DAY, 0, NOW - 3650LL * DAY, true },
	{ CONF_SHOW_ALL, 3650u * DAY, 0, NOW - 3650LL * DAY - 1, false },
	/* Ronald's phone: both */
	{ CONF_SHOW_UNSEEN, DAY, 0, NOW - 60, true },
	{ CONF_SHOW_UNSEEN, DAY, IMAP_FLAG_SEEN, NOW - 60, false },
	{ CONF_SHOW_UNSEEN, DAY, 0, NOW - 2 * DAY, false },
	{ CONF_SHOW_UNSEEN, DAY, IMAP_FLAG_DELETED, NOW - 60, false },
};

START_TEST(rule)
{
	struct conf_profile p = { .show = rule_table[_i].show,
				  .max_age_secs = rule_table[_i].max_age };

	ck_assert_msg(pop3_profile_lists(&p, rule_table[_i].flags, rule_table[_i].date, NOW) ==
		      rule_table[_i].listed, "row %d", _i);
	ck_assert(pop3_profile_needs_date(&p) == (rule_table[_i].max_age > 0));
}
END_TEST

START_TEST(rule_text)
{
	struct conf_profile p = { .show = CONF_SHOW_ALL };
	char buf[128];

	ck_assert_str_eq(pop3_profile_rule(&p, buf, sizeof(buf)), "every message");
	p.show = CONF_SHOW_UNSEEN;
	ck_assert_str_eq(pop3_profile_rule(&p, buf, sizeof(buf)),
			 "messages without \\Seen at login");
	p.max_age_secs = DAY;
	ck_assert_str_eq(pop3_profile_rule(&p, buf, sizeof(buf)),
			 "messages without \\Seen at login that arrived within 1d before login");
	p.show = CONF_SHOW_ALL;
	p.max_age_secs = 14 * DAY;
	ck_assert_str_eq(pop3_profile_rule(&p, buf, sizeof(buf)),
			 "messages that arrived within 2w before login");
}
END_TEST

/* Retention: past max_age, at the edges. */
static const struct {
	unsigned int max_age;
	int64_t date;
	bool past;
} past_table[] = {
	{ 0, 1, false },                        /* no max_age: never */
	{ 0, NOW - 3650LL * DAY, false },
	{ DAY, NOW, false },
	{ DAY, NOW - DAY, false },              /* still listed at NOW */
	{ DAY, NOW - DAY - 1, true },
	{ DAY, NOW - 30LL * DAY, true },
	{ DAY, NOW + 3600, false },             /* the future counts as now */
	{ DAY, 0, false },                      /* unknown date: not known old */
	{ DAY, -1, false },
	{ 1, NOW - 2, true },
	{ 1, NOW - 1, false },
	{ 3650u * DAY, NOW - 3650LL * DAY - 1, true },
	{ 3650u * DAY, NOW - 3650LL * DAY, false },
};

/* Past max_age means: not listed now, nor at any later login, whatever
   the flags and show; not past (with a known date and max_age) means
   that a show = all device with that max_age lists it now. */
START_TEST(past_age)
{
	struct conf_profile p = { .show = CONF_SHOW_ALL, .max_age_secs = past_table[_i].max_age };
	static const time_t later[] = { 0, 1, 60, DAY, 400LL * DAY };
	static const unsigned int flags[] = { 0, IMAP_FLAG_SEEN };
	bool past = pop3_profile_past_age(p.max_age_secs, past_table[_i].date, NOW);

	ck_assert_msg(past == past_table[_i].past, "row %d", _i);
	ck_assert_uint_eq(pop3_profile_done_age(&p), past_table[_i].max_age);
	for (size_t t = 0; past && t < N(later); t++)
		for (size_t f = 0; f < N(flags); f++)
			for (int show = CONF_SHOW_ALL; show <= CONF_SHOW_UNSEEN; show++) {
				p.show = (enum conf_show)show;
				ck_assert_msg(!pop3_profile_lists(&p, flags[f], past_table[_i].date,
								  NOW + later[t]), "row %d", _i);
			}
	p.show = CONF_SHOW_ALL;
	if (!past && p.max_age_secs > 0 && past_table[_i].date > 0)
		ck_assert_msg(pop3_profile_lists(&p, 0, past_table[_i].date, NOW), "row %d", _i);
}
END_TEST

/* show = unseen alone never makes a message done: no max_age, no age. */
START_TEST(unseen_never_done)
{
	struct conf_profile p = { .show = CONF_SHOW_UNSEEN };

	ck_assert_uint_eq(pop3_profile_done_age(&p), 0);
	ck_assert(!pop3_profile_past_age(pop3_profile_done_age(&p), NOW - 3650LL * DAY, NOW));
	ck_assert(!pop3_profile_lists(&p, IMAP_FLAG_SEEN, NOW - 3650LL * DAY, NOW));
}
END_TEST

static const struct {
	unsigned int secs;
	const char *text;
} durations[] = {
	{ 0, "0" }, { 1, "1s" }, { 59, "59s" }, { 60, "1m" }, { 90, "90s" }, { 3600, "1h" },
	{ 5400, "90m" }, { 86400, "1d" }, { 90000, "25h" }, { 604800, "1w" }, { 691200, "8d" },
	{ 3650u * 86400, "3650d" }, { 3654u * 86400, "522w" }, { 4294967295u, "4294967295s" },
};

START_TEST(duration)
{
	char buf[24];

	ck_assert_str_eq(pop3_profile_duration(durations[_i].secs, true, buf, sizeof(buf)),
			 durations[_i].text);
	if (strchr(durations[_i].text, 'w') == NULL)
		ck_assert_str_eq(pop3_profile_duration(durations[_i].secs, false, buf, sizeof(buf)),
				 durations[_i].text);
}
END_TEST

START_TEST(duration_days)
{
	char buf[24];

	ck_assert_str_eq(pop3_profile_duration(604800, false, buf, sizeof(buf)), "7d");
	ck_assert_str_eq(pop3_profile_duration(3654u * 86400, false, buf, sizeof(buf)), "3654d");
}
END_TEST

static Suite *profile_suite(void)
{
	Suite *s = suite_create("profile");
	TCase *tc = tcase_create("rule");

	tcase_add_loop_test(tc, rule, 0, N(rule_table));
	tcase_add_test(tc, rule_text);
	tcase_add_loop_test(tc, past_age, 0, N(past_table));
	tcase_add_test(tc, unseen_never_done);
	tcase_add_loop_test(tc, duration, 0, N(durations));
	tcase_add_test(tc, duration_days);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(profile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
