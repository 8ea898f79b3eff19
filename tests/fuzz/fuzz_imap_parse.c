/*
 * libFuzzer harness for the incremental IMAP response scanner, with the
 * response-line interpreter run on everything it produces.
 *
 * Input: byte 0 picks the feed size (low 4 bits, plus one) and the most
 * octets handed to one feed (high 4 bits, 0 = no limit); byte 1 the line
 * limit (0 = 4096); the rest is the server's byte stream. The stream is
 * scanned whole and in pieces; both must give the same events (literal
 * data merged), and every literal must deliver exactly its size. Every
 * LINE and LITERAL_BEGIN line goes through imap_resp_parse and, for FETCH,
 * imap_fetch_parse (partial for LITERAL_BEGIN).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"
#include "imap_resp.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tbuf {
	char *s;
	size_t len;
	size_t cap;
};

static void tb_add(struct tbuf *t, const void *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		CHECK(t->s != NULL);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void tb_str(struct tbuf *t, const char *s)
{
	tb_add(t, s, strlen(s));
}

static void flush_data(struct tbuf *t, struct tbuf *d)
{
	if (d->len == 0)
		return;
	tb_str(t, "D ");
	tb_add(t, d->s, d->len);
	tb_str(t, "\n");
	d->len = 0;
}

/* p..p+n lies within line..line+len (or is the empty default ""). */
static void check_within(const char *line, size_t len, const char *p,
			 size_t n)
{
	if (p == NULL) {
		CHECK(n == 0);
		return;
	}
	if (p >= line && p <= line + len) {
		CHECK(n <= (size_t)(line + len - p));
		return;
	}
	/* Only the empty default may lie elsewhere. */
	CHECK(n == 0 && *p == '\0');
}

static void check_fetch(const char *items, size_t len, bool partial)
{
	struct imap_fetch f, g;
	const char *error = NULL;

	if (imap_fetch_parse(items, len, partial, &f, &error) < 0) {
		CHECK(error != NULL);
		return;
	}
	CHECK(memchr(f.body.section, '\0', sizeof(f.body.section)) != NULL);
	if (f.body.kind == IMAP_VALUE_QUOTED)
		check_within(items, len, f.body.value, f.body.value_len);
	CHECK(f.body_count > 0 || !f.ends_with_body_literal);
	if (partial)
		return;
	/* Whatever parses whole parses the same as a prefix. */
	CHECK(imap_fetch_parse(items, len, true, &g, &error) == 0);
	CHECK(g.uid == f.uid && g.size == f.size && g.flags == f.flags &&
	      g.body_count == f.body_count && !g.ends_with_body_literal);
}

static void check_line(const char *line, size_t len, bool partial)
{
	struct imap_resp r;
	const char *error = NULL, *args;
	size_t args_len;
	uint32_t num;

	CHECK(line[len] == '\0' && strlen(line) == len);
	if (imap_resp_parse(line, len, &r, &error) < 0) {
		CHECK(error != NULL);
		return;
	}
	check_within(line, len, r.tag, r.tag_len);
	check_within(line, len, r.keyword, r.keyword_len);
	check_within(line, len, r.code, r.code_len);
	check_within(line, len, r.text, r.text_len);
	check_within(line, len, r.rest, r.rest_len);
	(void)imap_caps_parse(r.rest, r.rest_len);
	if (imap_code_is(&r, "CAPABILITY", &args, &args_len)) {
		check_within(line, len, args, args_len);
		(void)imap_caps_parse(args, args_len);
	}
	(void)imap_code_number(&r, "UIDVALIDITY", &num);
	if (imap_resp_keyword_is(&r, "FETCH"))
		check_fetch(r.rest, r.rest_len, partial);
}

/* Scans in[0..len) as a read loop would; returns the transcript (it may
   hold NULs from literal data, hence *len_r). */
static char *run(const uint8_t *in, size_t len, size_t chunk, size_t max_line,
		 size_t data_max, bool interpret, size_t *len_r)
{
	struct imap_parser *p = imap_parser_new(max_line);
	struct tbuf t = { NULL, 0, 0 }, d = { NULL, 0, 0 };
	size_t off = 0, avail = 0;
	uint64_t lit_size = 0, lit_seen = 0;
	bool in_literal = false, failed = false;
	char num[32];

	CHECK(p != NULL);
	tb_str(&t, "");
	do {
		avail = chunk == 0 || len - avail <= chunk ? len : avail + chunk;
		while (!failed) {
			struct imap_parse_event ev;
			size_t n = avail - off, used = SIZE_MAX;
			enum imap_parse_result r;

			if (n > data_max)
				n = data_max;
			r = imap_parser_feed(p, in + off, n, &used, &ev);
			CHECK(used <= n);
			off += used;
			if (r == IMAP_PARSE_NEED_MORE) {
				CHECK(used == n);
				if (off < avail)
					continue;
				break;
			}
			if (r != IMAP_PARSE_LITERAL_DATA)
				flush_data(&t, &d);
			switch (r) {
			case IMAP_PARSE_LINE:
			case IMAP_PARSE_LITERAL_BEGIN:
				CHECK(!in_literal && ev.line_len <= max_line);
				if (interpret)
					check_line(ev.line, ev.line_len,
						   r == IMAP_PARSE_LITERAL_BEGIN);
				if (r == IMAP_PARSE_LITERAL_BEGIN) {
					in_literal = true;
					lit_size = ev.literal_size;
					lit_seen = 0;
					CHECK(lit_size <= IMAP_MAX_LITERAL);
					snprintf(num, sizeof(num), "B%llu ",
						 (unsigned long long)lit_size);
					tb_str(&t, num);
				} else {
					tb_str(&t, "L ");
				}
				tb_add(&t, ev.line, ev.line_len);
				tb_str(&t, "\n");
				break;
			case IMAP_PARSE_LITERAL_DATA:
				CHECK(in_literal && ev.data_len > 0 &&
				      ev.data_len == used &&
				      ev.data == in + off - used);
				lit_seen += ev.data_len;
				CHECK(lit_seen <= lit_size);
				CHECK(imap_parser_literal_left(p) ==
				      lit_size - lit_seen);
				tb_add(&d, ev.data, ev.data_len);
				break;
			case IMAP_PARSE_LITERAL_END:
				CHECK(in_literal && lit_seen == lit_size);
				in_literal = false;
				tb_str(&t, "E\n");
				break;
			case IMAP_PARSE_ERROR:
				CHECK(ev.error != NULL);
				tb_str(&t, "X ");
				tb_str(&t, ev.error);
				tb_str(&t, "\n");
				failed = true;
				break;
			default:
				abort();
			}
		}
	} while (!failed && avail < len);
	flush_data(&t, &d);
	free(d.s);
	imap_parser_free(&p);
	CHECK(p == NULL);
	*len_r = t.len;
	return t.s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk, data_max, max_line, whole_len, pieces_len;
	char *whole, *pieces;

	if (size < 2)
		return 0;
	chunk = (data[0] & 0x0f) + 1;
	data_max = data[0] >> 4 == 0 ? SIZE_MAX : (size_t)(data[0] >> 4);
	max_line = data[1] == 0 ? 4096 : data[1];

	whole = run(data + 2, size - 2, 0, max_line, SIZE_MAX, true,
		    &whole_len);
	pieces = run(data + 2, size - 2, chunk, max_line, data_max, false,
		     &pieces_len);
	CHECK(whole_len == pieces_len &&
	      memcmp(whole, pieces, whole_len) == 0);
	free(whole);
	free(pieces);
	return 0;
}
