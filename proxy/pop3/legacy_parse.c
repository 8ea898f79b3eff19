/* Replies of a legacy POP3 server; contracts in legacy_parse.h. */

#include "legacy_parse.h"

#include <string.h>
#include <strings.h>

#include "num.h"

void legacy_reader_init(struct legacy_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void legacy_reader_expect(struct legacy_reader *r, bool multi_line)
{
	r->want_body = multi_line;
	r->in_body = false;
}

static enum legacy_line_kind legacy_reader_fail(struct legacy_reader *r, struct legacy_line *out,
						const char *error)
{
	r->failed = true;
	r->error = error;
	out->kind = LEGACY_LINE_ERROR;
	out->text = NULL;
	out->len = 0;
	out->error = error;
	return LEGACY_LINE_ERROR;
}

/* "+OK" or "-ERR" (any case), then the end or a space and the text. */
static bool legacy_status_word(const char *s, size_t len, const char *word, size_t *skip)
{
	size_t n = strlen(word);

	if (len < n || strncasecmp(s, word, n) != 0)
		return false;
	if (len == n) {
		*skip = n;
		return true;
	}
	if (s[n] != ' ')
		return false;
	*skip = n + 1;
	return true;
}

/* The complete line r->buf[0..len) without its line end. */
static enum legacy_line_kind legacy_reader_line(struct legacy_reader *r, size_t len,
						struct legacy_line *out)
{
	const char *s = r->buf;
	size_t skip;

	if (memchr(s, '\0', len) != NULL)
		return legacy_reader_fail(r, out, "NUL in a reply line");
	if (memchr(s, '\r', len) != NULL)
		return legacy_reader_fail(r, out, "CR inside a reply line");
	out->error = NULL;
	if (r->in_body) {
		if (len == 1 && s[0] == '.') {
			r->in_body = false;
			r->want_body = false;
			out->kind = LEGACY_LINE_END;
			out->text = s;
			out->len = 0;
			return LEGACY_LINE_END;
		}
		/* RFC 1939 byte-stuffing: a line that begins with "." got
		   one more. */
		skip = len > 0 && s[0] == '.' ? 1 : 0;
		out->kind = LEGACY_LINE_DATA;
		out->text = s + skip;
		out->len = len - skip;
		return LEGACY_LINE_DATA;
	}
	if (legacy_status_word(s, len, "+OK", &skip)) {
		out->kind = LEGACY_LINE_OK;
		r->in_body = r->want_body;
	} else if (legacy_status_word(s, len, "-ERR", &skip)) {
		out->kind = LEGACY_LINE_ERR;
		r->want_body = false;
	} else {
		return legacy_reader_fail(r, out, "reply is neither +OK nor -ERR");
	}
	out->text = s + skip;
	out->len = len - skip;
	return out->kind;
}

enum legacy_line_kind legacy_reader_feed(struct legacy_reader *r, const char *data, size_t len,
					 size_t *used, struct legacy_line *out)
{
	const char *lf;
	size_t take, line_len;

	*used = 0;
	if (r->failed)
		return legacy_reader_fail(r, out, r->error);
	lf = memchr(data, '\n', len);
	take = lf != NULL ? (size_t)(lf - data) : len;
	/* The buffer holds LEGACY_LINE_MAX and a CR. */
	if (r->len + take > LEGACY_LINE_MAX + 1) {
		*used = take;
		return legacy_reader_fail(r, out, "reply line too long");
	}
	memcpy(r->buf + r->len, data, take);
	r->len += take;
	if (lf == NULL) {
		*used = len;
		/* Only a CR may follow the longest line. */
		if (r->len == LEGACY_LINE_MAX + 1 && r->buf[LEGACY_LINE_MAX] != '\r')
			return legacy_reader_fail(r, out, "reply line too long");
		out->kind = LEGACY_LINE_NEED_MORE;
		out->text = NULL;
		out->len = 0;
		out->error = NULL;
		return LEGACY_LINE_NEED_MORE;
	}
	*used = take + 1;
	line_len = r->len;
	if (line_len > 0 && r->buf[line_len - 1] == '\r')
		line_len--;
	r->len = 0;
	if (line_len > LEGACY_LINE_MAX)
		return legacy_reader_fail(r, out, "reply line too long");
	r->buf[line_len] = '\0';
	return legacy_reader_line(r, line_len, out);
}

/* "<msg> " at the start of line: the message number, 1..max_msg, and a
   single space after it. */
static int legacy_parse_msg(const char *line, size_t len, uint32_t max_msg, size_t *pos,
			    uint32_t *msg, const char **error_r)
{
	uint64_t v;

	*pos = 0;
	if (max_msg == 0 || num_scan_u64(line, len, pos, max_msg, &v) != NUM_OK || v == 0) {
		*error_r = "bad message number";
		return -1;
	}
	if (*pos >= len || line[*pos] != ' ') {
		*error_r = "no space after the message number";
		return -1;
	}
	(*pos)++;
	*msg = (uint32_t)v;
	return 0;
}

int legacy_parse_uidl(const char *line, size_t len, uint32_t max_msg, uint32_t *msg,
		      char *uidl, const char **error_r)
{
	size_t pos, n;

	if (legacy_parse_msg(line, len, max_msg, &pos, msg, error_r) < 0)
		return -1;
	n = len - pos;
	if (n == 0 || n > LEGACY_UIDL_MAX) {
		*error_r = "UIDL not of 1..70 octets";
		return -1;
	}
	for (size_t i = pos; i < len; i++) {
		if ((unsigned char)line[i] < 0x21 || (unsigned char)line[i] > 0x7e) {
			*error_r = "UIDL octet outside 0x21..0x7e";
			return -1;
		}
	}
	memcpy(uidl, line + pos, n);
	uidl[n] = '\0';
	return 0;
}

int legacy_parse_list(const char *line, size_t len, uint32_t max_msg, uint32_t *msg,
		      uint64_t *size, const char **error_r)
{
	size_t pos;

	if (legacy_parse_msg(line, len, max_msg, &pos, msg, error_r) < 0)
		return -1;
	if (num_scan_u64(line, len, &pos, INT64_MAX, size) != NUM_OK ||
	    (pos < len && line[pos] != ' ')) {
		*error_r = "bad size";
		return -1;
	}
	return 0;
}
