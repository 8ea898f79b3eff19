/* Unit tests for the incremental IMAP response scanner. */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

/* Byte strings may hold NUL, so inputs carry explicit lengths. */
#define BYTES(s) (s), (sizeof(s) - 1)

#define MAX_LINE 65536

struct tbuf {
	char *s;
	size_t len;
	size_t cap;
};

static void tb_add(struct tbuf *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		ck_assert_ptr_nonnull(t->s);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void tb_str(struct tbuf *t, const char *s)
{
	tb_add(t, s, strlen(s));
}

/* CR, LF and NUL made visible so transcripts read one event a line. */
static void tb_esc(struct tbuf *t, const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r')
			tb_str(t, "\\r");
		else if (s[i] == '\n')
			tb_str(t, "\\n");
		else if (s[i] == '\0')
			tb_str(t, "\\0");
		else
			tb_add(t, (const char *)s + i, 1);
	}
}

static void flush_data(struct tbuf *t, struct tbuf *data)
{
	if (data->len == 0)
		return;
	tb_str(t, "D ");
	tb_add(t, data->s, data->len);
	tb_str(t, "\n");
	data->len = 0;
}

/*
 * Runs the scanner over in[0..len) the way a read loop does: `chunk` new
 * octets arrive at a time (0: all at once) and the loop feeds whatever is
 * still unconsumed, handing at most `data_max` octets per feed. Returns the
 * event transcript (caller frees); consecutive LITERAL_DATA events are
 * merged so that every chunking gives the same transcript.
 */
static char *run(const char *in, size_t len, size_t chunk, size_t max_line,
		 size_t data_max)
{
	struct imap_parser *p = imap_parser_new(max_line);
	struct tbuf t = { NULL, 0, 0 }, data = { NULL, 0, 0 };
	size_t off = 0, avail = 0;
	uint64_t lit_size = 0, lit_seen = 0;
	bool in_literal = false, failed = false;
	char num[64];

	ck_assert_ptr_nonnull(p);
	tb_str(&t, "");
	tb_str(&data, "");
	do {
		avail = chunk == 0 || len - avail <= chunk ? len : avail + chunk;
		for (;;) {
			struct imap_parse_event ev;
			size_t n = avail - off, used = 99999;
			enum imap_parse_result r;

			if (n > data_max)
				n = data_max;
			r = imap_parser_feed(p, (const unsigned char *)in + off,
					     n, &used, &ev);
			ck_assert_uint_le(used, n);
			off += used;
			if (r != IMAP_PARSE_LITERAL_DATA &&
			    r != IMAP_PARSE_NEED_MORE)
				flush_data(&t, &data);
			if (r == IMAP_PARSE_NEED_MORE) {
				ck_assert_uint_eq(used, n);
				if (off < avail)
					continue;
				break;
			}
			switch (r) {
			case IMAP_PARSE_LINE:
				ck_assert(!in_literal);
				ck_assert_uint_eq(strlen(ev.line), ev.line_len);
				tb_str(&t, "L ");
				tb_esc(&t, (const unsigned char *)ev.line,
				       ev.line_len);
				tb_str(&t, "\n");
				break;
			case IMAP_PARSE_LITERAL_BEGIN:
				ck_assert(!in_literal);
				ck_assert_uint_eq(strlen(ev.line), ev.line_len);
				in_literal = true;
				lit_size = ev.literal_size;
				lit_seen = 0;
				ck_assert_uint_eq(imap_parser_literal_left(p),
						  lit_size);
				snprintf(num, sizeof(num), "B%llu ",
					 (unsigned long long)lit_size);
				tb_str(&t, num);
				tb_esc(&t, (const unsigned char *)ev.line,
				       ev.line_len);
				tb_str(&t, "\n");
				break;
			case IMAP_PARSE_LITERAL_DATA:
				ck_assert(in_literal);
				ck_assert_uint_gt(ev.data_len, 0);
				ck_assert_uint_eq(ev.data_len, used);
				ck_assert_ptr_eq(ev.data, (const unsigned char *)
						 in + off - used);
				lit_seen += ev.data_len;
				ck_assert_uint_le(lit_seen, lit_size);
				ck_assert_uint_eq(imap_parser_literal_left(p),
						  lit_size - lit_seen);
				tb_esc(&data, ev.data, ev.data_len);
				break;
			case IMAP_PARSE_LITERAL_END:
				ck_assert(in_literal);
				ck_assert_uint_eq(lit_seen, lit_size);
				in_literal = false;
				tb_str(&t, "E\n");
				break;
			case IMAP_PARSE_ERROR:
				ck_assert_ptr_nonnull(ev.error);
				tb_str(&t, "X ");
				tb_str(&t, ev.error);
				tb_str(&t, "\n");
				failed = true;
				break;
			default:
				ck_abort_msg("unexpected result %d", (int)r);
			}
			if (failed)
				break;
		}
	} while (!failed && avail < len);
	flush_data(&t, &data);
	free(data.s);
	imap_parser_free(&p);
	ck_assert_ptr_null(p);
	return t.s;
}

/* The whole-buffer transcript must be `expected`, and every chunking and
   every per-feed limit must give exactly the same transcript. */
static void expect_transcript(const char *in, size_t len, size_t max_line,
			      const char *expected)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 5, 7, 13, 64 };
	static const size_t limits[] = { SIZE_MAX, 1, 2, 4 };
	char *whole = run(in, len, 0, max_line, SIZE_MAX);
	size_t i, j;

	ck_assert_msg(strcmp(whole, expected) == 0,
		      "transcript\n%s\nexpected\n%s", whole, expected);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		for (j = 0; j < sizeof(limits) / sizeof(limits[0]); j++) {
			char *t = run(in, len, chunks[i], max_line, limits[j]);

			ck_assert_msg(strcmp(t, whole) == 0,
				      "chunk %zu limit %zu:\n%s\nwhole:\n%s",
				      chunks[i], limits[j], t, whole);
			free(t);
		}
	}
	free(whole);
}

#define EXPECT(in, expected) \
	expect_transcript(BYTES(in), MAX_LINE, (expected))

START_TEST(test_greeting_and_login)
{
	EXPECT("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
	       "IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n"
	       "+ OK\r\n"
	       "a1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
	       "IDLE SORT THREAD=REFERENCES MOVE UIDPLUS LITERAL+] Logged in\r\n",
	       "L * OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
	       "IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\n"
	       "L + OK\n"
	       "L a1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
	       "IDLE SORT THREAD=REFERENCES MOVE UIDPLUS LITERAL+] Logged in\n");
}
END_TEST

START_TEST(test_select)
{
	EXPECT("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	       "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	       "\\Draft \\*)] Flags permitted.\r\n"
	       "* 3 EXISTS\r\n"
	       "* 0 RECENT\r\n"
	       "* OK [UNSEEN 2] First unseen.\r\n"
	       "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
	       "* OK [UIDNEXT 6] Predicted next UID\r\n"
	       "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
	       "L * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n"
	       "L * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	       "\\Draft \\*)] Flags permitted.\n"
	       "L * 3 EXISTS\n"
	       "L * 0 RECENT\n"
	       "L * OK [UNSEEN 2] First unseen.\n"
	       "L * OK [UIDVALIDITY 1700000000] UIDs valid\n"
	       "L * OK [UIDNEXT 6] Predicted next UID\n"
	       "L a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\n");
}
END_TEST

START_TEST(test_uid_fetch_listing)
{
	EXPECT("* 1 FETCH (UID 1 RFC822.SIZE 1234 FLAGS (\\Seen))\r\n"
	       "* 2 FETCH (UID 2 RFC822.SIZE 567 FLAGS ())\r\n"
	       "* 3 FETCH (UID 5 RFC822.SIZE 89 FLAGS (\\Deleted $Junk))\r\n"
	       "a3 OK Fetch completed (0.001 + 0.000 secs).\r\n",
	       "L * 1 FETCH (UID 1 RFC822.SIZE 1234 FLAGS (\\Seen))\n"
	       "L * 2 FETCH (UID 2 RFC822.SIZE 567 FLAGS ())\n"
	       "L * 3 FETCH (UID 5 RFC822.SIZE 89 FLAGS (\\Deleted $Junk))\n"
	       "L a3 OK Fetch completed (0.001 + 0.000 secs).\n");
}
END_TEST

START_TEST(test_body_literal)
{
	/* The literal holds CRLFs, a "{3}" at a line end and a NUL: none of
	   it is line syntax. */
	EXPECT("* 1 FETCH (UID 1 BODY[] {30}\r\n"
	       "Subject: x\r\n\r\nbody {3}\r\n\0end\r\n"
	       " FLAGS (\\Seen))\r\n"
	       "a4 OK Fetch completed.\r\n",
	       "B30 * 1 FETCH (UID 1 BODY[] {30}\n"
	       "D Subject: x\\r\\n\\r\\nbody {3}\\r\\n\\0end\\r\\n\n"
	       "E\n"
	       "L * 1 FETCH (UID 1 BODY[] {30} FLAGS (\\Seen))\n"
	       "L a4 OK Fetch completed.\n");
}
END_TEST

START_TEST(test_two_literals)
{
	EXPECT("* 2 FETCH (UID 7 BODY[HEADER] {5}\r\nHdr\r\n"
	       " BODY[TEXT]<0> {4}\r\nbody)\r\n",
	       "B5 * 2 FETCH (UID 7 BODY[HEADER] {5}\n"
	       "D Hdr\\r\\n\n"
	       "E\n"
	       "B4 * 2 FETCH (UID 7 BODY[HEADER] {5} BODY[TEXT]<0> {4}\n"
	       "D body\n"
	       "E\n"
	       "L * 2 FETCH (UID 7 BODY[HEADER] {5} BODY[TEXT]<0> {4})\n");
}
END_TEST

START_TEST(test_zero_literal)
{
	EXPECT("* 3 FETCH (BODY[] {0}\r\n UID 3)\r\n",
	       "B0 * 3 FETCH (BODY[] {0}\n"
	       "E\n"
	       "L * 3 FETCH (BODY[] {0} UID 3)\n");
	/* The END needs no input: it comes even when the buffer ends. */
	EXPECT("* 3 FETCH (BODY[] {0}\r\n",
	       "B0 * 3 FETCH (BODY[] {0}\n"
	       "E\n");
}
END_TEST

START_TEST(test_literal_then_items)
{
	EXPECT("* 4 FETCH (BODY[] {3}\r\nabc UID 9 FLAGS (\\Seen))\r\n"
	       "* 5 FETCH (FLAGS (\\Seen))\r\n",
	       "B3 * 4 FETCH (BODY[] {3}\n"
	       "D abc\n"
	       "E\n"
	       "L * 4 FETCH (BODY[] {3} UID 9 FLAGS (\\Seen))\n"
	       "L * 5 FETCH (FLAGS (\\Seen))\n");
}
END_TEST

START_TEST(test_literal_ends_line)
{
	/* After the literal the line is just its marker: that marker must
	   not be taken for a second literal. */
	EXPECT("* LIST () \"/\" {5}\r\nINBOX\r\n* 1 EXISTS\r\n",
	       "B5 * LIST () \"/\" {5}\n"
	       "D INBOX\n"
	       "E\n"
	       "L * LIST () \"/\" {5}\n"
	       "L * 1 EXISTS\n");
}
END_TEST

START_TEST(test_literal8_and_lf)
{
	EXPECT("* 1 FETCH (BINARY[1] ~{3}\r\n\0\1\2)\r\n",
	       "B3 * 1 FETCH (BINARY[1] ~{3}\n"
	       "D \\0\1\2\n"
	       "E\n"
	       "L * 1 FETCH (BINARY[1] ~{3})\n");
	/* Bare LF is taken as a line end, also after a marker. */
	EXPECT("* 1 EXISTS\n* 1 FETCH (BODY[] {2}\nab)\n\r\n",
	       "L * 1 EXISTS\n"
	       "B2 * 1 FETCH (BODY[] {2}\n"
	       "D ab\n"
	       "E\n"
	       "L * 1 FETCH (BODY[] {2})\n"
	       "L \n");
}
END_TEST

START_TEST(test_quotes)
{
	/* Inside quotes "{5}" is text, even when the quote never closes. */
	EXPECT("* LIST () \"/\" \"foo {5}\r\n",
	       "L * LIST () \"/\" \"foo {5}\n");
	EXPECT("* X \"a\\\" {5}\r\n",
	       "L * X \"a\\\" {5}\n");
	/* An escaped backslash closes nothing: the quote ends, {2} is real. */
	EXPECT("* X \"a\\\\\" {2}\r\nok)\r\n",
	       "B2 * X \"a\\\\\" {2}\n"
	       "D ok\n"
	       "E\n"
	       "L * X \"a\\\\\" {2})\n");
	/* An unterminated quote does not reach into the next line. */
	EXPECT("* OK \"abc\r\n* X {1}\r\nz\r\n",
	       "L * OK \"abc\n"
	       "B1 * X {1}\n"
	       "D z\n"
	       "E\n"
	       "L * X {1}\n");
	EXPECT("* SEARCH \"{5}\"\r\n",
	       "L * SEARCH \"{5}\"\n");
	/* Braces around something other than a number are text. */
	EXPECT("* OK see {docs}\r\n* OK {1-2}\r\n",
	       "L * OK see {docs}\n"
	       "L * OK {1-2}\n");
}
END_TEST

struct bad_case {
	const char *in;
	size_t len;
	size_t max_line;
	const char *expected;
};

static const struct bad_case bad_cases[] = {
	{ BYTES("* OK 0123456789abcdef\r\n"), 16, "X line too long\n" },
	{ BYTES("* OK 0123456789a\r\n* OK 0123456789ab\r\n"), 16,
	  "L * OK 0123456789a\nX line too long\n" },
	/* Literal markers count towards the line, literal contents not. */
	{ BYTES("* X {3}\r\nabc {1}\r\nz)\r\n"), 12,
	  "B3 * X {3}\nD abc\nE\nB1 * X {3} {1}\nD z\nE\nL * X {3} {1})\n" },
	{ BYTES("* X {3}\r\nabc {111}\r\n"), 12,
	  "B3 * X {3}\nD abc\nE\nX line too long\n" },
	{ BYTES("* 1 FETCH (BODY[] {4294967296}\r\n"), MAX_LINE,
	  "X malformed literal size\n" },
	{ BYTES("* 1 FETCH (BODY[] {99999999999999999999}\r\n"), MAX_LINE,
	  "X malformed literal size\n" },
	{ BYTES("* 1 FETCH (BODY[] {}\r\n"), MAX_LINE,
	  "X malformed literal size\n" },
	{ BYTES("* 1 FETCH (BODY[] {5+}\r\nhello)\r\n"), MAX_LINE,
	  "X malformed literal size\n" },
	{ BYTES("* 1 FETCH (BODY[] {+5}\r\nhello)\r\n"), MAX_LINE,
	  "X malformed literal size\n" },
	{ BYTES("* 1 FETCH (BODY[] {4294967295}\r\nab"), MAX_LINE,
	  "B4294967295 * 1 FETCH (BODY[] {4294967295}\nD ab\n" },
	{ BYTES("* 1 FETCH (BODY[] {0000000000000000000003}\r\nabc)\r\n"),
	  MAX_LINE,
	  "B3 * 1 FETCH (BODY[] {0000000000000000000003}\nD abc\nE\n"
	  "L * 1 FETCH (BODY[] {0000000000000000000003})\n" },
	{ BYTES("* OK a\0b\r\n"), MAX_LINE, "X NUL in line\n" },
	{ BYTES("* X {1}\r\n\0\0\r\n"), MAX_LINE,
	  "B1 * X {1}\nD \\0\nE\nX NUL in line\n" },
	{ BYTES("* OK a\rb\r\n"), MAX_LINE, "X bare CR in line\n" },
	{ BYTES("* OK a\r\r\n"), MAX_LINE, "X bare CR in line\n" },
	{ BYTES("\r\n\n"), MAX_LINE, "L \nL \n" },
	{ BYTES("* OK no line end"), MAX_LINE, "" },
	{ BYTES(""), MAX_LINE, "" },
	{ BYTES("\r\n"), 0, "L \n" },
	{ BYTES("a\r\n"), 0, "X line too long\n" },
};

START_TEST(test_bad_table)
{
	const struct bad_case *c = &bad_cases[_i];

	expect_transcript(c->in, c->len, c->max_line, c->expected);
}
END_TEST

/* The line buffer grows with a long line (a SEARCH answer of thousands
   of UIDs, text before and after a literal) and shrinks after it: every
   chunking gives the whole line, then the next short one; max_line is
   still the bound, to the octet. */
START_TEST(test_long_lines_grow_and_shrink)
{
	struct tbuf in = { 0 }, want = { 0 }, big = { 0 };
	char num[16];

	for (unsigned int uid = 1; big.len < 4400; uid++) {
		snprintf(num, sizeof(num), " %u", uid);
		tb_str(&big, num);
	}
	tb_str(&in, "* SEARCH");
	tb_add(&in, big.s, big.len);
	tb_str(&in, "\r\n* 1 FETCH (X {2}\r\nab");
	tb_add(&in, big.s, big.len);
	tb_str(&in, ")\r\na1 OK done\r\n");
	tb_str(&want, "L * SEARCH");
	tb_add(&want, big.s, big.len);
	tb_str(&want, "\nB2 * 1 FETCH (X {2}\nD ab\nE\nL * 1 FETCH (X {2}");
	tb_add(&want, big.s, big.len);
	tb_str(&want, ")\nL a1 OK done\n");
	expect_transcript(in.s, in.len, MAX_LINE, want.s);
	free(in.s);
	free(want.s);

	/* exactly max_line octets of text: taken; one more: refused */
	in = (struct tbuf){ 0 };
	want = (struct tbuf){ 0 };
	tb_str(&in, "* OK ");
	while (in.len < 5000)
		tb_str(&in, "x");
	tb_str(&want, "L ");
	tb_add(&want, in.s, in.len);
	tb_str(&want, "\nX line too long\n");
	tb_str(&in, "\r\n* OK ");
	while (in.len < 5000 + 2 + 5001)
		tb_str(&in, "y");
	tb_str(&in, "\r\n");
	for (size_t chunk = 0; chunk < 3; chunk++) {
		char *t = run(in.s, in.len, chunk, 5000, SIZE_MAX);

		ck_assert_str_eq(t, want.s);
		free(t);
	}
	free(in.s);
	free(want.s);
	free(big.s);
}
END_TEST

START_TEST(test_error_sticky)
{
	struct imap_parser *p = imap_parser_new(100);
	struct imap_parse_event ev;
	size_t used;

	ck_assert_int_eq(imap_parser_feed(p, (const unsigned char *)"{}\r\n",
					  4, &used, &ev), IMAP_PARSE_ERROR);
	ck_assert_str_eq(ev.error, "malformed literal size");
	ck_assert_int_eq(imap_parser_feed(p, (const unsigned char *)"* OK\r\n",
					  6, &used, &ev), IMAP_PARSE_ERROR);
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(ev.error, "malformed literal size");
	imap_parser_free(&p);
	imap_parser_free(&p);
	ck_assert_ptr_null(imap_parser_new(SIZE_MAX));
}
END_TEST

START_TEST(test_data_len_bounded)
{
	static const char in[] = "* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n";
	const unsigned char *d = (const unsigned char *)in;
	struct imap_parser *p = imap_parser_new(100);
	struct imap_parse_event ev;
	size_t used, off, n = sizeof(in) - 1;

	ck_assert_int_eq(imap_parser_feed(p, d, n, &used, &ev),
			 IMAP_PARSE_LITERAL_BEGIN);
	ck_assert_str_eq(ev.line, "* 1 FETCH (BODY[] {10}");
	ck_assert_uint_eq(ev.literal_size, 10);
	off = used;
	ck_assert_uint_eq(off, 24);
	/* Each feed hands out at most len octets, whatever is available. */
	ck_assert_int_eq(imap_parser_feed(p, d + off, 3, &used, &ev),
			 IMAP_PARSE_LITERAL_DATA);
	ck_assert_uint_eq(ev.data_len, 3);
	ck_assert_uint_eq(used, 3);
	ck_assert(memcmp(ev.data, "012", 3) == 0);
	ck_assert_uint_eq(imap_parser_literal_left(p), 7);
	off += used;
	/* A zero len is not an error: it just needs more. */
	ck_assert_int_eq(imap_parser_feed(p, d + off, 0, &used, &ev),
			 IMAP_PARSE_NEED_MORE);
	ck_assert_uint_eq(used, 0);
	/* More than the literal: stops at its end. */
	ck_assert_int_eq(imap_parser_feed(p, d + off, n - off, &used, &ev),
			 IMAP_PARSE_LITERAL_DATA);
	ck_assert_uint_eq(ev.data_len, 7);
	ck_assert(memcmp(ev.data, "3456789", 7) == 0);
	off += used;
	ck_assert_uint_eq(imap_parser_literal_left(p), 0);
	ck_assert_int_eq(imap_parser_feed(p, d + off, n - off, &used, &ev),
			 IMAP_PARSE_LITERAL_END);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(imap_parser_feed(p, d + off, n - off, &used, &ev),
			 IMAP_PARSE_LINE);
	ck_assert_str_eq(ev.line, "* 1 FETCH (BODY[] {10})");
	ck_assert_uint_eq(ev.line_len, 23);
	off += used;
	ck_assert_uint_eq(off, n);
	ck_assert_int_eq(imap_parser_feed(p, d + off, 0, &used, &ev),
			 IMAP_PARSE_NEED_MORE);
	imap_parser_free(&p);
}
END_TEST

START_TEST(test_one_event_per_feed)
{
	static const char in[] = "* 1 EXISTS\r\n* 2 EXISTS\r\n";
	struct imap_parser *p = imap_parser_new(100);
	struct imap_parse_event ev;
	size_t used;

	ck_assert_int_eq(imap_parser_feed(p, (const unsigned char *)in,
					  sizeof(in) - 1, &used, &ev),
			 IMAP_PARSE_LINE);
	ck_assert_uint_eq(used, 12);
	ck_assert_str_eq(ev.line, "* 1 EXISTS");
	ck_assert_int_eq(imap_parser_feed(p, (const unsigned char *)in + 12,
					  sizeof(in) - 13, &used, &ev),
			 IMAP_PARSE_LINE);
	ck_assert_str_eq(ev.line, "* 2 EXISTS");
	ck_assert_uint_eq(imap_parser_literal_left(p), 0);
	imap_parser_free(&p);
}
END_TEST

static Suite *imap_parse_suite(void)
{
	Suite *s = suite_create("imap_parse");
	TCase *tc = tcase_create("dovecot");

	tcase_add_test(tc, test_greeting_and_login);
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_uid_fetch_listing);
	tcase_add_test(tc, test_body_literal);
	tcase_add_test(tc, test_two_literals);
	tcase_add_test(tc, test_zero_literal);
	tcase_add_test(tc, test_literal_then_items);
	tcase_add_test(tc, test_literal_ends_line);
	tcase_add_test(tc, test_literal8_and_lf);
	tcase_add_test(tc, test_quotes);
	suite_add_tcase(s, tc);

	tc = tcase_create("adversarial");
	tcase_add_loop_test(tc, test_bad_table, 0,
			    sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_long_lines_grow_and_shrink);
	tcase_add_test(tc, test_error_sticky);
	tcase_add_test(tc, test_data_len_bounded);
	tcase_add_test(tc, test_one_event_per_feed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(imap_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
