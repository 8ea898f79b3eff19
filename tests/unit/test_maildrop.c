/* Unit tests for the session's maildrop (proxy/pop3/maildrop.c). */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildrop.h"

START_TEST(listing_in_any_order_with_repeats)
{
	struct pop3_maildrop *d = pop3_maildrop_new(77, 0, 2);
	static const uint32_t uids[] = { 9, 3, 5, 3, 12, 9 };
	char uidl[POP3_UIDL_MAX + 1];

	ck_assert_ptr_nonnull(d);
	for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++)
		ck_assert_int_eq(pop3_maildrop_add(d, uids[i], 100 + uids[i]), 0);
	pop3_maildrop_finish(d);
	ck_assert_uint_eq(d->count, 4);
	ck_assert_uint_eq(d->msgs[0].uid, 3);
	ck_assert_uint_eq(d->msgs[1].uid, 5);
	ck_assert_uint_eq(d->msgs[2].uid, 9);
	ck_assert_uint_eq(d->msgs[3].uid, 12);
	/* No UIDNEXT from the server: above every UID. */
	ck_assert_uint_eq(d->uidnext, 13);
	ck_assert_uint_eq(pop3_maildrop_uidl(d, &d->msgs[2], uidl), 16);
	ck_assert_str_eq(uidl, "000000090000004d");
	/* By UID: every one there, none between or beyond. */
	for (size_t i = 0; i < d->count; i++)
		ck_assert_ptr_eq(pop3_maildrop_by_uid(d, d->msgs[i].uid), &d->msgs[i]);
	ck_assert_ptr_null(pop3_maildrop_by_uid(d, 0));
	ck_assert_ptr_null(pop3_maildrop_by_uid(d, 4));
	ck_assert_ptr_null(pop3_maildrop_by_uid(d, 13));
	pop3_maildrop_free(&d);
	ck_assert_ptr_null(d);
}
END_TEST

START_TEST(sorted_listing_kept_and_uidnext_respected)
{
	struct pop3_maildrop *d = pop3_maildrop_new(1, 500, 3);

	for (uint32_t uid = 1; uid <= 3; uid++)
		pop3_maildrop_add(d, uid, uid);
	pop3_maildrop_finish(d);
	ck_assert_uint_eq(d->count, 3);
	ck_assert_uint_eq(d->uidnext, 500);
	pop3_maildrop_free(&d);
	d = pop3_maildrop_new(1, 0, 0);
	pop3_maildrop_finish(d);
	ck_assert_uint_eq(d->count, 0);
	ck_assert_uint_eq(d->uidnext, 1);
	pop3_maildrop_free(&d);
}
END_TEST

START_TEST(narrow_to_the_device_view)
{
	struct pop3_maildrop *d = pop3_maildrop_new(1, 0, 10);
	uint8_t hidden[11] = { 0 };
	unsigned int count;
	uint64_t size;

	for (uint32_t uid = 1; uid <= 10; uid++)
		pop3_maildrop_add(d, uid, 10);
	pop3_maildrop_add_gone(d, 11);         /* \Deleted upstream: exists */
	pop3_maildrop_finish(d);
	ck_assert_uint_eq(d->count, 10);
	ck_assert_uint_eq(d->exists_count, 11);
	/* the store's answer is per listed UID, in exists order */
	hidden[1] = hidden[2] = hidden[6] = 1;  /* uids 2, 3, 7 */
	hidden[10] = 1;                         /* uid 11: not in the drop anyway */
	ck_assert_uint_eq(pop3_maildrop_narrow(d, hidden, 0), 3);
	ck_assert_uint_eq(d->count, 7);
	ck_assert_ptr_null(d->exists);
	/* Messages are numbered afresh, in UID order. */
	ck_assert_uint_eq(pop3_maildrop_get(d, 1)->uid, 1);
	ck_assert_uint_eq(pop3_maildrop_get(d, 2)->uid, 4);
	ck_assert_uint_eq(pop3_maildrop_get(d, 7)->uid, 10);
	ck_assert_ptr_null(pop3_maildrop_get(d, 8));
	ck_assert_ptr_null(pop3_maildrop_get(d, 0));
	pop3_maildrop_visible(d, &count, &size);
	ck_assert_uint_eq(count, 7);
	ck_assert_uint_eq(size, 70);
	pop3_maildrop_free(&d);

	/* new_device_sees = new: only from the first UIDNEXT on. */
	d = pop3_maildrop_new(1, 0, 10);
	for (uint32_t uid = 1; uid <= 10; uid++)
		pop3_maildrop_add(d, uid, 10);
	pop3_maildrop_finish(d);
	ck_assert_uint_eq(pop3_maildrop_narrow(d, NULL, 6), 5);
	ck_assert_uint_eq(d->count, 5);
	ck_assert_uint_eq(pop3_maildrop_get(d, 1)->uid, 6);
	pop3_maildrop_free(&d);
}
END_TEST

START_TEST(marks_counts_and_uids)
{
	struct pop3_maildrop *d = pop3_maildrop_new(1, 0, 5);
	unsigned int count;
	uint64_t size;
	uint32_t *uids;
	size_t n;

	for (uint32_t uid = 10; uid < 15; uid++)
		pop3_maildrop_add(d, uid, uid);
	pop3_maildrop_finish(d);
	ck_assert_ptr_null(pop3_maildrop_marked_uids(d, &n));
	ck_assert_uint_eq(n, 0);
	pop3_maildrop_get(d, 2)->flags |= POP3_MSG_DELETED;
	pop3_maildrop_get(d, 5)->flags |= POP3_MSG_DELETED;
	ck_assert_uint_eq(pop3_maildrop_marked(d), 2);
	pop3_maildrop_visible(d, &count, &size);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(size, 10 + 12 + 13);
	uids = pop3_maildrop_marked_uids(d, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(uids[0], 11);
	ck_assert_uint_eq(uids[1], 14);
	ck_assert_uint_eq(pop3_maildrop_number(d, pop3_maildrop_get(d, 4)), 4);
	free(uids);
	pop3_maildrop_free(&d);
}
END_TEST

START_TEST(table_bounds)
{
	ck_assert_ptr_null(pop3_maildrop_new(1, 1, POP3_MAX_MESSAGES + 1));
	struct pop3_maildrop *d = pop3_maildrop_new(1, 1, POP3_MAX_MESSAGES);

	ck_assert_ptr_nonnull(d);
	/* Past the table's bound the listing fails, it is never cut. */
	d->count = POP3_MAX_MESSAGES;
	ck_assert_int_eq(pop3_maildrop_add(d, 1, 1), -1);
	d->count = 0;
	pop3_maildrop_free(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("maildrop");
	TCase *tc = tcase_create("maildrop");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, listing_in_any_order_with_repeats);
	tcase_add_test(tc, sorted_listing_kept_and_uidnext_respected);
	tcase_add_test(tc, narrow_to_the_device_view);
	tcase_add_test(tc, marks_counts_and_uids);
	tcase_add_test(tc, table_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
