/* Fingerprint canonical form: the same message gives the same form however
   it was stored again; different messages differ. */
#include <check.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "header_fp.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *canon(const char *hdr, char *out)
{
	header_fp_canonical(hdr, strlen(hdr), out);
	return out;
}

static const char *const same[] = {
	"Message-ID: <a@b>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nFrom: X <x@y>\r\nSubject: hi there\r\n\r\n",
	"Message-ID: <a@b>\nDate: Tue, 14 Nov 2023 22:13:20 +0000\nFrom: X <x@y>\nSubject: hi there\n\n",
	"subject: hi   there\r\nfrom: X <x@y>\r\nmessage-id:<a@b>\r\ndate: Tue, 14 Nov 2023\r\n 22:13:20 +0000\r\n\r\n",
	"MESSAGE-ID:  <a@b>  \r\nDATE: Tue, 14 Nov 2023 22:13:20\t+0000\r\nFROM: X\r\n\t<x@y>\r\nSUBJECT: hi\r\n  there\r\n",
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nX-Other: ignored\r\nMessage-ID: <a@b>\r\nSubject: hi there\r\nFrom: X <x@y>\r\n",
};

START_TEST(same_message_same_form)
{
	char a[HEADER_FP_MAX + 1], b[HEADER_FP_MAX + 1];

	canon(same[0], a);
	ck_assert_str_eq(canon(same[_i], b), a);
	ck_assert_str_eq(a, "date:Tue, 14 Nov 2023 22:13:20 +0000\nfrom:X <x@y>\n"
			 "message-id:<a@b>\nsubject:hi there\n");
}
END_TEST

START_TEST(different_messages_differ)
{
	char a[HEADER_FP_MAX + 1], b[HEADER_FP_MAX + 1];

	canon("Message-ID: <a@b>\r\nSubject: x\r\n", a);
	ck_assert_str_ne(canon("Message-ID: <a@c>\r\nSubject: x\r\n", b), a);
	ck_assert_str_ne(canon("Message-ID: <a@b>\r\nSubject: y\r\n", b), a);
	ck_assert_str_ne(canon("Message-ID: <a@b>\r\n", b), a);
}
END_TEST

static const struct {
	const char *in;
	const char *out;
} edge[] = {
	{ "", "" },
	{ "\r\n", "" },
	{ "junk without colon\r\nSubject: s\r\n", "subject:s\n" },
	{ "Subject:\r\n", "" },
	{ "Subject:   \r\n", "" },
	{ ": no name\r\nFrom: f\r\n", "from:f\n" },
	{ "Subject: a\r\nSubject: b\r\n", "subject:a\nsubject:b\n" },
	{ "Subject: b\r\nSubject: a\r\n", "subject:a\nsubject:b\n" },
	{ "Subject: no line end", "subject:no line end\n" },
	{ "Subject: \xc3\xa9t\xc3\xa9\r\n", "subject:\xc3\xa9t\xc3\xa9\n" },
	{ " folded start\r\nSubject: s\r\n", "subject:s\n" },
	{ "Subjectx: s\r\nSubjec: t\r\n", "" },
};

START_TEST(edge_cases)
{
	char out[HEADER_FP_MAX + 1];

	ck_assert_str_eq(canon(edge[_i].in, out), edge[_i].out);
}
END_TEST

START_TEST(overlong_is_cut_and_stable)
{
	size_t n = 3 * HEADER_FP_MAX;
	char *big = malloc(n + 32), a[HEADER_FP_MAX + 1], b[HEADER_FP_MAX + 1];
	size_t la, lb;

	memcpy(big, "Subject: ", 9);
	memset(big + 9, 'x', n);
	memcpy(big + 9 + n, "\r\nFrom: f\r\n", 12);
	la = header_fp_canonical(big, strlen(big), a);
	lb = header_fp_canonical(big, strlen(big), b);
	ck_assert_uint_le(la, HEADER_FP_MAX);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(a, b, la);
	/* the short field survives a long one */
	ck_assert_ptr_nonnull(strstr(a, "from:f\n"));
	free(big);
}
END_TEST

START_TEST(many_fields_bounded)
{
	char hdr[8192], out[HEADER_FP_MAX + 1];
	size_t o = 0;

	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(hdr + o, sizeof(hdr) - o, "Subject: %d\r\n", i);
	ck_assert_uint_le(header_fp_canonical(hdr, o, out), HEADER_FP_MAX);
}
END_TEST

/* The Message-ID for matching an import: unfolded, trimmed. */
static const struct {
	const char *hdr;
	const char *want;    /* NULL: none */
} mids[] = {
	{ "Message-ID: <a@b>\r\n", "<a@b>" },
	{ "message-id:   <a@b>  \r\nSubject: x\r\n", "<a@b>" },
	{ "Subject: x\nMESSAGE-ID:\n <folded@b>\n", "<folded@b>" },
	{ "Message-ID: <a\r\n b@c>\r\n", "<a b@c>" },
	{ "Subject: Message-ID: <no@b>\r\n", NULL },
	{ "Message-ID:\r\n", NULL },
	{ "", NULL },
	{ "X-Message-ID: <x@b>\r\n", NULL },
};

START_TEST(message_id_table)
{
	char out[256];
	size_t n = header_fp_message_id(mids[_i].hdr, strlen(mids[_i].hdr), out, sizeof(out));

	if (mids[_i].want == NULL) {
		ck_assert_uint_eq(n, 0);
		return;
	}
	ck_assert_uint_eq(n, strlen(mids[_i].want));
	ck_assert_str_eq(out, mids[_i].want);
	/* too small a buffer: none, never a cut one */
	ck_assert_uint_eq(header_fp_message_id(mids[_i].hdr, strlen(mids[_i].hdr), out, n), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("header_fp");
	TCase *tc = tcase_create("canonical");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, same_message_same_form, 0, N(same));
	tcase_add_test(tc, different_messages_differ);
	tcase_add_loop_test(tc, edge_cases, 0, N(edge));
	tcase_add_test(tc, overlong_is_cut_and_stable);
	tcase_add_test(tc, many_fields_bounded);
	tcase_add_loop_test(tc, message_id_table, 0, N(mids));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
