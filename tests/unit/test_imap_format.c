/* Unit tests for the IMAP command builder imap_cmd_format() and the UID-set
   builder (imap_cmd.c): every string argument is quoted or a literal, never
   command syntax. */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_cmd.h"
#include "imap_format_check.h"

#define BYTES(s) (s), (sizeof(s) - 1)

struct format_case {
	const char *name;
	const char *arg;
	size_t len;
	bool plus, minus, utf8;
	bool want_literal;   /* else quoted */
	bool want_sync;
};

/* SELECT %b with each: the server must read back exactly arg. */
static const struct format_case format_cases[] = {
	{ "atom", BYTES("INBOX"), false, false, false, false, false },
	{ "space", BYTES("Deleted Items"), false, false, false, false, false },
	{ "empty", BYTES(""), false, false, false, false, false },
	{ "quote", BYTES("a\"b"), false, false, false, false, false },
	{ "backslash", BYTES("a\\b"), false, false, false, false, false },
	{ "both escapes", BYTES("\\\"\\\""), false, false, false, false, false },
	{ "literal marker", BYTES("{5}"), false, false, false, false, false },
	{ "syntax", BYTES("x) UID EXPUNGE 1:* (y"), false, false, false, false, false },
	{ "CR", BYTES("a\rb"), false, false, false, true, true },
	{ "LF", BYTES("a\nb"), false, false, false, true, true },
	{ "CRLF command", BYTES("x\r\nA2 DELETE INBOX"), false, false, false, true, true },
	{ "CRLF LITERAL+", BYTES("x\r\nA2 DELETE INBOX"), true, false, false, true, false },
	{ "CRLF LITERAL-", BYTES("x\r\ny"), false, true, false, true, false },
	{ "8-bit", BYTES("Gel\xc3\xb6scht"), false, false, false, true, true },
	{ "8-bit UTF8=ACCEPT", BYTES("Gel\xc3\xb6scht"), false, false, true, false, false },
	{ "control in quoted", BYTES("a\x01z\x7f"), false, false, false, false, false },
};

START_TEST(format_string_round_trip)
{
	const struct format_case *c = &format_cases[_i];
	struct imap_cmd_opts opts = { c->plus, c->minus, c->utf8 };
	struct imap_cmd_text cmd = { 0 };
	struct format_string got;
	const char *error = NULL, *why;
	size_t pos = strlen("A1 SELECT ");
	unsigned int part = 0;

	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", &opts, &error, "SELECT %b", c->arg,
					 c->len), 0);
	ck_assert_mem_eq(cmd.buf, "A1 SELECT ", pos);
	why = format_read_string(&cmd, &pos, &part, &got);
	ck_assert_msg(why == NULL, "%s: %s", c->name, why);
	ck_assert_msg(got.len == c->len && memcmp(got.data, c->arg, c->len) == 0,
		      "%s: read back %zu octets", c->name, got.len);
	ck_assert_msg(got.literal == c->want_literal, "%s: literal %d", c->name, got.literal);
	ck_assert_msg(got.sync == c->want_sync, "%s: sync %d", c->name, got.sync);
	ck_assert_uint_eq(cmd.len, pos + 2);
	ck_assert_mem_eq(cmd.buf + pos, "\r\n", 2);
	ck_assert_uint_eq(cmd.nparts, part + 1);
	ck_assert_uint_eq(cmd.part_end[cmd.nparts - 1], cmd.len);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(format_long_string_is_a_literal)
{
	struct imap_cmd_opts opts = { 0 };
	struct imap_cmd_text cmd = { 0 };
	struct format_string got;
	char *name = malloc(IMAP_QUOTED_MAX + 2);
	const char *error;
	size_t pos = strlen("A1 CREATE ");
	unsigned int part = 0;

	memset(name, 'x', IMAP_QUOTED_MAX + 1);
	name[IMAP_QUOTED_MAX + 1] = '\0';
	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", &opts, &error, "CREATE %s", name), 0);
	ck_assert_ptr_null(format_read_string(&cmd, &pos, &part, &got));
	ck_assert(got.literal && got.sync);
	ck_assert_uint_eq(got.len, IMAP_QUOTED_MAX + 1);
	name[IMAP_QUOTED_MAX] = '\0';
	pos = strlen("A1 CREATE ");
	part = 0;
	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", &opts, &error, "CREATE %s", name), 0);
	ck_assert_ptr_null(format_read_string(&cmd, &pos, &part, &got));
	ck_assert(!got.literal);
	free(name);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(format_numbers_sets_and_literal_directive)
{
	struct imap_cmd_opts opts = { .literal_plus = true };
	struct imap_cmd_text cmd = { 0 };
	const char *error;

	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", NULL, &error,
					 "UID FETCH %u BODY.PEEK[TEXT]<%U.%u>", 7u,
					 (uint64_t)1 << 40, 65536u), 0);
	ck_assert_str_eq(cmd.buf, "A1 UID FETCH 7 BODY.PEEK[TEXT]<1099511627776.65536>\r\n");
	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", NULL, &error, "UID MOVE %S %s",
					 "1:5,7,9:*", "Trash"), 0);
	ck_assert_str_eq(cmd.buf, "A1 UID MOVE 1:5,7,9:* \"Trash\"\r\n");
	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", NULL, &error, "X 100%%"), 0);
	ck_assert_str_eq(cmd.buf, "A1 X 100%\r\n");
	/* %L: a literal even for an atom; LITERAL+ makes it one part. */
	ck_assert_int_eq(imap_cmd_format(&cmd, "A1", &opts, &error, "LOGIN %L %L",
					 "bob", (size_t)3, "pw", (size_t)2), 0);
	ck_assert_str_eq(cmd.buf, "A1 LOGIN {3+}\r\nbob {2+}\r\npw\r\n");
	ck_assert_uint_eq(cmd.nparts, 1);
	imap_cmd_text_clear(&cmd);
}
END_TEST

struct refusal {
	const char *name;
	int which;
};

static const struct refusal refusals[] = {
	{ "NUL in %b", 0 },
	{ "NULL %s", 1 },
	{ "bad set", 2 },
	{ "empty set", 3 },
	{ "set with space", 4 },
	{ "control in format", 5 },
	{ "CR in format", 6 },
	{ "unknown directive", 7 },
	{ "empty %L", 8 },
	{ "bad tag", 9 },
	{ "too many literals", 10 },
	{ "empty format", 11 },
};

START_TEST(format_refuses)
{
	struct imap_cmd_text cmd = { 0 };
	const char *error = NULL;
	int ret = 0;

	switch (refusals[_i].which) {
	case 0:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "SELECT %b", "a\0b", (size_t)3);
		break;
	case 1:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "SELECT %s", (const char *)NULL);
		break;
	case 2:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "UID STORE %S", "1:2 X");
		break;
	case 3:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "UID STORE %S", "");
		break;
	case 4:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "UID STORE %S", "1,\r\n2");
		break;
	case 5:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "NOOP\x01");
		break;
	case 6:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "NOOP\r\nA2 LOGOUT");
		break;
	case 7:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "SELECT %d", 5);
		break;
	case 8:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "LOGIN %L %L", "", (size_t)0,
				      "p", (size_t)1);
		break;
	case 9:
		ret = imap_cmd_format(&cmd, "A 1", NULL, &error, "NOOP");
		break;
	case 10:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "X %L %L %L %L %L %L %L %L",
				      "a", (size_t)1, "a", (size_t)1, "a", (size_t)1, "a", (size_t)1,
				      "a", (size_t)1, "a", (size_t)1, "a", (size_t)1, "a", (size_t)1);
		break;
	case 11:
		ret = imap_cmd_format(&cmd, "A1", NULL, &error, "");
		break;
	}
	ck_assert_msg(ret == -1, "%s: accepted", refusals[_i].name);
	ck_assert_ptr_nonnull(error);
	ck_assert_uint_eq(cmd.len, 0);
	imap_cmd_text_clear(&cmd);
}
END_TEST

START_TEST(uid_set_compacts_and_splits)
{
	static const uint32_t uids[] = { 1, 2, 3, 5, 7, 8, 4294967294u, 4294967295u };
	char buf[64];
	size_t next;

	next = imap_cmd_uid_set(uids, 8, 0, buf, sizeof(buf), 40);
	ck_assert_uint_eq(next, 8);
	ck_assert_str_eq(buf, "1:3,5,7:8,4294967294:4294967295");
	next = imap_cmd_uid_set(uids, 8, 3, buf, sizeof(buf), 40);
	ck_assert_str_eq(buf, "5,7:8,4294967294:4294967295");
	/* At most about max_len: the rest is left for the next command. */
	next = imap_cmd_uid_set(uids, 8, 0, buf, sizeof(buf), 4);
	ck_assert_str_eq(buf, "1:3,5");
	ck_assert_uint_eq(next, 4);
	/* The range that crosses max_len is still written whole. */
	next = imap_cmd_uid_set(uids, 8, next, buf, sizeof(buf), 4);
	ck_assert_str_eq(buf, "7:8,4294967294:4294967295");
	ck_assert_uint_eq(next, 8);
	ck_assert_uint_eq(imap_cmd_uid_set(uids, 8, 8, buf, sizeof(buf), 40), 8);
	ck_assert_str_eq(buf, "");
}
END_TEST

/* Every UID of a long list ends up in exactly one chunk. */
START_TEST(uid_set_chunks_cover_everything)
{
	enum { N = 20000 };
	uint32_t *uids = malloc(N * sizeof(*uids));
	char buf[IMAP_UID_SET_MAX + 32];
	size_t start = 0, chunks = 0;

	for (size_t i = 0; i < N; i++)
		uids[i] = (uint32_t)(i * 2 + (i % 7 == 0));
	while (start < N) {
		size_t next = imap_cmd_uid_set(uids, N, start, buf, sizeof(buf), IMAP_UID_SET_MAX);

		ck_assert_uint_gt(next, start);
		ck_assert_uint_le(strlen(buf), IMAP_UID_SET_MAX + 24);
		start = next;
		chunks++;
	}
	ck_assert_uint_gt(chunks, 1);
	free(uids);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imap_format");
	TCase *tc = tcase_create("format");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, format_string_round_trip, 0,
			    (int)(sizeof(format_cases) / sizeof(format_cases[0])));
	tcase_add_test(tc, format_long_string_is_a_literal);
	tcase_add_test(tc, format_numbers_sets_and_literal_directive);
	tcase_add_loop_test(tc, format_refuses, 0,
			    (int)(sizeof(refusals) / sizeof(refusals[0])));
	tcase_add_test(tc, uid_set_compacts_and_splits);
	tcase_add_test(tc, uid_set_chunks_cover_everything);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
