#ifndef LEGACY_PARSE_H
#define LEGACY_PARSE_H

/*
 * Replies of a legacy POP3 server (RFC 1939), as popgate's lazy UIDL
 * import reads them (legacy_pop3.h). Pure: libc only.
 *
 * A reader takes the octets as they arrive, in pieces of any size, and
 * gives one line at a time: a status line (+OK / -ERR), or, after a +OK
 * to a multi-line command, the body's lines dot-unstuffed and then its
 * end ("."). Lines end in CRLF; a bare LF is taken as well (some old
 * servers), a CR elsewhere, a NUL or a line longer than LEGACY_LINE_MAX
 * is an error that ends the reader (the server is not trusted further).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line taken, without its CRLF: RFC 2449 allows status lines of
   512 octets; header lines of TOP may be up to RFC 5322's 998 octets and
   more from broken mailers, so room for that. */
#define LEGACY_LINE_MAX 4096
/* A UIDL: RFC 1939, 1..70 octets of 0x21..0x7e. */
#define LEGACY_UIDL_MAX 70

enum legacy_line_kind {
	LEGACY_LINE_NEED_MORE,   /* every octet given was taken; no line yet */
	LEGACY_LINE_OK,          /* "+OK[ text]" */
	LEGACY_LINE_ERR,         /* "-ERR[ text]" */
	LEGACY_LINE_DATA,        /* a line of a multi-line body, unstuffed */
	LEGACY_LINE_END,         /* the body's "." */
	LEGACY_LINE_ERROR,       /* garbage; the reader stays in error */
};

struct legacy_line {
	enum legacy_line_kind kind;
	const char *text;        /* OK/ERR: after "+OK "/"-ERR "; DATA: the
				    line; valid until the next feed */
	size_t len;
	const char *error;       /* ERROR: static text */
};

struct legacy_reader {
	char buf[LEGACY_LINE_MAX + 2];
	size_t len;
	bool want_body;          /* the command in flight is multi-line */
	bool in_body;            /* its +OK came: lines are DATA until "." */
	bool failed;
	const char *error;
};

void legacy_reader_init(struct legacy_reader *r);
/* Before each command: whether a +OK to it starts a multi-line body
   (UIDL, LIST, TOP without an argument... as the caller sends them). */
void legacy_reader_expect(struct legacy_reader *r, bool multi_line);

/*
 * Takes octets of data[0..len) up to and including the end of the next
 * line, *used says how many. Returns the line's kind (also in out):
 * NEED_MORE when all of data was taken without a line end. After ERROR
 * every call returns ERROR again.
 */
enum legacy_line_kind legacy_reader_feed(struct legacy_reader *r, const char *data, size_t len,
					 size_t *used, struct legacy_line *out);

/* One line of a UIDL body: "<msg> <uidl>", msg 1..max_msg. 0, or -1
   with a static *error_r. uidl gets LEGACY_UIDL_MAX + 1 octets. */
int legacy_parse_uidl(const char *line, size_t len, uint32_t max_msg, uint32_t *msg,
		      char *uidl, const char **error_r);
/* One line of a LIST body: "<msg> <size>", then anything (RFC 1939 lets
   servers add more after a space). 0, or -1 with *error_r. */
int legacy_parse_list(const char *line, size_t len, uint32_t max_msg, uint32_t *msg,
		      uint64_t *size, const char **error_r);

#endif
