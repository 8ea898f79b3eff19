/* Sentinel's +switch-master payload: adversarial table. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cache_sentinel_msg.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct switch_row {
	const char *s;
	bool ok;
	const char *host;
	unsigned int port;
};

static const struct switch_row switch_table[] = {
	{ "pgmaster 127.0.0.1 6379 127.0.0.1 6380", true, "127.0.0.1", 6380 },
	{ "pgmaster ::1 6379 ::1 7000", true, "::1", 7000 },
	{ "pgmaster a 1 redis-2.example 65535", true, "redis-2.example", 65535 },
	{ "pgmaster  a  1  b  2 ", true, "b", 2 },
	{ "other 127.0.0.1 6379 127.0.0.1 6380", false, "", 0 },
	{ "pgmaster2 a 1 b 2", false, "", 0 },
	{ "pgmaste a 1 b 2", false, "", 0 },
	{ "pgmaster a 1 b", false, "", 0 },
	{ "pgmaster a 1 b 2 extra", false, "", 0 },
	{ "pgmaster a 1 b 0", false, "", 0 },
	{ "pgmaster a 1 b 65536", false, "", 0 },
	{ "pgmaster a 1 b -1", false, "", 0 },
	{ "pgmaster a 1 b 2x", false, "", 0 },
	{ "pgmaster a 1 b\x01 2", false, "", 0 },
	{ "pgmaster a 1 b\xc3\xa9 2", false, "", 0 },
	{ "pgmaster a 1 b\r\n 2", false, "", 0 },
	{ "pgmaster a 1 b 99999999999999999999", false, "", 0 },
	{ "", false, "", 0 },
	{ "pgmaster", false, "", 0 },
};

START_TEST(switch_rows)
{
	const struct switch_row *row = &switch_table[_i];
	char host[300] = "";
	uint16_t port = 0;
	bool ok = cache_sentinel_parse_switch(row->s, strlen(row->s), "pgmaster",
					      host, sizeof(host), &port);

	ck_assert_msg(ok == row->ok, "'%s'", row->s);
	if (ok) {
		ck_assert_str_eq(host, row->host);
		ck_assert_uint_eq(port, row->port);
	}
}
END_TEST

START_TEST(switch_limits)
{
	char msg[600], host[300];
	uint16_t port;

	/* The host buffer bounds the copy; 253 bytes is the most. */
	ck_assert(!cache_sentinel_parse_switch("m a 1 abcdef 2", 14, "m", host, 6,
					       &port));
	ck_assert(cache_sentinel_parse_switch("m a 1 abcdef 2", 14, "m", host, 7,
					      &port));
	ck_assert_str_eq(host, "abcdef");
	strcpy(msg, "m a 1 ");
	memset(msg + 6, 'h', 253);
	strcpy(msg + 6 + 253, " 2");
	ck_assert(cache_sentinel_parse_switch(msg, strlen(msg), "m", host,
					      sizeof(host), &port));
	ck_assert_uint_eq(strlen(host), 253);
	strcpy(msg, "m a 1 ");
	memset(msg + 6, 'h', 254);
	strcpy(msg + 6 + 254, " 2");
	ck_assert(!cache_sentinel_parse_switch(msg, strlen(msg), "m", host,
					       sizeof(host), &port));
	/* Length, not NUL, ends the payload. */
	ck_assert(!cache_sentinel_parse_switch("m a 1 b 2", 8, "m", host,
					       sizeof(host), &port));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_sentinel_msg");
	TCase *tc = tcase_create("switch");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, switch_rows, 0, N(switch_table));
	tcase_add_test(tc, switch_limits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
