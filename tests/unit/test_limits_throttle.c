/* The provider back-off per upstream account (limits_throttle_*): its
   growth, its cap, its end, its reset, and its bound. */

#include <check.h>
#include <stdio.h>

#include "limits_table.h"

static struct limits *new_table(size_t max)
{
	struct limits *l = limits_new(max);

	ck_assert_ptr_nonnull(l);
	limits_set_seed_for_tests(l, 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull);
	return l;
}

/* 30s doubling to 10m, levels forgotten 20m after the last answer. */
static const struct limits_auth backoff = { 30000, 600000, 1200 };

START_TEST(first_answer_starts_the_first_backoff)
{
	struct limits *l = new_table(16);

	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 1000), 0);
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 1000), 30000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 1000), 30000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 11000), 20000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 30999), 1);
	/* over: the upstream may be asked again, the level is remembered */
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 31000), 0);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_THROTTLE), 1);
	/* other accounts never were held */
	ck_assert_uint_eq(limits_throttle_left(l, "bob", &backoff, 1000), 0);
	ck_assert_uint_eq(limits_throttle_left(l, "Alice", &backoff, 1000), 0);
	limits_free(&l);
}
END_TEST

/* Each throttle answer after a back-off doubles the next, up to the cap,
   and never beyond it however many follow. */
START_TEST(growth_doubles_to_the_cap)
{
	static const unsigned int want[] = { 30000, 60000, 120000, 240000, 480000, 600000,
					     600000, 600000 };
	struct limits *l = new_table(16);
	uint64_t now = 5000;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unsigned int d = limits_throttle_hit(l, "alice", &backoff, now);

		ck_assert_msg(d == want[i], "answer %zu: %u, want %u", i + 1, d, want[i]);
		ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, now + d - 1), 1);
		now += d;
		ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, now), 0);
	}
	for (int i = 0; i < 100; i++, now += 600000)
		ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, now), 600000);
	limits_free(&l);
}
END_TEST

/* Logins of one account under way at once, all throttled: one back-off,
   not one level each. */
START_TEST(answers_during_a_backoff_do_not_grow_it)
{
	struct limits *l = new_table(16);

	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 1000), 30000);
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 1000), 30000);
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 2000), 29000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 31000), 0);
	/* the next after it is the second */
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 31000), 60000);
	limits_free(&l);
}
END_TEST

START_TEST(success_resets)
{
	struct limits *l = new_table(16);

	limits_throttle_hit(l, "alice", &backoff, 0);
	limits_throttle_hit(l, "alice", &backoff, 30000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 30000), 60000);
	limits_throttle_hit(l, "bob", &backoff, 30000);
	limits_throttle_clear(l, "alice");
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 30001), 0);
	/* the next throttle starts from the first back-off again */
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 40000), 30000);
	/* bob's untouched */
	ck_assert_uint_eq(limits_throttle_left(l, "bob", &backoff, 40000), 20000);
	limits_throttle_clear(l, "carol");   /* unknown: nothing happens */
	limits_throttle_clear(l, NULL);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_THROTTLE), 2);
	limits_free(&l);
}
END_TEST

/* A level is forgotten a window after its last answer: a throttle much
   later starts small again, and the record is gone. */
START_TEST(window_forgets_the_level)
{
	struct limits *l = new_table(16);

	limits_throttle_hit(l, "alice", &backoff, 0);
	limits_throttle_hit(l, "alice", &backoff, 30000);
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 30000 + 1199999), 120000);
	ck_assert_uint_eq(limits_throttle_hit(l, "alice", &backoff, 30000 + 1199999 + 1200000),
			  30000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 5000000), 0);
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_THROTTLE), 0);
	limits_free(&l);
}
END_TEST

/* The settings in force decide: a reload shortening the back-off ends it
   sooner; 0 turns it off; a cap below the start is the back-off. */
START_TEST(settings_of_the_moment)
{
	struct limits *l = new_table(16);
	struct limits_auth shorter = { 5000, 600000, 1200 };
	struct limits_auth off = { 0, 600000, 1200 };
	struct limits_auth low_cap = { 30000, 10000, 1200 };

	limits_throttle_hit(l, "alice", &backoff, 0);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &shorter, 4000), 1000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &off, 1), 0);
	ck_assert_uint_eq(limits_throttle_hit(l, "bob", &off, 0), 0);
	ck_assert_uint_eq(limits_throttle_left(l, "bob", &off, 0), 0);
	ck_assert_uint_eq(limits_throttle_hit(l, "carol", &low_cap, 0), 10000);
	ck_assert_uint_eq(limits_throttle_hit(l, NULL, &backoff, 0), 0);
	ck_assert_uint_eq(limits_throttle_left(l, NULL, &backoff, 0), 0);
	limits_free(&l);
}
END_TEST

/* A clock that went back counts as no time passed: never a longer or a
   negative back-off. */
START_TEST(clock_going_back)
{
	struct limits *l = new_table(16);

	limits_throttle_hit(l, "alice", &backoff, 100000);
	ck_assert_uint_eq(limits_throttle_left(l, "alice", &backoff, 50000), 30000);
	limits_free(&l);
}
END_TEST

/* A flood of accounts (an upstream throttling everyone) stays within the
   table's cap; the oldest are forgotten first, the newest kept. */
START_TEST(bounded_by_the_cap)
{
	enum { cap = 64 };
	struct limits *l = new_table(cap);
	char key[32];

	for (int i = 0; i < 10 * cap; i++) {
		snprintf(key, sizeof(key), "user%d@example.org", i);
		limits_throttle_hit(l, key, &backoff, (uint64_t)i);
		ck_assert_uint_le(limits_table_entries(l, LIMITS_THROTTLE), cap);
	}
	ck_assert_uint_eq(limits_table_entries(l, LIMITS_THROTTLE), cap);
	ck_assert_uint_eq(limits_throttle_left(l, "user0@example.org", &backoff, 1000), 0);
	snprintf(key, sizeof(key), "user%d@example.org", 10 * cap - 1);
	ck_assert_uint_gt(limits_throttle_left(l, key, &backoff, 1000), 0);
	/* the other tables are not touched */
	ck_assert_uint_eq(limits_entries(l), cap);
	limits_free(&l);
}
END_TEST

static Suite *throttle_suite(void)
{
	Suite *s = suite_create("limits_throttle");
	TCase *tc = tcase_create("backoff");

	tcase_add_test(tc, first_answer_starts_the_first_backoff);
	tcase_add_test(tc, growth_doubles_to_the_cap);
	tcase_add_test(tc, answers_during_a_backoff_do_not_grow_it);
	tcase_add_test(tc, success_resets);
	tcase_add_test(tc, window_forgets_the_level);
	tcase_add_test(tc, settings_of_the_moment);
	tcase_add_test(tc, clock_going_back);
	tcase_add_test(tc, bounded_by_the_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(throttle_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
