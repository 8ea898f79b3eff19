/* Incremental IMAP response scanner; contracts in imap_parse.h. */

#include "imap_parse.h"
#include "num.h"

#include <stdlib.h>
#include <string.h>

enum parser_state {
	PARSER_LINE,
	PARSER_LITERAL,
	PARSER_ERROR,
};

struct imap_parser {
	enum parser_state state;
	size_t max_line;
	/* cap + 1 octets (room for the NUL), cap <= max_line: grown as a
	   line needs, given back after a long one (a connection spends its
	   life on short lines). */
	char *line;
	size_t cap;
	size_t line_len;
	/* Where the text after the last literal starts: a marker must lie
	   wholly in it, or "* LIST () "/" {5}\r\nINBOX\r\n" would see the
	   first "{5}" again at the end of the line. */
	size_t seg_start;
	bool reset_line;      /* the last event handed out a finished line */
	bool in_quote;
	bool quote_escape;
	bool saw_cr;
	uint64_t literal_left;
	const char *error;
};

/* A line buffer's first size, and the most it keeps between lines. */
#define PARSER_LINE_START 256
#define PARSER_LINE_KEEP 4096

/* Room for n more octets of line (n <= max_line - line_len); false when
   out of memory. */
static bool parser_room(struct imap_parser *p, size_t n)
{
	size_t cap = p->cap;
	char *line;

	if (p->line_len + n <= cap)
		return true;
	while (cap < p->line_len + n)
		cap = cap > p->max_line / 2 ? p->max_line : cap * 2;
	if ((line = realloc(p->line, cap + 1)) == NULL)
		return false;
	p->line = line;
	p->cap = cap;
	return true;
}

struct imap_parser *imap_parser_new(size_t max_line)
{
	struct imap_parser *p;

	if (max_line == SIZE_MAX)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cap = max_line < PARSER_LINE_START ? max_line : PARSER_LINE_START;
	p->line = malloc(p->cap + 1);
	if (p->line == NULL) {
		free(p);
		return NULL;
	}
	p->line[0] = '\0';
	p->max_line = max_line;
	p->state = PARSER_LINE;
	return p;
}

void imap_parser_free(struct imap_parser **parser)
{
	if (*parser == NULL)
		return;
	free((*parser)->line);
	free(*parser);
	*parser = NULL;
}

uint64_t imap_parser_literal_left(const struct imap_parser *parser)
{
	return parser->state == PARSER_LITERAL ? parser->literal_left : 0;
}

static enum imap_parse_result parser_fail(struct imap_parser *p,
					  struct imap_parse_event *ev,
					  const char *error)
{
	p->state = PARSER_ERROR;
	p->error = error;
	memset(ev, 0, sizeof(*ev));
	ev->error = error;
	return IMAP_PARSE_ERROR;
}

/* 1 and *size_r if the current segment ends with a "{n}" marker, 0 if it
   does not end with one, -1 if it ends with a malformed marker ("{}",
   "{5+}", "{+5}", a size beyond 32 bits). */
static int find_literal(const struct imap_parser *p, uint64_t *size_r)
{
	const char *s = p->line + p->seg_start;
	size_t n = p->line_len - p->seg_start;
	size_t i, open;
	uint64_t size = 0;

	if (n == 0 || s[n - 1] != '}')
		return 0;
	/* "{...}" around something other than digits and '+' is text,
	   e.g. "* OK see {docs}". */
	for (i = n - 1; i > 0; i--) {
		char c = s[i - 1];

		if (c == '{')
			break;
		if ((c < '0' || c > '9') && c != '+')
			return 0;
	}
	if (i == 0)
		return 0;
	open = i - 1;
	if (open + 1 == n - 1)
		return -1;
	if (num_parse_u64(s + open + 1, n - 2 - open, IMAP_MAX_LITERAL, &size) != NUM_OK)
		return -1;
	*size_r = size;
	return 1;
}

static enum imap_parse_result line_end(struct imap_parser *p,
				       struct imap_parse_event *ev)
{
	uint64_t size = 0;
	int r;

	/* A quoted string cannot span lines, so a "{5}" inside an open quote
	   is text and the quote state starts afresh on the next line. */
	r = p->in_quote ? 0 : find_literal(p, &size);
	p->in_quote = false;
	p->quote_escape = false;
	if (r < 0)
		return parser_fail(p, ev, "malformed literal size");

	p->line[p->line_len] = '\0';
	ev->line = p->line;
	ev->line_len = p->line_len;
	if (r > 0) {
		p->state = PARSER_LITERAL;
		p->literal_left = size;
		ev->literal_size = size;
		return IMAP_PARSE_LITERAL_BEGIN;
	}
	p->reset_line = true;
	return IMAP_PARSE_LINE;
}

/* The octets the line loop must look at one by one: line ends, NUL, and
   what changes the quote state. */
static const bool line_special[256] = {
	['\r'] = true, ['\n'] = true, ['\0'] = true, ['"'] = true, ['\\'] = true,
};

static void track_quote(struct imap_parser *p, unsigned char c)
{
	if (!p->in_quote) {
		if (c == '"')
			p->in_quote = true;
	} else if (p->quote_escape) {
		p->quote_escape = false;
	} else if (c == '\\') {
		p->quote_escape = true;
	} else if (c == '"') {
		p->in_quote = false;
	}
}

static enum imap_parse_result feed_literal(struct imap_parser *p,
					   const unsigned char *data,
					   size_t len, size_t *consumed_r,
					   struct imap_parse_event *ev)
{
	size_t n = len;

	if (p->literal_left == 0) {
		/* Needs no input, so a zero-length literal ends even when the
		   caller has nothing more to give. */
		p->state = PARSER_LINE;
		p->seg_start = p->line_len;
		return IMAP_PARSE_LITERAL_END;
	}
	if (len == 0)
		return IMAP_PARSE_NEED_MORE;
	if ((uint64_t)n > p->literal_left)
		n = (size_t)p->literal_left;
	p->literal_left -= n;
	ev->data = data;
	ev->data_len = n;
	*consumed_r = n;
	return IMAP_PARSE_LITERAL_DATA;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p,
					const unsigned char *data, size_t len,
					size_t *consumed_r,
					struct imap_parse_event *ev)
{
	size_t i;

	memset(ev, 0, sizeof(*ev));
	*consumed_r = 0;

	if (p->state == PARSER_ERROR) {
		ev->error = p->error;
		return IMAP_PARSE_ERROR;
	}
	if (p->state == PARSER_LITERAL)
		return feed_literal(p, data, len, consumed_r, ev);

	if (p->reset_line) {
		p->line_len = 0;
		p->seg_start = 0;
		p->reset_line = false;
		if (p->cap > PARSER_LINE_KEEP) {
			char *line = realloc(p->line, PARSER_LINE_START + 1);

			if (line != NULL) {
				p->line = line;
				p->cap = PARSER_LINE_START;
			}
		}
	}
	for (i = 0; i < len; i++) {
		unsigned char c = data[i];
		size_t run, room;

		if (!p->saw_cr && !line_special[c]) {
			/* A run of plain octets is copied in one go; only the
			   octets in line_special need a look of their own. */
			for (run = i + 1; run < len && !line_special[data[run]]; run++)
				;
			room = p->max_line - p->line_len;
			if (run - i > room) {
				*consumed_r = i + room;
				return parser_fail(p, ev, "line too long");
			}
			if (!parser_room(p, run - i)) {
				*consumed_r = i;
				return parser_fail(p, ev, "out of memory");
			}
			memcpy(p->line + p->line_len, data + i, run - i);
			p->line_len += run - i;
			i = run - 1;
			continue;
		}
		if (p->saw_cr) {
			p->saw_cr = false;
			*consumed_r = i;
			if (c != '\n')
				return parser_fail(p, ev, "bare CR in line");
			*consumed_r = i + 1;
			return line_end(p, ev);
		}
		if (c == '\r') {
			p->saw_cr = true;
			continue;
		}
		if (c == '\n') {
			/* Lenient: some servers and test peers end with LF. */
			*consumed_r = i + 1;
			return line_end(p, ev);
		}
		if (c == '\0') {
			*consumed_r = i;
			return parser_fail(p, ev, "NUL in line");
		}
		if (p->line_len >= p->max_line) {
			*consumed_r = i;
			return parser_fail(p, ev, "line too long");
		}
		if (!parser_room(p, 1)) {
			*consumed_r = i;
			return parser_fail(p, ev, "out of memory");
		}
		track_quote(p, c);
		p->line[p->line_len++] = (char)c;
	}
	*consumed_r = len;
	return IMAP_PARSE_NEED_MORE;
}
