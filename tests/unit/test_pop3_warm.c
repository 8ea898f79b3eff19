/* Unit tests for the kept read of the state store (proxy/pop3/warm.c):
   when a copy may stand for the store's answer, what it gives, and its
   count in the memory budget. */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildrop.h"
#include "warm.h"

static const struct cache_gens gens = { .account = 1700000000000001ULL, .device = 0 };

/* uids 1..6 listed, 4 flagged \Deleted; every message of the drop gets
   the UIDL "u<uid>". */
static struct pop3_maildrop *drop_new(void)
{
	struct pop3_maildrop *d = pop3_maildrop_new(77, 7, 6);

	ck_assert_ptr_nonnull(d);
	for (uint32_t u = 1; u <= 6; u++) {
		if (u == 4)
			ck_assert_int_eq(pop3_maildrop_add_gone(d, u), 0);
		else
			ck_assert_int_eq(pop3_maildrop_add(d, u, 100 * u), 0);
	}
	pop3_maildrop_finish(d);
	ck_assert_uint_eq(d->count, 5);
	ck_assert_uint_eq(d->exists_count, 6);
	return d;
}

static void drop_uidls(struct pop3_maildrop *d)
{
	char uidl[16];

	for (unsigned int i = 0; i < d->count; i++) {
		snprintf(uidl, sizeof(uidl), "u%u", d->msgs[i].uid);
		ck_assert_int_eq(pop3_maildrop_set_uidl(d, &d->msgs[i], uidl, strlen(uidl)), 0);
	}
}

/* The UIDL of message i (two at a time may be compared). */
static const char *uidl_of(const struct pop3_maildrop *d, unsigned int i)
{
	static char buf[2][POP3_UIDL_MAX + 1];
	static unsigned int k;

	k ^= 1;
	pop3_maildrop_uidl(d, &d->msgs[i], buf[k]);
	return buf[k];
}

/* UIDLs of the default form, which the drop does not store: the copy
   holds them as text all the same, and the next drop gets them. */
START_TEST(copy_holds_default_form_uidls)
{
	struct pop3_maildrop *d = drop_new(), *next = drop_new();
	uint64_t used = 0;
	struct pop3_warm *w;

	/* uid 3 another UIDL, the others the default form */
	ck_assert_int_eq(pop3_maildrop_set_uidl(d, &d->msgs[2], "legacy-3", 8), 0);
	ck_assert_uint_eq(d->uidls.count, 1);
	w = pop3_warm_new(&used, 1 << 20, "office", &gens, d, NULL, 0);
	ck_assert_ptr_nonnull(w);
	/* five UIDLs as text: four of 16 octets, one of 8, each with a NUL */
	ck_assert_uint_eq(used, pop3_warm_bytes(6, 4 * 17 + 9));
	ck_assert_str_eq(pop3_warm_stored(w, 0), "000000010000004d");
	ck_assert_ptr_null(pop3_warm_stored(w, 3));       /* uid 4: not in the drop */
	ck_assert(pop3_warm_valid(w, "office", &gens, next));
	ck_assert_int_eq(pop3_warm_apply(w, next), 0);
	for (unsigned int i = 0; i < next->count; i++)
		ck_assert_str_eq(uidl_of(next, i), uidl_of(d, i));
	ck_assert_str_eq(uidl_of(next, 2), "legacy-3");
	ck_assert_uint_eq(next->uidls.count, 1);
	pop3_warm_free(&w);
	pop3_maildrop_free(&d);
	pop3_maildrop_free(&next);
}
END_TEST

START_TEST(copy_stands_for_the_same_state)
{
	static const uint8_t hidden[6] = { 0, 1, 0, 0, 2, 0 };
	struct pop3_maildrop *d = drop_new(), *next = drop_new();
	uint64_t used = 1000;
	struct pop3_warm *w;

	drop_uidls(d);
	w = pop3_warm_new(&used, 1 << 20, "office", &gens, d, hidden, 3);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(used, 1000 + pop3_warm_bytes(6, d->pool_len));
	/* The next login: same listing, no UIDLs yet. */
	ck_assert(pop3_warm_valid(w, "office", &gens, next));
	ck_assert_mem_eq(pop3_warm_hidden(w), hidden, 6);
	ck_assert_uint_eq(pop3_warm_first_uidnext(w), 3);
	ck_assert_int_eq(pop3_warm_apply(w, next), 0);
	for (unsigned int i = 0; i < next->count; i++)
		ck_assert_str_eq(uidl_of(next, i), uidl_of(d, i));
	pop3_warm_free(&w);
	ck_assert_ptr_null(w);
	ck_assert_uint_eq(used, 1000);
	pop3_maildrop_free(&d);
	pop3_maildrop_free(&next);
}
END_TEST

START_TEST(anything_changed_and_it_does_not)
{
	struct pop3_maildrop *d = drop_new(), *next;
	struct cache_gens g;
	uint64_t used = 0;
	struct pop3_warm *w;

	drop_uidls(d);
	w = pop3_warm_new(&used, 1 << 20, "office", &gens, d, NULL, 1);
	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_null(pop3_warm_hidden(w));
	next = drop_new();
	ck_assert(!pop3_warm_valid(NULL, "office", &gens, next));
	ck_assert(!pop3_warm_valid(w, "phone", &gens, next));
	g = gens;
	g.account++;
	ck_assert(!pop3_warm_valid(w, "office", &g, next));
	g = gens;
	g.device = 5;
	ck_assert(!pop3_warm_valid(w, "office", &g, next));
	g.account = 0;
	g.device = 0;
	ck_assert(!pop3_warm_valid(w, "office", &g, next));
	pop3_maildrop_free(&next);
	/* Another UIDVALIDITY. */
	next = pop3_maildrop_new(78, 7, 6);
	for (uint32_t u = 1; u <= 6; u++)
		ck_assert_int_eq(u == 4 ? pop3_maildrop_add_gone(next, u) :
				 pop3_maildrop_add(next, u, 100 * u), 0);
	pop3_maildrop_finish(next);
	ck_assert(!pop3_warm_valid(w, "office", &gens, next));
	pop3_maildrop_free(&next);
	/* A new message. */
	next = drop_new();
	ck_assert_int_eq(pop3_maildrop_add(next, 7, 700), 0);
	next->uidnext = 8;
	pop3_maildrop_finish(next);
	ck_assert(!pop3_warm_valid(w, "office", &gens, next));
	pop3_maildrop_free(&next);
	/* One expunged (5 gone). */
	next = pop3_maildrop_new(77, 7, 6);
	for (uint32_t u = 1; u <= 6; u++) {
		if (u != 5)
			ck_assert_int_eq(u == 4 ? pop3_maildrop_add_gone(next, u) :
					 pop3_maildrop_add(next, u, 100 * u), 0);
	}
	pop3_maildrop_finish(next);
	ck_assert(!pop3_warm_valid(w, "office", &gens, next));
	pop3_maildrop_free(&next);
	/* 4 no longer \Deleted: the copy has no UIDL for it. */
	next = pop3_maildrop_new(77, 7, 6);
	for (uint32_t u = 1; u <= 6; u++)
		ck_assert_int_eq(pop3_maildrop_add(next, u, 100 * u), 0);
	pop3_maildrop_finish(next);
	ck_assert(!pop3_warm_valid(w, "office", &gens, next));
	pop3_maildrop_free(&next);
	/* 3 flagged \Deleted now: the same UIDs, the others have theirs. */
	next = pop3_maildrop_new(77, 7, 6);
	for (uint32_t u = 1; u <= 6; u++)
		ck_assert_int_eq(u == 4 || u == 3 ? pop3_maildrop_add_gone(next, u) :
				 pop3_maildrop_add(next, u, 100 * u), 0);
	pop3_maildrop_finish(next);
	ck_assert(pop3_warm_valid(w, "office", &gens, next));
	ck_assert_int_eq(pop3_warm_apply(w, next), 0);
	ck_assert_uint_eq(next->count, 4);
	ck_assert_str_eq(uidl_of(next, 2), "u5");
	pop3_maildrop_free(&next);
	pop3_warm_free(&w);
	ck_assert_uint_eq(used, 0);
	pop3_maildrop_free(&d);
}
END_TEST

/* New mail after the copy's UIDs: the copy covers the rest once told
   what the store holds of them. */
START_TEST(new_mail_extends_the_copy)
{
	static const uint8_t hidden_new[2] = { 0, 1 };
	static const char *const uidls_new[2] = { "theirs-7", NULL };
	struct cache_peek p = { .hidden = hidden_new, .uidls = uidls_new, .n = 2, .legacy = true };
	struct pop3_maildrop *d = drop_new(), *next;
	uint64_t used = 0;
	struct pop3_warm *w;

	drop_uidls(d);
	w = pop3_warm_new(&used, 1 << 20, "office", &gens, d, NULL, 1);
	ck_assert_ptr_nonnull(w);
	/* the same listing: no new mail */
	ck_assert_uint_eq(pop3_warm_new_mail(w, "office", &gens, d), 0);
	next = pop3_maildrop_new(77, 9, 8);
	for (uint32_t u = 1; u <= 8; u++)
		ck_assert_int_eq(u == 4 ? pop3_maildrop_add_gone(next, u) :
				 pop3_maildrop_add(next, u, 100 * u), 0);
	pop3_maildrop_finish(next);
	ck_assert(!pop3_warm_valid(w, "office", &gens, next));
	ck_assert_uint_eq(pop3_warm_new_mail(w, "phone", &gens, next), 0);
	ck_assert_uint_eq(pop3_warm_new_mail(w, "office", &gens, next), 2);
	ck_assert_int_eq(pop3_warm_add(w, next, &p), 0);
	ck_assert_uint_eq(used, pop3_warm_bytes(8, d->pool_len + strlen("theirs-7") + 1));
	ck_assert_str_eq(pop3_warm_stored(w, 0), "u1");
	ck_assert_ptr_null(pop3_warm_stored(w, 3));     /* 4: \Deleted, none */
	ck_assert_str_eq(pop3_warm_stored(w, 6), "theirs-7");
	ck_assert_ptr_null(pop3_warm_stored(w, 7));
	ck_assert_ptr_null(pop3_warm_stored(w, 8));
	ck_assert(pop3_warm_legacy(w));
	ck_assert_mem_eq(pop3_warm_hidden(w), "\0\0\0\0\0\0\0\1", 8);
	pop3_maildrop_free(&next);
	/* one of the old ones gone and a new one: not an extension */
	next = pop3_maildrop_new(77, 10, 8);
	for (uint32_t u = 2; u <= 9; u++)
		ck_assert_int_eq(pop3_maildrop_add(next, u, 100 * u), 0);
	pop3_maildrop_finish(next);
	ck_assert_uint_eq(pop3_warm_new_mail(w, "office", &gens, next), 0);
	pop3_maildrop_free(&next);
	pop3_warm_free(&w);
	ck_assert_uint_eq(used, 0);
	pop3_maildrop_free(&d);
}
END_TEST

/* The session's own hides go into the copy when it knew the generation
   they bumped from; otherwise the copy is of no more use. */
START_TEST(own_hides_go_into_the_copy)
{
	static const uint32_t hid[] = { 2, 5 };
	struct pop3_maildrop *d = drop_new();
	struct cache_gen_change ch = { .before = 0, .after = 1700000000000009ULL };
	struct cache_gen_change acc = { .before = gens.account, .after = gens.account + 7 };
	struct cache_gens g = gens;
	uint64_t used = 0;
	struct pop3_warm *w;

	drop_uidls(d);
	w = pop3_warm_new(&used, 1 << 20, "office", &gens, d, NULL, 1);
	ck_assert_ptr_nonnull(w);
	ck_assert(pop3_warm_hid(w, false, &ch, hid, 2));
	ck_assert_mem_eq(pop3_warm_hidden(w), "\0\1\0\0\1\0", 6);
	ck_assert(!pop3_warm_valid(w, "office", &gens, d));
	g.device = ch.after;
	ck_assert(pop3_warm_valid(w, "office", &g, d));
	ck_assert(pop3_warm_hid(w, true, &acc, hid + 1, 1));
	ck_assert_mem_eq(pop3_warm_hidden(w), "\0\1\0\0\3\0", 6);
	g.account = acc.after;
	ck_assert(pop3_warm_valid(w, "office", &g, d));
	/* bumped from a value the copy did not have: someone else wrote */
	ck_assert(!pop3_warm_hid(w, false, &ch, hid, 1));
	pop3_warm_free(&w);
	pop3_maildrop_free(&d);
}
END_TEST

/* The budget: not made past it, nor without an account generation. */
START_TEST(bounded_by_the_budget)
{
	struct pop3_maildrop *d = drop_new();
	struct cache_gens none = { 0, 0 };
	size_t need;
	uint64_t used;
	struct pop3_warm *w;

	drop_uidls(d);
	need = pop3_warm_bytes(6, d->pool_len);
	used = 100;
	ck_assert_ptr_null(pop3_warm_new(&used, 100 + need - 1, "office", &gens, d, NULL, 1));
	ck_assert_uint_eq(used, 100);
	ck_assert_ptr_null(pop3_warm_new(&used, 1 << 20, "office", &none, d, NULL, 1));
	w = pop3_warm_new(&used, 100 + need, "office", &gens, d, NULL, 1);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(used, 100 + need);
	pop3_warm_free_data(w);
	ck_assert_uint_eq(used, 100);
	pop3_maildrop_free(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pop3_warm");
	TCase *tc = tcase_create("warm");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, copy_stands_for_the_same_state);
	tcase_add_test(tc, copy_holds_default_form_uidls);
	tcase_add_test(tc, anything_changed_and_it_does_not);
	tcase_add_test(tc, new_mail_extends_the_copy);
	tcase_add_test(tc, own_hides_go_into_the_copy);
	tcase_add_test(tc, bounded_by_the_budget);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
