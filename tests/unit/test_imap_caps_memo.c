/* The capabilities seen per server (imap_caps_memo.h): what is put is
   got back, per key; a key too long is not kept; at most
   IMAP_CAPS_MEMO_MAX servers, the one written longest ago goes; clear. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_caps_memo.h"

START_TEST(unknown_server_is_none)
{
	struct imap_caps_memo *m = imap_caps_memo_new();
	struct imap_caps_seen r = { .caps = 77 };

	ck_assert(!imap_caps_memo_get(m, "imap.example.com:993/0/00", &r));
	ck_assert(!imap_caps_memo_get(m, "", &r));
	ck_assert(!imap_caps_memo_get(NULL, "x", &r));
	ck_assert_uint_eq(r.caps, 77);
	imap_caps_memo_free(&m);
	ck_assert_ptr_null(m);
}
END_TEST

START_TEST(put_then_get_per_server)
{
	struct imap_caps_memo *m = imap_caps_memo_new();
	struct imap_caps_seen a = { .caps = 5, .with_login = true };
	struct imap_caps_seen b = { .caps = 9, .no_pipelining = true };
	struct imap_caps_seen r;

	imap_caps_memo_put(m, "a:1/0/1", &a);
	imap_caps_memo_put(m, "b:1/0/1", &b);
	ck_assert(imap_caps_memo_get(m, "a:1/0/1", &r));
	ck_assert_uint_eq(r.caps, 5);
	ck_assert(r.with_login && !r.no_pipelining);
	ck_assert(imap_caps_memo_get(m, "b:1/0/1", &r));
	ck_assert_uint_eq(r.caps, 9);
	ck_assert(!r.with_login && r.no_pipelining);
	/* a prefix or a longer key is another server */
	ck_assert(!imap_caps_memo_get(m, "a:1/0/", &r));
	ck_assert(!imap_caps_memo_get(m, "a:1/0/10", &r));
	/* written again: replaced, not added */
	a.caps = 6;
	imap_caps_memo_put(m, "a:1/0/1", &a);
	ck_assert(imap_caps_memo_get(m, "a:1/0/1", &r));
	ck_assert_uint_eq(r.caps, 6);
	imap_caps_memo_free(&m);
}
END_TEST

START_TEST(key_too_long_is_not_kept)
{
	struct imap_caps_memo *m = imap_caps_memo_new();
	struct imap_caps_seen a = { .caps = 1 }, r;
	char key[IMAP_CAPS_MEMO_KEY + 2];

	memset(key, 'h', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	imap_caps_memo_put(m, key, &a);
	ck_assert(!imap_caps_memo_get(m, key, &r));
	key[IMAP_CAPS_MEMO_KEY] = '\0';     /* exactly the limit: kept */
	imap_caps_memo_put(m, key, &a);
	ck_assert(imap_caps_memo_get(m, key, &r));
	imap_caps_memo_put(m, "", &a);
	ck_assert(!imap_caps_memo_get(m, "", &r));
	imap_caps_memo_free(&m);
}
END_TEST

START_TEST(bounded_oldest_written_goes)
{
	struct imap_caps_memo *m = imap_caps_memo_new();
	struct imap_caps_seen r;
	char key[32];

	for (unsigned int i = 0; i < IMAP_CAPS_MEMO_MAX; i++) {
		struct imap_caps_seen s = { .caps = i };

		snprintf(key, sizeof(key), "s%u", i);
		imap_caps_memo_put(m, key, &s);
	}
	for (unsigned int i = 0; i < IMAP_CAPS_MEMO_MAX; i++) {
		snprintf(key, sizeof(key), "s%u", i);
		ck_assert(imap_caps_memo_get(m, key, &r));
		ck_assert_uint_eq(r.caps, i);
	}
	/* one more: s0, written longest ago, goes; the others stay */
	imap_caps_memo_put(m, "new", &(struct imap_caps_seen){ .caps = 1000 });
	ck_assert(!imap_caps_memo_get(m, "s0", &r));
	ck_assert(imap_caps_memo_get(m, "s1", &r));
	ck_assert(imap_caps_memo_get(m, "new", &r));
	ck_assert_uint_eq(r.caps, 1000);
	imap_caps_memo_clear(m);
	ck_assert(!imap_caps_memo_get(m, "new", &r));
	ck_assert(!imap_caps_memo_get(m, "s1", &r));
	imap_caps_memo_free(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_caps_memo");
	TCase *tc = tcase_create("memo");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, unknown_server_is_none);
	tcase_add_test(tc, put_then_get_per_server);
	tcase_add_test(tc, key_too_long_is_not_kept);
	tcase_add_test(tc, bounded_oldest_written_goes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
