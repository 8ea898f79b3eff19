/* Unit tests for the session's maildrop (proxy/pop3/maildrop.c). */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
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
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 2), POP3_MSG_DELETED), 0);
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 5), POP3_MSG_DELETED), 0);
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

/* Marks are bits of the drop: each message's own, each kind apart, RSET
   clears one kind, and a message past a word boundary is no different. */
START_TEST(marks_are_per_message_and_kind)
{
	struct pop3_maildrop *d = pop3_maildrop_new(1, 0, 200);
	unsigned int count;
	uint64_t size;

	for (uint32_t uid = 1; uid <= 200; uid++)
		pop3_maildrop_add(d, uid, 1);
	pop3_maildrop_finish(d);
	for (unsigned int n = 1; n <= 200; n++)
		ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, n)), 0);
	/* no bitmap before its first mark: listing needs none */
	for (unsigned int k = 0; k < POP3_MSG_FLAG_COUNT; k++)
		ck_assert_ptr_null(d->marks[k]);
	pop3_msg_unmark(d, pop3_maildrop_get(d, 3), POP3_MSG_DELETED);
	pop3_maildrop_unmark_all(d, POP3_MSG_DELETED);
	ck_assert_uint_eq(pop3_maildrop_extra_bytes(d), 0);
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 64), POP3_MSG_DELETED), 0);
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 65),
				       POP3_MSG_RETRIEVED | POP3_MSG_VANISHED), 0);
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 200),
				       POP3_MSG_DELETED | POP3_MSG_RETRIEVED), 0);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 64)), POP3_MSG_DELETED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 65)),
			  POP3_MSG_RETRIEVED | POP3_MSG_VANISHED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 200)),
			  POP3_MSG_DELETED | POP3_MSG_RETRIEVED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 63)), 0);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 66)), 0);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 199)), 0);
	/* 200 messages: 4 words of bits for each kind marked */
	ck_assert_uint_eq(pop3_maildrop_extra_bytes(d), 3 * 4 * sizeof(uint64_t));
	ck_assert_uint_eq(pop3_maildrop_marked(d), 2);
	pop3_maildrop_visible(d, &count, &size);
	ck_assert_uint_eq(count, 198);
	ck_assert_uint_eq(size, 198);
	pop3_msg_unmark(d, pop3_maildrop_get(d, 65), POP3_MSG_VANISHED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 65)), POP3_MSG_RETRIEVED);
	/* RSET: the DELE marks go, what RETR sent stays known */
	pop3_maildrop_unmark_all(d, POP3_MSG_DELETED);
	ck_assert_uint_eq(pop3_maildrop_marked(d), 0);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 200)), POP3_MSG_RETRIEVED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 65)), POP3_MSG_RETRIEVED);
	pop3_maildrop_free(&d);
}
END_TEST

/* Narrowing renumbers: a mark set before moves with its message and
   leaves nothing behind at the old number. */
START_TEST(narrow_moves_marks_with_messages)
{
	struct pop3_maildrop *d = pop3_maildrop_new(1, 0, 100);
	uint8_t hidden[100] = { 0 };
	uint32_t *uids;
	size_t n;

	for (uint32_t uid = 1; uid <= 100; uid++)
		pop3_maildrop_add(d, uid, uid);
	pop3_maildrop_finish(d);
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 70), POP3_MSG_VANISHED), 0);
	ck_assert_int_eq(pop3_msg_mark(d, pop3_maildrop_get(d, 100), POP3_MSG_DELETED), 0);
	for (unsigned int i = 0; i < 10; i++)
		hidden[i] = 1;                   /* uids 1..10 */
	ck_assert_uint_eq(pop3_maildrop_narrow(d, hidden, 0), 10);
	ck_assert_uint_eq(d->count, 90);
	ck_assert_uint_eq(pop3_maildrop_get(d, 60)->uid, 70);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 60)), POP3_MSG_VANISHED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 90)), POP3_MSG_DELETED);
	ck_assert_uint_eq(pop3_msg_flags(d, pop3_maildrop_get(d, 70)), 0);
	ck_assert_uint_eq(pop3_maildrop_marked(d), 1);
	uids = pop3_maildrop_marked_uids(d, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(uids[0], 100);
	free(uids);
	pop3_maildrop_free(&d);
}
END_TEST

/* 8 octets a message; sizes of 4 GiB - 1 and more are kept whole. */
START_TEST(sizes_near_and_past_4_gib)
{
	static const uint64_t sizes[] = {
		0, UINT32_MAX - 1, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_C(1) << 40,
		INT64_MAX, 7,
	};
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	struct pop3_maildrop *d = pop3_maildrop_new(1, 0, 0);
	uint8_t hidden[16] = { 0 };
	unsigned int count;
	uint64_t total = 0, size;

	ck_assert_uint_eq(sizeof(struct pop3_msg), 8);
	/* in reverse order: the big ones' table is kept by UID */
	for (size_t i = n; i-- > 0;)
		ck_assert_int_eq(pop3_maildrop_add(d, (uint32_t)(i + 1), sizes[i]), 0);
	pop3_maildrop_finish(d);
	for (size_t i = 0; i < n; i++) {
		const struct pop3_msg *m = pop3_maildrop_get(d, (unsigned int)i + 1);

		ck_assert_uint_eq(pop3_msg_size(d, m), sizes[i]);
		ck_assert_uint_eq(pop3_msg_upstream_size(d, m), sizes[i]);
		if (i != 5)
			total += sizes[i];
	}
	/* only what does not fit 32 bits (or is the marker) is in the table */
	ck_assert_uint_eq(d->big.count, 4);
	hidden[5] = 1;                           /* uid 6: INT64_MAX */
	ck_assert_uint_eq(pop3_maildrop_narrow(d, hidden, 0), 1);
	ck_assert_uint_eq(d->big.count, 3);
	ck_assert_uint_eq(pop3_msg_size(d, pop3_maildrop_get(d, 6)), 7);
	ck_assert_uint_eq(pop3_msg_size(d, pop3_maildrop_get(d, 5)), UINT64_C(1) << 40);
	pop3_maildrop_visible(d, &count, &size);
	ck_assert_uint_eq(count, 6);
	ck_assert_uint_eq(size, total);
	pop3_maildrop_free(&d);
}
END_TEST

/* Exact sizes: the counted size is what LIST says, RFC822.SIZE stays
   known, across the 4 GiB line both ways; a difference beyond 2^31 is
   refused and changes nothing. */
START_TEST(exact_sizes_keep_the_upstream_size)
{
	struct pop3_maildrop *d = pop3_maildrop_new(1, 0, 4);
	struct pop3_msg *m;

	pop3_maildrop_add(d, 1, 1000);
	pop3_maildrop_add(d, 2, UINT32_MAX - 10);
	pop3_maildrop_add(d, 3, (uint64_t)UINT32_MAX + 10);
	pop3_maildrop_add(d, 4, 5);
	pop3_maildrop_finish(d);
	m = pop3_maildrop_get(d, 1);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, 1040), 0);
	ck_assert_uint_eq(pop3_msg_size(d, m), 1040);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, m), 1000);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, 990), 0);   /* below it */
	ck_assert_uint_eq(pop3_msg_size(d, m), 990);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, m), 1000);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, 1000), 0);  /* the same */
	ck_assert_uint_eq(d->delta.count, 0);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, m), 1000);
	/* up across 4 GiB - 1 */
	m = pop3_maildrop_get(d, 2);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, (uint64_t)UINT32_MAX + 20), 0);
	ck_assert_uint_eq(pop3_msg_size(d, m), (uint64_t)UINT32_MAX + 20);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, m), UINT32_MAX - 10);
	/* down across it */
	m = pop3_maildrop_get(d, 3);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, UINT32_MAX - 1), 0);
	ck_assert_uint_eq(pop3_msg_size(d, m), UINT32_MAX - 1);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, m), (uint64_t)UINT32_MAX + 10);
	ck_assert_uint_eq(d->big.count, 1);
	/* too far from RFC822.SIZE: refused, unchanged */
	m = pop3_maildrop_get(d, 4);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, (UINT64_C(1) << 31) + 5), -1);
	ck_assert_int_eq(pop3_maildrop_set_exact(d, m, (UINT64_C(1) << 31) + 4), 0);
	ck_assert_uint_eq(pop3_msg_size(d, m), (UINT64_C(1) << 31) + 4);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, m), 5);
	ck_assert_uint_eq(pop3_msg_upstream_size(d, pop3_maildrop_get(d, 1)), 1000);
	pop3_maildrop_free(&d);
}
END_TEST

/* The default form takes no memory; another UIDL is kept, replaced, or
   dropped again for the default; narrowing keeps those still listed. */
START_TEST(uidls_default_form_not_stored)
{
	struct pop3_maildrop *d = pop3_maildrop_new(0x4d, 0, 10000);
	uint8_t *hidden = calloc(10000, 1);
	char uidl[POP3_UIDL_MAX + 1], def[32];
	char longest[POP3_UIDL_MAX + 2];

	for (uint32_t uid = 1; uid <= 10000; uid++)
		pop3_maildrop_add(d, uid, 100);
	pop3_maildrop_finish(d);
	for (unsigned int n = 1; n <= 10000; n++) {
		snprintf(def, sizeof(def), "%08x%08x", n, 0x4du);
		ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, n), def, 16), 0);
	}
	ck_assert_uint_eq(d->uidls.count, 0);
	ck_assert_ptr_null(d->pool);
	ck_assert_uint_eq(pop3_maildrop_uidl(d, pop3_maildrop_get(d, 77), uidl), 16);
	ck_assert_str_eq(uidl, "0000004d0000004d");
	/* the default form's upper case is another UIDL */
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 10), "0000000A0000004D", 16), 0);
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 3), "legacy-3", 8), 0);
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 9000), "x", 1), 0);
	ck_assert_uint_eq(d->uidls.count, 3);
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 10), uidl);
	ck_assert_str_eq(uidl, "0000000A0000004D");
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 3), uidl);
	ck_assert_str_eq(uidl, "legacy-3");
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 4), uidl);
	ck_assert_str_eq(uidl, "000000040000004d");
	/* replaced, then back to the default */
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 3), "legacy-3b", 9), 0);
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 3), uidl);
	ck_assert_str_eq(uidl, "legacy-3b");
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 10), "0000000a0000004d", 16), 0);
	ck_assert_uint_eq(d->uidls.count, 2);
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 10), uidl);
	ck_assert_str_eq(uidl, "0000000a0000004d");
	/* bad ones refused, the one it had kept */
	memset(longest, 'u', POP3_UIDL_MAX + 1);
	longest[POP3_UIDL_MAX + 1] = '\0';
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 3), longest,
						POP3_UIDL_MAX + 1), -1);
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 3), "a b", 3), -1);
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 3), "", 0), -1);
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 3), uidl);
	ck_assert_str_eq(uidl, "legacy-3b");
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, pop3_maildrop_get(d, 5), longest,
						POP3_UIDL_MAX), 0);
	ck_assert_uint_eq(pop3_maildrop_uidl(d, pop3_maildrop_get(d, 5), uidl), POP3_UIDL_MAX);
	/* uid 3 hidden: its UIDL goes; 9000's follows it to number 8999 */
	hidden[2] = 1;
	ck_assert_uint_eq(pop3_maildrop_narrow(d, hidden, 0), 1);
	ck_assert_uint_eq(d->uidls.count, 2);
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 8999), uidl);
	ck_assert_str_eq(uidl, "x");
	pop3_maildrop_uidl(d, pop3_maildrop_get(d, 3), uidl);
	ck_assert_str_eq(uidl, "000000040000004d");
	free(hidden);
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
	tcase_add_test(tc, marks_are_per_message_and_kind);
	tcase_add_test(tc, narrow_moves_marks_with_messages);
	tcase_add_test(tc, sizes_near_and_past_4_gib);
	tcase_add_test(tc, exact_sizes_keep_the_upstream_size);
	tcase_add_test(tc, uidls_default_form_not_stored);
	tcase_add_test(tc, table_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
