/* Unit tests for the IMAP response-line interpreter. */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"

/* Compares a (pointer, length) field with a C string; NULL matches NULL. */
static void expect_field(const char *what, const char *line, const char *p,
			 size_t len, const char *want)
{
	if (want == NULL) {
		ck_assert_msg(p == NULL, "%s: %s: expected NULL, got \"%.*s\"",
			      line, what, (int)len, p);
		return;
	}
	ck_assert_msg(p != NULL, "%s: %s: expected \"%s\", got NULL",
		      line, what, want);
	ck_assert_msg(len == strlen(want) && memcmp(p, want, len) == 0,
		      "%s: %s: expected \"%s\", got \"%.*s\"", line, what,
		      want, (int)len, p);
}

struct resp_case {
	const char *line;
	const char *error;         /* NULL: must parse */
	enum imap_resp_kind kind;
	const char *tag;
	enum imap_status status;
	bool has_num;
	uint32_t num;
	const char *keyword;
	const char *code;
	const char *text;
	const char *rest;
};

#define CAPS "CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE " \
	     "LITERAL+ STARTTLS AUTH=PLAIN"

static const struct resp_case resp_cases[] = {
	/* Dovecot dialogue: greeting, login, select, fetch, logout. */
	{ "* OK [" CAPS "] Dovecot (Debian) ready.", NULL, IMAP_RESP_UNTAGGED,
	  NULL, IMAP_STATUS_OK, false, 0, "OK", CAPS, "Dovecot (Debian) ready.",
	  "[" CAPS "] Dovecot (Debian) ready." },
	{ "+ OK", NULL, IMAP_RESP_CONTINUATION, NULL, IMAP_STATUS_NONE, false,
	  0, NULL, NULL, "OK", "" },
	{ "a1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in", NULL,
	  IMAP_RESP_TAGGED, "a1", IMAP_STATUS_OK, false, 0, "OK",
	  "CAPABILITY IMAP4rev1 MOVE", "Logged in",
	  "[CAPABILITY IMAP4rev1 MOVE] Logged in" },
	{ "a1 NO [AUTHENTICATIONFAILED] Authentication failed.", NULL,
	  IMAP_RESP_TAGGED, "a1", IMAP_STATUS_NO, false, 0, "NO",
	  "AUTHENTICATIONFAILED", "Authentication failed.",
	  "[AUTHENTICATIONFAILED] Authentication failed." },
	{ "A0001 BAD Error in IMAP command: Unknown command", NULL,
	  IMAP_RESP_TAGGED, "A0001", IMAP_STATUS_BAD, false, 0, "BAD", NULL,
	  "Error in IMAP command: Unknown command",
	  "Error in IMAP command: Unknown command" },
	{ "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)", NULL,
	  IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_NONE, false, 0, "FLAGS", NULL,
	  "", "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)" },
	{ "* OK [PERMANENTFLAGS (\\Answered \\Seen \\*)] Flags permitted.",
	  NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_OK, false, 0, "OK",
	  "PERMANENTFLAGS (\\Answered \\Seen \\*)", "Flags permitted.",
	  "[PERMANENTFLAGS (\\Answered \\Seen \\*)] Flags permitted." },
	{ "* 3 EXISTS", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_NONE, true,
	  3, "EXISTS", NULL, "", "" },
	{ "* 0 RECENT", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_NONE, true,
	  0, "RECENT", NULL, "", "" },
	{ "* OK [UIDVALIDITY 3857529045] UIDs valid", NULL, IMAP_RESP_UNTAGGED,
	  NULL, IMAP_STATUS_OK, false, 0, "OK", "UIDVALIDITY 3857529045",
	  "UIDs valid", "[UIDVALIDITY 3857529045] UIDs valid" },
	{ "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).", NULL,
	  IMAP_RESP_TAGGED, "a2", IMAP_STATUS_OK, false, 0, "OK", "READ-WRITE",
	  "Select completed (0.001 + 0.000 secs).",
	  "[READ-WRITE] Select completed (0.001 + 0.000 secs)." },
	{ "* 5 FETCH (UID 7 FLAGS (\\Seen))", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_NONE, true, 5, "FETCH", NULL, "",
	  "(UID 7 FLAGS (\\Seen))" },
	{ "* 4294967295 EXPUNGE", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_NONE, true, 4294967295u, "EXPUNGE", NULL, "", "" },
	{ "* BYE Logging out", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_BYE,
	  false, 0, "BYE", NULL, "Logging out", "Logging out" },
	{ "* PREAUTH [CAPABILITY IMAP4rev1] Logged in as alice", NULL,
	  IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_PREAUTH, false, 0, "PREAUTH",
	  "CAPABILITY IMAP4rev1", "Logged in as alice",
	  "[CAPABILITY IMAP4rev1] Logged in as alice" },
	/* Other untagged data. */
	{ "* CAPABILITY IMAP4rev1 IDLE", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_NONE, false, 0, "CAPABILITY", NULL, "", "IMAP4rev1 IDLE" },
	{ "* LIST (\\HasNoChildren \\Trash) \"/\" Trash", NULL,
	  IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_NONE, false, 0, "LIST", NULL,
	  "", "(\\HasNoChildren \\Trash) \"/\" Trash" },
	{ "* SEARCH", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_NONE, false,
	  0, "SEARCH", NULL, "", "" },
	{ "* SEARCH 1 2 3", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_NONE,
	  false, 0, "SEARCH", NULL, "", "1 2 3" },
	{ "* ENABLED CONDSTORE", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_NONE, false, 0, "ENABLED", NULL, "", "CONDSTORE" },
	{ "* ID (\"name\" \"Dovecot\")", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_NONE, false, 0, "ID", NULL, "", "(\"name\" \"Dovecot\")" },
	/* Status edge cases. */
	{ "* ok lower case", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_OK,
	  false, 0, "ok", NULL, "lower case", "lower case" },
	{ "* OK", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_OK, false, 0,
	  "OK", NULL, "", "" },
	{ "* OK [READ-ONLY]", NULL, IMAP_RESP_UNTAGGED, NULL, IMAP_STATUS_OK,
	  false, 0, "OK", "READ-ONLY", "", "[READ-ONLY]" },
	{ "* OK [ALERT] [not a code]", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_OK, false, 0, "OK", "ALERT", "[not a code]",
	  "[ALERT] [not a code]" },
	{ "* OK [ALERT Maintenance [tonight]", NULL, IMAP_RESP_UNTAGGED, NULL,
	  IMAP_STATUS_OK, false, 0, "OK", "ALERT Maintenance [tonight", "",
	  "[ALERT Maintenance [tonight]" },
	{ "a3 NO [BADCHARSET (UTF-8 \"X]Y\")] unsupported", NULL,
	  IMAP_RESP_TAGGED, "a3", IMAP_STATUS_NO, false, 0, "NO",
	  "BADCHARSET (UTF-8 \"X]Y\")", "unsupported",
	  "[BADCHARSET (UTF-8 \"X]Y\")] unsupported" },
	{ "a] OK x", NULL, IMAP_RESP_TAGGED, "a]", IMAP_STATUS_OK, false, 0,
	  "OK", NULL, "x", "x" },
	/* Continuations. */
	{ "+", NULL, IMAP_RESP_CONTINUATION, NULL, IMAP_STATUS_NONE, false, 0,
	  NULL, NULL, "", "" },
	{ "+ ", NULL, IMAP_RESP_CONTINUATION, NULL, IMAP_STATUS_NONE, false, 0,
	  NULL, NULL, "", "" },
	{ "+ dGVzdA==", NULL, IMAP_RESP_CONTINUATION, NULL, IMAP_STATUS_NONE,
	  false, 0, NULL, NULL, "dGVzdA==", "" },
	{ "+ [ALERT] hi", NULL, IMAP_RESP_CONTINUATION, NULL, IMAP_STATUS_NONE,
	  false, 0, NULL, "ALERT", "hi", "" },
	{ "+ [broken", NULL, IMAP_RESP_CONTINUATION, NULL, IMAP_STATUS_NONE,
	  false, 0, NULL, NULL, "[broken", "" },
	/* Adversarial. */
	{ "", "empty response line", 0, NULL, 0, false, 0, NULL, NULL, "", "" },
	{ " OK done", "missing tag", 0, NULL, 0, false, 0, NULL, NULL, "", "" },
	{ "*", "missing space after tag", 0, NULL, 0, false, 0, NULL, NULL, "",
	  "" },
	{ "*OK", "missing space after tag", 0, NULL, 0, false, 0, NULL, NULL,
	  "", "" },
	{ "a+1 OK x", "missing space after tag", 0, NULL, 0, false, 0, NULL,
	  NULL, "", "" },
	{ "* ", "missing keyword", 0, NULL, 0, false, 0, NULL, NULL, "", "" },
	{ "*  OK", "missing keyword", 0, NULL, 0, false, 0, NULL, NULL, "", "" },
	{ "* 4294967296 EXISTS", "bad number", 0, NULL, 0, false, 0, NULL,
	  NULL, "", "" },
	{ "* 99999999999999999999999 EXISTS", "bad number", 0, NULL, 0, false,
	  0, NULL, NULL, "", "" },
	{ "* 3", "missing keyword after number", 0, NULL, 0, false, 0, NULL,
	  NULL, "", "" },
	{ "* 3x EXISTS", "missing keyword after number", 0, NULL, 0, false, 0,
	  NULL, NULL, "", "" },
	{ "* 3 ", "missing keyword", 0, NULL, 0, false, 0, NULL, NULL, "", "" },
	{ "* 3 OK x", "number before status", 0, NULL, 0, false, 0, NULL, NULL,
	  "", "" },
	{ "a1 FETCH (UID 1)", "tagged response is not OK/NO/BAD", 0, NULL, 0,
	  false, 0, NULL, NULL, "", "" },
	{ "a1 BYE x", "tagged response is not OK/NO/BAD", 0, NULL, 0, false, 0,
	  NULL, NULL, "", "" },
	{ "a1 OK(x)", "garbage after keyword", 0, NULL, 0, false, 0, NULL,
	  NULL, "", "" },
	{ "* OK\x01", "garbage after keyword", 0, NULL, 0, false, 0, NULL, NULL,
	  "", "" },
	{ "a1 OKAY done", "tagged response is not OK/NO/BAD", 0, NULL, 0, false,
	  0, NULL, NULL, "", "" },
	{ "* OK [UNTERMINATED", "unterminated response code", 0, NULL, 0,
	  false, 0, NULL, NULL, "", "" },
	{ "* OK [PERMANENTFLAGS (\\Seen] x", "unterminated response code", 0,
	  NULL, 0, false, 0, NULL, NULL, "", "" },
	{ "* OK [X \"a]", "unterminated response code", 0, NULL, 0, false, 0,
	  NULL, NULL, "", "" },
	{ "* OK [X a)] y", "unbalanced parentheses in response code", 0, NULL,
	  0, false, 0, NULL, NULL, "", "" },
	{ "* OK []", "bad response code", 0, NULL, 0, false, 0, NULL, NULL, "",
	  "" },
	{ "* OK [", "bad response code", 0, NULL, 0, false, 0, NULL, NULL, "",
	  "" },
	{ "* OK [ALERT]garbage", "garbage after response code", 0, NULL, 0,
	  false, 0, NULL, NULL, "", "" },
};

START_TEST(test_resp_table)
{
	const struct resp_case *c = &resp_cases[_i];
	struct imap_resp r;
	const char *error = NULL;
	int ret = imap_resp_parse(c->line, strlen(c->line), &r, &error);

	if (c->error != NULL) {
		ck_assert_msg(ret == -1, "%s: parsed", c->line);
		ck_assert_str_eq(error, c->error);
		return;
	}
	ck_assert_msg(ret == 0, "%s: %s", c->line, error);
	ck_assert_int_eq(r.kind, c->kind);
	expect_field("tag", c->line, r.tag, r.tag_len, c->tag);
	ck_assert_int_eq(r.status, c->status);
	ck_assert_int_eq(r.has_num, c->has_num);
	ck_assert_uint_eq(r.num, c->num);
	expect_field("keyword", c->line, r.keyword, r.keyword_len, c->keyword);
	expect_field("code", c->line, r.code, r.code_len, c->code);
	expect_field("text", c->line, r.text, r.text_len, c->text);
	expect_field("rest", c->line, r.rest, r.rest_len, c->rest);
}
END_TEST

START_TEST(test_resp_nul_and_deep)
{
	static const char nul[] = "* OK a\0b";
	struct imap_resp r;
	const char *error;
	char line[20000];

	ck_assert_int_eq(imap_resp_parse(nul, sizeof(nul) - 1, &r, &error), -1);
	ck_assert_str_eq(error, "NUL in response line");
	/* Far deeper than the cap: fails quickly, without recursion. */
	strcpy(line, "* OK [X ");
	memset(line + 8, '(', sizeof(line) - 10);
	line[sizeof(line) - 2] = ']';
	line[sizeof(line) - 1] = '\0';
	ck_assert_int_eq(imap_resp_parse(line, strlen(line), &r, &error), -1);
	ck_assert_str_eq(error, "response code nested too deeply");
	/* Only len counts: the text after it is not looked at. */
	ck_assert_int_eq(imap_resp_parse("* 3 EXISTS junk", 10, &r, &error), 0);
	ck_assert(imap_resp_keyword_is(&r, "exists"));
	ck_assert(!imap_resp_keyword_is(&r, "EXIST"));
	ck_assert(!imap_resp_keyword_is(&r, "EXISTSS"));
	ck_assert_int_eq(imap_resp_parse("+ go", 4, &r, &error), 0);
	ck_assert(!imap_resp_keyword_is(&r, "OK"));
}
END_TEST

START_TEST(test_caps)
{
	static const char dovecot[] =
		"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT "
		"SORT=DISPLAY THREAD=REFERENCES LITERAL+ STARTTLS AUTH=PLAIN "
		"AUTH=LOGIN";
	static const char all[] =
		"imap4REV1 sasl-ir auth=plain LOGINDISABLED LITERAL+ literal- "
		"StartTLS UIDPLUS MOVE CONDSTORE QRESYNC ENABLE ID SPECIAL-USE "
		"namespace utf8=accept AUTH=XOAUTH2 auth=oauthbearer x-gm-ext-1";
	unsigned int caps;

	caps = imap_caps_parse(dovecot, strlen(dovecot));
	ck_assert_uint_eq(caps, IMAP_CAP_SASL_IR |
				IMAP_CAP_ID | IMAP_CAP_ENABLE |
				IMAP_CAP_LITERALPLUS | IMAP_CAP_STARTTLS |
				IMAP_CAP_AUTH_PLAIN);
	ck_assert_uint_eq(imap_caps_parse(all, strlen(all)), (1u << IMAP_CAP_COUNT) - 1);
	/* UTF8=ONLY implies UTF8=ACCEPT (RFC 6855). */
	ck_assert_uint_eq(imap_caps_parse("UTF8=ONLY", 9), IMAP_CAP_UTF8_ACCEPT);
	ck_assert_uint_eq(imap_caps_parse("", 0), 0);
	ck_assert_uint_eq(imap_caps_parse("   ", 3), 0);
	ck_assert_uint_eq(imap_caps_parse("LITERAL+X AUTH=PLAINX IDL ID=1 "
					  "XMOVE", 31), 0);
	ck_assert_uint_eq(imap_caps_parse("  MOVE   ENABLE  ", 17),
			  IMAP_CAP_MOVE | IMAP_CAP_ENABLE);
	/* len bounds the scan: "IDLE" is cut to "ID". */
	ck_assert_uint_eq(imap_caps_parse("MOVE IDLE", 7),
			  IMAP_CAP_MOVE | IMAP_CAP_ID);
}
END_TEST

START_TEST(test_codes)
{
	struct imap_resp r;
	const char *error, *args;
	size_t args_len;
	uint32_t num = 0;

#define PARSE(s) ck_assert_int_eq(imap_resp_parse((s), strlen(s), &r, \
							&error), 0)
	PARSE("* OK [UIDVALIDITY 3857529045] UIDs valid");
	ck_assert_int_eq(imap_code_number(&r, "UIDVALIDITY", &num), 0);
	ck_assert_uint_eq(num, 3857529045u);
	ck_assert_int_eq(imap_code_number(&r, "uidvalidity", &num), 0);
	ck_assert_int_eq(imap_code_number(&r, "UIDNEXT", &num), -1);
	ck_assert_int_eq(imap_code_number(&r, "UIDVALID", &num), -1);
	PARSE("* OK [UIDVALIDITY 4294967296] x");
	ck_assert_int_eq(imap_code_number(&r, "UIDVALIDITY", &num), -1);
	PARSE("* OK [UIDVALIDITY] x");
	ck_assert_int_eq(imap_code_number(&r, "UIDVALIDITY", &num), -1);
	PARSE("* OK [UIDVALIDITY x] x");
	ck_assert_int_eq(imap_code_number(&r, "UIDVALIDITY", &num), -1);
	PARSE("* OK [UIDNEXT 5 6] x");
	ck_assert_int_eq(imap_code_number(&r, "UIDNEXT", &num), -1);
	PARSE("* OK [UIDVALIDITYX 5] x");
	ck_assert_int_eq(imap_code_number(&r, "UIDVALIDITY", &num), -1);
	PARSE("* OK no code");
	ck_assert_int_eq(imap_code_number(&r, "UIDVALIDITY", &num), -1);
	ck_assert(!imap_code_is(&r, "ALERT", &args, &args_len));

	PARSE("a1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in");
	ck_assert(imap_code_is(&r, "capability", &args, &args_len));
	ck_assert_uint_eq(args_len, 14);
	ck_assert(memcmp(args, "IMAP4rev1 MOVE", 14) == 0);
	ck_assert_uint_eq(imap_caps_parse(args, args_len),
			  IMAP_CAP_MOVE);
	ck_assert(!imap_code_is(&r, "CAPABILITIES", &args, &args_len));
	ck_assert(!imap_code_is(&r, "CAPA", &args, &args_len));
	PARSE("* OK [ALERT] hi");
	ck_assert(imap_code_is(&r, "ALERT", &args, &args_len));
	ck_assert_uint_eq(args_len, 0);
	PARSE("* NO [ALERTX] hi");
	ck_assert(!imap_code_is(&r, "ALERT", &args, &args_len));
#undef PARSE
}
END_TEST

START_TEST(test_unquote)
{
	static const char src[] = "a\\\"b\\\\c\\";
	char dst[sizeof(src)];
	size_t n = imap_unquote(src, sizeof(src) - 1, dst);

	ck_assert_uint_eq(n, 6);
	ck_assert(memcmp(dst, "a\"b\\c\\", 6) == 0);
	ck_assert_uint_eq(imap_unquote("", 0, dst), 0);
}
END_TEST

/* ---- FETCH ---- */

struct fetch_case {
	const char *items;
	bool partial;
	const char *error;       /* NULL: must parse */
	bool has_uid;
	uint32_t uid;
	bool has_size;
	uint64_t size;
	bool has_flags;
	unsigned int flags;
	unsigned int body_count;
	const char *section;     /* of the last body */
	bool has_origin;
	uint32_t origin;
	enum imap_value_kind kind;
	uint64_t literal_size;
	const char *value;
	bool ends_with_body_literal;
};

#define UID(n) .has_uid = true, .uid = (n)
#define SIZE(n) .has_size = true, .size = (n)
#define FLAGS(f) .has_flags = true, .flags = (f)
#define BODY(n, sec) .body_count = (n), .section = (sec)
#define LIT(n) .kind = IMAP_VALUE_LITERAL, .literal_size = (n)
#define ERR(e) .error = (e)
#define PARTIAL .partial = true

static const struct fetch_case fetch_cases[] = {
	{ .items = "(UID 7 RFC822.SIZE 1234 FLAGS (\\Seen \\Deleted $Junk) BODY[] {5})",
	  UID(7), SIZE(1234), FLAGS(IMAP_FLAG_SEEN | IMAP_FLAG_DELETED),
	  BODY(1, ""), LIT(5) },
	{ .items = "(FLAGS (\\Seen) UID 7)", UID(7), FLAGS(IMAP_FLAG_SEEN) },
	{ .items = "(FLAGS () UID 4294967295)", UID(4294967295u), FLAGS(0) },
	{ .items = "(FLAGS (\\seen \\ANSWERED \\Flagged \\Draft \\Recent \\Deleted "
	  "\\Junk NonJunk))", FLAGS(IMAP_FLAG_SEEN | IMAP_FLAG_DELETED) },
	{ .items = "(UID 1 UID 2)", UID(2) },
	{ .items = "(RFC822.SIZE 4294967296)", SIZE(4294967296ull) },
	{ .items = "(RFC822.SIZE 9223372036854775807)", SIZE(9223372036854775807ull) },
	{ .items = "()" },
	{ .items = "(uid 3 rfc822.size 0)", UID(3), SIZE(0) },
	/* Unknown items of every shape are skipped. */
	{ .items = "(MODSEQ (12) UID 3)", UID(3) },
	{ .items = "(INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" UID 3)", UID(3) },
	{ .items = "(ENVELOPE (\"Wed, 1 Jan 2020\" \"Hi (there)\" ((\"A\" NIL \"a\" "
	  "\"x.org\")) NIL NIL NIL NIL NIL NIL \"<id@x>\") UID 4)", UID(4) },
	{ .items = "(BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL "
	  "NIL \"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" NIL NIL NIL \"BASE64\" "
	  "4554 73) \"MIXED\") UID 5)", UID(5) },
	{ .items = "(BODY (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3 1) UID 6)", UID(6) },
	{ .items = "(X-GM-MSGID 1278455344230334865 X-GM-LABELS (\\Inbox {5}) UID 6)",
	  UID(6) },
	{ .items = "(PREVIEW NIL SAVEDATE {5} EMAILID (M6d99ac) THREADID NIL UID 1)",
	  UID(1) },
	{ .items = "(BINARY.SIZE[1] 1234 UID 2)", UID(2) },
	{ .items = "(X \"a\\\"b)\" UID 2)", UID(2) },
	/* BODY[section]<origin> */
	{ .items = "(BODY[HEADER] {500})", BODY(1, "HEADER"), LIT(500) },
	{ .items = "(BODY[TEXT]<0> {1000})", BODY(1, "TEXT"), .has_origin = true,
	  LIT(1000) },
	{ .items = "(BODY[]<4294967295> {0})", BODY(1, ""), .has_origin = true,
	  .origin = 4294967295u, LIT(0) },
	{ .items = "(BODY[1.2.mime] NIL)", BODY(1, "1.2.MIME"), .kind = IMAP_VALUE_NIL },
	{ .items = "(BODY[header.fields (From To)] \"x\\\"y\")",
	  BODY(1, "HEADER.FIELDS (FROM TO)"), .kind = IMAP_VALUE_QUOTED,
	  .value = "x\\\"y" },
	{ .items = "(BODY[HEADER.FIELDS (\"X-A]\")] \"\")",
	  BODY(1, "HEADER.FIELDS (\"X-A]\")"), .kind = IMAP_VALUE_QUOTED,
	  .value = "" },
	{ .items = "(BODY[HEADER.FIELDS (FROM TO CC BCC SUBJECT DATE MESSAGE-ID "
	  "REFERENCES IN-REPLY-TO)] NIL UID 9)", UID(9),
	  BODY(1, "HEADER.FIELDS (FROM TO CC BCC SUBJECT DATE MESSAGE-ID "
	       "REFERENCE"),
	  .kind = IMAP_VALUE_NIL },
	{ .items = "(BINARY[1] ~{3})", BODY(1, "1"), LIT(3) },
	{ .items = "(RFC822 {5})", BODY(1, ""), LIT(5) },
	{ .items = "(RFC822.HEADER NIL)", BODY(1, "HEADER"), .kind = IMAP_VALUE_NIL },
	{ .items = "(RFC822.TEXT \"t\")", BODY(1, "TEXT"), .kind = IMAP_VALUE_QUOTED,
	  .value = "t" },
	{ .items = "(BODY[HEADER] {5} BODY[TEXT] {4} UID 3)", UID(3), BODY(2, "TEXT"),
	  LIT(4) },
	/* Partial: the LITERAL_BEGIN prefixes. */
	{ .items = "(UID 7 BODY[HEADER] {500}", PARTIAL, UID(7), BODY(1, "HEADER"),
	  LIT(500), .ends_with_body_literal = true },
	{ .items = "(UID 7 BODY[HEADER] {500} BODY[TEXT]<0> {1000}", PARTIAL, UID(7),
	  BODY(2, "TEXT"), .has_origin = true, LIT(1000),
	  .ends_with_body_literal = true },
	{ .items = "(UID 7 BODY[HEADER] {500}", ERR("missing ) after FETCH items") },
	{ .items = "(UID 7 ", PARTIAL, UID(7) },
	{ .items = "(UID 7", PARTIAL, UID(7) },
	{ .items = "(", PARTIAL },
	{ .items = "(UID 7 BODY[HEADER] {500} UID 8", PARTIAL, UID(8),
	  BODY(1, "HEADER"), LIT(500) },
	{ .items = "(ENVELOPE (\"date\" {5}", PARTIAL },
	{ .items = "(BODY[] {5} ENVELOPE (NIL {3}", PARTIAL, BODY(1, ""), LIT(5) },
	{ .items = "(SAVEDATE {5}", PARTIAL },
	{ .items = "(UID 7 BODY[HEADER] {5", PARTIAL, ERR("bad literal marker") },
	{ .items = "(UID 7 BODY[HEADER]", PARTIAL, ERR("missing item value") },
	{ .items = "(ENVELOPE (\"date\"", PARTIAL, ERR("unterminated list") },
	{ .items = "(FLAGS (\\Seen", PARTIAL, ERR("unterminated FLAGS list") },
	{ .items = "(UID 7) ", PARTIAL, ERR("garbage after FETCH items") },
	/* Adversarial. */
	{ .items = "", ERR("FETCH items do not start with (") },
	{ .items = "UID 7", ERR("FETCH items do not start with (") },
	{ .items = "(UID 7))", ERR("garbage after FETCH items") },
	{ .items = "(UID 7) ", ERR("garbage after FETCH items") },
	{ .items = "(UID 4294967296)", ERR("bad number") },
	{ .items = "(UID 99999999999999999999999)", ERR("bad number") },
	{ .items = "(UID 0)", ERR("UID 0") },
	{ .items = "(UID -1)", ERR("bad number") },
	{ .items = "(UID 7x)", ERR("bad number") },
	{ .items = "(UID 1FLAGS (\\Seen))", ERR("bad number") },
	{ .items = "(UID)", ERR("missing item value") },
	{ .items = "(UID )", ERR("bad number") },
	{ .items = "(UID  7)", ERR("bad number") },
	{ .items = "(RFC822.SIZE 9223372036854775808)", ERR("bad number") },
	{ .items = "(RFC822.SIZE 18446744073709551616)", ERR("bad number") },
	{ .items = "(FLAGS (\\Seen (x)))", ERR("bad flag") },
	{ .items = "(FLAGS \\Seen)", ERR("FLAGS is not a list") },
	{ .items = "(FLAGS (\\Seen)", ERR("missing ) after FETCH items") },
	{ .items = "(BODY[HEADER {5})", ERR("unbalanced section") },
	{ .items = "(BODY[HEADER.FIELDS (A] {5})", ERR("unterminated section") },
	{ .items = "(BODY[] {5)", ERR("bad literal marker") },
	{ .items = "(BODY[] {})", ERR("bad literal marker") },
	{ .items = "(BODY[] {4294967296})", ERR("bad literal marker") },
	{ .items = "(BODY[]<x> NIL)", ERR("bad origin") },
	{ .items = "(BODY[]<5 NIL)", ERR("bad origin") },
	{ .items = "(BODY[]<4294967296> NIL)", ERR("bad origin") },
	{ .items = "(BODY[] FOO)", ERR("bad body value") },
	{ .items = "(BODY[] NILX)", ERR("garbage after body value") },
	{ .items = "(BODY[] {5}x)", ERR("garbage after body value") },
	{ .items = "(BODY[] \"abc)", ERR("unterminated quoted string") },
	{ .items = "(X \"unterminated)", ERR("unterminated quoted string") },
	{ .items = "(X (a b)", ERR("missing ) after FETCH items") },
	{ .items = "(X (a b)c)", ERR("garbage after FETCH item") },
	{ .items = "(X a\x01)", ERR("garbage after FETCH item") },
	{ .items = "(X )", ERR("missing value") },
	{ .items = "(X)", ERR("missing item value") },
	{ .items = "( UID 1)", UID(1) },
	{ .items = "(\"UID\" 1)", ERR("bad item name") },
};

START_TEST(test_fetch_table)
{
	const struct fetch_case *c = &fetch_cases[_i];
	struct imap_fetch f;
	const char *error = NULL;
	int ret = imap_fetch_parse(c->items, strlen(c->items), c->partial, &f,
				   &error);

	if (c->error != NULL) {
		ck_assert_msg(ret == -1, "%s: parsed", c->items);
		ck_assert_msg(strcmp(error, c->error) == 0,
			      "%s: error \"%s\", expected \"%s\"", c->items,
			      error, c->error);
		return;
	}
	ck_assert_msg(ret == 0, "%s: %s", c->items, error);
	ck_assert_int_eq(f.has_uid, c->has_uid);
	ck_assert_uint_eq(f.uid, c->uid);
	ck_assert_int_eq(f.has_size, c->has_size);
	ck_assert_uint_eq(f.size, c->size);
	ck_assert_int_eq(f.has_flags, c->has_flags);
	ck_assert_uint_eq(f.flags, c->flags);
	ck_assert_uint_eq(f.body_count, c->body_count);
	ck_assert_int_eq(f.ends_with_body_literal, c->ends_with_body_literal);
	if (c->body_count == 0)
		return;
	ck_assert_str_eq(f.body.section, c->section);
	ck_assert_int_eq(f.body.has_origin, c->has_origin);
	ck_assert_uint_eq(f.body.origin, c->origin);
	ck_assert_int_eq(f.body.kind, c->kind);
	ck_assert_uint_eq(f.body.literal_size, c->literal_size);
	if (c->kind == IMAP_VALUE_QUOTED)
		expect_field("value", c->items, f.body.value, f.body.value_len,
			     c->value);
}
END_TEST

/* What the lead does with a LITERAL_BEGIN line: response, then items. */
START_TEST(test_fetch_from_response)
{
	static const char line[] =
		"* 5 FETCH (UID 7 BODY[HEADER] {500} BODY[TEXT]<0> {1000}";
	struct imap_resp r;
	struct imap_fetch f;
	const char *error;

	ck_assert_int_eq(imap_resp_parse(line, sizeof(line) - 1, &r, &error),
			 0);
	ck_assert(imap_resp_keyword_is(&r, "FETCH"));
	ck_assert_uint_eq(r.num, 5);
	ck_assert_int_eq(imap_fetch_parse(r.rest, r.rest_len, true, &f,
					  &error), 0);
	ck_assert(f.ends_with_body_literal);
	ck_assert_uint_eq(f.uid, 7);
	ck_assert_str_eq(f.body.section, "TEXT");
	ck_assert_uint_eq(f.body.literal_size, 1000);
	ck_assert_uint_eq(f.body_count, 2);
}
END_TEST

/* "<prefix>" + n "(" + n ")" + "<suffix>" */
static const char *nest(char *buf, size_t size, const char *prefix,
			unsigned int n, const char *suffix)
{
	size_t len = strlen(prefix);

	ck_assert_uint_lt(len + 2 * n + strlen(suffix), size);
	memcpy(buf, prefix, len);
	memset(buf + len, '(', n);
	memset(buf + len + n, ')', n);
	strcpy(buf + len + 2 * n, suffix);
	return buf;
}

START_TEST(test_depth_cap)
{
	struct imap_resp r;
	struct imap_fetch f;
	const char *error;
	char buf[256];

	/* 32 levels are fine, 33 are not. */
	nest(buf, sizeof(buf), "a1 NO [X ", 32, "] deep");
	ck_assert_int_eq(imap_resp_parse(buf, strlen(buf), &r, &error), 0);
	ck_assert_uint_eq(r.code_len, 2 + 64);
	nest(buf, sizeof(buf), "a1 NO [X ", 33, "] deep");
	ck_assert_int_eq(imap_resp_parse(buf, strlen(buf), &r, &error), -1);
	ck_assert_str_eq(error, "response code nested too deeply");

	nest(buf, sizeof(buf), "(X ", 32, " UID 1)");
	ck_assert_int_eq(imap_fetch_parse(buf, strlen(buf), false, &f,
					  &error), 0);
	ck_assert_uint_eq(f.uid, 1);
	nest(buf, sizeof(buf), "(X ", 33, " UID 1)");
	ck_assert_int_eq(imap_fetch_parse(buf, strlen(buf), false, &f,
					  &error), -1);
	ck_assert_str_eq(error, "list nested too deeply");

	nest(buf, sizeof(buf), "(BODY[HEADER.FIELDS ", 32, "] NIL)");
	ck_assert_int_eq(imap_fetch_parse(buf, strlen(buf), false, &f,
					  &error), 0);
	ck_assert_uint_eq(f.body_count, 1);
	ck_assert_uint_eq(strlen(f.body.section), 63);
	nest(buf, sizeof(buf), "(BODY[HEADER.FIELDS ", 33, "] NIL)");
	ck_assert_int_eq(imap_fetch_parse(buf, strlen(buf), false, &f,
					  &error), -1);
	ck_assert_str_eq(error, "section nested too deeply");
}
END_TEST

START_TEST(test_fetch_deep)
{
	static char items[100002];
	struct imap_fetch f;
	const char *error;

	/* Far beyond the cap, both as a value and inside a section. */
	memcpy(items, "(X ", 3);
	memset(items + 3, '(', sizeof(items) - 4);
	ck_assert_int_eq(imap_fetch_parse(items, sizeof(items) - 1, true, &f,
					  &error), -1);
	ck_assert_str_eq(error, "list nested too deeply");
	memcpy(items, "(BODY[", 6);
	memset(items + 6, '(', sizeof(items) - 7);
	ck_assert_int_eq(imap_fetch_parse(items, sizeof(items) - 1, false, &f,
					  &error), -1);
	ck_assert_str_eq(error, "section nested too deeply");
}
END_TEST

static const struct {
	const char *rest;
	int ok;
	unsigned int attrs;
	const char *name;
} list_cases[] = {
	{ "(\\HasNoChildren \\Trash) \"/\" Trash", 1, IMAP_LIST_TRASH, "Trash" },
	{ "(\\Trash) \".\" \"Deleted Items\"", 1, IMAP_LIST_TRASH, "Deleted Items" },
	{ "(\\Trash) \"/\" \"[Gmail]/Bin\"", 1, IMAP_LIST_TRASH, "[Gmail]/Bin" },
	{ "() NIL INBOX", 1, 0, "INBOX" },
	{ "(\\Noselect) \"/\" Archive", 1, IMAP_LIST_NOSELECT, "Archive" },
	{ "(\\NonExistent \\Trash) \"/\" Gone", 1, IMAP_LIST_NOSELECT | IMAP_LIST_TRASH, "Gone" },
	{ "(\\Trash) \"\\\\\" \"a\\\"b\"", 1, IMAP_LIST_TRASH, "a\"b" },
	{ "(\\Trash) \"/\" {5}", 0, 0, NULL },
	{ "(\\Trash \"/\" Trash", 0, 0, NULL },
	{ "\\Trash \"/\" Trash", 0, 0, NULL },
	{ "(\\Trash) \"/\"", 0, 0, NULL },
	{ "(\\Trash) \"/\" ", 0, 0, NULL },
	{ "(\\Trash) \"/\" \"unterminated", 0, 0, NULL },
	{ "(\\Trash) \"/\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))", 1, IMAP_LIST_TRASH, "a" },
	{ "(\\Trash) \"/\" Bin (\"OLDNAME\" (\"Trash\"))", 1, IMAP_LIST_TRASH, "Bin" },
	{ "(\\Trash) \"/\" \"a\"junk", 0, 0, NULL },
	{ "(\\Trash) x Trash", 0, 0, NULL },
	{ "", 0, 0, NULL },
};

START_TEST(list_table)
{
	char name[64];
	unsigned int attrs = 99;
	const char *error = NULL;
	const char *rest = list_cases[_i].rest;
	int ret = imap_list_parse(rest, strlen(rest), &attrs, name, sizeof(name), &error);

	ck_assert_msg((ret == 0) == list_cases[_i].ok, "%s", rest);
	if (ret == 0) {
		ck_assert_uint_eq(attrs, list_cases[_i].attrs);
		ck_assert_str_eq(name, list_cases[_i].name);
	} else {
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(list_name_too_long)
{
	char name[4];
	unsigned int attrs;
	const char *error;

	ck_assert_int_eq(imap_list_parse("() \"/\" Trash", 12, &attrs, name, sizeof(name),
					 &error), -1);
	ck_assert_int_eq(imap_list_parse("() \"/\" \"Trash\"", 14, &attrs, name, sizeof(name),
					 &error), -1);
	ck_assert_int_eq(imap_list_parse("() \"/\" Tra", 10, &attrs, name, sizeof(name),
					 &error), 0);
}
END_TEST

static const struct {
	const char *in;
	int ok;
	long long t;
} date_cases[] = {
	{ "17-Jul-1996 02:44:25 -0700", 1, 837596665LL },
	{ "01-Jan-1970 00:00:00 +0000", 1, 0 },
	{ " 1-Jan-1970 01:00:00 +0100", 1, 0 },
	{ "29-Feb-2024 12:00:00 +0000", 1, 1709208000LL },
	{ "14-nov-2023 22:13:20 +0000", 1, 1700000000LL },
	{ "31-Dec-1999 23:59:60 +0000", 1, 946684800LL },
	{ "17-Jul-1996 02:44:25 0700", 0, 0 },
	{ "17-Jux-1996 02:44:25 -0700", 0, 0 },
	{ "32-Jul-1996 02:44:25 -0700", 0, 0 },
	{ "17-Jul-1996 24:00:00 -0700", 0, 0 },
	{ "17-Jul-1996 02:60:00 -0700", 0, 0 },
	{ "17-Jul-1996 02:44:25 -0760", 0, 0 },
	{ "17-Jul-96 02:44:25 -0700", 0, 0 },
	{ "7-Jul-1996 02:44:25 -0700", 0, 0 },
	{ "", 0, 0 },
};

START_TEST(date_time_table)
{
	int64_t t = -1;
	const char *in = date_cases[_i].in;
	int ret = imap_parse_date_time(in, strlen(in), &t);

	ck_assert_msg((ret == 0) == date_cases[_i].ok, "%s", in);
	if (ret == 0)
		ck_assert_int_eq(t, date_cases[_i].t);
}
END_TEST

START_TEST(fetch_internaldate)
{
	struct imap_fetch f;
	const char *error;
	const char *items = "(UID 5 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {12})";

	ck_assert_int_eq(imap_fetch_parse(items, strlen(items), false, &f, &error), 0);
	ck_assert(f.has_internaldate);
	ck_assert_int_eq(f.internaldate, 837596665LL);
	ck_assert_uint_eq(f.uid, 5);
	/* a malformed date is skipped, the rest still parsed */
	items = "(INTERNALDATE \"yesterday\" UID 6)";
	ck_assert_int_eq(imap_fetch_parse(items, strlen(items), false, &f, &error), 0);
	ck_assert(!f.has_internaldate);
	ck_assert_uint_eq(f.uid, 6);
}
END_TEST

/* Gmail's X-GM-MSGID (64 bits) and Dovecot's X-GUID, for UIDL forms. */
START_TEST(fetch_gmid_and_guid)
{
	static const struct {
		const char *items;
		int ok;
		bool has_gmid;
		uint64_t gmid;
		const char *guid;
	} t[] = {
		{ "(UID 1 X-GM-MSGID 1278455344230334865)", 0, true, 1278455344230334865ull, NULL },
		{ "(X-GM-MSGID 18446744073709551615 UID 2)", 0, true, UINT64_MAX, NULL },
		{ "(X-GM-MSGID 18446744073709551616 UID 2)", -1, false, 0, NULL },
		{ "(X-GM-MSGID -1)", -1, false, 0, NULL },
		{ "(X-GM-MSGID abc)", -1, false, 0, NULL },
		{ "(X-GM-MSGID 12x)", -1, false, 0, NULL },
		{ "(UID 3 X-GUID 4a7bc5f2d1e0)", 0, false, 0, "4a7bc5f2d1e0" },
		{ "(X-GUID \"q\\\"g\" UID 3)", 0, false, 0, "q\\\"g" },
		{ "(X-GUID NIL UID 3)", 0, false, 0, NULL },
		{ "(X-GUID (a b) UID 3)", 0, false, 0, NULL },
		{ "(X-GUID \"\" UID 3)", 0, false, 0, "" },
		{ "(X-GUID)", -1, false, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct imap_fetch f;
		const char *error;
		int r = imap_fetch_parse(t[i].items, strlen(t[i].items), false, &f, &error);

		ck_assert_msg(r == t[i].ok, "%s: %d", t[i].items, r);
		if (r != 0)
			continue;
		ck_assert(f.has_gmid == t[i].has_gmid);
		ck_assert(f.gmid == t[i].gmid);
		if (t[i].guid == NULL) {
			ck_assert_ptr_null(f.guid);
		} else {
			ck_assert_uint_eq(f.guid_len, strlen(t[i].guid));
			ck_assert(memcmp(f.guid, t[i].guid, f.guid_len) == 0);
		}
	}
}
END_TEST

START_TEST(fetch_line_helper)
{
	struct imap_fetch f;
	const char *error = NULL;
	const char *ok = "* 3 FETCH (UID 9 BODY[] {5}";

	ck_assert_int_eq(imap_fetch_line(ok, strlen(ok), true, &f, &error), 0);
	ck_assert_uint_eq(f.uid, 9);
	ck_assert(f.ends_with_body_literal);
	/* complete line required without partial */
	ck_assert_int_eq(imap_fetch_line(ok, strlen(ok), false, &f, &error), -1);
	/* other responses are not FETCH: 1 */
	ck_assert_int_eq(imap_fetch_line("* 3 EXISTS", 10, false, &f, &error), 1);
	ck_assert_int_eq(imap_fetch_line("* OK [UIDNEXT 4] x", 18, false, &f, &error), 1);
	ck_assert_int_eq(imap_fetch_line("a1 OK FETCH done", 16, false, &f, &error), 1);
	/* malformed items, malformed line: -1 with an error */
	error = NULL;
	ck_assert_int_eq(imap_fetch_line("* 3 FETCH UID 9", 15, false, &f, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_int_eq(imap_fetch_line("", 0, false, &f, &error), -1);
}
END_TEST

/* Every octet in a keyword: only RFC 3501 ATOM-CHARs belong to it
   (CHAR except CTL, SP and the atom-specials "(){%*\"\\]"). */
START_TEST(test_atom_chars_every_octet)
{
	for (int c = 1; c < 256; c++) {
		char line[] = "* XcY 1";
		struct imap_resp resp;
		const char *error = NULL;
		bool atom = c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
			    c != '%' && c != '*' && c != '"' && c != '\\' && c != ']';
		int r;

		if (c == ' ')
			continue;
		line[3] = (char)c;
		r = imap_resp_parse(line, strlen(line), &resp, &error);
		if (atom) {
			ck_assert_msg(r == 0 && resp.keyword_len == 3, "octet 0x%02x", c);
		} else {
			ck_assert_msg(r < 0, "octet 0x%02x taken into a keyword", c);
		}
	}
}
END_TEST

static Suite *imap_resp_suite(void)
{
	Suite *s = suite_create("imap_resp");
	TCase *tc = tcase_create("resp");

	tcase_add_loop_test(tc, test_resp_table, 0,
			    sizeof(resp_cases) / sizeof(resp_cases[0]));
	tcase_add_test(tc, test_resp_nul_and_deep);
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_unquote);
	tcase_add_test(tc, test_atom_chars_every_octet);
	suite_add_tcase(s, tc);

	tc = tcase_create("fetch");
	tcase_add_loop_test(tc, test_fetch_table, 0,
			    sizeof(fetch_cases) / sizeof(fetch_cases[0]));
	tcase_add_test(tc, test_fetch_from_response);
	tcase_add_test(tc, test_fetch_deep);
	tcase_add_test(tc, test_depth_cap);
	tcase_add_loop_test(tc, list_table, 0, (int)(sizeof(list_cases) / sizeof(list_cases[0])));
	tcase_add_test(tc, list_name_too_long);
	tcase_add_loop_test(tc, date_time_table, 0, (int)(sizeof(date_cases) / sizeof(date_cases[0])));
	tcase_add_test(tc, fetch_internaldate);
	tcase_add_test(tc, fetch_line_helper);
	tcase_add_test(tc, fetch_gmid_and_guid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(imap_resp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
