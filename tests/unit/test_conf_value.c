/* Configuration value parsers: adversarial tables, one row per input. */

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf_value.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *s;
	int ret;
	bool value;
} bool_table[] = {
	{ "yes", 0, true }, { "YES", 0, true }, { "true", 0, true },
	{ "True", 0, true }, { "on", 0, true }, { "1", 0, true },
	{ "no", 0, false }, { "No", 0, false }, { "false", 0, false },
	{ "off", 0, false }, { "OFF", 0, false }, { "0", 0, false },
	{ "", -1, false }, { " yes", -1, false }, { "yes ", -1, false },
	{ "y", -1, false }, { "n", -1, false }, { "2", -1, false },
	{ "01", -1, false }, { "yess", -1, false }, { "-1", -1, false },
	{ "enable", -1, false },
};

START_TEST(parse_bool)
{
	const char *error = NULL;
	bool v = !bool_table[_i].value;

	ck_assert_msg(conf_parse_bool(bool_table[_i].s, &v, &error) ==
		      bool_table[_i].ret, "'%s'", bool_table[_i].s);
	if (bool_table[_i].ret == 0)
		ck_assert_int_eq(v, bool_table[_i].value);
	else
		ck_assert_ptr_nonnull(error);
}
END_TEST

static const struct {
	const char *s;
	unsigned int min, max;
	int ret;
	unsigned int value;
} uint_table[] = {
	{ "0", 0, 10, 0, 0 },
	{ "10", 0, 10, 0, 10 },
	{ "11", 0, 10, -1, 0 },
	{ "0", 1, 10, -1, 0 },
	{ "007", 0, 10, 0, 7 },
	{ "4294967295", 0, 4294967295u, 0, 4294967295u },
	{ "4294967296", 0, 4294967295u, -1, 0 },
	{ "99999999999999999999", 0, 4294967295u, -1, 0 },
	{ "18446744073709551615", 0, 4294967295u, -1, 0 },
	{ "18446744073709551616", 0, 4294967295u, -1, 0 },
	{ "", 0, 10, -1, 0 },
	{ " ", 0, 10, -1, 0 },
	{ " 1", 0, 10, -1, 0 },
	{ "1 ", 0, 10, -1, 0 },
	{ "1 0", 0, 10, -1, 0 },
	{ "+1", 0, 10, -1, 0 },
	{ "-1", 0, 10, -1, 0 },
	{ "-0", 0, 10, -1, 0 },
	{ "10x", 0, 100, -1, 0 },
	{ "1.5", 0, 10, -1, 0 },
	{ "1e3", 0, 10000, -1, 0 },
	{ "0x10", 0, 100, -1, 0 },
	{ "１", 0, 10, -1, 0 }, /* fullwidth digit */
};

START_TEST(parse_uint)
{
	const char *error = NULL;
	unsigned int v = 12345;

	ck_assert_msg(conf_parse_uint(uint_table[_i].s, uint_table[_i].min,
				      uint_table[_i].max, &v, &error) ==
		      uint_table[_i].ret, "'%s'", uint_table[_i].s);
	if (uint_table[_i].ret == 0) {
		ck_assert_uint_eq(v, uint_table[_i].value);
	} else {
		ck_assert_ptr_nonnull(error);
		ck_assert_uint_eq(v, 12345); /* untouched on error */
	}
}
END_TEST

static const struct {
	const char *s;
	unsigned int max;
	int ret;
	unsigned int value;
} duration_table[] = {
	{ "600", 86400, 0, 600 },
	{ "30s", 86400, 0, 30 },
	{ "10m", 86400, 0, 600 },
	{ "2h", 86400, 0, 7200 },
	{ "1d", 86400, 0, 86400 },
	{ "0s", 86400, 0, 0 },       /* the caller applies its minimum */
	{ "0", 86400, 0, 0 },
	{ "86400s", 86400, 0, 86400 },
	{ "86401s", 86400, -1, 0 },
	{ "2d", 86400, -1, 0 },
	{ "1441m", 86400, -1, 0 },
	{ "4294967295s", 4294967295u, 0, 4294967295u },
	{ "4294967296", 4294967295u, -1, 0 },
	{ "49711d", 4294967295u, -1, 0 },  /* overflows 32 bits */
	{ "99999999999999999999d", 4294967295u, -1, 0 },
	{ "213503982334601d", 4294967295u, -1, 0 }, /* overflows 64 bits */
	{ "", 86400, -1, 0 },
	{ "s", 86400, -1, 0 },
	{ "m", 86400, -1, 0 },
	{ " 10m", 86400, -1, 0 },
	{ "10 m", 86400, -1, 0 },
	{ "10m ", 86400, -1, 0 },
	{ "10M", 86400, -1, 0 },
	{ "10ms", 86400, -1, 0 },
	{ "10min", 86400, -1, 0 },
	{ "10x", 86400, -1, 0 },
	{ "10mm", 86400, -1, 0 },
	{ "1.5m", 86400, -1, 0 },
	{ "1,5m", 86400, -1, 0 },
	{ "-10s", 86400, -1, 0 },
	{ "+10s", 86400, -1, 0 },
	{ "1h30m", 86400, -1, 0 },
};

START_TEST(parse_duration)
{
	const char *error = NULL;
	unsigned int v = 12345;

	ck_assert_msg(conf_parse_duration(duration_table[_i].s,
					  duration_table[_i].max, &v,
					  &error) == duration_table[_i].ret,
		      "'%s'", duration_table[_i].s);
	if (duration_table[_i].ret == 0) {
		ck_assert_uint_eq(v, duration_table[_i].value);
	} else {
		ck_assert_ptr_nonnull(error);
		ck_assert_uint_eq(v, 12345);
	}
}
END_TEST

static const struct {
	const char *s;
	unsigned int max;
	int ret;
	unsigned int value;
} msecs_table[] = {
	{ "250ms", 60000, 0, 250 },
	{ "1500", 60000, 0, 1500 },
	{ "1s", 60000, 0, 1000 },
	{ "0", 60000, 0, 0 },
	{ "0ms", 60000, 0, 0 },
	{ "60s", 60000, 0, 60000 },
	{ "1m", 60000, 0, 60000 },
	{ "61s", 60000, -1, 0 },
	{ "60001", 60000, -1, 0 },
	{ "2m", 60000, -1, 0 },
	{ "1h", 60000, -1, 0 },
	{ "4294967295", 4294967295u, 0, 4294967295u },
	{ "4294968s", 4294967295u, -1, 0 },
	{ "50d", 4294967295u, -1, 0 },
	{ "99999999999999999999ms", 4294967295u, -1, 0 },
	{ "", 60000, -1, 0 },
	{ "ms", 60000, -1, 0 },
	{ "1.5s", 60000, -1, 0 },
	{ "1 s", 60000, -1, 0 },
	{ "1S", 60000, -1, 0 },
	{ "1msec", 60000, -1, 0 },
	{ "1us", 60000, -1, 0 },
	{ "-1", 60000, -1, 0 },
};

START_TEST(parse_msecs)
{
	const char *error = NULL;
	unsigned int v = 12345;

	ck_assert_msg(conf_parse_msecs(msecs_table[_i].s, msecs_table[_i].max,
				       &v, &error) == msecs_table[_i].ret,
		      "'%s'", msecs_table[_i].s);
	if (msecs_table[_i].ret == 0) {
		ck_assert_uint_eq(v, msecs_table[_i].value);
	} else {
		ck_assert_ptr_nonnull(error);
		ck_assert_uint_eq(v, 12345);
	}
}
END_TEST

static const struct {
	const char *s;
	int ret;
	uint16_t value;
} port_table[] = {
	{ "1", 0, 1 }, { "110", 0, 110 }, { "65535", 0, 65535 },
	{ "0", -1, 0 }, { "65536", -1, 0 }, { "4294967296", -1, 0 },
	{ "99999999999999999999", -1, 0 }, { "", -1, 0 },
	{ "-1", -1, 0 }, { "+110", -1, 0 }, { "110 ", -1, 0 },
	{ "pop3", -1, 0 }, { "1.5", -1, 0 }, { "0x6e", -1, 0 },
};

START_TEST(parse_port)
{
	const char *error = NULL;
	uint16_t v = 4242;

	ck_assert_msg(conf_parse_port(port_table[_i].s, &v, &error) ==
		      port_table[_i].ret, "'%s'", port_table[_i].s);
	if (port_table[_i].ret == 0) {
		ck_assert_uint_eq(v, port_table[_i].value);
	} else {
		ck_assert_ptr_nonnull(error);
		ck_assert_uint_eq(v, 4242);
	}
}
END_TEST

static const struct {
	const char *s;
	int ret;
	const char *host;
	uint16_t port;
} hostport_table[] = {
	{ "127.0.0.1:1110", 0, "127.0.0.1", 1110 },
	{ "0.0.0.0:110", 0, "0.0.0.0", 110 },
	{ "localhost:110", 0, "localhost", 110 },
	{ "mail.example.com:995", 0, "mail.example.com", 995 },
	{ "mail.example.com.:995", 0, "mail.example.com.", 995 },
	{ "a-b.c:1", 0, "a-b.c", 1 },
	{ "[::1]:110", 0, "::1", 110 },
	{ "[::]:110", 0, "::", 110 },
	{ "[2001:db8::1]:65535", 0, "2001:db8::1", 65535 },
	{ "[::ffff:192.0.2.1]:110", 0, "::ffff:192.0.2.1", 110 },
	{ "*:110", 0, "::", 110 },
	{ "[::1]110", -1, NULL, 0 },
	{ "[::1]", -1, NULL, 0 },
	{ "[::1]:", -1, NULL, 0 },
	{ "[::1:110", -1, NULL, 0 },
	{ "[]:110", -1, NULL, 0 },
	{ "[localhost]:110", -1, NULL, 0 },
	{ "[127.0.0.1]:110", -1, NULL, 0 },
	{ "[::1]:0", -1, NULL, 0 },
	{ "::1:110", -1, NULL, 0 },
	{ "::110", -1, NULL, 0 },
	{ ":110", -1, NULL, 0 },
	{ "host:", -1, NULL, 0 },
	{ "host", -1, NULL, 0 },
	{ "", -1, NULL, 0 },
	{ ":", -1, NULL, 0 },
	{ "*:", -1, NULL, 0 },
	{ "**:110", -1, NULL, 0 },
	{ "*.example.com:110", -1, NULL, 0 },
	{ "host:0", -1, NULL, 0 },
	{ "host:65536", -1, NULL, 0 },
	{ "host:-1", -1, NULL, 0 },
	{ "host:+110", -1, NULL, 0 },
	{ "host:110x", -1, NULL, 0 },
	{ "host: 110", -1, NULL, 0 },
	{ "host :110", -1, NULL, 0 },
	{ "my_host:110", -1, NULL, 0 },
	{ "my host:110", -1, NULL, 0 },
	{ "-host:110", -1, NULL, 0 },
	{ "host-:110", -1, NULL, 0 },
	{ "a..b:110", -1, NULL, 0 },
	{ ".a:110", -1, NULL, 0 },
	{ ".:110", -1, NULL, 0 },
	{ "300.1.1.1:110", -1, NULL, 0 },
	{ "10.1:110", -1, NULL, 0 },
	{ "1.2.3.4.5:110", -1, NULL, 0 },
	{ "h\xc3\xb6st:110", -1, NULL, 0 },
	{ "host:110:110", -1, NULL, 0 },
	/* 64-character label */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
	  -1, NULL, 0 },
	/* 63-character label */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1", 0,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1 },
};

START_TEST(parse_hostport)
{
	const char *error = NULL;
	char host[256] = "untouched";
	uint16_t port = 4242;
	int ret = conf_parse_hostport(hostport_table[_i].s, host,
				      sizeof(host), &port, &error);

	ck_assert_msg(ret == hostport_table[_i].ret, "'%s': %s",
		      hostport_table[_i].s, ret < 0 ? error : "accepted");
	if (ret == 0) {
		ck_assert_str_eq(host, hostport_table[_i].host);
		ck_assert_uint_eq(port, hostport_table[_i].port);
	} else {
		ck_assert_ptr_nonnull(error);
		ck_assert_str_eq(host, "untouched");
		ck_assert_uint_eq(port, 4242);
	}
}
END_TEST

START_TEST(hostport_small_buffer)
{
	const char *error = NULL;
	char host[10];
	uint16_t port;

	/* "localhost" and its NUL fit exactly, one more does not. */
	ck_assert_int_eq(conf_parse_hostport("localhost:1", host, 10, &port,
					     &error), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(conf_parse_hostport("localhost1:1", host, 10, &port,
					     &error), -1);
	ck_assert_int_eq(conf_parse_hostport("[::1]:1", host, 3, &port,
					     &error), -1);
	ck_assert_int_eq(conf_parse_hostport("*:1", host, 3, &port,
					     &error), 0);
	ck_assert_str_eq(host, "::");
}
END_TEST

static const struct {
	const char *s;
	bool ok;
} endpoint_table[] = {
	{ "https://oauth2.googleapis.com/token", true },
	{ "https://h", true },
	{ "https://h:8443/t?x=1", true },
	{ "https://[::1]:8443/t", true },
	{ "https://[::1]/t", true },
	{ "http://127.0.0.1:9/t", true },
	{ "http://localhost/t", true },
	{ "http://[::1]:1/", true },
	{ "http://localhost.example.com/t", false },
	{ "http://127.0.0.1.example.com/t", false },
	{ "http://10.0.0.1/t", false },
	{ "https://", false },
	{ "https:///t", false },
	{ "https://u@h/t", false },
	{ "https://h/t#x", false },
	{ "https://h/t x", false },
	{ "https://h/t\"", false },
	{ "https://h/\x01", false },
	{ "https://h/\x80", false },
	{ "https://h:0/t", false },
	{ "https://h:65536/t", false },
	{ "https://[::1/t", false },
	{ "https://h_h/t", false },
	{ "HTTPS://h/t", false },
	{ "ftp://h/t", false },
	{ "", false },
};

START_TEST(endpoint)
{
	const char *error = NULL;
	int ret = conf_parse_endpoint(endpoint_table[_i].s, &error);

	ck_assert_msg(ret == (endpoint_table[_i].ok ? 0 : -1), "%s: %d", endpoint_table[_i].s, ret);
	if (ret < 0)
		ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(hostport_long_name)
{
	const char *error = NULL;
	char s[300], host[300];
	uint16_t port;
	size_t i;

	/* 253 characters: labels of 9 letters and a dot. */
	for (i = 0; i < 253; i++)
		s[i] = i % 10 == 9 ? '.' : 'a';
	strcpy(s + 253, ":1");
	ck_assert_int_eq(conf_parse_hostport(s, host, sizeof(host), &port,
					     &error), 0);
	s[253] = 'a';
	strcpy(s + 254, ":1");
	ck_assert_int_eq(conf_parse_hostport(s, host, sizeof(host), &port,
					     &error), -1);
}
END_TEST

static const struct {
	const char *s;
	int ret;
} host_table[] = {
	{ "imap.example.com", 0 }, { "127.0.0.1", 0 }, { "::1", 0 },
	{ "2001:db8::1", 0 }, { "localhost", 0 }, { "a", 0 },
	{ "xn--bcher-kva.example", 0 },
	{ "", -1 }, { " ", -1 }, { "[::1]", -1 }, { "imap.example.com:993", -1 },
	{ "imap_1.example.com", -1 }, { "imap example", -1 }, { "*", -1 },
	{ "256.0.0.1", -1 }, { "1.2.3", -1 }, { "::g", -1 }, { "a..b", -1 },
	{ "b\xc3\xbc" "cher.example", -1 }, { "host\r\n", -1 },
	{ "fe80::1%eth0", -1 },
};

START_TEST(parse_host)
{
	const char *error = NULL;
	int ret = conf_parse_host(host_table[_i].s, &error);

	ck_assert_msg(ret == host_table[_i].ret, "'%s': %s", host_table[_i].s,
		      ret < 0 ? error : "accepted");
	if (ret < 0)
		ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(parse_enum)
{
	static const char *const names[] = { "imaps", "starttls", "none",
					     NULL };
	static const char *const empty[] = { NULL };
	const char *error = NULL;
	unsigned int idx = 99;

	ck_assert_int_eq(conf_parse_enum("imaps", names, &idx, &error), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(conf_parse_enum("STARTTLS", names, &idx, &error), 0);
	ck_assert_uint_eq(idx, 1);
	ck_assert_int_eq(conf_parse_enum("None", names, &idx, &error), 0);
	ck_assert_uint_eq(idx, 2);
	idx = 99;
	ck_assert_int_eq(conf_parse_enum("", names, &idx, &error), -1);
	ck_assert_int_eq(conf_parse_enum("imap", names, &idx, &error), -1);
	ck_assert_int_eq(conf_parse_enum("imapss", names, &idx, &error), -1);
	ck_assert_int_eq(conf_parse_enum(" imaps", names, &idx, &error), -1);
	ck_assert_int_eq(conf_parse_enum("tls", names, &idx, &error), -1);
	ck_assert_int_eq(conf_parse_enum("imaps", empty, &idx, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_uint_eq(idx, 99);
}
END_TEST

static const struct {
	const char *in;
	int ok;
	unsigned int prefix;
} cidr_cases[] = {
	{ "127.0.0.0/8", 1, 8 }, { "10.0.0.1", 1, 32 }, { "::1", 1, 128 },
	{ "::1/128", 1, 128 }, { "fe80::/10", 1, 10 }, { "0.0.0.0/0", 1, 0 },
	{ "::/0", 1, 0 }, { "", 0, 0 }, { "/8", 0, 0 }, { "10.0.0.0/", 0, 0 },
	{ "10.0.0.0/33", 0, 0 }, { "::/129", 0, 0 }, { "10.0.0.0/-1", 0, 0 },
	{ "10.0.0.0/+8", 0, 0 }, { "10.1.0.0/8", 0, 0 }, { "10.0.0.0/8x", 0, 0 },
	{ "localhost", 0, 0 }, { "1.2.3", 0, 0 }, { "1.2.3.4.5", 0, 0 },
	{ "10.0.0.0 /8", 0, 0 }, { "10.0.0.0/99999999999", 0, 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/8", 0, 0 },
};

START_TEST(cidr_table)
{
	struct conf_cidr c;
	const char *error = NULL;
	int ret = conf_parse_cidr(cidr_cases[_i].in, &c, &error);

	ck_assert_msg((ret == 0) == cidr_cases[_i].ok, "%s", cidr_cases[_i].in);
	if (ret == 0)
		ck_assert_uint_eq(c.prefix, cidr_cases[_i].prefix);
	else
		ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(cidr_match)
{
	struct conf_cidr net8, one, v6;
	const char *error;
	unsigned char a[4] = { 127, 9, 8, 7 }, b[4] = { 128, 0, 0, 1 };
	unsigned char mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };
	unsigned char mapped_out[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };
	unsigned char loop6[16] = { [15] = 1 }, two6[16] = { [15] = 2 };
	unsigned char c[4] = { 192, 168, 1, 7 }, d[4] = { 192, 168, 1, 6 };

	ck_assert_int_eq(conf_parse_cidr("127.0.0.0/8", &net8, &error), 0);
	ck_assert_int_eq(conf_parse_cidr("192.168.1.7", &one, &error), 0);
	ck_assert_int_eq(conf_parse_cidr("::1/128", &v6, &error), 0);
	ck_assert(conf_cidr_match(&net8, AF_INET, a));
	ck_assert(!conf_cidr_match(&net8, AF_INET, b));
	ck_assert(conf_cidr_match(&net8, AF_INET6, mapped));
	ck_assert(!conf_cidr_match(&net8, AF_INET6, mapped_out));
	ck_assert(!conf_cidr_match(&net8, AF_INET6, loop6));
	ck_assert(conf_cidr_match(&v6, AF_INET6, loop6));
	ck_assert(!conf_cidr_match(&v6, AF_INET6, two6));
	ck_assert(!conf_cidr_match(&v6, AF_INET, a));
	ck_assert(conf_cidr_match(&one, AF_INET, c));
	ck_assert(!conf_cidr_match(&one, AF_INET, d));
}
END_TEST

static Suite *conf_value_suite(void)
{
	Suite *s = suite_create("conf_value");
	TCase *tc = tcase_create("values");

	tcase_add_loop_test(tc, parse_bool, 0, N(bool_table));
	tcase_add_loop_test(tc, parse_uint, 0, N(uint_table));
	tcase_add_loop_test(tc, parse_duration, 0, N(duration_table));
	tcase_add_loop_test(tc, parse_msecs, 0, N(msecs_table));
	tcase_add_loop_test(tc, parse_port, 0, N(port_table));
	tcase_add_loop_test(tc, parse_hostport, 0, N(hostport_table));
	tcase_add_test(tc, hostport_small_buffer);
	tcase_add_test(tc, hostport_long_name);
	tcase_add_loop_test(tc, endpoint, 0, sizeof(endpoint_table) / sizeof(endpoint_table[0]));
	tcase_add_loop_test(tc, parse_host, 0, N(host_table));
	tcase_add_test(tc, parse_enum);
	tcase_add_loop_test(tc, cidr_table, 0, N(cidr_cases));
	tcase_add_test(tc, cidr_match);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_value_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
