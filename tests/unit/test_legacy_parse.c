/* legacy_parse.c: a legacy POP3 server's replies fed whole and one byte at
   a time (an adversarial table), and the UIDL and LIST lines. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy_parse.h"
#include "legacy_url.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* What the reader gives for a reply, as one string: each line as
   "<kind>:<text>|" with kinds O(K) E(RR) D(ATA) .(end) X(error). */
static void run_reader(const char *in, size_t in_len, bool multi, size_t piece, char *out,
		       size_t out_size)
{
	struct legacy_reader r;
	size_t pos = 0, o = 0;

	legacy_reader_init(&r);
	legacy_reader_expect(&r, multi);
	out[0] = '\0';
	while (pos < in_len) {
		size_t n = in_len - pos < piece ? in_len - pos : piece, used = 0;

		while (n > 0) {
			struct legacy_line l;
			enum legacy_line_kind k = legacy_reader_feed(&r, in + pos, n, &used, &l);
			static const char kinds[] = { [LEGACY_LINE_OK] = 'O',
				[LEGACY_LINE_ERR] = 'E', [LEGACY_LINE_DATA] = 'D',
				[LEGACY_LINE_END] = '.', [LEGACY_LINE_ERROR] = 'X' };

			ck_assert_uint_le(used, n);
			pos += used;
			n -= used;
			if (k == LEGACY_LINE_NEED_MORE) {
				ck_assert_uint_eq(n, 0);
				continue;
			}
			o += (size_t)snprintf(out + o, out_size - o, "%c:%.*s|", kinds[k],
					      k == LEGACY_LINE_ERROR ? 0 : (int)l.len,
					      l.text != NULL ? l.text : "");
			if (k == LEGACY_LINE_ERROR) {
				/* It stays in error. */
				ck_assert_int_eq(legacy_reader_feed(&r, "+OK\r\n", 5, &used, &l),
						 LEGACY_LINE_ERROR);
				return;
			}
			if (k == LEGACY_LINE_END)
				legacy_reader_expect(&r, multi);
		}
	}
}

static const struct {
	const char *in;
	size_t len;              /* 0: strlen */
	bool multi;
	const char *want;
} replies[] = {
	{ "+OK POP3 ready\r\n", 0, false, "O:POP3 ready|" },
	{ "+OK\r\n", 0, false, "O:|" },
	{ "-ERR [AUTH] no\r\n", 0, false, "E:[AUTH] no|" },
	{ "-ERR\r\n", 0, false, "E:|" },
	{ "+ok lower case\r\n", 0, false, "O:lower case|" },
	{ "+OK bare LF\n", 0, false, "O:bare LF|" },
	{ "+OKAY\r\n", 0, false, "X:|" },
	{ "-ERROR\r\n", 0, false, "X:|" },
	{ "* OK imap\r\n", 0, false, "X:|" },
	{ "\r\n", 0, false, "X:|" },
	{ "OK\r\n", 0, false, "X:|" },
	{ "+OK a\rb\r\n", 0, false, "X:|" },
	{ "+OK a\r\r\n", 0, false, "X:|" },
	{ "+OK nul\0x\r\n", 13, false, "X:|" },
	{ "+OK no line end yet", 0, false, "" },
	/* Multi-line bodies. */
	{ "+OK 2 messages\r\n1 abc\r\n2 def\r\n.\r\n", 0, true,
	  "O:2 messages|D:1 abc|D:2 def|.:|" },
	{ "+OK\r\n.\r\n", 0, true, "O:|.:|" },
	{ "-ERR no such message\r\n", 0, true, "E:no such message|" },
	{ "-ERR x\r\n.\r\n", 0, true, "E:x|X:|" },
	{ "+OK\r\n..dot\r\n...\r\n. \r\n.\r\n", 0, true, "O:|D:.dot|D:..|D: |.:|" },
	{ "+OK\r\n\r\nbody\r\n.\r\n", 0, true, "O:|D:|D:body|.:|" },
	{ "+OK\n1 a\n.\n", 0, true, "O:|D:1 a|.:|" },
	{ "+OK\r\n1 a\r\n", 0, true, "O:|D:1 a|" },
	{ "+OK\r\nhdr\0\r\n.\r\n", 13, true, "O:|X:|" },
	{ "+OK\r\nbare\rCR\r\n.\r\n", 0, true, "O:|X:|" },
	{ "+OK\r\n.\r\n+OK next\r\n.\r\n", 0, true, "O:|.:|O:next|.:|" },
};

static void check_reply(size_t i, size_t piece)
{
	char got[1024];
	size_t len = replies[i].len != 0 ? replies[i].len : strlen(replies[i].in);

	run_reader(replies[i].in, len, replies[i].multi, piece, got, sizeof(got));
	ck_assert_msg(strcmp(got, replies[i].want) == 0, "%zu (piece %zu): got \"%s\", want \"%s\"",
		      i, piece, got, replies[i].want);
}

START_TEST(reply_table_whole)
{
	check_reply((size_t)_i, 1 << 20);
}
END_TEST

START_TEST(reply_table_byte_at_a_time)
{
	check_reply((size_t)_i, 1);
}
END_TEST

START_TEST(reply_table_in_threes)
{
	check_reply((size_t)_i, 3);
}
END_TEST

/* The longest line taken, and one octet more, whole and byte by byte. */
START_TEST(line_length_limit)
{
	size_t cap = LEGACY_LINE_MAX + 16;
	char *in = malloc(cap);

	ck_assert_ptr_nonnull(in);
	for (size_t piece = 1; piece <= 1 << 20; piece <<= 10) {
		struct legacy_reader r;
		struct legacy_line l;
		size_t used, pos = 0;
		enum legacy_line_kind k = LEGACY_LINE_NEED_MORE;

		memcpy(in, "+OK ", 4);
		memset(in + 4, 'a', LEGACY_LINE_MAX - 4);
		memcpy(in + LEGACY_LINE_MAX, "\r\n", 2);
		legacy_reader_init(&r);
		while (pos < LEGACY_LINE_MAX + 2 && k == LEGACY_LINE_NEED_MORE) {
			size_t n = LEGACY_LINE_MAX + 2 - pos;

			k = legacy_reader_feed(&r, in + pos, n < piece ? n : piece, &used, &l);
			pos += used;
		}
		ck_assert_int_eq(k, LEGACY_LINE_OK);
		ck_assert_uint_eq(l.len, LEGACY_LINE_MAX - 4);

		/* One more: refused, without waiting for a line end. */
		memset(in + 4, 'a', LEGACY_LINE_MAX - 3);
		legacy_reader_init(&r);
		pos = 0;
		k = LEGACY_LINE_NEED_MORE;
		while (pos < LEGACY_LINE_MAX + 1 && k == LEGACY_LINE_NEED_MORE) {
			size_t n = LEGACY_LINE_MAX + 1 - pos;

			k = legacy_reader_feed(&r, in + pos, n < piece ? n : piece, &used, &l);
			pos += used;
		}
		ck_assert_int_eq(k, LEGACY_LINE_ERROR);
		ck_assert_str_eq(l.error, "reply line too long");
	}
	free(in);
}
END_TEST

static const struct {
	const char *in;
	uint32_t max;
	int ok;
	uint32_t msg;
	const char *uidl;
} uidls[] = {
	{ "1 abc", 10, 1, 1, "abc" },
	{ "10 1700000000.M1P2.host", 10, 1, 10, "1700000000.M1P2.host" },
	{ "007 x", 10, 1, 7, "x" },
	{ "11 x", 10, 0, 0, NULL },          /* past the listing */
	{ "0 x", 10, 0, 0, NULL },
	{ "1", 10, 0, 0, NULL },
	{ "1 ", 10, 0, 0, NULL },
	{ "1  x", 10, 0, 0, NULL },
	{ "1 a b", 10, 0, 0, NULL },
	{ "1 a\tb", 10, 0, 0, NULL },
	{ "1 a\x7f", 10, 0, 0, NULL },
	{ "1 \xc3\xa9", 10, 0, 0, NULL },
	{ "-1 x", 10, 0, 0, NULL },
	{ "x 1", 10, 0, 0, NULL },
	{ " 1 x", 10, 0, 0, NULL },
	{ "4294967296 x", UINT32_MAX, 0, 0, NULL },
	{ "99999999999999999999999 x", UINT32_MAX, 0, 0, NULL },
	{ "1 0123456789012345678901234567890123456789012345678901234567890123456789", 10, 1, 1,
	  "0123456789012345678901234567890123456789012345678901234567890123456789" },
	{ "1 01234567890123456789012345678901234567890123456789012345678901234567890", 10, 0, 0,
	  NULL },
	{ "", 10, 0, 0, NULL },
	{ "1 x", 0, 0, 0, NULL },
};

START_TEST(uidl_table)
{
	char uidl[LEGACY_UIDL_MAX + 1];
	uint32_t msg = 0;
	const char *error = NULL;
	int r = legacy_parse_uidl(uidls[_i].in, strlen(uidls[_i].in), uidls[_i].max, &msg, uidl,
				  &error);

	ck_assert_msg((r == 0) == (uidls[_i].ok != 0), "%s: %d (%s)", uidls[_i].in, r,
		      error != NULL ? error : "");
	if (r == 0) {
		ck_assert_uint_eq(msg, uidls[_i].msg);
		ck_assert_str_eq(uidl, uidls[_i].uidl);
	} else {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

static const struct {
	const char *in;
	int ok;
	uint32_t msg;
	uint64_t size;
} lists[] = {
	{ "1 120", 1, 1, 120 },
	{ "2 0", 1, 2, 0 },
	{ "3 4711 extra words", 1, 3, 4711 },
	{ "3 9223372036854775807", 1, 3, 9223372036854775807ull },
	{ "3 9223372036854775808", 0, 0, 0 },
	{ "3 18446744073709551616", 0, 0, 0 },
	{ "3 12x", 0, 0, 0 },
	{ "3 -1", 0, 0, 0 },
	{ "3", 0, 0, 0 },
	{ "3 ", 0, 0, 0 },
	{ "11 5", 0, 0, 0 },
	{ "1 1\t2", 0, 0, 0 },
};

START_TEST(list_table)
{
	uint32_t msg = 0;
	uint64_t size = 0;
	const char *error = NULL;
	int r = legacy_parse_list(lists[_i].in, strlen(lists[_i].in), 10, &msg, &size, &error);

	ck_assert_msg((r == 0) == (lists[_i].ok != 0), "%s: %d (%s)", lists[_i].in, r,
		      error != NULL ? error : "");
	if (r == 0) {
		ck_assert_uint_eq(msg, lists[_i].msg);
		ck_assert_uint_eq(size, lists[_i].size);
	}
}
END_TEST

static const struct {
	const char *in;
	int ok;
	bool tls;
	const char *host;
	uint16_t port;
} urls[] = {
	{ "pop3s://pop.example.org", 1, true, "pop.example.org", 995 },
	{ "pop3s://pop.example.org:1995", 1, true, "pop.example.org", 1995 },
	{ "pop3://pop.example.org", 1, false, "pop.example.org", 110 },
	{ "POP3://192.0.2.7:110", 1, false, "192.0.2.7", 110 },
	{ "pop3s://[2001:db8::1]:995", 1, true, "2001:db8::1", 995 },
	{ "pop3s://[::1]", 1, true, "::1", 995 },
	{ "pop3s://", 0, false, NULL, 0 },
	{ "pop3s://:995", 0, false, NULL, 0 },
	{ "imaps://host", 0, false, NULL, 0 },
	{ "pop3s:/host", 0, false, NULL, 0 },
	{ "host:995", 0, false, NULL, 0 },
	{ "pop3s://host:0", 0, false, NULL, 0 },
	{ "pop3s://host:65536", 0, false, NULL, 0 },
	{ "pop3s://host:", 0, false, NULL, 0 },
	{ "pop3s://host:99x", 0, false, NULL, 0 },
	{ "pop3s://user@host", 0, false, NULL, 0 },
	{ "pop3s://host/path", 0, false, NULL, 0 },
	{ "pop3s://host?x=1", 0, false, NULL, 0 },
	{ "pop3s://ho st", 0, false, NULL, 0 },
	{ "pop3s://[::1", 0, false, NULL, 0 },
	{ "pop3s://a:b:c", 0, false, NULL, 0 },
	{ "pop3s://host\n", 0, false, NULL, 0 },
};

START_TEST(url_table)
{
	struct legacy_url u;
	const char *error = NULL;
	int r = legacy_url_parse(urls[_i].in, strlen(urls[_i].in), &u, &error);

	ck_assert_msg((r == 0) == (urls[_i].ok != 0), "%s: %d (%s)", urls[_i].in, r,
		      error != NULL ? error : "");
	if (r == 0) {
		ck_assert_int_eq(u.implicit_tls, urls[_i].tls);
		ck_assert_str_eq(u.host, urls[_i].host);
		ck_assert_uint_eq(u.port, urls[_i].port);
	} else {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(url_host_too_long)
{
	char in[300];
	struct legacy_url u;
	const char *error;

	memcpy(in, "pop3s://", 8);
	memset(in + 8, 'a', 253);
	ck_assert_int_eq(legacy_url_parse(in, 8 + 253, &u, &error), 0);
	ck_assert_uint_eq(strlen(u.host), 253);
	memset(in + 8, 'a', 254);
	ck_assert_int_eq(legacy_url_parse(in, 8 + 254, &u, &error), -1);
}
END_TEST

static Suite *legacy_parse_suite(void)
{
	Suite *s = suite_create("legacy_parse");
	TCase *tc = tcase_create("legacy_parse");

	tcase_add_loop_test(tc, reply_table_whole, 0, N(replies));
	tcase_add_loop_test(tc, reply_table_byte_at_a_time, 0, N(replies));
	tcase_add_loop_test(tc, reply_table_in_threes, 0, N(replies));
	tcase_add_test(tc, line_length_limit);
	tcase_add_loop_test(tc, uidl_table, 0, N(uidls));
	tcase_add_loop_test(tc, list_table, 0, N(lists));
	tcase_add_loop_test(tc, url_table, 0, N(urls));
	tcase_add_test(tc, url_host_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(legacy_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
