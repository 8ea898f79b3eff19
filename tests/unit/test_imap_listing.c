/* Unit tests for the kept listing (proxy/imap/imap_listing.c). */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap_listing.h"
#include "imap_resp.h"

/* UIDs 1..10, size 100 + uid. */
static struct imap_listing *ten(void)
{
	struct imap_listing *l = imap_listing_new(100);

	ck_assert_ptr_nonnull(l);
	for (uint32_t uid = 1; uid <= 10; uid++)
		ck_assert_int_eq(imap_listing_append(l, uid, 100 + uid, 0), 0);
	ck_assert_uint_eq(l->sorted, 10);
	return l;
}

static void expect_uids(const struct imap_listing *l, const char *want)
{
	char got[256] = "";

	for (size_t i = 0; i < l->count; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? " " : "",
			 l->msgs[i].uid);
	ck_assert_str_eq(got, want);
}

struct vanish_case {
	const char *set;
	int ret;
	size_t removed;
	const char *left;
};

static const struct vanish_case vanish_cases[] = {
	{ "3", 0, 1, "1 2 4 5 6 7 8 9 10" },
	{ "1:3", 0, 3, "4 5 6 7 8 9 10" },
	{ "3:1", 0, 3, "4 5 6 7 8 9 10" },
	{ "3:5,2", 0, 4, "1 6 7 8 9 10" },        /* a later range before an earlier */
	{ "9:4294967295", 0, 2, "1 2 3 4 5 6 7 8" },
	{ "11:20,30", 0, 0, "1 2 3 4 5 6 7 8 9 10" },
	{ "1:4294967295", 0, 10, "" },
	{ "2,2,2:2", 0, 1, "1 3 4 5 6 7 8 9 10" },
	/* malformed: nothing removed */
	{ "", -1, 0, NULL },
	{ "0", -1, 0, NULL },
	{ "1:0", -1, 0, NULL },
	{ "*", -1, 0, NULL },
	{ "1:*", -1, 0, NULL },
	{ "3,", -1, 0, NULL },
	{ ",3", -1, 0, NULL },
	{ "3,,4", -1, 0, NULL },
	{ "3 4", -1, 0, NULL },
	{ "4294967296", -1, 0, NULL },
	{ "1:4294967296", -1, 0, NULL },
	{ "-1", -1, 0, NULL },
	{ "3\r", -1, 0, NULL },
	{ "1:2:3", -1, 0, NULL },
};

START_TEST(vanish_table)
{
	const struct vanish_case *c = &vanish_cases[_i];
	struct imap_listing *l = ten();
	size_t removed = 99;

	ck_assert_int_eq(imap_listing_vanish(l, c->set, strlen(c->set), &removed), c->ret);
	ck_assert_uint_eq(removed, c->removed);
	expect_uids(l, c->ret == 0 ? c->left : "1 2 3 4 5 6 7 8 9 10");
	for (size_t i = 0; i < l->count; i++)
		ck_assert_uint_eq(l->msgs[i].size, 100 + l->msgs[i].uid);
	imap_listing_free(&l);
}
END_TEST

START_TEST(vanish_nul_and_too_many_ranges)
{
	static const char nul[] = "3\0" "4";
	struct imap_listing *l = ten();
	char set[IMAP_LISTING_MAX_RANGES * 2 + 8];
	size_t removed, len = 0;

	ck_assert_int_eq(imap_listing_vanish(l, nul, sizeof(nul) - 1, &removed), -1);
	for (size_t i = 0; i < IMAP_LISTING_MAX_RANGES; i++)
		len += (size_t)snprintf(set + len, sizeof(set) - len, "%s1", i ? "," : "");
	ck_assert_int_eq(imap_listing_vanish(l, set, len, &removed), 0);
	ck_assert_uint_eq(removed, 1);
	len += (size_t)snprintf(set + len, sizeof(set) - len, ",2");
	ck_assert_int_eq(imap_listing_vanish(l, set, len, &removed), -1);
	ck_assert_uint_eq(l->count, 9);
	imap_listing_free(&l);
}
END_TEST

START_TEST(appended_out_of_order_then_finished)
{
	struct imap_listing *l = ten();

	ck_assert_int_eq(imap_listing_append(l, 15, 7, IMAP_FLAG_SEEN), 0);
	ck_assert_int_eq(imap_listing_append(l, 12, 8, 0), 0);
	ck_assert_uint_eq(l->sorted, 11);
	ck_assert_ptr_nonnull(imap_listing_find(l, 12));
	ck_assert_uint_eq(imap_listing_find(l, 15)->size, 7);
	ck_assert_ptr_null(imap_listing_find(l, 11));
	ck_assert_ptr_null(imap_listing_find(l, 0));
	l->uidnext = 11;
	ck_assert_int_eq(imap_listing_finish(l), 0);
	expect_uids(l, "1 2 3 4 5 6 7 8 9 10 12 15");
	ck_assert_uint_eq(l->uidnext, 16);
	ck_assert_uint_eq(l->msgs[11].flags, IMAP_FLAG_SEEN);
	/* A larger UIDNEXT from the server stays. */
	l->uidnext = 40;
	ck_assert_int_eq(imap_listing_finish(l), 0);
	ck_assert_uint_eq(l->uidnext, 40);
	/* A UID twice is no listing. */
	ck_assert_int_eq(imap_listing_append(l, 3, 1, 0), 0);
	ck_assert_int_eq(imap_listing_finish(l), -1);
	imap_listing_free(&l);
}
END_TEST

START_TEST(unmarked_dropped)
{
	struct imap_listing *l = ten();

	imap_listing_find(l, 4)->flags |= IMAP_LISTING_MARK;
	imap_listing_unmark(l);
	ck_assert_uint_eq(imap_listing_drop_unmarked(l), 10);
	ck_assert_uint_eq(l->count, 0);
	imap_listing_free(&l);
	l = ten();
	for (uint32_t uid = 2; uid <= 10; uid += 2)
		imap_listing_find(l, uid)->flags |= IMAP_LISTING_MARK | IMAP_FLAG_DELETED;
	ck_assert_uint_eq(imap_listing_drop_unmarked(l), 5);
	expect_uids(l, "2 4 6 8 10");
	ck_assert_uint_eq(l->sorted, 5);
	ck_assert_uint_eq(imap_listing_find(l, 8)->size, 108);
	imap_listing_free(&l);
}
END_TEST

START_TEST(bounded_and_cleared)
{
	struct imap_listing *l = imap_listing_new(3);

	ck_assert_ptr_nonnull(l);
	for (uint32_t uid = 1; uid <= 3; uid++)
		ck_assert_int_eq(imap_listing_append(l, uid, 1, 0), 0);
	/* Past its bound a listing fails, it is never cut. */
	ck_assert_int_eq(imap_listing_append(l, 4, 1, 0), -1);
	ck_assert_uint_eq(l->count, 3);
	l->uidvalidity = 9;
	l->has_modseq = true;
	imap_listing_clear(l);
	ck_assert_uint_eq(l->count, 0);
	ck_assert_uint_eq(l->uidvalidity, 0);
	ck_assert(!l->has_modseq);
	ck_assert_int_eq(imap_listing_append(l, 4, 1, 0), 0);
	ck_assert_uint_eq(imap_listing_bytes(10), sizeof(*l) + 240);
	imap_listing_free(&l);
	ck_assert_ptr_null(l);
	imap_listing_free(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_listing");
	TCase *tc = tcase_create("imap_listing");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, vanish_table, 0, sizeof(vanish_cases) / sizeof(vanish_cases[0]));
	tcase_add_test(tc, vanish_nul_and_too_many_ranges);
	tcase_add_test(tc, appended_out_of_order_then_finished);
	tcase_add_test(tc, unmarked_dropped);
	tcase_add_test(tc, bounded_and_cleared);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
