/* Unit tests for the one decimal-number parser (core/num.c). */

#include <check.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "num.h"

#define BYTES(s) (s), (sizeof(s) - 1)

struct num_case {
	const char *s;
	size_t len;
	uint64_t max;
	enum num_result want;
	uint64_t value;
};

static const struct num_case parse_cases[] = {
	{ BYTES("0"), 10, NUM_OK, 0 },
	{ BYTES("7"), 10, NUM_OK, 7 },
	{ BYTES("10"), 10, NUM_OK, 10 },
	{ BYTES("11"), 10, NUM_RANGE, 0 },
	{ BYTES("0010"), 10, NUM_OK, 10 },
	{ BYTES("9"), 5, NUM_RANGE, 0 },          /* a digit above max */
	{ BYTES("5"), 5, NUM_OK, 5 },
	{ BYTES("0"), 0, NUM_OK, 0 },
	{ BYTES("1"), 0, NUM_RANGE, 0 },
	{ BYTES("4294967295"), UINT32_MAX, NUM_OK, UINT32_MAX },
	{ BYTES("4294967296"), UINT32_MAX, NUM_RANGE, 0 },
	{ BYTES("18446744073709551615"), UINT64_MAX, NUM_OK, UINT64_MAX },
	{ BYTES("18446744073709551616"), UINT64_MAX, NUM_RANGE, 0 },
	{ BYTES("99999999999999999999999999"), UINT64_MAX, NUM_RANGE, 0 },
	{ BYTES("000000000000000000000000001"), UINT64_MAX, NUM_OK, 1 },
	{ BYTES(""), 10, NUM_NONE, 0 },
	{ BYTES("-1"), 10, NUM_NONE, 0 },
	{ BYTES("+1"), 10, NUM_NONE, 0 },
	{ BYTES(" 1"), 10, NUM_NONE, 0 },
	{ BYTES("1 "), 10, NUM_NONE, 0 },
	{ BYTES("0x1"), 10, NUM_NONE, 0 },
	{ BYTES("1\0" "2"), 100, NUM_NONE, 0 },
	{ BYTES("1a"), 100, NUM_NONE, 0 },
	{ BYTES("\xff"), 100, NUM_NONE, 0 },
	{ BYTES("99999999999999999999x"), UINT64_MAX, NUM_NONE, 0 },
};

START_TEST(test_parse_table)
{
	const struct num_case *c = &parse_cases[_i];
	uint64_t v = 12345;
	enum num_result r = num_parse_u64(c->s, c->len, c->max, &v);

	ck_assert_msg(r == c->want, "case %d: %d, want %d", _i, r, c->want);
	ck_assert_uint_eq(v, r == NUM_OK ? c->value : 12345);
}
END_TEST

START_TEST(test_scan_stops_after_digits)
{
	size_t pos = 2;
	uint64_t v = 0;

	ck_assert_int_eq(num_scan_u64(BYTES("a 123)"), &pos, 1000, &v), NUM_OK);
	ck_assert_uint_eq(v, 123);
	ck_assert_uint_eq(pos, 5);
	/* Past max: the digits are skipped, the value left alone. */
	pos = 0;
	v = 7;
	ck_assert_int_eq(num_scan_u64(BYTES("12345 x"), &pos, 1000, &v), NUM_RANGE);
	ck_assert_uint_eq(pos, 5);
	ck_assert_uint_eq(v, 7);
	/* No digit: nothing moves. */
	pos = 1;
	ck_assert_int_eq(num_scan_u64(BYTES("1x2"), &pos, 1000, &v), NUM_NONE);
	ck_assert_uint_eq(pos, 1);
	pos = 3;
	ck_assert_int_eq(num_scan_u64(BYTES("123"), &pos, 1000, &v), NUM_NONE);
}
END_TEST

/* Every prefix of a number, one byte more at a time. */
START_TEST(test_scan_byte_at_a_time)
{
	static const char digits[] = "18446744073709551615";
	uint64_t want = 0;

	for (size_t len = 1; len <= sizeof(digits) - 1; len++) {
		size_t pos = 0;
		uint64_t v = 0;

		want = want * 10 + (uint64_t)(digits[len - 1] - '0');
		ck_assert_int_eq(num_scan_u64(digits, len, &pos, UINT64_MAX, &v), NUM_OK);
		ck_assert_uint_eq(pos, len);
		ck_assert_uint_eq(v, want);
	}
}
END_TEST

/* The formatter agrees with printf and round-trips through the parser. */
START_TEST(test_format_u64)
{
	static const uint64_t values[] = {
		0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u, 10000000000000000000u,
		UINT64_MAX,
	};
	char buf[NUM_U64_DIGITS + 1], want[32];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		size_t n = num_format_u64(values[i], buf);
		uint64_t back = 0;

		snprintf(want, sizeof(want), "%llu", (unsigned long long)values[i]);
		ck_assert_uint_eq(n, strlen(want));
		ck_assert_mem_eq(buf, want, n);
		ck_assert_int_eq(num_parse_u64(buf, n, UINT64_MAX, &back), NUM_OK);
		ck_assert_uint_eq(back, values[i]);
	}
}
END_TEST

START_TEST(test_str_and_u32)
{
	uint64_t v;
	uint32_t w = 9;

	ck_assert_int_eq(num_parse_str(NULL, 10, &v), NUM_NONE);
	ck_assert_int_eq(num_parse_str("42", 100, &v), NUM_OK);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(num_parse_u32(BYTES("4294967295"), UINT32_MAX, &w), NUM_OK);
	ck_assert_uint_eq(w, UINT32_MAX);
	ck_assert_int_eq(num_parse_u32(BYTES("65536"), 65535, &w), NUM_RANGE);
	ck_assert_uint_eq(w, UINT32_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("num");
	TCase *tc = tcase_create("num");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse_table, 0,
			    (int)(sizeof(parse_cases) / sizeof(parse_cases[0])));
	tcase_add_test(tc, test_scan_stops_after_digits);
	tcase_add_test(tc, test_scan_byte_at_a_time);
	tcase_add_test(tc, test_str_and_u32);
	tcase_add_test(tc, test_format_u64);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
