#ifndef IMAP_PARSE_H
#define IMAP_PARSE_H

/*
 * Incremental IMAP response scanner. Pure: libc only, no I/O.
 *
 * Splits the server's byte stream into response lines and literals. Line
 * text is collected (bounded); literal contents are never collected: they
 * are handed out as pointers into the caller's input, chunk by chunk, so a
 * 10 MB BODY[] streams through without being held in memory.
 *
 * Event sequence for "* 1 FETCH (BODY[] {5}\r\nhello)\r\n":
 *   LITERAL_BEGIN  line = "* 1 FETCH (BODY[] {5}", literal_size = 5
 *   LITERAL_DATA   data = "hello" (possibly several events)
 *   LITERAL_END
 *   LINE           line = "* 1 FETCH (BODY[] {5})"
 * The line text keeps each literal's "{n}" marker in place of its contents
 * (literal8 "~{n}" is kept as "~{n}"), so a line interpreter sees where a
 * literal stood. A zero-length literal gives BEGIN then END.
 *
 * "{n}" counts as a literal only at the end of a line outside a quoted
 * string. Sizes above IMAP_MAX_LITERAL, and "{n+}" (client-only syntax),
 * are errors.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_MAX_LITERAL 0xffffffffULL /* RFC 3501 number: 32 bits */

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE,     /* all input consumed */
	IMAP_PARSE_LINE,          /* a complete response line */
	IMAP_PARSE_LITERAL_BEGIN, /* a literal starts; line = text so far */
	IMAP_PARSE_LITERAL_DATA,  /* some literal octets */
	IMAP_PARSE_LITERAL_END,   /* the literal is complete */
	IMAP_PARSE_ERROR,         /* protocol violation; parser unusable */
};

struct imap_parse_event {
	/* LINE and LITERAL_BEGIN: NUL-terminated, valid until the next feed */
	const char *line;
	size_t line_len;
	/* LITERAL_BEGIN */
	uint64_t literal_size;
	/* LITERAL_DATA: points into the input given to this feed */
	const unsigned char *data;
	size_t data_len;
	/* ERROR: static string */
	const char *error;
};

struct imap_parser;

/* max_line: longest line text accepted (literal contents excluded),
   e.g. 65536. Returns NULL only on allocation failure. */
struct imap_parser *imap_parser_new(size_t max_line);
void imap_parser_free(struct imap_parser **parser);

/* Bytes of the current literal not yet delivered (0 outside a literal). */
uint64_t imap_parser_literal_left(const struct imap_parser *parser);

/*
 * Consumes input until one event is complete, then returns it; every
 * consumed byte is reported in *consumed_r (the caller drains that much and
 * may feed the rest again later). LITERAL_DATA carries at most `len` octets:
 * callers that need backpressure pass a smaller len.
 * After ERROR the parser stays in error.
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *parser,
					const unsigned char *data, size_t len,
					size_t *consumed_r,
					struct imap_parse_event *ev);

#endif
