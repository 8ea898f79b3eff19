/* uidl.c: the uidl_format parser (an adversarial table), the forms
   applied, Dovecot's header MD5 input, and uniqueness in a maildrop. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uidl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the parser ---- */

static const struct {
	const char *in;
	int ok;
	enum uidl_kind kind;
	unsigned int needs;
} formats[] = {
	{ "dovecot", 1, UIDL_DOVECOT, 0 },
	{ "DoveCot", 1, UIDL_DOVECOT, 0 },
	{ "gmail", 1, UIDL_GMAIL, UIDL_NEED_GMID },
	{ "%08Xu%08Xv", 1, UIDL_TEMPLATE, 0 },
	{ "%v.%u", 1, UIDL_TEMPLATE, 0 },
	{ "%m", 1, UIDL_TEMPLATE, UIDL_NEED_MD5 },
	{ "%g", 1, UIDL_TEMPLATE, UIDL_NEED_GUID },
	{ "x%%%u", 1, UIDL_TEMPLATE, 0 },
	{ "%u%m%g", 1, UIDL_TEMPLATE, UIDL_NEED_MD5 | UIDL_NEED_GUID },
	{ "%5u", 1, UIDL_TEMPLATE, 0 },
	{ "", 0, 0, 0 },
	{ "%v", 0, 0, 0 },                 /* the same for every message */
	{ "abc", 0, 0, 0 },
	{ "%%", 0, 0, 0 },
	{ "%", 0, 0, 0 },
	{ "%u%", 0, 0, 0 },
	{ "%0", 0, 0, 0 },
	{ "%08X", 0, 0, 0 },
	{ "%q", 0, 0, 0 },
	{ "%f", 0, 0, 0 },                 /* maildir file names: not over IMAP */
	{ "%08m", 0, 0, 0 },
	{ "%Xg", 0, 0, 0 },
	{ "%999u", 0, 0, 0 },
	{ "%071u", 0, 0, 0 },
	{ "% u", 0, 0, 0 },
	{ "%u %v", 0, 0, 0 },
	{ "%u\t", 0, 0, 0 },
	{ "%u\x7f", 0, 0, 0 },
	{ "%u\xc3\xa9", 0, 0, 0 },
	{ "%u%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%", 0, 0, 0 },
};

START_TEST(format_table)
{
	struct uidl_format f;
	const char *error = NULL;
	int r = uidl_format_parse(formats[_i].in, strlen(formats[_i].in), &f, &error);

	ck_assert_msg((r == 0) == (formats[_i].ok != 0), "%s: %d (%s)", formats[_i].in, r,
		      error != NULL ? error : "");
	if (r == 0) {
		ck_assert_int_eq(f.kind, formats[_i].kind);
		ck_assert_uint_eq(f.needs, formats[_i].needs);
	} else {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(format_with_a_nul_is_refused)
{
	struct uidl_format f;
	const char *error;

	ck_assert_int_eq(uidl_format_parse("%u\0x", 4, &f, &error), -1);
	ck_assert_int_eq(uidl_format_parse("dovecot\0", 8, &f, &error), -1);
}
END_TEST

/* ---- applied ---- */

static const char *apply(const char *fmt, const struct uidl_input *in, char *buf)
{
	struct uidl_format f;
	const char *error;

	ck_assert_int_eq(uidl_format_parse(fmt, strlen(fmt), &f, &error), 0);
	return uidl_format_apply(&f, in, buf) > 0 ? buf : NULL;
}

START_TEST(forms_applied)
{
	struct uidl_input in = { .uid = 0x1a, .uidvalidity = 1700000000u,
				 .md5 = "0123456789abcdef0123456789abcdef",
				 .guid = "c8a5a52ac2b3e165ee1b000011223344",
				 .gmid = 1278455344230334865ull };
	char buf[UIDL_LEN + 1];

	ck_assert_str_eq(apply("dovecot", &in, buf), "0000001a6553f100");
	/* Dovecot's own default: X is lower-case hex there too. */
	ck_assert_str_eq(apply("%08Xu%08Xv", &in, buf), "0000001a6553f100");
	ck_assert_str_eq(apply("%v.%u", &in, buf), "1700000000.26");
	ck_assert_str_eq(apply("%u-%m", &in, buf), "26-0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(apply("%g", &in, buf), "c8a5a52ac2b3e165ee1b000011223344");
	ck_assert_str_eq(apply("%Xu%%", &in, buf), "1a%");
	/* A width without 0 cuts, as Dovecot's var_expand does. */
	ck_assert_str_eq(apply("%3v-%u", &in, buf), "170-26");
	ck_assert_str_eq(apply("gmail", &in, buf), "GmailId11bdfc5cae0c8191");
}
END_TEST

START_TEST(forms_that_cannot_be_applied)
{
	struct uidl_input in = { .uid = 7, .uidvalidity = 9 };
	char buf[UIDL_LEN + 1];

	ck_assert_ptr_null(apply("%m", &in, buf));         /* no MD5 */
	ck_assert_ptr_null(apply("%g", &in, buf));         /* no X-GUID */
	in.guid = "";
	ck_assert_ptr_null(apply("%g", &in, buf));
	in.guid = "has space";
	ck_assert_ptr_null(apply("%g", &in, buf));         /* not a valid UIDL */
	ck_assert_ptr_null(apply("gmail", &in, buf));      /* no X-GM-MSGID */
	in.guid = "0123456789012345678901234567890123456789012345678901234567890123";
	ck_assert_ptr_null(apply("%g%070u", &in, buf));    /* longer than 70 */
	ck_assert_ptr_nonnull(apply("%070u", &in, buf));
	ck_assert_uint_eq(strlen(buf), 70);
}
END_TEST

/* ---- Dovecot's header MD5 input ---- */

static const struct {
	const char *hdr;
	const char *want;
} md5s[] = {
	/* Date and Message-ID only without a Received before them */
	{ "Date: Mon, 1 Jan 2024\r\nMessage-ID: <a@b>\r\nSubject: x\r\n\r\nbody",
	  "Mon, 1 Jan 2024<a@b>" },
	{ "Received: from a\r\n\tby b\r\nReceived: from c\r\nDate: d\r\nMessage-ID: <m>\r\n",
	  "from a\tby b" },
	{ "Date: d\r\nReceived: r\r\nMessage-ID: <m>\r\n", "dr" },
	/* every Delivered-To and X-Delivery-ID, any case, LF only */
	{ "delivered-to: a\nX-DELIVERY-ID: 1\nDelivered-To: b\n", "a1b" },
	{ "Subject: only\r\n\r\n", "" },
	{ "", "" },
	/* white space after the colon is not the value's; before it, the name's */
	{ "Date:   \t x\r\nMessage-ID :<y>\r\n", "x<y>" },
	/* the body is not the header */
	{ "Subject: s\r\n\r\nDate: not this\r\n", "" },
	/* a continuation of an ignored field, a line without colon */
	{ "Subject: s\r\n Date: no\r\ngarbage\r\n more\r\nDate: yes\r\n", "yes" },
	{ "Date: a\r\n b\r\n", "a b" },
	{ "Date: \r\n", "" },
	{ "\r\nDate: x\r\n", "" },
	{ "Date: x", "x" },
	{ "Date: x\rMessage-ID: y\r\n", "x\rMessage-ID: y" },
};

START_TEST(md5_input_table)
{
	char out[256];
	size_t n = uidl_md5_input(md5s[_i].hdr, strlen(md5s[_i].hdr), out, sizeof(out));

	ck_assert_uint_le(n, sizeof(out));
	ck_assert_uint_eq(n, strlen(md5s[_i].want));
	ck_assert_msg(memcmp(out, md5s[_i].want, n) == 0, "%d: %.*s", _i, (int)n, out);
}
END_TEST

START_TEST(md5_input_bounded)
{
	char out[16];
	const char hdr[] = "Date: 0123456789\r\n";

	ck_assert_uint_eq(uidl_md5_input(hdr, strlen(hdr), out, 8), 9);
	ck_assert_uint_eq(uidl_md5_input(hdr, strlen(hdr), out, 10), 10);
	ck_assert(memcmp(out, "0123456789", 10) == 0);
}
END_TEST

/* ---- uniqueness ---- */

static void slot(struct uidl_slot *s, uint32_t uid, bool fresh, const char *uidl)
{
	memset(s, 0, sizeof(*s));
	s->uid = uid;
	s->fresh = fresh;
	snprintf(s->uidl, sizeof(s->uidl), "%s", uidl);
}

START_TEST(unique_stored_keep_fresh_give_way)
{
	struct uidl_slot s[6];

	slot(&s[0], 1, false, "A");
	slot(&s[1], 2, true, "A");        /* a fresh one equal to a stored one */
	slot(&s[2], 3, false, "B");
	slot(&s[3], 4, false, "B");       /* two stored: the lower uid keeps it */
	slot(&s[4], 5, true, "C");
	slot(&s[5], 6, false, "");        /* none: left out */
	ck_assert_int_eq(uidl_unique(s, 6), 2);
	ck_assert_str_eq(s[0].uidl, "A");
	ck_assert_str_eq(s[1].uidl, "A.2");
	ck_assert(s[1].changed && !s[0].changed);
	ck_assert_str_eq(s[2].uidl, "B");
	ck_assert_str_eq(s[3].uidl, "B.4");
	ck_assert_str_eq(s[4].uidl, "C");
	ck_assert_str_eq(s[5].uidl, "");
	/* The same again: nothing left to change. */
	ck_assert_int_eq(uidl_unique(s, 6), 0);
}
END_TEST

START_TEST(unique_a_stored_one_beats_a_lower_fresh_one)
{
	struct uidl_slot s[2];

	slot(&s[0], 1, true, "X");
	slot(&s[1], 9, false, "X");
	ck_assert_int_eq(uidl_unique(s, 2), 1);
	ck_assert_str_eq(s[0].uidl, "X.1");
	ck_assert_str_eq(s[1].uidl, "X");
}
END_TEST

START_TEST(unique_suffix_taken_and_long)
{
	struct uidl_slot s[4];
	char long70[71];

	slot(&s[0], 1, false, "A");
	slot(&s[1], 2, false, "A.3");     /* the first choice of uid 3 is taken */
	slot(&s[2], 3, true, "A");
	slot(&s[3], 4, false, "A");
	ck_assert_int_eq(uidl_unique(s, 4), 2);
	ck_assert_str_eq(s[1].uidl, "A.3");
	ck_assert_str_eq(s[2].uidl, "A.3.1");
	ck_assert_str_eq(s[3].uidl, "A.4");

	memset(long70, 'z', 70);
	long70[70] = '\0';
	slot(&s[0], 1, false, long70);
	slot(&s[1], 0xffffffffu, true, long70);
	ck_assert_int_eq(uidl_unique(s, 2), 1);
	ck_assert_uint_eq(strlen(s[1].uidl), 70);
	ck_assert_str_eq(s[1].uidl + 61, ".ffffffff");
}
END_TEST

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

START_TEST(unique_many_equal_is_deterministic)
{
	enum { M = 500 };
	struct uidl_slot *a = calloc(M, sizeof(*a)), *b = calloc(M, sizeof(*b));
	char **sorted = calloc(M, sizeof(*sorted));
	long ca, cb;

	for (unsigned int i = 0; i < M; i++) {
		slot(&a[i], i + 1, i % 3 == 0, i % 7 == 0 ? "same" : "x");
		/* some taken already by what a rename would choose */
		if (i % 11 == 0)
			snprintf(a[i].uidl, sizeof(a[i].uidl), "x.%x", i + 2);
	}
	memcpy(b, a, M * sizeof(*a));
	ca = uidl_unique(a, M);
	cb = uidl_unique(b, M);
	ck_assert_int_ge(ca, M / 2);
	ck_assert_int_eq(ca, cb);
	for (unsigned int i = 0; i < M; i++) {
		ck_assert_str_eq(a[i].uidl, b[i].uidl);
		sorted[i] = a[i].uidl;
	}
	qsort(sorted, M, sizeof(*sorted), str_cmp);
	for (unsigned int i = 1; i < M; i++)
		ck_assert_str_ne(sorted[i - 1], sorted[i]);
	ck_assert_int_eq(uidl_unique(a, M), 0);
	free(a);
	free(b);
	free(sorted);
}
END_TEST

/* ---- a dump line ---- */

static const struct {
	const char *line;
	int r;
	const char *address, *uidl, *mid;
	unsigned long long size;
} dumps[] = {
	{ "alice@example.com 1a2b <m1@x> 1234", 0, "alice@example.com", "1a2b", "<m1@x>", 1234 },
	{ "  bob@x\tUID5-77 \t <m@x>   0  \r", 0, "bob@x", "UID5-77", "<m@x>", 0 },
	{ "a@b u <m> 9223372036854775807", 0, "a@b", "u", "<m>", 9223372036854775807ull },
	{ "", 1, NULL, NULL, NULL, 0 },
	{ "   \t ", 1, NULL, NULL, NULL, 0 },
	{ "# a comment", 1, NULL, NULL, NULL, 0 },
	{ "  # indented comment", 1, NULL, NULL, NULL, 0 },
	{ "\r", 1, NULL, NULL, NULL, 0 },
	{ "a@b u <m>", -1, NULL, NULL, NULL, 0 },
	{ "a@b u <m> 1 extra", -1, NULL, NULL, NULL, 0 },
	{ "a@b u <m> 9223372036854775808", -1, NULL, NULL, NULL, 0 },
	{ "a@b u <m> -1", -1, NULL, NULL, NULL, 0 },
	{ "a@b u <m> 12k", -1, NULL, NULL, NULL, 0 },
	{ "a@b u\x01v <m> 1", -1, NULL, NULL, NULL, 0 },
	{ "a@b u\x7f <m> 1", -1, NULL, NULL, NULL, 0 },
	{ "a@b \xc3\xa9 <m> 1", -1, NULL, NULL, NULL, 0 },
	{ "a@b 01234567890123456789012345678901234567890123456789012345678901234567890 <m> 1",
	  -1, NULL, NULL, NULL, 0 },
	{ "a@b 0123456789012345678901234567890123456789012345678901234567890123456789 <m> 1",
	  0, "a@b", "0123456789012345678901234567890123456789012345678901234567890123456789",
	  "<m>", 1 },
	{ "a@b u <m> 1\r\r", -1, NULL, NULL, NULL, 0 },
};

START_TEST(dump_table)
{
	struct uidl_dump_line l;
	const char *error = NULL;
	int r = uidl_dump_parse(dumps[_i].line, strlen(dumps[_i].line), &l, &error);

	ck_assert_msg(r == dumps[_i].r, "%s: %d (%s)", dumps[_i].line, r, error ? error : "");
	if (r == 0) {
		ck_assert_str_eq(l.address, dumps[_i].address);
		ck_assert_str_eq(l.uidl, dumps[_i].uidl);
		ck_assert_str_eq(l.message_id, dumps[_i].mid);
		ck_assert(l.size == dumps[_i].size);
	} else if (r < 0) {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(dump_nul_and_long_fields)
{
	struct uidl_dump_line l;
	const char *error;
	char line[1200];

	ck_assert_int_eq(uidl_dump_parse("a@b u\0 <m> 1", 13, &l, &error), -1);
	memset(line, 'a', sizeof(line));
	memcpy(line + 400, " u <m> 1", 8);
	ck_assert_int_eq(uidl_dump_parse(line, 408, &l, &error), -1);
	memcpy(line, "a@b u ", 6);
	memcpy(line + 1100, " 1", 2);
	ck_assert_int_eq(uidl_dump_parse(line, 1102, &l, &error), -1);
}
END_TEST

static Suite *uidl_suite(void)
{
	Suite *s = suite_create("uidl");
	TCase *tc = tcase_create("uidl");

	tcase_add_loop_test(tc, format_table, 0, N(formats));
	tcase_add_test(tc, format_with_a_nul_is_refused);
	tcase_add_test(tc, forms_applied);
	tcase_add_test(tc, forms_that_cannot_be_applied);
	tcase_add_loop_test(tc, md5_input_table, 0, N(md5s));
	tcase_add_test(tc, md5_input_bounded);
	tcase_add_test(tc, unique_stored_keep_fresh_give_way);
	tcase_add_test(tc, unique_a_stored_one_beats_a_lower_fresh_one);
	tcase_add_test(tc, unique_suffix_taken_and_long);
	tcase_add_test(tc, unique_many_equal_is_deterministic);
	tcase_add_loop_test(tc, dump_table, 0, N(dumps));
	tcase_add_test(tc, dump_nul_and_long_fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(uidl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
