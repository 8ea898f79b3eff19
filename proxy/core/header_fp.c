#include "header_fp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_FP_LINES 16
/* One field's value at most (RFC 5322's line limit): a huge Subject must
   not crowd the other fields out of the form. */
#define HEADER_FP_VALUE_MAX 998

static const char *const header_fp_names[] = { "message-id", "date", "from", "subject" };

static char fp_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int fp_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Index of the field name hdr[0..n) in header_fp_names, or -1. */
static int fp_field(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(header_fp_names) / sizeof(header_fp_names[0]); i++) {
		const char *want = header_fp_names[i];
		size_t k;

		if (strlen(want) != n)
			continue;
		for (k = 0; k < n && fp_lower(name[k]) == want[k]; k++)
			;
		if (k == n)
			return (int)i;
	}
	return -1;
}

struct fp_line {
	const char *text;
	size_t len;
};

static int fp_line_cmp(const void *a, const void *b)
{
	const struct fp_line *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->text, y->text, n);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

size_t header_fp_canonical(const char *hdr, size_t len, char *out)
{
	char work[HEADER_FP_MAX + 1];
	struct fp_line lines[HEADER_FP_LINES];
	size_t w = 0, nlines = 0, o = 0, i = 0;

	while (i < len && nlines < HEADER_FP_LINES) {
		/* a field: name ':' value, continuation lines start with WSP */
		size_t start = i, colon;
		int field;

		while (i < len && hdr[i] != ':' && hdr[i] != '\n')
			i++;
		if (i >= len || hdr[i] != ':') {
			/* not a field line (the blank end, or junk): skip it */
			while (i < len && hdr[i] != '\n')
				i++;
			i++;
			continue;
		}
		colon = i++;
		field = fp_field(hdr + start, colon - start);
		{
			size_t line_start = w, value_len = 0;
			int space = 0, any = 0;

			if (field >= 0) {
				const char *name = header_fp_names[field];
				size_t nl = strlen(name);

				if (w + nl + 1 < sizeof(work)) {
					memcpy(work + w, name, nl);
					w += nl;
					work[w++] = ':';
				}
			}
			/* the value, up to a line end not followed by WSP */
			while (i < len) {
				char c = hdr[i];

				if (c == '\n' && (i + 1 >= len || (hdr[i + 1] != ' ' && hdr[i + 1] != '\t'))) {
					i++;
					break;
				}
				i++;
				if (field < 0)
					continue;
				if (fp_is_ws(c)) {
					space = any;
					continue;
				}
				if (w + 2 >= sizeof(work) || value_len + 2 > HEADER_FP_VALUE_MAX)
					continue;
				if (space) {
					work[w++] = ' ';
					value_len++;
				}
				work[w++] = c;
				value_len++;
				space = 0;
				any = 1;
			}
			/* an empty field counts as absent */
			if (field >= 0 && !any)
				w = line_start;
			if (field >= 0 && any) {
				lines[nlines].text = work + line_start;
				lines[nlines].len = w - line_start;
				nlines++;
			}
		}
	}
	qsort(lines, nlines, sizeof(lines[0]), fp_line_cmp);
	for (i = 0; i < nlines; i++) {
		if (o + lines[i].len + 1 > HEADER_FP_MAX)
			break;
		memcpy(out + o, lines[i].text, lines[i].len);
		o += lines[i].len;
		out[o++] = '\n';
	}
	out[o] = '\0';
	return o;
}

size_t header_fp_message_id(const char *hdr, size_t len, char *out, size_t out_size)
{
	char canon[HEADER_FP_MAX + 1];
	size_t n = header_fp_canonical(hdr, len, canon), v;
	const char *p = canon, *end;

	/* The canonical form has the field unfolded and trimmed, one line
	   "message-id:<value>\n" (the first, as the lines are sorted). */
	while (p < canon + n && strncmp(p, "message-id:", 11) != 0) {
		p = memchr(p, '\n', (size_t)(canon + n - p));
		if (p == NULL)
			return 0;
		p++;
	}
	if (p >= canon + n)
		return 0;
	p += 11;
	end = memchr(p, '\n', (size_t)(canon + n - p));
	v = end != NULL ? (size_t)(end - p) : (size_t)(canon + n - p);
	if (v == 0 || v >= out_size || memchr(p, '\0', v) != NULL)
		return 0;
	memcpy(out, p, v);
	out[v] = '\0';
	return v;
}

/*
 * Fields that POP3 servers of the mbox era add to or rewrite in the stored
 * message, so that the same message shows them on the old server and not
 * (or otherwise) on the new one: mbox keeps a message's state in the
 * message itself. Status and X-Status hold the read/answered flags (UW
 * imapd, qpopper, mutt); X-UID, X-IMAP and X-IMAPbase UW imapd's and
 * Dovecot's UID bookkeeping; X-Keywords the IMAP keywords; X-UIDL the
 * UIDL qpopper and others wrote into the message; Content-Length the
 * length Solaris-style mboxes keep; Return-Path is written by the local
 * delivery into the mbox and rewritten by each MTA hop; X-Message-Flag
 * Outlook's follow-up flag. Dovecot's pop3-migration plugin skips the same
 * list for the same reason.
 */
static const char *const header_fp_migration_skip[] = {
	"content-length", "return-path", "status", "x-imap", "x-imapbase", "x-keywords",
	"x-message-flag", "x-status", "x-uid", "x-uidl",
};

static bool fp_migration_skipped(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(header_fp_migration_skip) /
	     sizeof(header_fp_migration_skip[0]); i++) {
		const char *want = header_fp_migration_skip[i];
		size_t k;

		if (strlen(want) != n)
			continue;
		for (k = 0; k < n && fp_lower(name[k]) == want[k]; k++)
			;
		if (k == n)
			return true;
	}
	return false;
}

/* The value's octets of s[0..n) into out at *o, white space left out. */
static void fp_migration_value(const char *s, size_t n, char *out, size_t *o)
{
	for (size_t i = 0; i < n; i++) {
		if (fp_is_ws(s[i]))
			continue;
		out[(*o)++] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	}
}

size_t header_fp_migration(const char *hdr, size_t len, char *out)
{
	size_t i = 0, o = 0;
	bool keep = false;

	while (i < len) {
		const char *line = hdr + i, *lf = memchr(line, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - line) : len - i, name_len;
		const char *colon;

		i += n + (lf != NULL ? 1 : 0);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			/* A folded field goes on. */
			if (keep) {
				o--;   /* its "\n" */
				fp_migration_value(line, n, out, &o);
				out[o++] = '\n';
			}
			continue;
		}
		colon = memchr(line, ':', n);
		keep = false;
		if (colon == NULL)
			continue;
		name_len = (size_t)(colon - line);
		while (name_len > 0 && fp_is_ws(line[name_len - 1]))
			name_len--;
		if (name_len == 0 || fp_migration_skipped(line, name_len))
			continue;
		for (size_t k = 0; k < name_len; k++) {
			if (!fp_is_ws(line[k]))
				out[o++] = (unsigned char)line[k] >= 0x80 ? '?' : fp_lower(line[k]);
		}
		out[o++] = ':';
		fp_migration_value(colon + 1, n - (size_t)(colon - line) - 1, out, &o);
		out[o++] = '\n';
		keep = true;
	}
	out[o] = '\0';
	return o;
}
