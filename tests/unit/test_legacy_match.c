/* legacy_match.c and header_fp_migration(): which legacy message is which
   IMAP message (size first, then the header), and the header form that
   leaves out what old POP3 servers add. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header_fp.h"
#include "legacy_match.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NONE LEGACY_MATCH_NONE

static const char *form(const char *hdr)
{
	static char out[4096];

	header_fp_migration(hdr, strlen(hdr), out);
	return out;
}

static const struct {
	const char *a, *b;
	int same;
} headers[] = {
	/* The fields mbox-era servers add or rewrite do not count. */
	{ "From: a@x\r\nSubject: hi\r\n\r\n",
	  "Return-Path: <a@x>\r\nFrom: a@x\r\nStatus: RO\r\nX-Status: A\r\nSubject: hi\r\n"
	  "X-UIDL: 5d41402abc\r\nX-UID: 7\r\nX-IMAP: 1 2\r\nX-IMAPbase: 1 2\r\n"
	  "X-Keywords: $Junk\r\nContent-Length: 120\r\nX-Message-Flag: Follow up\r\n\r\n", 1 },
	{ "From: a@x\r\nSubject: hi\r\n", "FROM: a@x\r\nsubject:hi\r\n", 1 },
	{ "From: a@x\r\nSubject: hi there\r\n", "From: a@x\r\nSubject: hi\r\n\tthere\r\n", 1 },
	{ "From: a@x\nSubject: hi\n", "From: a@x\r\nSubject: hi  \r\n", 1 },
	{ "Subject: caf\xc3\xa9\r\n", "Subject: caf??\r\n", 1 },
	{ "From: a@x\r\n\r\nbody: not header\r\n", "From: a@x\r\n", 1 },
	{ "Subject : hi\r\n", "Subject: hi\r\n", 1 },
	/* Real differences count. */
	{ "From: a@x\r\nSubject: hi\r\n", "From: b@x\r\nSubject: hi\r\n", 0 },
	{ "From: a@x\r\nSubject: hi\r\n", "Subject: hi\r\nFrom: a@x\r\n", 0 },
	{ "From: a@x\r\n", "From: a@x\r\nX-Spam: yes\r\n", 0 },
	{ "Received: by a\r\n", "Received: by b\r\n", 0 },
	/* A skipped field's folded lines are skipped with it. */
	{ "From: a@x\r\n", "From: a@x\r\nStatus: RO\r\n  continued\r\n", 1 },
	{ "X-UIDLS: 1\r\n", "", 0 },
};

START_TEST(header_form_table)
{
	char a[4096];

	snprintf(a, sizeof(a), "%s", form(headers[_i].a));
	ck_assert_msg((strcmp(a, form(headers[_i].b)) == 0) == (headers[_i].same != 0),
		      "%d: \"%s\" vs \"%s\"", _i, a, form(headers[_i].b));
}
END_TEST

START_TEST(header_form_shape)
{
	static const char in[] = "From: A <a@x>\r\nStatus: RO\r\nSubject: Hello\r\n World\r\n"
				 "no colon line\r\n\r\nX: body\r\n";
	char out[sizeof(in) + 2];
	size_t n = header_fp_migration(in, strlen(in), out);

	ck_assert_str_eq(out, "from:A<a@x>\nsubject:HelloWorld\n");
	ck_assert_uint_eq(n, strlen(out));
	ck_assert_uint_eq(header_fp_migration("", 0, out), 0);
	ck_assert_uint_eq(header_fp_migration("Status: RO\r\n", 12, out), 0);
}
END_TEST

/* Worst case for the bound: no white space to drop, no line end. */
START_TEST(header_form_bounded)
{
	static const char *const ins[] = { "a:b", "a:", ":", "x:\n\ty", "a:b\n", "\n" };
	char out[64];

	for (size_t i = 0; i < N(ins); i++) {
		size_t len = strlen(ins[i]);

		memset(out, 'Z', sizeof(out));
		ck_assert_uint_le(header_fp_migration(ins[i], len, out) + 1, len + 2);
	}
}
END_TEST

struct case_ {
	const char *name;
	struct legacy_match_item old[6];
	size_t n_old;
	struct legacy_match_item new_items[6];
	size_t n_new;
	size_t want[6];
	size_t by_size;
};

static const struct case_ cases[] = {
	{ "same order, same sizes",
	  { { 10, "a" }, { 20, "b" }, { 30, "c" } }, 3,
	  { { 10, "a" }, { 20, "b" }, { 30, "c" } }, 3, { 0, 1, 2 }, 3 },
	{ "the old server added Status and X-UIDL: larger there, same header",
	  { { 10, "a" }, { 48, "b" } }, 2,
	  { { 10, "a" }, { 20, "b" } }, 2, { 0, 1 }, 1 },
	{ "same size, other header: no match by size alone",
	  { { 10, "a" } }, 1, { { 10, "z" } }, 1, { NONE }, 0 },
	{ "missing on the new side",
	  { { 10, "a" }, { 20, "b" }, { 30, "c" } }, 3,
	  { { 10, "a" }, { 30, "c" } }, 2, { 0, 2 }, 2 },
	{ "missing on the old side (new mail)",
	  { { 10, "a" } }, 1, { { 10, "a" }, { 99, "n" } }, 2, { 0, NONE }, 1 },
	{ "another order",
	  { { 30, "c" }, { 10, "a" }, { 20, "b" } }, 3,
	  { { 10, "a" }, { 20, "b" }, { 30, "c" } }, 3, { 1, 2, 0 }, 3 },
	{ "duplicates pair in order, the size deciding first",
	  { { 10, "d" }, { 12, "d" }, { 10, "d" } }, 3,
	  { { 12, "d" }, { 10, "d" }, { 10, "d" } }, 3, { 1, 0, 2 }, 3 },
	{ "duplicates with other sizes: in order",
	  { { 50, "d" }, { 60, "d" } }, 2, { { 10, "d" }, { 11, "d" } }, 2, { 0, 1 }, 0 },
	{ "more duplicates on one side",
	  { { 10, "d" } }, 1, { { 10, "d" }, { 10, "d" } }, 2, { 0, NONE }, 1 },
	{ "no hash matches nothing, even of the same size",
	  { { 10, "" }, { 20, "b" } }, 2, { { 10, "" }, { 20, "b" } }, 2, { NONE, 1 }, 1 },
	{ "a size match never takes a message another needs by header",
	  { { 10, "a" }, { 20, "b" } }, 2, { { 20, "a" }, { 10, "b" } }, 2, { 0, 1 }, 0 },
	{ "empty sides", { { 0, NULL } }, 0, { { 0, NULL } }, 0, { NONE }, 0 },
	{ "no old messages", { { 0, NULL } }, 0, { { 1, "a" } }, 1, { NONE }, 0 },
};

START_TEST(match_table)
{
	const struct case_ *c = &cases[_i];
	size_t match[6], by_size = 99, pairs = 0, got;

	memset(match, 0x55, sizeof(match));
	got = legacy_match(c->old, c->n_old, c->new_items, c->n_new, match, &by_size);
	for (size_t j = 0; j < c->n_new; j++) {
		ck_assert_msg(match[j] == c->want[j], "%s: new %zu -> %zu, want %zu", c->name, j,
			      match[j], c->want[j]);
		pairs += match[j] != NONE;
	}
	ck_assert_uint_eq(got, pairs);
	ck_assert_msg(by_size == c->by_size, "%s: by size %zu, want %zu", c->name, by_size,
		      c->by_size);
}
END_TEST

/* Many messages, each old one larger by what the server added, in
   reverse order: every one found, each old one used once. */
START_TEST(match_many)
{
	enum { M = 5000 };
	struct legacy_match_item *old = calloc(M, sizeof(*old)), *nw = calloc(M, sizeof(*nw));
	char (*h)[16] = calloc(M, sizeof(*h));
	size_t *match = calloc(M, sizeof(*match)), by_size;
	unsigned char *used = calloc(M, 1);

	ck_assert_ptr_nonnull(used);
	for (size_t i = 0; i < M; i++) {
		snprintf(h[i], sizeof(h[i]), "%zx", i * 2654435761u);
		nw[i] = (struct legacy_match_item){ .size = 100 + i % 7, .hash = h[i] };
		old[M - 1 - i] = (struct legacy_match_item){ .size = 100 + i % 7 + (i % 3 == 0 ? 40 : 0),
							  .hash = h[i] };
	}
	ck_assert_uint_eq(legacy_match(old, M, nw, M, match, &by_size), M);
	for (size_t j = 0; j < M; j++) {
		ck_assert_uint_eq(match[j], M - 1 - j);
		ck_assert_int_eq(used[match[j]], 0);
		used[match[j]] = 1;
	}
	ck_assert_uint_eq(by_size, M - (M + 2) / 3);
	free(old);
	free(nw);
	free(h);
	free(match);
	free(used);
}
END_TEST

static Suite *legacy_match_suite(void)
{
	Suite *s = suite_create("legacy_match");
	TCase *tc = tcase_create("legacy_match");

	tcase_add_loop_test(tc, header_form_table, 0, N(headers));
	tcase_add_test(tc, header_form_shape);
	tcase_add_test(tc, header_form_bounded);
	tcase_add_loop_test(tc, match_table, 0, N(cases));
	tcase_add_test(tc, match_many);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(legacy_match_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
