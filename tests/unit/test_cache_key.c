/* Unit tests for the state store's names (cache/cache_key.c). */

#include <check.h>
#include <string.h>

#include "cache_key.h"

#define BYTES(s) (s), (sizeof(s) - 1)

START_TEST(account_unchanged_for_plain_names)
{
	char buf[128];

	/* The form stored since the first release: existing state stays. */
	ck_assert_uint_eq(cache_account_name(buf, sizeof(buf), BYTES("alice@example.com"),
					     "imap.example.com", 993, "INBOX"), 38);
	ck_assert_str_eq(buf, "alice@example.com@imap.example.com:993");
	ck_assert_uint_gt(cache_account_name(buf, sizeof(buf), BYTES("bob"), "h", 143, "inbox"),
			  0);
	ck_assert_str_eq(buf, "bob@h:143");
	ck_assert_uint_gt(cache_account_name(buf, sizeof(buf), BYTES("bob"), "h", 143, NULL), 0);
	ck_assert_str_eq(buf, "bob@h:143");
}
END_TEST

START_TEST(account_mailbox_and_escapes)
{
	char buf[128];

	ck_assert_uint_gt(cache_account_name(buf, sizeof(buf), BYTES("bob"), "h", 993,
					     "Archive/2024"), 0);
	ck_assert_str_eq(buf, "bob@h:993/Archive/2024");
	ck_assert_uint_gt(cache_account_name(buf, sizeof(buf), BYTES("bob"), "h", 993,
					     "Deleted Items"), 0);
	ck_assert_str_eq(buf, "bob@h:993/Deleted\\x20Items");
	/* Braces would end or split the Redis Cluster hash tag. */
	ck_assert_uint_gt(cache_account_name(buf, sizeof(buf), BYTES("}x{y"), "h", 1, NULL), 0);
	ck_assert_str_eq(buf, "\\x7dx\\x7by@h:1");
	ck_assert_ptr_null(strchr(buf, '{'));
	ck_assert_ptr_null(strchr(buf, '}'));
	ck_assert_uint_gt(cache_account_name(buf, sizeof(buf), BYTES("a\0b\r\n\"\\"), "h", 1,
					     NULL), 0);
	ck_assert_str_eq(buf, "a\\x00b\\x0d\\x0a\\x22\\x5c@h:1");
	/* Two names that differ give two accounts. */
	char other[128];

	cache_account_name(other, sizeof(other), BYTES("a\\x7db"), "h", 1, NULL);
	cache_account_name(buf, sizeof(buf), BYTES("a}b"), "h", 1, NULL);
	ck_assert_str_ne(buf, other);
}
END_TEST

START_TEST(account_too_long)
{
	char buf[16];

	ck_assert_uint_eq(cache_account_name(buf, sizeof(buf), BYTES("alice@example.com"), "h",
					     1, NULL), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(cache_account_name(buf, sizeof(buf), BYTES("a"), "h", 1,
					     "a-long-mailbox-name"), 0);
	ck_assert_uint_eq(cache_account_name(buf, 0, BYTES("a"), "h", 1, NULL), 0);
	/* exactly fits */
	ck_assert_uint_eq(cache_account_name(buf, sizeof(buf), BYTES("abcdefghi"), "h", 1, NULL),
			  13);
}
END_TEST

START_TEST(device_names)
{
	ck_assert(cache_device_name_ok(BYTES("office-pc")));
	ck_assert(cache_device_name_ok(BYTES("a.b_c-9")));
	ck_assert(cache_device_name_ok(BYTES("12345678901234567890123456789012")));
	ck_assert(!cache_device_name_ok(BYTES("123456789012345678901234567890123")));
	ck_assert(!cache_device_name_ok(BYTES("")));
	ck_assert(!cache_device_name_ok(BYTES("a b")));
	ck_assert(!cache_device_name_ok(BYTES("a:b")));
	ck_assert(!cache_device_name_ok(BYTES("a}b")));
	ck_assert(!cache_device_name_ok(BYTES("\xc3\xa9")));
	ck_assert(!cache_device_name_ok(BYTES("a\0")));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_key");
	TCase *tc = tcase_create("names");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, account_unchanged_for_plain_names);
	tcase_add_test(tc, account_mailbox_and_escapes);
	tcase_add_test(tc, account_too_long);
	tcase_add_test(tc, device_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
