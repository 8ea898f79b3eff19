/* Unit tests for the RETR/TOP output filter. */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_filter.h"

#define NO_LIMIT -1

/*
 * One RETR or TOP: the header and the body are fed as separate fragments
 * through one filter, as the session does with BODY[HEADER] and BODY[TEXT];
 * a limit >= 0 is set between them.
 */
struct filter_case {
	const char *name;
	const char *header;
	const char *body;
	long limit;
	const char *want;	/* whole response body incl. ".\r\n" */
	uint64_t octets;
	uint64_t wire_octets;
};

static const struct filter_case cases[] = {
	{ "empty message", "", "", NO_LIMIT, ".\r\n", 0, 0 },
	{ "bare LF", "a\n", "", NO_LIMIT, "a\r\n.\r\n", 3, 3 },
	{ "CRLF kept", "a\r\n", "", NO_LIMIT, "a\r\n.\r\n", 3, 3 },
	{ "mixed line ends", "a\nb\r\nc\n", "", NO_LIMIT,
	  "a\r\nb\r\nc\r\n.\r\n", 9, 9 },
	{ "empty lines", "\n\r\n\n", "", NO_LIMIT, "\r\n\r\n\r\n.\r\n", 6, 6 },
	{ "bare CR passes", "a\rb\r\n", "", NO_LIMIT, "a\rb\r\n.\r\n", 5, 5 },
	{ "bare CR before CRLF", "\r\r\n", "", NO_LIMIT, "\r\r\n.\r\n", 3, 3 },
	{ "CR CR LF LF", "a\r\r\n\n", "", NO_LIMIT, "a\r\r\n\r\n.\r\n", 6, 6 },
	{ "bare CR at end", "a\r", "", NO_LIMIT, "a\r\n.\r\n", 2, 2 },
	{ "CR only", "\r", "", NO_LIMIT, "\r\n.\r\n", 1, 1 },
	{ "lines then lone CR", "a\r\nb\r", "", NO_LIMIT, "a\r\nb\r\n.\r\n", 5, 5 },
	{ "CR CR at end", "a\r\r", "", NO_LIMIT, "a\r\r\n.\r\n", 3, 3 },
	{ "unterminated", "abc", "", NO_LIMIT, "abc\r\n.\r\n", 3, 3 },
	{ "unterminated after lines", "a\r\nb", "", NO_LIMIT,
	  "a\r\nb\r\n.\r\n", 4, 4 },
	{ "dot line", ".\r\n", "", NO_LIMIT, "..\r\n.\r\n", 3, 4 },
	{ "dot dot line", "..\n", "", NO_LIMIT, "...\r\n.\r\n", 4, 5 },
	{ "dot text first", ".text\nmore\n", "", NO_LIMIT,
	  "..text\r\nmore\r\n.\r\n", 13, 14 },
	{ "dot in the middle", "a\n.\nb\n", "", NO_LIMIT,
	  "a\r\n..\r\nb\r\n.\r\n", 9, 10 },
	{ "end marker inside", "a\r\n.\r\nb\r\n", "", NO_LIMIT,
	  "a\r\n..\r\nb\r\n.\r\n", 9, 10 },
	{ "dot not at line start", "a.\n a\n", "", NO_LIMIT,
	  "a.\r\n a\r\n.\r\n", 8, 8 },
	{ "dot after bare CR", "\r.\n", "", NO_LIMIT, "\r.\r\n.\r\n", 4, 4 },
	{ "unterminated dot", ".", "", NO_LIMIT, "..\r\n.\r\n", 1, 2 },
	{ "three dots", "...", "", NO_LIMIT, "....\r\n.\r\n", 3, 4 },
	{ "many dot lines", ".\n.\n.\n", "", NO_LIMIT,
	  "..\r\n..\r\n..\r\n.\r\n", 9, 12 },
	{ "CR ends header, LF starts body", "a\r", "\nb\n", NO_LIMIT,
	  "a\r\nb\r\n.\r\n", 6, 6 },
	{ "CR ends header, body dot line", "a\r", "\n.b\n", NO_LIMIT,
	  "a\r\n..b\r\n.\r\n", 7, 8 },
	{ "CR ends header, body no LF", "a\r", "b\n", NO_LIMIT,
	  "a\rb\r\n.\r\n", 5, 5 },
	{ "line start carries to body", "H: v\r\n\r\n", ".x\n", NO_LIMIT,
	  "H: v\r\n\r\n..x\r\n.\r\n", 12, 13 },
	{ "header line continues in body", "H: v", " w\r\n.\n", NO_LIMIT,
	  "H: v w\r\n..\r\n.\r\n", 11, 12 },
	{ "TOP 0", "Subject: x\r\n\r\n", "l1\nl2\nl3\n", 0,
	  "Subject: x\r\n\r\n.\r\n", 14, 14 },
	{ "TOP 1", "Subject: x\r\n\r\n", "l1\nl2\nl3\n", 1,
	  "Subject: x\r\n\r\nl1\r\n.\r\n", 18, 18 },
	{ "TOP 2", "Subject: x\r\n\r\n", "l1\nl2\nl3\n", 2,
	  "Subject: x\r\n\r\nl1\r\nl2\r\n.\r\n", 22, 22 },
	{ "TOP exact", "Subject: x\r\n\r\n", "l1\nl2\nl3\n", 3,
	  "Subject: x\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n", 26, 26 },
	{ "TOP large", "Subject: x\r\n\r\n", "l1\nl2\nl3\n", 1000000,
	  "Subject: x\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n", 26, 26 },
	{ "TOP large unterminated", "S: x\n\n", "l1\nl2", 5,
	  "S: x\r\n\r\nl1\r\nl2\r\n.\r\n", 14, 14 },
	{ "TOP 1 stops before partial line", "S: x\n\n", "l1\r\nl2", 1,
	  "S: x\r\n\r\nl1\r\n.\r\n", 12, 12 },
	{ "TOP 1 dot lines", "S: x\r\n\r\n", ".dot\n..x\n", 1,
	  "S: x\r\n\r\n..dot\r\n.\r\n", 14, 15 },
	{ "TOP 2 dot lines", "S: x\r\n\r\n", ".dot\n..x\n", 2,
	  "S: x\r\n\r\n..dot\r\n...x\r\n.\r\n", 19, 21 },
	{ "TOP 1 bare LF header", "Subject: x\n\n", "a\nb\n", 1,
	  "Subject: x\r\n\r\na\r\n.\r\n", 17, 17 },
	{ "TOP 1 empty body lines", "S: x\r\n\r\n", "\n\n\n", 1,
	  "S: x\r\n\r\n\r\n.\r\n", 10, 10 },
	{ "TOP 1 bare CR in body", "S: x\r\n\r\n", "a\rb\nc\n", 1,
	  "S: x\r\n\r\na\rb\r\n.\r\n", 13, 13 },
	{ "TOP 0 empty body", "S: x\r\n\r\n", "", 0, "S: x\r\n\r\n.\r\n",
	  8, 8 },
	{ "TOP 3 empty body", "S: x\r\n\r\n", "", 3, "S: x\r\n\r\n.\r\n",
	  8, 8 },
	{ "limit 0 from the start", "", "abc\n", 0, ".\r\n", 0, 0 },
	{ "limit 1 from the start", "", ".abc\ndef\n", 1, "..abc\r\n.\r\n",
	  6, 7 },
	{ "limit completes header line", "H: v", " cont\nnext\n", 1,
	  "H: v cont\r\n.\r\n", 11, 11 },
	{ "limit 0 mid-line", "H: v", " cont\nnext\n", 0, "H: v\r\n.\r\n",
	  4, 4 },
};

/* Deterministic generator so failures reproduce. */
static uint32_t rng_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

enum split_mode {
	SPLIT_WHOLE,	/* each of header and body in one piece */
	SPLIT_BYTES,	/* one octet per run */
	SPLIT_RANDOM,	/* random piece sizes, empty pieces included */
	SPLIT_CLEAN,	/* random pieces, each one's clean start passed as
			   it is (pop3_filter_clean), as RETR does */
};

struct out_buf {
	unsigned char *data;
	size_t len, size;
};

static void out_reserve(struct out_buf *out, size_t more)
{
	if (out->len + more <= out->size)
		return;
	out->size = (out->len + more) * 2;
	out->data = realloc(out->data, out->size);
	ck_assert_ptr_nonnull(out->data);
}

static void feed(struct pop3_filter *f, const unsigned char *in, size_t len,
		 enum split_mode mode, uint32_t *seed, struct out_buf *out)
{
	size_t pos = 0;

	do {
		size_t n = len - pos, written;

		if (mode == SPLIT_BYTES && n > 1)
			n = 1;
		else if (mode == SPLIT_RANDOM || mode == SPLIT_CLEAN)
			n = rng_next(seed) % (n < 9 ? n + 1 : 9);
		out_reserve(out, POP3_FILTER_MAX_OUT(n));
		if (mode == SPLIT_CLEAN) {
			size_t clean = pop3_filter_clean(f, in + pos, n);

			ck_assert_uint_le(clean, n);
			memcpy(out->data + out->len, in + pos, clean);
			out->len += clean;
			pos += clean;
			n -= clean;
		}
		written = pop3_filter_run(f, in + pos, n, out->data + out->len);
		ck_assert_uint_le(written, POP3_FILTER_MAX_OUT(n));
		out->len += written;
		pos += n;
	} while (pos < len);
}

static void run_case(const struct filter_case *c, enum split_mode mode,
		     uint32_t seed, struct out_buf *out, struct pop3_filter *f)
{
	out->len = 0;
	pop3_filter_init(f);
	feed(f, (const unsigned char *)c->header, strlen(c->header), mode,
	     &seed, out);
	if (c->limit >= 0)
		pop3_filter_limit_lines(f, (uint64_t)c->limit);
	feed(f, (const unsigned char *)c->body, strlen(c->body), mode, &seed,
	     out);
	out_reserve(out, 5);
	out->len += pop3_filter_finish(f, out->data + out->len);
}

static void check_case(const struct filter_case *c, enum split_mode mode,
		       uint32_t seed)
{
	struct out_buf out = { NULL, 0, 0 };
	struct pop3_filter f;
	size_t want_len = strlen(c->want);

	run_case(c, mode, seed, &out, &f);
	ck_assert_msg(out.len == want_len &&
		      memcmp(out.data, c->want, want_len) == 0,
		      "%s (mode %d, seed %u): got %zu octets, want %zu",
		      c->name, mode, seed, out.len, want_len);
	ck_assert_uint_eq(f.octets, c->octets);
	ck_assert_uint_eq(f.wire_octets, c->wire_octets);
	free(out.data);
}

START_TEST(test_filter_whole)
{
	check_case(&cases[_i], SPLIT_WHOLE, 0);
}
END_TEST

START_TEST(test_filter_bytes)
{
	check_case(&cases[_i], SPLIT_BYTES, 0);
}
END_TEST

START_TEST(test_filter_random)
{
	uint32_t seed;

	for (seed = 1; seed <= 64; seed++)
		check_case(&cases[_i], SPLIT_RANDOM, seed);
}
END_TEST

START_TEST(test_filter_clean)
{
	uint32_t seed;

	for (seed = 1; seed <= 64; seed++)
		check_case(&cases[_i], SPLIT_CLEAN, seed);
}
END_TEST

/* What pop3_filter_clean() passes: up to the first octet that needs a
   change, none with a line limit or when the first one does. */
START_TEST(test_clean_stops_where_a_change_is_due)
{
	static const struct {
		const char *in;
		bool line_start, prev_cr, limited;
		size_t clean;
	} t[] = {
		{ "abc\r\ndef\r\n", true, false, false, 10 },
		{ "abc\r\n.def", true, false, false, 5 },
		{ "abc\ndef", true, false, false, 3 },
		{ ".abc", true, false, false, 0 },
		{ ".abc", false, false, false, 4 },
		{ "\nabc", false, true, false, 4 },
		{ "\nabc", false, false, false, 0 },
		{ "abc\r\n", true, false, true, 0 },
		{ "", true, false, false, 0 },
		/* A change due past the first 16 octets, and in the last
		   few, where the 16-at-once scan no longer reaches. */
		{ "0123456789abcdef0123456789\n", true, false, false, 26 },
		{ "0123456789abcdef012345678\r\n.", true, false, false, 27 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pop3_filter f;
		size_t n;

		pop3_filter_init(&f);
		f.line_start = t[i].line_start;
		f.prev_cr = t[i].prev_cr;
		if (t[i].limited)
			pop3_filter_limit_lines(&f, 5);
		n = pop3_filter_clean(&f, (const unsigned char *)t[i].in, strlen(t[i].in));
		ck_assert_msg(n == t[i].clean, "case %zu: clean %zu, want %zu", i, n, t[i].clean);
		ck_assert_uint_eq(f.octets, n);
		ck_assert_uint_eq(f.wire_octets, n);
	}
}
END_TEST

START_TEST(test_limit_reached)
{
	static const unsigned char body[] = "a\nb\nc\n";
	unsigned char out[POP3_FILTER_MAX_OUT(sizeof(body))];
	struct pop3_filter f;

	pop3_filter_init(&f);
	ck_assert(!pop3_filter_limit_reached(&f));
	pop3_filter_limit_lines(&f, 2);
	ck_assert(!pop3_filter_limit_reached(&f));
	ck_assert_uint_eq(pop3_filter_run(&f, body, 2, out), 3);
	ck_assert(!pop3_filter_limit_reached(&f));
	ck_assert_uint_eq(pop3_filter_run(&f, body + 2, 4, out), 3);
	ck_assert(pop3_filter_limit_reached(&f));
	/* Everything after the limit is swallowed. */
	ck_assert_uint_eq(pop3_filter_run(&f, body, 6, out), 0);
	ck_assert_uint_eq(f.octets, 6);

	pop3_filter_init(&f);
	pop3_filter_limit_lines(&f, 0);
	ck_assert(pop3_filter_limit_reached(&f));
	ck_assert_uint_eq(pop3_filter_run(&f, body, 6, out), 0);
	ck_assert_uint_eq(pop3_filter_finish(&f, out), 3);
	ck_assert_mem_eq(out, ".\r\n", 3);
}
END_TEST

/*
 * A large message of mixed lines: the output of whole-buffer filtering must
 * not depend on how the input was cut, and the counters must add up.
 */
START_TEST(test_large_random_message)
{
	static const char *const pieces[] = {
		"plain text line", ".", "..", "", "\r", "x\ry", "\r\r",
		"A long line of base64 QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
	};
	static const char *const ends[] = { "\n", "\r\n", "" };
	uint32_t seed = 0xc0ffee00u + (uint32_t)_i;
	size_t cap = 1 << 20, len = 0, stuffed = 0;
	unsigned char *in = malloc(cap);
	struct out_buf whole = { NULL, 0, 0 }, cut = { NULL, 0, 0 };
	struct pop3_filter fw, fc;
	struct filter_case c = { "large", "", "", NO_LIMIT, "", 0, 0 };
	size_t i;

	ck_assert_ptr_nonnull(in);
	while (len < cap - 200) {
		const char *p = pieces[rng_next(&seed) % 8];
		const char *e = ends[rng_next(&seed) % 3];

		memcpy(in + len, p, strlen(p));
		len += strlen(p);
		memcpy(in + len, e, strlen(e));
		len += strlen(e);
	}
	in[len] = '\0';
	c.body = (const char *)in;

	run_case(&c, SPLIT_WHOLE, 0, &whole, &fw);
	run_case(&c, _i % 2 == 0 ? SPLIT_RANDOM : SPLIT_CLEAN, seed, &cut, &fc);
	ck_assert_uint_eq(whole.len, cut.len);
	ck_assert_mem_eq(whole.data, cut.data, whole.len);
	ck_assert_uint_eq(fw.octets, fc.octets);
	ck_assert_uint_eq(fw.wire_octets, fc.wire_octets);

	/* Every LF in the output is part of a CRLF; lines starting with a
	   dot were stuffed, and the stuffing is what wire_octets adds. */
	for (i = 0; i < whole.len; i++) {
		if (whole.data[i] == '\n')
			ck_assert(i > 0 && whole.data[i - 1] == '\r');
		if ((i == 0 || whole.data[i - 1] == '\n') &&
		    whole.data[i] == '.' && i + 3 != whole.len) {
			ck_assert_int_eq(whole.data[i + 1], '.');
			stuffed++;
		}
	}
	ck_assert_uint_eq(fw.wire_octets - fw.octets, stuffed);
	free(in);
	free(whole.data);
	free(cut.data);
}
END_TEST

/* One decision per octet, obviously right (as in the fuzz harness):
   what long runs of input, taken 16 octets at a time, must equal. */
static size_t model_run(bool *line_start, bool *prev_cr, const unsigned char *in,
			size_t len, unsigned char *out, size_t *stuffed)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (*line_start && in[i] == '.') {
			out[n++] = '.';
			(*stuffed)++;
		}
		if (in[i] == '\n' && !*prev_cr)
			out[n++] = '\r';
		out[n++] = in[i];
		*line_start = in[i] == '\n';
		*prev_cr = in[i] == '\r';
	}
	return n;
}

/* in through the filter in two pieces cut at cut (into an output of
   exactly POP3_FILTER_MAX_OUT of each piece, so a write past it shows
   under ASan), compared with the model. */
static void check_against_model(const unsigned char *in, size_t len, size_t cut)
{
	unsigned char *want = malloc(POP3_FILTER_MAX_OUT(len) + 5);
	unsigned char *a = malloc(POP3_FILTER_MAX_OUT(cut));
	unsigned char *b = malloc(POP3_FILTER_MAX_OUT(len - cut));
	bool line_start = true, prev_cr = false;
	struct pop3_filter f;
	size_t n_want, n_a, n_b, stuffed = 0;

	ck_assert(want != NULL && a != NULL && b != NULL);
	n_want = model_run(&line_start, &prev_cr, in, len, want, &stuffed);
	pop3_filter_init(&f);
	n_a = pop3_filter_run(&f, in, cut, a);
	n_b = pop3_filter_run(&f, in + cut, len - cut, b);
	ck_assert_msg(n_a + n_b == n_want && memcmp(a, want, n_a) == 0 &&
		      memcmp(b, want + n_a, n_b) == 0,
		      "%zu octets cut at %zu: got %zu octets, want %zu", len, cut,
		      n_a + n_b, n_want);
	ck_assert(f.line_start == line_start && f.prev_cr == prev_cr);
	ck_assert_uint_eq(f.wire_octets, n_want);
	ck_assert_uint_eq(f.octets, n_want - stuffed);
	free(want);
	free(a);
	free(b);
}

/*
 * Each octet that needs a decision (a dot starting a line, an LF with no
 * CR before it, and what looks like them: a dot after a CR, a CRLF) at
 * every place of a 16-octet block and on both sides of a cut between two
 * pieces: the octets around it are copied 16 at a time.
 */
START_TEST(test_long_runs_match_the_model)
{
	static const char *const due[] = {
		".", "\n", "\n.", "\r\n.", "\r\n", "\r.", "\r", "\n\n..", "\r\r\n\n",
	};
	unsigned char in[80];
	size_t len = sizeof(in);

	for (size_t at = 0; at + 4 < len; at++) {
		size_t n = strlen(due[_i]);

		memset(in, 'x', len);
		memcpy(in + at, due[_i], n);
		for (size_t cut = 0; cut <= len; cut++)
			check_against_model(in, len, cut);
	}
}
END_TEST

/* Random octets of the four that matter, long and short, cut anywhere. */
START_TEST(test_random_octets_match_the_model)
{
	static const unsigned char alphabet[] = { '\r', '\n', '.', 'x', 'x', 'x' };
	uint32_t seed = 0x5eed0000u + (uint32_t)_i;
	unsigned char in[300];

	for (int round = 0; round < 200; round++) {
		size_t len = rng_next(&seed) % sizeof(in);

		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rng_next(&seed) % sizeof(alphabet)];
		check_against_model(in, len, len == 0 ? 0 : rng_next(&seed) % (len + 1));
	}
}
END_TEST

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *pop3_filter_suite(void)
{
	Suite *s = suite_create("pop3_filter");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_loop_test(tc, test_filter_whole, 0, N_ELEMS(cases));
	tcase_add_loop_test(tc, test_filter_bytes, 0, N_ELEMS(cases));
	tcase_add_loop_test(tc, test_filter_random, 0, N_ELEMS(cases));
	tcase_add_loop_test(tc, test_filter_clean, 0, N_ELEMS(cases));
	tcase_add_test(tc, test_clean_stops_where_a_change_is_due);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_limit_reached);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_loop_test(tc, test_large_random_message, 0, 4);
	tcase_add_loop_test(tc, test_long_runs_match_the_model, 0, 9);
	tcase_add_loop_test(tc, test_random_octets_match_the_model, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pop3_filter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
