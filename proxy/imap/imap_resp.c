/* IMAP response-line interpreter; contracts in imap_resp.h. */

#include "imap_resp.h"
#include "num.h"
#include "text.h"

#include <string.h>

/* Lists nest only a few levels in real responses (BODYSTRUCTURE of a
   deeply nested MIME tree is the worst); the cap keeps hostile input from
   costing anything and keeps the depth counters small. */
#define IMAP_MAX_DEPTH 32

static const char empty[] = "";


/* RFC 3501 ATOM-CHAR: CHAR minus atom-specials. A table, because every
   octet of every listing line passes through here. */
#define ATOM_RUN(a) [a] = 1, [a + 1] = 1, [a + 2] = 1, [a + 3] = 1, \
	[a + 4] = 1, [a + 5] = 1, [a + 6] = 1, [a + 7] = 1
static const unsigned char atom_chars[256] = {
	[0x21] = 1, [0x23] = 1, [0x24] = 1, [0x26] = 1, [0x27] = 1,
	[0x2b] = 1, [0x2c] = 1, [0x2d] = 1, [0x2e] = 1, [0x2f] = 1,
	ATOM_RUN(0x30), ATOM_RUN(0x38), ATOM_RUN(0x40), ATOM_RUN(0x48),
	ATOM_RUN(0x50), [0x58] = 1, [0x59] = 1, [0x5a] = 1, [0x5b] = 1,
	[0x5e] = 1, [0x5f] = 1, ATOM_RUN(0x60), ATOM_RUN(0x68), ATOM_RUN(0x70),
	[0x78] = 1, [0x79] = 1, [0x7a] = 1, [0x7c] = 1, [0x7d] = 1, [0x7e] = 1,
};
#undef ATOM_RUN

static bool is_atom_char(char ch)
{
	return atom_chars[(unsigned char)ch] != 0;
}

/* Digits at *pos (at least one) up to max; *pos moves past them. */
static int parse_number(const char *s, size_t len, size_t *pos, uint64_t max,
			uint64_t *num_r)
{
	size_t i = *pos;

	if (num_scan_u64(s, len, &i, max, num_r) != NUM_OK)
		return -1;
	*pos = i;
	return 0;
}

static enum imap_status status_of(const char *word, size_t len)
{
	if (ascii_eq(word, len, "OK"))
		return IMAP_STATUS_OK;
	if (ascii_eq(word, len, "NO"))
		return IMAP_STATUS_NO;
	if (ascii_eq(word, len, "BAD"))
		return IMAP_STATUS_BAD;
	if (ascii_eq(word, len, "PREAUTH"))
		return IMAP_STATUS_PREAUTH;
	if (ascii_eq(word, len, "BYE"))
		return IMAP_STATUS_BYE;
	return IMAP_STATUS_NONE;
}

/* Finds the "]" closing a response code that starts at `start`. Lists and
   quoted strings are skipped because "]" may appear inside them
   (BADCHARSET astrings); "[" is not counted because the free text of e.g.
   ALERT may contain it. */
static int find_code_end(const char *s, size_t len, size_t start,
			 size_t *end_r, const char **error_r)
{
	unsigned int depth = 0;
	bool in_quote = false, escape = false;
	size_t i;

	for (i = start; i < len; i++) {
		char c = s[i];

		if (in_quote) {
			if (escape)
				escape = false;
			else if (c == '\\')
				escape = true;
			else if (c == '"')
				in_quote = false;
			continue;
		}
		switch (c) {
		case '"':
			in_quote = true;
			break;
		case '(':
			if (++depth > IMAP_MAX_DEPTH) {
				*error_r = "response code nested too deeply";
				return -1;
			}
			break;
		case ')':
			if (depth == 0) {
				*error_r = "unbalanced parentheses in response code";
				return -1;
			}
			depth--;
			break;
		case ']':
			if (depth == 0) {
				*end_r = i;
				return 0;
			}
			break;
		default:
			break;
		}
	}
	*error_r = "unterminated response code";
	return -1;
}

/* resp-text: ["[" code "]" SP] text, starting at pos. */
static int parse_resp_text(const char *s, size_t len, size_t pos,
			   struct imap_resp *resp, const char **error_r)
{
	size_t end;

	if (pos < len && s[pos] == '[') {
		if (pos + 1 >= len || !is_atom_char(s[pos + 1])) {
			*error_r = "bad response code";
			return -1;
		}
		if (find_code_end(s, len, pos + 1, &end, error_r) < 0)
			return -1;
		resp->code = s + pos + 1;
		resp->code_len = end - pos - 1;
		pos = end + 1;
		if (pos < len) {
			if (s[pos] != ' ') {
				*error_r = "garbage after response code";
				return -1;
			}
			pos++;
		}
	}
	resp->text = s + pos;
	resp->text_len = len - pos;
	return 0;
}

static int resp_fail(struct imap_resp *resp, const char **error_r,
		     const char *error)
{
	memset(resp, 0, sizeof(*resp));
	resp->text = empty;
	resp->rest = empty;
	*error_r = error;
	return -1;
}

static int parse_continuation(const char *line, size_t len,
			      struct imap_resp *resp)
{
	const char *error;
	size_t pos = 1;

	resp->kind = IMAP_RESP_CONTINUATION;
	/* Some servers send a bare "+" with no space. */
	if (pos < len && line[pos] == ' ')
		pos++;
	/* A continuation may carry base64 or anything else: a code that does
	   not parse just leaves the whole thing as text. */
	if (parse_resp_text(line, len, pos, resp, &error) < 0) {
		resp->code = NULL;
		resp->code_len = 0;
		resp->text = line + pos;
		resp->text_len = len - pos;
	}
	return 0;
}

int imap_resp_parse(const char *line, size_t len, struct imap_resp *resp,
		    const char **error_r)
{
	size_t pos = 0, start;
	uint64_t num;

	memset(resp, 0, sizeof(*resp));
	resp->text = empty;
	resp->rest = empty;
	if (len == 0)
		return resp_fail(resp, error_r, "empty response line");
	if (memchr(line, '\0', len) != NULL)
		return resp_fail(resp, error_r, "NUL in response line");
	if (line[0] == '+')
		return parse_continuation(line, len, resp);

	if (line[0] == '*') {
		resp->kind = IMAP_RESP_UNTAGGED;
		pos = 1;
	} else {
		/* tag = 1*<any ASTRING-CHAR except "+"> */
		while (pos < len && line[pos] != '+' &&
		       (is_atom_char(line[pos]) || line[pos] == ']'))
			pos++;
		if (pos == 0)
			return resp_fail(resp, error_r, "missing tag");
		resp->kind = IMAP_RESP_TAGGED;
		resp->tag = line;
		resp->tag_len = pos;
	}
	if (pos >= len || line[pos] != ' ')
		return resp_fail(resp, error_r, "missing space after tag");
	pos++;

	if (resp->kind == IMAP_RESP_UNTAGGED && pos < len &&
	    is_digit(line[pos])) {
		if (parse_number(line, len, &pos, UINT32_MAX, &num) < 0)
			return resp_fail(resp, error_r, "bad number");
		if (pos >= len || line[pos] != ' ')
			return resp_fail(resp, error_r,
					 "missing keyword after number");
		pos++;
		resp->has_num = true;
		resp->num = (uint32_t)num;
	}

	start = pos;
	while (pos < len && is_atom_char(line[pos]))
		pos++;
	if (pos == start)
		return resp_fail(resp, error_r, "missing keyword");
	if (pos < len && line[pos] != ' ')
		return resp_fail(resp, error_r, "garbage after keyword");
	resp->keyword = line + start;
	resp->keyword_len = pos - start;
	if (pos < len)
		pos++;
	resp->rest = line + pos;
	resp->rest_len = len - pos;

	resp->status = status_of(resp->keyword, resp->keyword_len);
	if (resp->status == IMAP_STATUS_NONE) {
		if (resp->kind == IMAP_RESP_TAGGED)
			return resp_fail(resp, error_r,
					 "tagged response is not OK/NO/BAD");
		return 0;
	}
	if (resp->has_num)
		return resp_fail(resp, error_r, "number before status");
	if (resp->kind == IMAP_RESP_TAGGED &&
	    (resp->status == IMAP_STATUS_PREAUTH ||
	     resp->status == IMAP_STATUS_BYE))
		return resp_fail(resp, error_r,
				 "tagged response is not OK/NO/BAD");
	if (parse_resp_text(line, len, pos, resp, error_r) < 0)
		return resp_fail(resp, error_r, *error_r);
	return 0;
}

bool imap_resp_keyword_is(const struct imap_resp *resp, const char *word)
{
	return resp->keyword != NULL &&
	       ascii_eq(resp->keyword, resp->keyword_len, word);
}

static const struct {
	const char *name;
	unsigned int bit;
} cap_names[] = {
	{ "SASL-IR", IMAP_CAP_SASL_IR },
	{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
	{ "AUTH=XOAUTH2", IMAP_CAP_AUTH_XOAUTH2 },
	{ "AUTH=OAUTHBEARER", IMAP_CAP_AUTH_OAUTHBEARER },
	{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED },
	{ "LITERAL+", IMAP_CAP_LITERALPLUS },
	{ "LITERAL-", IMAP_CAP_LITERALMINUS },
	{ "STARTTLS", IMAP_CAP_STARTTLS },
	{ "UIDPLUS", IMAP_CAP_UIDPLUS },
	{ "MOVE", IMAP_CAP_MOVE },
	{ "CONDSTORE", IMAP_CAP_CONDSTORE },
	{ "QRESYNC", IMAP_CAP_QRESYNC },
	{ "ENABLE", IMAP_CAP_ENABLE },
	{ "ID", IMAP_CAP_ID },
	{ "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
	{ "NAMESPACE", IMAP_CAP_NAMESPACE },
	{ "UTF8=ACCEPT", IMAP_CAP_UTF8_ACCEPT },
	{ "UTF8=ONLY", IMAP_CAP_UTF8_ACCEPT },
	{ "X-GM-EXT-1", IMAP_CAP_X_GM_EXT_1 },
};

unsigned int imap_caps_parse(const char *s, size_t len)
{
	unsigned int caps = 0;
	size_t pos = 0, start, i;

	while (pos < len) {
		while (pos < len && (s[pos] == ' ' || s[pos] == '\t'))
			pos++;
		start = pos;
		while (pos < len && s[pos] != ' ' && s[pos] != '\t')
			pos++;
		if (pos == start)
			break;
		for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
			if (ascii_eq(s + start, pos - start, cap_names[i].name)) {
				caps |= cap_names[i].bit;
				break;
			}
		}
	}
	return caps;
}

bool imap_code_is(const struct imap_resp *resp, const char *name,
		  const char **args_r, size_t *args_len_r)
{
	size_t n = strlen(name);

	if (resp->code == NULL || resp->code_len < n ||
	    !ascii_eq(resp->code, n, name))
		return false;
	if (resp->code_len == n) {
		*args_r = resp->code + n;
		*args_len_r = 0;
		return true;
	}
	if (resp->code[n] != ' ')
		return false;
	*args_r = resp->code + n + 1;
	*args_len_r = resp->code_len - n - 1;
	return true;
}

int imap_code_number64(const struct imap_resp *resp, const char *name,
		       uint64_t max, uint64_t *num_r)
{
	const char *args;
	size_t args_len;

	if (!imap_code_is(resp, name, &args, &args_len) ||
	    num_parse_u64(args, args_len, max, num_r) != NUM_OK)
		return -1;
	return 0;
}

int imap_code_number(const struct imap_resp *resp, const char *name,
		     uint32_t *num_r)
{
	uint64_t num;

	if (imap_code_number64(resp, name, UINT32_MAX, &num) < 0)
		return -1;
	*num_r = (uint32_t)num;
	return 0;
}

/* ---- FETCH item lists ---- */

struct cursor {
	const char *s;
	size_t len;
	size_t pos;
	bool partial;
	const char *error;
};

static int cur_fail(struct cursor *c, const char *error)
{
	c->error = error;
	return -1;
}

static bool cur_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

static char cur_peek(const struct cursor *c)
{
	return c->pos < c->len ? c->s[c->pos] : '\0';
}

/* What may follow a value: a space, the closing ")", or the end. */
static bool at_delimiter(const struct cursor *c)
{
	return cur_end(c) || c->s[c->pos] == ' ' || c->s[c->pos] == ')';
}

static bool is_literal_start(const struct cursor *c)
{
	char ch = cur_peek(c);

	return ch == '{' ||
	       (ch == '~' && c->pos + 1 < c->len && c->s[c->pos + 1] == '{');
}

/* "{n}" or "~{n}" as left in the line text by imap_parse. */
static int parse_literal_marker(struct cursor *c, uint64_t *size_r)
{
	if (cur_peek(c) == '~')
		c->pos++;
	c->pos++; /* '{' */
	if (parse_number(c->s, c->len, &c->pos, 0xffffffffULL, size_r) < 0 ||
	    cur_peek(c) != '}')
		return cur_fail(c, "bad literal marker");
	c->pos++;
	return 0;
}

/* Skips a quoted string; *start_r and *len_r give its raw contents. */
static int skip_quoted(struct cursor *c, size_t *start_r, size_t *len_r)
{
	size_t start = ++c->pos;

	while (c->pos < c->len) {
		char ch = c->s[c->pos];

		if (ch == '\\') {
			c->pos += 2;
			continue;
		}
		if (ch == '"') {
			*start_r = start;
			*len_r = c->pos - start;
			c->pos++;
			return 0;
		}
		c->pos++;
	}
	c->pos = c->len;
	return cur_fail(c, "unterminated quoted string");
}

static int skip_atom(struct cursor *c)
{
	size_t start = c->pos;

	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->s[c->pos];

		if (ch <= 0x20 || ch == 0x7f || ch == '(' || ch == ')' ||
		    ch == '"')
			break;
		c->pos++;
	}
	if (c->pos == start)
		return cur_fail(c, "bad value");
	return 0;
}

/* Skips one value of an unknown item, lists included, without recursing.
   In partial mode the input may stop right after a literal marker inside a
   list: that literal belongs to this item. */
static int skip_value(struct cursor *c)
{
	unsigned int depth = 0;
	uint64_t size;
	size_t qs, ql;

	for (;;) {
		char ch;

		if (cur_end(c))
			return cur_fail(c, depth > 0 ? "unterminated list" :
						       "missing value");
		ch = c->s[c->pos];
		if (ch == '(') {
			if (++depth > IMAP_MAX_DEPTH)
				return cur_fail(c, "list nested too deeply");
			c->pos++;
			continue;
		}
		if (ch == ')') {
			if (depth == 0)
				return cur_fail(c, "missing value");
			depth--;
			c->pos++;
		} else if (ch == ' ' && depth > 0) {
			c->pos++;
			continue;
		} else if (ch == '"') {
			if (skip_quoted(c, &qs, &ql) < 0)
				return -1;
		} else if (is_literal_start(c)) {
			if (parse_literal_marker(c, &size) < 0)
				return -1;
			if (cur_end(c) && c->partial)
				return 0;
		} else if (skip_atom(c) < 0) {
			return -1;
		}
		if (depth == 0)
			return 0;
	}
}

static int parse_item_number(struct cursor *c, uint64_t max, uint64_t *num_r)
{
	if (parse_number(c->s, c->len, &c->pos, max, num_r) < 0 ||
	    !at_delimiter(c))
		return cur_fail(c, "bad number");
	return 0;
}

static const struct {
	const char *name;
	unsigned int bit;
} flag_names[] = {
	{ "\\Seen", IMAP_FLAG_SEEN },
	{ "\\Deleted", IMAP_FLAG_DELETED },
};

static int parse_flags(struct cursor *c, unsigned int *flags_r)
{
	unsigned int flags = 0;
	size_t start, i;

	if (cur_peek(c) != '(')
		return cur_fail(c, "FLAGS is not a list");
	c->pos++;
	for (;;) {
		while (cur_peek(c) == ' ')
			c->pos++;
		if (cur_end(c))
			return cur_fail(c, "unterminated FLAGS list");
		if (c->s[c->pos] == ')') {
			c->pos++;
			*flags_r = flags;
			return 0;
		}
		start = c->pos;
		if (skip_atom(c) < 0)
			return cur_fail(c, "bad flag");
		for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
			if (ascii_eq(c->s + start, c->pos - start,
				     flag_names[i].name)) {
				flags |= flag_names[i].bit;
				break;
			}
		}
	}
}

/* "[section]" at c->pos; copies it upper-cased (truncated) into section,
   which may be NULL. */
static int parse_section(struct cursor *c, char *section, size_t size)
{
	unsigned int depth = 0;
	bool in_quote = false, escape = false;
	size_t n = 0;

	for (c->pos++; c->pos < c->len; c->pos++) {
		char ch = c->s[c->pos];

		if (in_quote) {
			if (escape)
				escape = false;
			else if (ch == '\\')
				escape = true;
			else if (ch == '"')
				in_quote = false;
		} else if (ch == '"') {
			in_quote = true;
		} else if (ch == '(') {
			if (++depth > IMAP_MAX_DEPTH)
				return cur_fail(c, "section nested too deeply");
		} else if (ch == ')') {
			if (depth == 0)
				return cur_fail(c, "unbalanced section");
			depth--;
		} else if (ch == ']' && depth == 0) {
			c->pos++;
			if (section != NULL)
				section[n] = '\0';
			return 0;
		}
		if (section != NULL && n + 1 < size)
			section[n++] = ascii_upper(ch);
	}
	return cur_fail(c, "unterminated section");
}

static int parse_body_value(struct cursor *c, struct imap_fetch *f,
			    struct imap_fetch_body *body)
{
	size_t qs, ql;

	if (is_literal_start(c)) {
		if (parse_literal_marker(c, &body->literal_size) < 0)
			return -1;
		body->kind = IMAP_VALUE_LITERAL;
		if (cur_end(c) && c->partial)
			f->ends_with_body_literal = true;
	} else if (cur_peek(c) == '"') {
		if (skip_quoted(c, &qs, &ql) < 0)
			return -1;
		body->kind = IMAP_VALUE_QUOTED;
		body->value = c->s + qs;
		body->value_len = ql;
	} else if (c->len - c->pos >= 3 && ascii_eq(c->s + c->pos, 3, "NIL")) {
		c->pos += 3;
		body->kind = IMAP_VALUE_NIL;
	} else {
		return cur_fail(c, "bad body value");
	}
	if (!at_delimiter(c))
		return cur_fail(c, "garbage after body value");
	f->body = *body;
	f->body_count++;
	return 0;
}

/* RFC822, RFC822.HEADER and RFC822.TEXT are the old names of BODY[],
   BODY[HEADER] and BODY[TEXT]. */
static const char *rfc822_section(const char *name, size_t len)
{
	if (ascii_eq(name, len, "RFC822"))
		return "";
	if (ascii_eq(name, len, "RFC822.HEADER"))
		return "HEADER";
	if (ascii_eq(name, len, "RFC822.TEXT"))
		return "TEXT";
	return NULL;
}

static int parse_item(struct cursor *c, struct imap_fetch *f)
{
	struct imap_fetch_body body;
	const char *name = c->s + c->pos, *alias;
	size_t name_len;
	bool has_section = false, is_body;
	uint64_t num;

	while (c->pos < c->len && is_atom_char(c->s[c->pos]) &&
	       c->s[c->pos] != '[' && c->s[c->pos] != '<')
		c->pos++;
	name_len = (size_t)(c->s + c->pos - name);
	if (name_len == 0)
		return cur_fail(c, "bad item name");

	is_body = ascii_eq(name, name_len, "BODY") ||
		  ascii_eq(name, name_len, "BINARY");
	/* body is cleared only for the items that use it (sections and the
	   RFC822 aliases): a listing line has three items and none of them. */
	if (cur_peek(c) == '[') {
		memset(&body, 0, sizeof(body));
		has_section = true;
		if (parse_section(c, is_body ? body.section : NULL,
				  sizeof(body.section)) < 0)
			return -1;
		if (cur_peek(c) == '<') {
			c->pos++;
			if (parse_number(c->s, c->len, &c->pos, UINT32_MAX,
					 &num) < 0 || cur_peek(c) != '>')
				return cur_fail(c, "bad origin");
			c->pos++;
			body.has_origin = true;
			body.origin = (uint32_t)num;
		}
	}
	if (cur_peek(c) != ' ')
		return cur_fail(c, "missing item value");
	c->pos++;

	if (has_section) {
		if (is_body)
			return parse_body_value(c, f, &body);
		return skip_value(c);
	}
	if (ascii_eq(name, name_len, "UID")) {
		if (parse_item_number(c, UINT32_MAX, &num) < 0)
			return -1;
		if (num == 0)
			return cur_fail(c, "UID 0");
		f->has_uid = true;
		f->uid = (uint32_t)num;
		return 0;
	}
	if (ascii_eq(name, name_len, "RFC822.SIZE")) {
		/* number64 (RFC 9051): 0 .. 2^63-1 */
		if (parse_item_number(c, INT64_MAX, &num) < 0)
			return -1;
		f->has_size = true;
		f->size = num;
		return 0;
	}
	if (ascii_eq(name, name_len, "FLAGS")) {
		if (parse_flags(c, &f->flags) < 0)
			return -1;
		f->has_flags = true;
		return 0;
	}
	if (ascii_eq(name, name_len, "INTERNALDATE")) {
		size_t start = c->pos;

		if (skip_value(c) < 0)
			return -1;
		/* a quoted date-time; anything else is skipped, not fatal */
		if (c->pos - start == 28 && c->s[start] == '"' &&
		    imap_parse_date_time(c->s + start + 1, 26, &f->internaldate) == 0)
			f->has_internaldate = true;
		return 0;
	}
	if (ascii_eq(name, name_len, "X-GM-MSGID")) {
		if (parse_item_number(c, UINT64_MAX, &num) < 0)
			return -1;
		f->has_gmid = true;
		f->gmid = num;
		return 0;
	}
	if (ascii_eq(name, name_len, "X-GUID")) {
		size_t start = c->pos;

		if (skip_value(c) < 0)
			return -1;
		if (c->s[start] == '"' && c->pos - start >= 2) {
			f->guid = c->s + start + 1;
			f->guid_len = c->pos - start - 2;
		} else if (c->s[start] != '{' && c->s[start] != '(' &&
			   !ascii_eq(c->s + start, c->pos - start, "NIL")) {
			f->guid = c->s + start;
			f->guid_len = c->pos - start;
		}
		return 0;
	}
	alias = rfc822_section(name, name_len);
	if (alias != NULL) {
		memset(&body, 0, sizeof(body));
		memcpy(body.section, alias, strlen(alias) + 1);
		return parse_body_value(c, f, &body);
	}
	return skip_value(c);
}

int imap_fetch_parse(const char *items, size_t len, bool partial,
		     struct imap_fetch *fetch, const char **error_r)
{
	struct cursor c = { items, len, 0, partial, NULL };

	memset(fetch, 0, sizeof(*fetch));
	if (len == 0 || items[0] != '(') {
		*error_r = "FETCH items do not start with (";
		return -1;
	}
	c.pos = 1;
	for (;;) {
		/* Lenient about repeated spaces between items. */
		while (cur_peek(&c) == ' ')
			c.pos++;
		if (cur_end(&c)) {
			if (partial)
				return 0;
			*error_r = "missing ) after FETCH items";
			return -1;
		}
		if (items[c.pos] == ')') {
			if (c.pos + 1 != len) {
				*error_r = "garbage after FETCH items";
				return -1;
			}
			return 0;
		}
		if (c.pos > 1 && items[c.pos - 1] != ' ' &&
		    items[c.pos - 1] != '(') {
			*error_r = "garbage after FETCH item";
			return -1;
		}
		fetch->ends_with_body_literal = false;
		if (parse_item(&c, fetch) < 0) {
			*error_r = c.error;
			return -1;
		}
	}
}

int imap_fetch_resp(const struct imap_resp *resp, bool partial,
		    struct imap_fetch *fetch, const char **error_r)
{
	if (resp->kind != IMAP_RESP_UNTAGGED || !resp->has_num ||
	    !imap_resp_keyword_is(resp, "FETCH"))
		return 1;
	return imap_fetch_parse(resp->rest, resp->rest_len, partial, fetch, error_r);
}

int imap_fetch_line(const char *line, size_t len, bool partial,
		    struct imap_fetch *fetch, const char **error_r)
{
	struct imap_resp resp;

	if (imap_resp_parse(line, len, &resp, error_r) < 0)
		return -1;
	return imap_fetch_resp(&resp, partial, fetch, error_r);
}
