#ifndef IMAP_RESP_H
#define IMAP_RESP_H

/*
 * IMAP response-line interpreter. Pure: libc only, no I/O.
 *
 * Works on the line text produced by imap_parse (literal contents replaced
 * by their "{n}" markers). All pointers returned point into the given line;
 * nothing is allocated.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_values.h"

enum imap_resp_kind {
	IMAP_RESP_TAGGED,
	IMAP_RESP_UNTAGGED,
	IMAP_RESP_CONTINUATION, /* "+ text" */
};

enum imap_status {
	IMAP_STATUS_NONE,   /* not a status response (e.g. "* 3 EXISTS") */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

struct imap_resp {
	enum imap_resp_kind kind;
	const char *tag;        /* TAGGED only */
	size_t tag_len;
	enum imap_status status;
	bool has_num;           /* "* <num> KEYWORD" */
	uint32_t num;
	const char *keyword;    /* upper/lower as sent: "OK", "CAPABILITY",
				   "FETCH", "EXISTS"...; NULL for continuation */
	size_t keyword_len;
	const char *code;       /* status responses: inside "[...]", without the
				   brackets, e.g. "UIDVALIDITY 12"; NULL if none */
	size_t code_len;
	const char *text;       /* status: human text after the code;
				   continuation: text after "+ " */
	size_t text_len;
	const char *rest;       /* non-status untagged: everything after the
				   keyword and one space, e.g. the capability
				   atoms or the FETCH "(...)"; "" if none */
	size_t rest_len;
};

/* Returns 0, or -1 with *error_r (static string) when the line is not a
   well-formed response start (empty, no tag, bad number, bad code). */
int imap_resp_parse(const char *line, size_t len, struct imap_resp *resp,
		    const char **error_r);

/* True if the keyword equals `word` case-insensitively. */
bool imap_resp_keyword_is(const struct imap_resp *resp, const char *word);

/* Capability bits: the extensions popgate uses. */
enum imap_cap {
	IMAP_CAP_SASL_IR       = 1u << 0,
	IMAP_CAP_AUTH_PLAIN    = 1u << 1,
	IMAP_CAP_LOGINDISABLED = 1u << 2,
	IMAP_CAP_LITERALPLUS   = 1u << 3, /* LITERAL+ */
	IMAP_CAP_LITERALMINUS  = 1u << 4, /* LITERAL- */
	IMAP_CAP_STARTTLS      = 1u << 5,
	IMAP_CAP_UIDPLUS       = 1u << 6,
	IMAP_CAP_MOVE          = 1u << 7,
	IMAP_CAP_CONDSTORE     = 1u << 8,
	IMAP_CAP_QRESYNC       = 1u << 9,
	IMAP_CAP_ENABLE        = 1u << 10,
	IMAP_CAP_ID            = 1u << 11,
	IMAP_CAP_SPECIAL_USE   = 1u << 12,
	IMAP_CAP_NAMESPACE     = 1u << 13,
	IMAP_CAP_UTF8_ACCEPT   = 1u << 14, /* UTF8=ACCEPT, or UTF8=ONLY
					      which implies it (RFC 6855) */
	IMAP_CAP_AUTH_XOAUTH2  = 1u << 15,
	IMAP_CAP_AUTH_OAUTHBEARER = 1u << 16,
	IMAP_CAP_X_GM_EXT_1    = 1u << 17, /* Gmail: X-GM-MSGID and others */
};
#define IMAP_CAP_COUNT 18

/* Parses space-separated capability atoms (the rest of "* CAPABILITY", or
   a "CAPABILITY ..." response code after the word) into bits; unknown
   atoms are ignored. Case-insensitive. */
unsigned int imap_caps_parse(const char *s, size_t len);

/* If the response code is "<name> <number>" (e.g. "UIDVALIDITY 3857529045"),
   stores the 32-bit number and returns 0; otherwise -1. */
int imap_code_number(const struct imap_resp *resp, const char *name,
		     uint32_t *num_r);
/* The same for a number up to max (HIGHESTMODSEQ: 63 bits, RFC 7162). */
int imap_code_number64(const struct imap_resp *resp, const char *name,
		       uint64_t max, uint64_t *num_r);

/* If the response code starts with the atom `name` (case-insensitive,
   e.g. "CAPABILITY", "ALERT"), returns true and sets *args_r and
   *args_len_r to what follows it (after one space, possibly empty). */
bool imap_code_is(const struct imap_resp *resp, const char *name,
		  const char **args_r, size_t *args_len_r);

/* Message flags popgate uses. */
enum imap_flag {
	IMAP_FLAG_SEEN     = 1u << 0,
	IMAP_FLAG_DELETED  = 1u << 1,
};

enum imap_value_kind {
	IMAP_VALUE_NONE,
	IMAP_VALUE_LITERAL, /* "{n}" marker: contents streamed separately */
	IMAP_VALUE_QUOTED,  /* "..." : raw (still escaped) text in value */
	IMAP_VALUE_NIL,
};

/* One BODY[section]<origin> item. */
struct imap_fetch_body {
	char section[64];      /* e.g. "", "HEADER", "TEXT", NUL-terminated,
				  upper-cased as sent */
	bool has_origin;
	uint32_t origin;       /* "<n>" after the section */
	enum imap_value_kind kind;
	uint64_t literal_size; /* LITERAL */
	const char *value;     /* QUOTED: between the quotes, still escaped */
	size_t value_len;
};

struct imap_fetch {
	bool has_uid;
	uint32_t uid;
	bool has_size;
	uint64_t size;         /* RFC822.SIZE */
	bool has_flags;
	unsigned int flags;    /* enum imap_flag bits */
	bool has_internaldate;
	int64_t internaldate;  /* INTERNALDATE as unix time (UTC) */
	bool has_gmid;
	uint64_t gmid;         /* X-GM-MSGID (Gmail, X-GM-EXT-1) */
	const char *guid;      /* X-GUID (Dovecot): an atom or the inside of a
				  quoted string (still escaped), in the input;
				  NULL when absent */
	size_t guid_len;
	unsigned int body_count;     /* BODY[...] items seen */
	struct imap_fetch_body body; /* the last BODY[...] item seen */
	/* partial only: the input ends right after the "{n}" of `body`, so
	   the literal being streamed is that body's contents. False when it
	   ends after the literal of any other item (e.g. inside ENVELOPE):
	   the caller should then discard that literal. */
	bool ends_with_body_literal;
};

/*
 * Parses a FETCH item list: the `rest` of "* n FETCH (...)". Unknown items
 * (MODSEQ (n), INTERNALDATE "...", ENVELOPE (...), BODYSTRUCTURE ...) are
 * skipped, including nested lists and quoted strings.
 * partial = true accepts input that stops right after a literal marker or
 * between items without the closing ")" (the LITERAL_BEGIN prefix); the
 * last item is then the one the literal belongs to.
 * RFC822, RFC822.HEADER and RFC822.TEXT are reported as BODY[], BODY[HEADER]
 * and BODY[TEXT]; BINARY[...] like BODY[...]. UID 0, numbers beyond 32 bits
 * (RFC822.SIZE: 63 bits, X-GM-MSGID: 64) and lists nested deeper than 32
 * are errors. An X-GUID that is no atom or quoted string (a literal, NIL)
 * is skipped.
 * Returns 0, or -1 with *error_r.
 */
int imap_fetch_parse(const char *items, size_t len, bool partial,
		     struct imap_fetch *fetch, const char **error_r);

/*
 * A "* <n> FETCH (...)" response: 0 and *fetch when resp is one and its
 * items parse (imap_fetch_parse, partial as there); 1 when resp is some
 * other response; -1 with *error_r when its items are malformed.
 */
int imap_fetch_resp(const struct imap_resp *resp, bool partial,
		    struct imap_fetch *fetch, const char **error_r);

/* The same from a line's text (a LITERAL_BEGIN prefix with partial);
   -1 also when the line is no well-formed response. */
int imap_fetch_line(const char *line, size_t len, bool partial,
		    struct imap_fetch *fetch, const char **error_r);


#endif
