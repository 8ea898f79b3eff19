/* Unit tests for the POP3 command-line scanner and parser. */

#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_parse.h"

/* Byte strings may hold NUL, so the tables carry explicit lengths. */
#define BYTES(s) (s), (sizeof(s) - 1)

struct scan_result {
	enum pop3_parse_status status;
	size_t consumed;		/* over all feeds */
	size_t len;
	char line[POP3_MAX_AUTH_LINE + 1];
};

/*
 * Feeds in[0..len) in pieces of `chunk` octets (0: all at once) until the
 * scanner stops wanting more, the way a read loop would.
 */
static void scan_one(struct pop3_scanner *s, const char *in, size_t len,
		     size_t chunk, struct scan_result *r)
{
	size_t pos = 0;

	r->status = POP3_PARSE_NEED_MORE;
	r->consumed = 0;
	r->len = 0;
	r->line[0] = '\0';
	do {
		size_t n = len - pos, consumed = 12345;
		const char *error = NULL;

		if (chunk != 0 && n > chunk)
			n = chunk;
		r->status = pop3_scanner_feed(s, (const unsigned char *)in + pos,
					      n, &consumed, &error);
		ck_assert_uint_le(consumed, n);
		pos += consumed;
		if (r->status == POP3_PARSE_ERROR) {
			ck_assert_ptr_nonnull(error);
		} else if (r->status == POP3_PARSE_NEED_MORE) {
			ck_assert_uint_eq(consumed, n);
		}
	} while (r->status == POP3_PARSE_NEED_MORE && pos < len);
	r->consumed = pos;
	if (r->status == POP3_PARSE_OK) {
		r->len = s->len;
		memcpy(r->line, s->buf, s->len + 1);
	}
}

struct scan_case {
	const char *in;
	size_t len;
	size_t max;
	enum pop3_parse_status status;
	const char *line;	/* for OK */
	size_t consumed;
};

static const struct scan_case scan_cases[] = {
	{ BYTES("STAT\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "STAT", 6 },
	{ BYTES("STAT\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "STAT", 5 },
	{ BYTES("USER alice\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK,
	  "USER alice", 12 },
	{ BYTES("PASS s e c r e t \r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK,
	  "PASS s e c r e t ", 19 },
	{ BYTES("PASS p\xc3\xa4ss\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK,
	  "PASS p\xc3\xa4ss", 12 },
	{ BYTES("\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "", 2 },
	{ BYTES("\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "", 1 },
	{ BYTES("\nSTAT\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "", 1 },
	{ BYTES("STAT\r\nLIST\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK,
	  "STAT", 6 },
	{ BYTES("STAT\nLIST\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "STAT", 5 },
	{ BYTES("LIST\t1\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_OK, "LIST\t1", 8 },
	{ BYTES(""), POP3_MAX_CMD_LINE, POP3_PARSE_NEED_MORE, NULL, 0 },
	{ BYTES("STAT"), POP3_MAX_CMD_LINE, POP3_PARSE_NEED_MORE, NULL, 4 },
	{ BYTES("STAT\r"), POP3_MAX_CMD_LINE, POP3_PARSE_NEED_MORE, NULL, 5 },
	{ BYTES("\r"), POP3_MAX_CMD_LINE, POP3_PARSE_NEED_MORE, NULL, 1 },
	/* NUL anywhere, including first and right before the line end. */
	{ BYTES("ST\0AT\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 3 },
	{ BYTES("\0\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 1 },
	{ BYTES("STAT\0\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 5 },
	/* Bare CR: detected at the octet after it. */
	{ BYTES("ST\rAT\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 4 },
	{ BYTES("STAT\r\r\n"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 6 },
	{ BYTES("\r\r"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 2 },
	{ BYTES("STAT\r\0"), POP3_MAX_CMD_LINE, POP3_PARSE_ERROR, NULL, 6 },
	/* Limit clamped up to 2: an empty line still fits. */
	{ BYTES("\r\n"), 0, POP3_PARSE_OK, "", 2 },
	{ BYTES("a\n"), 0, POP3_PARSE_OK, "a", 2 },
	{ BYTES("ab\n"), 0, POP3_PARSE_ERROR, NULL, 2 },
};

START_TEST(test_scan_table)
{
	const struct scan_case *c = &scan_cases[_i];
	static const size_t chunks[] = { 0, 1, 2, 3, 7 };
	struct pop3_scanner s;
	struct scan_result r;
	size_t k;

	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		pop3_scanner_init(&s, c->max);
		scan_one(&s, c->in, c->len, chunks[k], &r);
		ck_assert_msg(r.status == c->status,
			      "case %d chunk %zu: status %d, want %d", _i,
			      chunks[k], r.status, c->status);
		ck_assert_uint_eq(r.consumed, c->consumed);
		if (c->status == POP3_PARSE_OK) {
			ck_assert_uint_eq(r.len, strlen(c->line));
			ck_assert_mem_eq(r.line, c->line, r.len + 1);
		}
	}
}
END_TEST

/* A line of `content` filler octets followed by `eol`. */
static char *make_line(size_t content, const char *eol, size_t *len_r)
{
	size_t eol_len = strlen(eol);
	char *line = malloc(content + eol_len + 1);
	size_t i;

	ck_assert_ptr_nonnull(line);
	memcpy(line, "AUTH ", content < 5 ? content : 5);
	for (i = 5; i < content; i++)
		line[i] = (char)('A' + i % 26);
	memcpy(line + content, eol, eol_len + 1);
	*len_r = content + eol_len;
	return line;
}

struct length_case {
	size_t max;
	size_t content;
	const char *eol;
	enum pop3_parse_status status;
	size_t consumed;	/* for ERROR */
};

/*
 * The limit counts the line end actually sent: 255 octets with CRLF is the
 * last accepted length, 256 is rejected as soon as the CR shows there is no
 * room, and a bare-LF line may use the octet the CR would have taken.
 */
static const struct length_case length_cases[] = {
	{ POP3_MAX_CMD_LINE, 252, "\r\n", POP3_PARSE_OK, 0 },
	{ POP3_MAX_CMD_LINE, 253, "\r\n", POP3_PARSE_OK, 0 },
	{ POP3_MAX_CMD_LINE, 254, "\r\n", POP3_PARSE_ERROR, 255 },
	{ POP3_MAX_CMD_LINE, 300, "\r\n", POP3_PARSE_ERROR, 255 },
	{ POP3_MAX_CMD_LINE, 254, "\n", POP3_PARSE_OK, 0 },
	{ POP3_MAX_CMD_LINE, 255, "\n", POP3_PARSE_ERROR, 255 },
	{ POP3_MAX_CMD_LINE, 1000, "\r\n", POP3_PARSE_ERROR, 255 },
	{ POP3_MAX_AUTH_LINE, 1000, "\r\n", POP3_PARSE_OK, 0 },
	{ POP3_MAX_AUTH_LINE, 2046, "\r\n", POP3_PARSE_OK, 0 },
	{ POP3_MAX_AUTH_LINE, 2047, "\r\n", POP3_PARSE_ERROR, 2048 },
	{ POP3_MAX_AUTH_LINE, 2047, "\n", POP3_PARSE_OK, 0 },
	{ POP3_MAX_AUTH_LINE, 2048, "\n", POP3_PARSE_ERROR, 2048 },
	/* Asking for more than the buffer holds is clamped. */
	{ 100000, 2047, "\r\n", POP3_PARSE_ERROR, 2048 },
	{ 10, 9, "\r\n", POP3_PARSE_ERROR, 10 },
	{ 10, 8, "\r\n", POP3_PARSE_OK, 0 },
};

START_TEST(test_scan_lengths)
{
	const struct length_case *c = &length_cases[_i];
	struct pop3_scanner s;
	struct scan_result whole, bytewise;
	size_t len;
	char *line = make_line(c->content, c->eol, &len);

	pop3_scanner_init(&s, c->max);
	scan_one(&s, line, len, 0, &whole);
	pop3_scanner_init(&s, c->max);
	scan_one(&s, line, len, 1, &bytewise);

	ck_assert_int_eq(whole.status, c->status);
	ck_assert_int_eq(bytewise.status, c->status);
	if (c->status == POP3_PARSE_OK) {
		ck_assert_uint_eq(whole.consumed, len);
		ck_assert_uint_eq(whole.len, c->content);
		ck_assert_mem_eq(whole.line, line, c->content);
		ck_assert_int_eq(whole.line[c->content], '\0');
	} else {
		ck_assert_uint_eq(whole.consumed, c->consumed);
	}
	ck_assert_uint_eq(bytewise.consumed, whole.consumed);
	ck_assert_uint_eq(bytewise.len, whole.len);
	ck_assert_mem_eq(bytewise.line, whole.line, whole.len + 1);
	free(line);
}
END_TEST

START_TEST(test_scan_pipelined)
{
	static const char in[] = "STAT\r\nLIST\r\n";
	struct pop3_scanner s;
	size_t consumed;
	const char *error;

	pop3_scanner_init(&s, POP3_MAX_CMD_LINE);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)in, 12,
					   &consumed, &error), POP3_PARSE_OK);
	ck_assert_uint_eq(consumed, 6);
	ck_assert_str_eq(s.buf, "STAT");
	ck_assert_uint_eq(s.len, 4);

	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)in + 6,
					   6, &consumed, &error),
			 POP3_PARSE_OK);
	ck_assert_uint_eq(consumed, 6);
	ck_assert_str_eq(s.buf, "LIST");

	/* Nothing left: the finished line is dropped, nothing new starts. */
	ck_assert_int_eq(pop3_scanner_feed(&s, NULL, 0, &consumed, &error),
			 POP3_PARSE_NEED_MORE);
	ck_assert_uint_eq(consumed, 0);
	ck_assert_uint_eq(s.len, 0);
}
END_TEST

START_TEST(test_scan_pipelined_partial)
{
	static const char in[] = "USER a\nPASS b c\r\nST";
	struct pop3_scanner s;
	size_t consumed, pos = 0;
	const char *error;

	pop3_scanner_init(&s, POP3_MAX_CMD_LINE);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)in,
					   sizeof(in) - 1, &consumed, &error),
			 POP3_PARSE_OK);
	ck_assert_str_eq(s.buf, "USER a");
	pos += consumed;
	ck_assert_uint_eq(pos, 7);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)in + pos,
					   sizeof(in) - 1 - pos, &consumed,
					   &error), POP3_PARSE_OK);
	ck_assert_str_eq(s.buf, "PASS b c");
	pos += consumed;
	ck_assert_uint_eq(pos, 17);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)in + pos,
					   sizeof(in) - 1 - pos, &consumed,
					   &error), POP3_PARSE_NEED_MORE);
	ck_assert_uint_eq(consumed, 2);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)"AT\r\n",
					   4, &consumed, &error),
			 POP3_PARSE_OK);
	ck_assert_uint_eq(consumed, 4);
	ck_assert_str_eq(s.buf, "STAT");
}
END_TEST

START_TEST(test_scan_after_error)
{
	struct pop3_scanner s;
	size_t consumed;
	const char *error = NULL;

	pop3_scanner_init(&s, POP3_MAX_CMD_LINE);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)"A\0B\r\n",
					   5, &consumed, &error),
			 POP3_PARSE_ERROR);
	ck_assert_uint_eq(consumed, 2);
	ck_assert_str_eq(error, "NUL in command line");
	/* The scanner is reset; error_r may be NULL. */
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(pop3_scanner_feed(&s, (const unsigned char *)"QUIT\r\n",
					   6, &consumed, NULL),
			 POP3_PARSE_OK);
	ck_assert_str_eq(s.buf, "QUIT");
}
END_TEST

START_TEST(test_scan_set_max)
{
	struct pop3_scanner s;
	struct scan_result r;
	size_t len;
	char *line = make_line(600, "\r\n", &len);

	pop3_scanner_init(&s, POP3_MAX_CMD_LINE);
	ck_assert_uint_eq(s.max_len, POP3_MAX_CMD_LINE);
	scan_one(&s, BYTES("AUTH PLAIN\r\n"), 0, &r);
	ck_assert_int_eq(r.status, POP3_PARSE_OK);

	/* The AUTH continuation line may be longer ... */
	pop3_scanner_set_max(&s, POP3_MAX_AUTH_LINE);
	scan_one(&s, line, len, 0, &r);
	ck_assert_int_eq(r.status, POP3_PARSE_OK);
	ck_assert_uint_eq(r.len, 600);

	/* ... the next command is not. */
	pop3_scanner_set_max(&s, POP3_MAX_CMD_LINE);
	scan_one(&s, line, len, 0, &r);
	ck_assert_int_eq(r.status, POP3_PARSE_ERROR);

	pop3_scanner_init(&s, 1000000);
	ck_assert_uint_eq(s.max_len, POP3_MAX_AUTH_LINE);
	free(line);
}
END_TEST

/* Deterministic generator so failures reproduce. */
static uint32_t rng_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

struct stream_event {
	enum pop3_parse_status status;
	size_t end;		/* input offset after the event */
	char line[POP3_MAX_CMD_LINE];
};

/*
 * Runs a whole stream through the scanner in pieces of `chunk` octets
 * (0: each feed gets all remaining input) and records every OK/ERROR.
 */
static size_t scan_stream(const unsigned char *in, size_t len, size_t chunk,
			  struct stream_event *ev, size_t max_ev)
{
	struct pop3_scanner s;
	size_t pos = 0, n_ev = 0;

	pop3_scanner_init(&s, 40);
	while (pos < len && n_ev < max_ev) {
		size_t n = len - pos, consumed;
		enum pop3_parse_status st;

		if (chunk != 0 && n > chunk)
			n = chunk;
		st = pop3_scanner_feed(&s, in + pos, n, &consumed, NULL);
		pos += consumed;
		if (st == POP3_PARSE_NEED_MORE)
			continue;
		ev[n_ev].status = st;
		ev[n_ev].end = pos;
		ev[n_ev].line[0] = '\0';
		if (st == POP3_PARSE_OK)
			memcpy(ev[n_ev].line, s.buf, s.len + 1);
		n_ev++;
	}
	return n_ev;
}

/* Random streams of CR, LF, NUL, space and letters: byte-at-a-time feeding
   must see exactly the events that whole-buffer feeding sees. */
START_TEST(test_scan_random_bytewise)
{
	static const unsigned char alphabet[] = "\r\n\r\n \0abcdSTAT";
	uint32_t seed = 0x5eed0000u + (uint32_t)_i;
	unsigned char in[200];
	struct stream_event whole[200], bytewise[200], chunked[200];
	size_t len, i, n_whole, n_byte, n_chunk;

	len = rng_next(&seed) % sizeof(in);
	for (i = 0; i < len; i++)
		in[i] = alphabet[rng_next(&seed) % (sizeof(alphabet) - 1)];
	n_whole = scan_stream(in, len, 0, whole, 200);
	n_byte = scan_stream(in, len, 1, bytewise, 200);
	n_chunk = scan_stream(in, len, 1 + rng_next(&seed) % 9, chunked, 200);
	ck_assert_uint_eq(n_whole, n_byte);
	ck_assert_uint_eq(n_whole, n_chunk);
	for (i = 0; i < n_whole; i++) {
		ck_assert_int_eq(whole[i].status, bytewise[i].status);
		ck_assert_uint_eq(whole[i].end, bytewise[i].end);
		ck_assert_str_eq(whole[i].line, bytewise[i].line);
		ck_assert_int_eq(whole[i].status, chunked[i].status);
		ck_assert_uint_eq(whole[i].end, chunked[i].end);
		ck_assert_str_eq(whole[i].line, chunked[i].line);
	}
}
END_TEST

struct cmd_case {
	const char *line;
	size_t len;
	int ret;
	const char *name;
	unsigned int argc;
	const char *argv[POP3_MAX_ARGS];
	const char *rest;
	bool too_many;
};

static const struct cmd_case cmd_cases[] = {
	{ BYTES("STAT"), 0, "STAT", 0, { NULL }, "", false },
	{ BYTES("stat"), 0, "STAT", 0, { NULL }, "", false },
	{ BYTES("LiSt 1"), 0, "LIST", 1, { "1" }, "1", false },
	{ BYTES("TOP 1 10"), 0, "TOP", 2, { "1", "10" }, "1 10", false },
	{ BYTES("PASS my secret pass"), 0, "PASS", 3,
	  { "my", "secret", "pass" }, "my secret pass", false },
	{ BYTES("PASS  lead and trail "), 0, "PASS", 3,
	  { "lead", "and", "trail" }, " lead and trail ", false },
	{ BYTES("LIST  1   2"), 0, "LIST", 2, { "1", "2" }, " 1   2", false },
	{ BYTES("LIST 1 "), 0, "LIST", 1, { "1" }, "1 ", false },
	{ BYTES("NOOP "), 0, "NOOP", 0, { NULL }, "", false },
	{ BYTES("NOOP   "), 0, "NOOP", 0, { NULL }, "  ", false },
	{ BYTES("UIDL a b c d"), 0, "UIDL", 4, { "a", "b", "c", "d" },
	  "a b c d", false },
	{ BYTES("UIDL a b c d e"), 0, "UIDL", 4, { "a", "b", "c", "d" },
	  "a b c d e", true },
	{ BYTES("USER a b c d e f g h"), 0, "USER", 4, { "a", "b", "c", "d" },
	  "a b c d e f g h", true },
	{ BYTES("AUTH PLAIN"), 0, "AUTH", 1, { "PLAIN" }, "PLAIN", false },
	{ BYTES("USER alice@example.com#office-pc"), 0, "USER", 1,
	  { "alice@example.com#office-pc" }, "alice@example.com#office-pc",
	  false },
	{ BYTES("PASS p\xc3\xa4ss\tword"), 0, "PASS", 1,
	  { "p\xc3\xa4ss\tword" }, "p\xc3\xa4ss\tword", false },
	{ BYTES(""), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES(" "), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("ST"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("ST 1"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("STATS"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("STATUS now"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("ST1T"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("ST-T"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("S T A T"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES(" STAT"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("\tSTAT"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("STAT\t1"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("\xc3\x84" "BC"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("123"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("ST\0T"), -1, NULL, 0, { NULL }, NULL, false },
	{ BYTES("PASS a\0b"), -1, NULL, 0, { NULL }, NULL, false },
};

START_TEST(test_cmd_table)
{
	const struct cmd_case *c = &cmd_cases[_i];
	struct pop3_cmd *cmd = malloc(sizeof(*cmd));
	const char *error = NULL;
	unsigned int k;

	ck_assert_ptr_nonnull(cmd);
	ck_assert_int_eq(pop3_cmd_parse(c->line, c->len, cmd, &error),
			 c->ret);
	if (c->ret < 0) {
		ck_assert_ptr_nonnull(error);
		free(cmd);
		return;
	}
	ck_assert_str_eq(cmd->name, c->name);
	ck_assert_uint_eq(cmd->argc, c->argc);
	for (k = 0; k < c->argc; k++)
		ck_assert_str_eq(cmd->argv[k], c->argv[k]);
	ck_assert_str_eq(cmd->rest, c->rest);
	ck_assert_int_eq(cmd->too_many_args, c->too_many);
	/* rest is the caller's line, untouched, not the split copy. */
	ck_assert_ptr_eq(cmd->rest, c->line + strlen(c->name) +
				    (c->len > strlen(c->name) ? 1 : 0));
	free(cmd);
}
END_TEST

START_TEST(test_cmd_lengths)
{
	struct pop3_cmd *cmd = malloc(sizeof(*cmd));
	char *line = malloc(POP3_MAX_AUTH_LINE + 2);
	const char *error;

	ck_assert_ptr_nonnull(cmd);
	ck_assert_ptr_nonnull(line);
	memcpy(line, "AUTH ", 5);
	memset(line + 5, 'Q', POP3_MAX_AUTH_LINE - 5 + 1);
	line[POP3_MAX_AUTH_LINE] = '\0';
	ck_assert_int_eq(pop3_cmd_parse(line, POP3_MAX_AUTH_LINE, cmd, &error),
			 0);
	ck_assert_str_eq(cmd->name, "AUTH");
	ck_assert_uint_eq(cmd->argc, 1);
	ck_assert_uint_eq(strlen(cmd->argv[0]), POP3_MAX_AUTH_LINE - 5);

	line[POP3_MAX_AUTH_LINE] = 'Q';
	line[POP3_MAX_AUTH_LINE + 1] = '\0';
	ck_assert_int_eq(pop3_cmd_parse(line, POP3_MAX_AUTH_LINE + 1, cmd,
					&error), -1);
	ck_assert_int_eq(pop3_cmd_parse("STAT", 4, cmd, NULL), 0);
	free(line);
	free(cmd);
}
END_TEST

/* The scanner's output fed straight to the parser, as the session does. */
START_TEST(test_scan_then_parse)
{
	static const char in[] = "user bob#phone\r\npass two  words\nTOP 3 0\r\n";
	static const char *const names[] = { "USER", "PASS", "TOP" };
	static const char *const rests[] = { "bob#phone", "two  words", "3 0" };
	struct pop3_scanner s;
	struct pop3_cmd *cmd = malloc(sizeof(*cmd));
	size_t pos = 0, consumed;
	unsigned int k;

	ck_assert_ptr_nonnull(cmd);
	pop3_scanner_init(&s, POP3_MAX_CMD_LINE);
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(pop3_scanner_feed(&s,
					(const unsigned char *)in + pos,
					sizeof(in) - 1 - pos, &consumed, NULL),
				 POP3_PARSE_OK);
		pos += consumed;
		ck_assert_int_eq(pop3_cmd_parse(s.buf, s.len, cmd, NULL), 0);
		ck_assert_str_eq(cmd->name, names[k]);
		ck_assert_str_eq(cmd->rest, rests[k]);
	}
	ck_assert_uint_eq(pos, sizeof(in) - 1);
	free(cmd);
}
END_TEST

struct num_case {
	const char *arg;
	unsigned int max;
	int ret;
	unsigned int num;
};

static const struct num_case msgnum_cases[] = {
	{ "1", 10, 0, 1 },
	{ "10", 10, 0, 10 },
	{ "01", 10, 0, 1 },
	{ "0000000000000000000000007", 10, 0, 7 },
	{ "4294967295", UINT_MAX, 0, 4294967295u },
	{ "11", 10, -1, 0 },
	{ "1", 0, -1, 0 },
	{ "0", 10, -1, 0 },
	{ "00", 10, -1, 0 },
	{ "+1", 10, -1, 0 },
	{ "-1", 10, -1, 0 },
	{ " 1", 10, -1, 0 },
	{ "1 ", 10, -1, 0 },
	{ "1x", 10, -1, 0 },
	{ "x1", 10, -1, 0 },
	{ "0x1", 10, -1, 0 },
	{ "1.0", 10, -1, 0 },
	{ "1e1", 100, -1, 0 },
	{ "", 10, -1, 0 },
	{ NULL, 10, -1, 0 },
	{ "4294967296", UINT_MAX, -1, 0 },
	{ "99999999999999999999", UINT_MAX, -1, 0 },
	{ "18446744073709551617", UINT_MAX, -1, 0 },
	{ "\xd9\xa1", 10, -1, 0 },
};

START_TEST(test_msgnum_table)
{
	const struct num_case *c = &msgnum_cases[_i];
	unsigned int num = 424242;

	ck_assert_int_eq(pop3_parse_msgnum(c->arg, c->max, &num), c->ret);
	ck_assert_uint_eq(num, c->ret == 0 ? c->num : 424242);
}
END_TEST

struct count_case {
	const char *arg;
	int ret;
	unsigned long count;
};

static const struct count_case linecount_cases[] = {
	{ "0", 0, 0 },
	{ "00", 0, 0 },
	{ "10", 0, 10 },
	{ "4294967295", 0, 4294967295ul },
	{ "04294967295", 0, 4294967295ul },
	{ "4294967296", -1, 0 },
	{ "99999999999999999999", -1, 0 },
	{ "-0", -1, 0 },
	{ "+0", -1, 0 },
	{ "-1", -1, 0 },
	{ " 0", -1, 0 },
	{ "0 ", -1, 0 },
	{ "5x", -1, 0 },
	{ "", -1, 0 },
	{ NULL, -1, 0 },
};

START_TEST(test_linecount_table)
{
	const struct count_case *c = &linecount_cases[_i];
	unsigned long count = 424242;

	ck_assert_int_eq(pop3_parse_linecount(c->arg, &count), c->ret);
	ck_assert_uint_eq(count, c->ret == 0 ? c->count : 424242);
}
END_TEST

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
	const char *login;
	int ok;
	size_t user_len;
	const char *device;
} device_cases[] = {
	{ "alice@example.com#office-pc", 1, 17, "office-pc" },
	{ "alice@example.com", 1, 17, "default" },
	{ "alice", 1, 5, "default" },
	{ "a#b#phone", 1, 3, "phone" },
	{ "alice#A.b_c-9", 1, 5, "A.b_c-9" },
	{ "alice#12345678901234567890123456789012", 1, 5, "12345678901234567890123456789012" },
	{ "alice#123456789012345678901234567890123", 0, 0, NULL },
	{ "alice#", 0, 0, NULL },
	{ "#phone", 0, 0, NULL },
	{ "#", 0, 0, NULL },
	{ "", 0, 0, NULL },
	{ "alice#ph one", 0, 0, NULL },
	{ "alice#ph/one", 0, 0, NULL },
	{ "alice#ph\"one", 0, 0, NULL },
	{ "alice#ph\xc3\xa9", 0, 0, NULL },
	{ "alice#..", 1, 5, ".." },
	{ "alice#{5}", 0, 0, NULL },
	{ "alice#*", 0, 0, NULL },
};

START_TEST(split_device)
{
	char device[POP3_DEVICE_MAX + 1];
	const char *error = NULL;
	size_t user_len = 0;
	const char *login = device_cases[_i].login;
	int ret = pop3_split_device(login, strlen(login), '#', &user_len, device, &error);

	ck_assert_msg((ret == 0) == device_cases[_i].ok, "%s", login);
	if (ret == 0) {
		ck_assert_uint_eq(user_len, device_cases[_i].user_len);
		ck_assert_str_eq(device, device_cases[_i].device);
	} else {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(split_device_other_separator)
{
	char device[POP3_DEVICE_MAX + 1];
	const char *error;
	size_t user_len;

	ck_assert_int_eq(pop3_split_device("alice+phone", 11, '+', &user_len, device, &error), 0);
	ck_assert_uint_eq(user_len, 5);
	ck_assert_str_eq(device, "phone");
	/* '#' is just a character when it is not the separator */
	ck_assert_int_eq(pop3_split_device("alice#x", 7, '+', &user_len, device, &error), 0);
	ck_assert_uint_eq(user_len, 7);
	ck_assert_str_eq(device, "default");
	/* a NUL inside is a character like any other for the user part */
	ck_assert_int_eq(pop3_split_device("a\0b#d", 5, '#', &user_len, device, &error), 0);
	ck_assert_uint_eq(user_len, 3);
}
END_TEST

static Suite *pop3_parse_suite(void)
{
	Suite *s = suite_create("pop3_parse");
	TCase *tc;

	tc = tcase_create("scanner");
	tcase_add_loop_test(tc, test_scan_table, 0, N_ELEMS(scan_cases));
	tcase_add_loop_test(tc, test_scan_lengths, 0, N_ELEMS(length_cases));
	tcase_add_test(tc, test_scan_pipelined);
	tcase_add_test(tc, test_scan_pipelined_partial);
	tcase_add_test(tc, test_scan_after_error);
	tcase_add_test(tc, test_scan_set_max);
	tcase_add_loop_test(tc, test_scan_random_bytewise, 0, 200);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_loop_test(tc, test_cmd_table, 0, N_ELEMS(cmd_cases));
	tcase_add_test(tc, test_cmd_lengths);
	tcase_add_test(tc, test_scan_then_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	tcase_add_loop_test(tc, split_device, 0, N_ELEMS(device_cases));
	tcase_add_test(tc, split_device_other_separator);
	tcase_add_loop_test(tc, test_msgnum_table, 0, N_ELEMS(msgnum_cases));
	tcase_add_loop_test(tc, test_linecount_table, 0,
			    N_ELEMS(linecount_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pop3_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
