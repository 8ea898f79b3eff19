/* Editing popgate.conf as text; contracts in conf_edit.h. */

#include "conf_edit.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

struct conf_edit_line {
	const char *start;   /* the line without its end */
	size_t len;
	size_t end_len;      /* "\n", "\r\n" or 0 for the last line */
};

struct conf_edit_buf {
	char *data;
	size_t len, size;
	int failed;
};

static void buf_add(struct conf_edit_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->size) {
		size_t size = b->size * 2 + n + 64;
		char *data = realloc(b->data, size);

		if (data == NULL) {
			b->failed = 1;
			return;
		}
		b->data = data;
		b->size = size;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_str(struct conf_edit_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

/* The next line at *pos, or 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, struct conf_edit_line *l)
{
	const char *nl;

	if (*pos >= len)
		return 0;
	l->start = text + *pos;
	nl = memchr(l->start, '\n', len - *pos);
	l->len = nl != NULL ? (size_t)(nl - l->start) : len - *pos;
	l->end_len = nl != NULL;
	if (nl != NULL && l->len > 0 && l->start[l->len - 1] == '\r') {
		l->len--;
		l->end_len = 2;
	}
	*pos += l->len + l->end_len;
	return 1;
}

/* Offset of the first non-blank (after a byte-order mark on line 1). */
static size_t line_indent(const struct conf_edit_line *l, int first)
{
	size_t i = 0;

	if (first && l->len >= 3 && memcmp(l->start, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < l->len && is_blank(l->start[i]))
		i++;
	return i;
}

/* A header line's name, or 0 for other lines. */
static int line_section(const struct conf_edit_line *l, int first, const char **name_r,
			size_t *len_r)
{
	size_t i = line_indent(l, first);
	const char *close;

	if (i >= l->len || l->start[i] != '[')
		return 0;
	close = memchr(l->start + i + 1, ']', l->len - i - 1);
	if (close == NULL)
		return 0;
	*name_r = l->start + i + 1;
	*len_r = (size_t)(close - *name_r);
	return 1;
}

static int section_matches(const char *name, size_t len, const char *section)
{
	size_t plen = strlen("route");

	if (strcmp(section, "upstream") == 0)
		return len == 8 && memcmp(name, "upstream", 8) == 0;
	if (strncmp(section, "route ", 6) != 0 || len <= plen ||
	    memcmp(name, "route", plen) != 0 || !is_blank(name[plen]))
		return 0;
	name += plen;
	len -= plen;
	while (len > 0 && is_blank(*name))
		name++, len--;
	while (len > 0 && is_blank(name[len - 1]))
		len--;
	return len > 0 && ascii_eq(name, len, section + 6);
}

/* Whether l is "key = ..." / "key: ..."; *value_r: where the value
   starts, *tail_r: where a " ;" comment starts (or the line's end). */
static int line_key(const struct conf_edit_line *l, const char *key, size_t *value_r,
		    size_t *tail_r)
{
	size_t i = line_indent(l, 0), klen = strlen(key);

	if (l->len - i < klen || memcmp(l->start + i, key, klen) != 0)
		return 0;
	i += klen;
	while (i < l->len && is_blank(l->start[i]))
		i++;
	if (i >= l->len || (l->start[i] != '=' && l->start[i] != ':'))
		return 0;
	*value_r = i + 1;
	*tail_r = l->len;
	for (size_t j = i + 1; j + 1 < l->len; j++) {
		if (is_blank(l->start[j]) && l->start[j + 1] == ';') {
			/* The blanks before the comment are the comment's. */
			while (j > i + 1 && is_blank(l->start[j - 1]))
				j--;
			*tail_r = j;
			break;
		}
	}
	return 1;
}

static int line_is_setting(const struct conf_edit_line *l)
{
	size_t i = line_indent(l, 0);

	return i < l->len && l->start[i] != '#' && l->start[i] != ';' && l->start[i] != '[';
}

static int kv_valid(const struct conf_edit_kv *kv, const char **error_r)
{
	size_t vlen = strlen(kv->value), klen = strlen(kv->key);

	if (klen == 0 || klen > 32) {
		*error_r = "bad key";
		return 0;
	}
	for (size_t i = 0; i < klen; i++) {
		if (!((kv->key[i] >= 'a' && kv->key[i] <= 'z') || kv->key[i] == '_')) {
			*error_r = "bad key";
			return 0;
		}
	}
	if (vlen > CONF_EDIT_VALUE_MAX) {
		*error_r = "value too long";
		return 0;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)kv->value[i];

		if (c < 0x20 || c == 0x7f || (is_blank((char)c) && (i == 0 || i + 1 == vlen)) ||
		    (c == ';' && i > 0 && is_blank(kv->value[i - 1]))) {
			*error_r = "value holds a control character, a ' ;' or outer blanks";
			return 0;
		}
	}
	return 1;
}

static void add_kv(struct conf_edit_buf *b, const char *indent, size_t indent_len,
		   const struct conf_edit_kv *kv, const char *tail, size_t tail_len,
		   const char *eol)
{
	buf_add(b, indent, indent_len);
	buf_str(b, kv->key);
	/* "key =" alone for an empty value: a blank after it would join the
	   blanks of a following " ; comment" and grow with every edit. */
	buf_str(b, kv->value[0] != '\0' ? " = " : " =");
	buf_str(b, kv->value);
	buf_add(b, tail, tail_len);
	buf_str(b, eol);
}

static int section_count(const char *text, size_t len, const char *section,
			 const char **eol_r)
{
	struct conf_edit_line l;
	const char *name;
	size_t pos = 0, nlen;
	int count = 0, first = 1;

	*eol_r = "\n";
	while (next_line(text, len, &pos, &l)) {
		if (first && l.end_len == 2)
			*eol_r = "\r\n";
		if (line_section(&l, first, &name, &nlen) && section_matches(name, nlen, section))
			count++;
		first = 0;
	}
	return count;
}

int conf_edit_has_section(const char *text, size_t len, const char *section)
{
	const char *eol;

	return section_count(text, len, section, &eol) > 0;
}

/* Copies text[0..len) (it ends after the section's last setting),
   changing the first line of each key in the section; found[i] says
   which keys were there. */
static void edit_in_place(struct conf_edit_buf *b, const char *text, size_t len,
			  const char *section, const struct conf_edit_kv *kv, size_t n,
			  unsigned char *found, const char *eol)
{
	struct conf_edit_line l;
	const char *name;
	size_t pos = 0, nlen, value, tail, i;
	int inside = 0, first = 1;

	while (next_line(text, len, &pos, &l)) {
		int header = line_section(&l, first, &name, &nlen);

		first = 0;
		if (header)
			inside = section_matches(name, nlen, section);
		for (i = 0; inside && !header && i < n; i++) {
			if (!found[i] && line_key(&l, kv[i].key, &value, &tail))
				break;
		}
		if (inside && !header && i < n) {
			found[i] = 1;
			add_kv(b, l.start, line_indent(&l, 0), &kv[i], l.start + tail,
			       l.len - tail, l.end_len == 1 ? "\n" : l.end_len == 2 ? "\r\n" : eol);
			continue;
		}
		buf_add(b, l.start, l.len + l.end_len);
	}
}

/*
 * Two passes keep it simple: the first finds, in the original text, the
 * offset after the section's last setting line; the second copies,
 * changes the keys found, and inserts the others at that offset.
 */
static size_t insert_offset(const char *text, size_t len, const char *section)
{
	struct conf_edit_line l;
	const char *name;
	size_t pos = 0, nlen, at = 0;
	int inside = 0, first = 1;

	while (next_line(text, len, &pos, &l)) {
		int header = line_section(&l, first, &name, &nlen);

		first = 0;
		if (header)
			inside = section_matches(name, nlen, section);
		if (inside && (header || line_is_setting(&l)))
			at = pos;
	}
	return at;
}

int conf_edit_section(const char *text, size_t len, const char *section,
		      const struct conf_edit_kv *kv, size_t kv_count, char **out_r,
		      size_t *out_len_r, const char **error_r)
{
	struct conf_edit_buf b = { NULL, 0, 0, 0 };
	unsigned char found[CONF_EDIT_MAX_KEYS] = { 0 };
	const char *eol;
	int count;

	if (kv_count > CONF_EDIT_MAX_KEYS) {
		*error_r = "too many keys";
		return -1;
	}
	for (size_t i = 0; i < kv_count; i++) {
		if (!kv_valid(&kv[i], error_r))
			return -1;
	}
	if (strcmp(section, "upstream") != 0 &&
	    (strncmp(section, "route ", 6) != 0 || section[6] == '\0' ||
	     strlen(section) > CONF_EDIT_VALUE_MAX)) {
		*error_r = "bad section name";
		return -1;
	}
	count = section_count(text, len, section, &eol);
	if (count > 1) {
		*error_r = "the section is in the file twice";
		return -1;
	}
	if (count == 0) {
		buf_add(&b, text, len);
		if (len > 0 && text[len - 1] != '\n')
			buf_str(&b, eol);
		if (len > 0)
			buf_str(&b, eol);
		buf_str(&b, "[");
		buf_str(&b, section);
		buf_str(&b, "]");
		buf_str(&b, eol);
		for (size_t i = 0; i < kv_count; i++) {
			if (kv[i].value[0] != '\0' && !kv[i].only_existing)
				add_kv(&b, "", 0, &kv[i], "", 0, eol);
		}
	} else {
		size_t at = insert_offset(text, len, section);
		struct conf_edit_buf head = { NULL, 0, 0, 0 };

		/* Keys already there are changed in the copy of the head;
		   the others are inserted after it. */
		edit_in_place(&head, text, at, section, kv, kv_count, found, eol);
		buf_add(&b, head.data != NULL ? head.data : "", head.len);
		b.failed |= head.failed;
		free(head.data);
		if (b.len > 0 && b.data[b.len - 1] != '\n')
			buf_str(&b, eol);
		for (size_t i = 0; i < kv_count; i++) {
			if (!found[i] && kv[i].value[0] != '\0' && !kv[i].only_existing)
				add_kv(&b, "", 0, &kv[i], "", 0, eol);
		}
		buf_add(&b, text + at, len - at);
	}
	if (b.failed || b.data == NULL) {
		free(b.data);
		*error_r = "out of memory";
		return -1;
	}
	*out_r = b.data;
	*out_len_r = b.len;
	return 0;
}
