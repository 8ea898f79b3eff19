/* UIDL forms and uniqueness; contracts in uidl.h. */

#include "uidl.h"

#include "num.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* ---- the form ---- */

/* A conversion at t: "%" [0] [width] [X] letter, as Dovecot's var_expand
   reads it: X is hex (lower case), a width with 0 pads with zeros, one
   without cuts to that many characters. Returns its length, 0 if
   malformed; *letter_r, *width_r (negative: cut), *hex_r. */
static size_t uidl_conv(const char *t, size_t len, char *letter_r, int *width_r,
			char *hex_r)
{
	size_t i = 1;
	int width = 0;
	bool zero = false;

	*hex_r = '\0';
	if (i < len && t[i] == '0') {
		zero = true;
		i++;
	}
	while (i < len && t[i] >= '0' && t[i] <= '9' && width < 100)
		width = width * 10 + (t[i++] - '0');
	if (i < len && t[i] == 'X')
		*hex_r = t[i++];
	if (!zero)
		width = -width;
	if (i >= len || width > UIDL_LEN || width < -UIDL_LEN)
		return 0;
	*letter_r = t[i];
	*width_r = width;
	return i + 1;
}

static int uidl_template_check(const char *s, size_t len, unsigned int *needs,
			       const char **error_r)
{
	bool varies = false;

	for (size_t i = 0; i < len;) {
		char letter, hex;
		int width;
		size_t n;

		if (s[i] != '%') {
			i++;
			continue;
		}
		n = uidl_conv(s + i, len - i, &letter, &width, &hex);
		if (n == 0) {
			*error_r = "a '%' must be followed by u, v, m, g or %";
			return -1;
		}
		if ((letter == 'm' || letter == 'g' || letter == '%') && (n != 2)) {
			*error_r = "width and hex modifiers go with %u and %v only";
			return -1;
		}
		switch (letter) {
		case 'u':
			varies = true;
			break;
		case 'v':
		case '%':
			break;
		case 'm':
			*needs |= UIDL_NEED_MD5;
			varies = true;
			break;
		case 'g':
			*needs |= UIDL_NEED_GUID;
			varies = true;
			break;
		default:
			*error_r = "unknown variable (known: %u %v %m %g %%)";
			return -1;
		}
		i += n;
	}
	if (!varies) {
		*error_r = "a template needs %u, %m or %g (else every message has one UIDL)";
		return -1;
	}
	return 0;
}

int uidl_format_parse(const char *s, size_t len, struct uidl_format *f,
			   const char **error_r)
{
	memset(f, 0, sizeof(*f));
	if (len == 7 && strncasecmp(s, "dovecot", 7) == 0) {
		f->kind = UIDL_DOVECOT;
		return 0;
	}
	if (len == 5 && strncasecmp(s, "gmail", 5) == 0) {
		f->kind = UIDL_GMAIL;
		f->needs = UIDL_NEED_GMID;
		return 0;
	}
	if (len == 0 || len > UIDL_TEMPLATE_MAX) {
		*error_r = "expected dovecot, gmail or a template of 1..64 characters";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e) {
			*error_r = "a template holds printable ASCII but space only";
			return -1;
		}
	}
	if (uidl_template_check(s, len, &f->needs, error_r) < 0)
		return -1;
	f->kind = UIDL_TEMPLATE;
	memcpy(f->tmpl, s, len);
	f->tmpl[len] = '\0';
	return 0;
}

/* Appends src[0..n) at *o; false past UIDL_LEN. */
static bool uidl_put(char *buf, size_t *o, const char *src, size_t n)
{
	if (n > UIDL_LEN - *o)
		return false;
	memcpy(buf + *o, src, n);
	*o += n;
	return true;
}

static bool uidl_put_num(char *buf, size_t *o, uint32_t v, int width, char hex)
{
	char tmp[UIDL_LEN + 16];
	int n;

	n = snprintf(tmp, sizeof(tmp), hex == 'X' ? "%0*x" : "%0*u", width > 0 ? width : 0, v);
	if (width < 0 && n > -width)
		n = -width;
	return n > 0 && uidl_put(buf, o, tmp, (size_t)n);
}

static size_t uidl_apply_template(const char *t, const struct uidl_input *in, char *buf)
{
	size_t len = strlen(t), o = 0;

	for (size_t i = 0; i < len;) {
		char letter, hex;
		int width;
		size_t n;
		bool ok;

		if (t[i] != '%') {
			if (!uidl_put(buf, &o, t + i, 1))
				return 0;
			i++;
			continue;
		}
		n = uidl_conv(t + i, len - i, &letter, &width, &hex);
		if (n == 0)
			return 0;
		i += n;
		switch (letter) {
		case 'u':
			ok = uidl_put_num(buf, &o, in->uid, width, hex);
			break;
		case 'v':
			ok = uidl_put_num(buf, &o, in->uidvalidity, width, hex);
			break;
		case 'm':
			ok = in->md5 != NULL && uidl_put(buf, &o, in->md5, strlen(in->md5));
			break;
		case 'g':
			ok = in->guid != NULL && in->guid[0] != '\0' &&
				uidl_put(buf, &o, in->guid, strlen(in->guid));
			break;
		case '%':
			ok = uidl_put(buf, &o, "%", 1);
			break;
		default:
			ok = false;
		}
		if (!ok)
			return 0;
	}
	buf[o] = '\0';
	for (size_t i = 0; i < o; i++) {
		if (buf[i] < 0x21 || buf[i] > 0x7e)
			return 0;
	}
	return o;
}

size_t uidl_format_apply(const struct uidl_format *f,
			      const struct uidl_input *in, char *buf)
{
	switch (f->kind) {
	case UIDL_DOVECOT:
		return (size_t)snprintf(buf, UIDL_LEN + 1, "%08x%08x", in->uid,
					in->uidvalidity);
	case UIDL_GMAIL:
		if (in->gmid == 0)
			return 0;
		return (size_t)snprintf(buf, UIDL_LEN + 1, "GmailId%llx",
					(unsigned long long)in->gmid);
	case UIDL_TEMPLATE:
		return uidl_apply_template(f->tmpl, in, buf);
	}
	return 0;
}

/* ---- Dovecot's header MD5 input ---- */

enum uidl_md5_field { MD5_NONE, MD5_DATE, MD5_DELIVERED_TO, MD5_MESSAGE_ID, MD5_RECEIVED,
		      MD5_DELIVERY_ID };

static enum uidl_md5_field uidl_md5_field(const char *name, size_t len)
{
	static const struct { const char *name; enum uidl_md5_field f; } fields[] = {
		{ "Date", MD5_DATE }, { "Delivered-To", MD5_DELIVERED_TO },
		{ "Message-ID", MD5_MESSAGE_ID }, { "Received", MD5_RECEIVED },
		{ "X-Delivery-ID", MD5_DELIVERY_ID },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strlen(fields[i].name) == len && strncasecmp(fields[i].name, name, len) == 0)
			return fields[i].f;
	}
	return MD5_NONE;
}

static bool uidl_md5_add(char *out, size_t *o, size_t size, const char *s, size_t n)
{
	if (n > size - *o)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

size_t uidl_md5_input(const char *hdr, size_t len, char *out, size_t out_size)
{
	enum uidl_md5_field cur = MD5_NONE;
	bool seen_received = false, take = false;
	size_t o = 0, i = 0;

	while (i < len) {
		const char *line = hdr + i, *nl = memchr(line, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - i;

		i += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;          /* the end of the header */
		if (line[0] == ' ' || line[0] == '\t') {
			/* A continuation: the whole line, for the field it
			   continues. */
			if (take && !uidl_md5_add(out, &o, out_size, line, n))
				return out_size + 1;
			continue;
		}
		if (cur == MD5_RECEIVED && take)
			seen_received = true;
		const char *colon = memchr(line, ':', n);
		size_t name_len, v;

		if (colon == NULL) {
			cur = MD5_NONE;
			take = false;
			continue;
		}
		name_len = (size_t)(colon - line);
		while (name_len > 0 && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
			name_len--;
		cur = uidl_md5_field(line, name_len);
		take = cur == MD5_DELIVERED_TO || cur == MD5_DELIVERY_ID ||
			((cur == MD5_DATE || cur == MD5_MESSAGE_ID || cur == MD5_RECEIVED) &&
			 !seen_received);
		v = (size_t)(colon + 1 - line);
		while (v < n && (line[v] == ' ' || line[v] == '\t'))
			v++;
		if (take && !uidl_md5_add(out, &o, out_size, line + v, n - v))
			return out_size + 1;
	}
	return o;
}

/* ---- uniqueness ---- */

/* By UIDL; of equal ones stored first, then by uid. */
static int uidl_slot_cmp(const void *a, const void *b, void *base)
{
	const struct uidl_slot *slots = base;
	const struct uidl_slot *x = &slots[*(const size_t *)a];
	const struct uidl_slot *y = &slots[*(const size_t *)b];
	int c = strcmp(x->uidl, y->uidl);

	if (c != 0)
		return c;
	if (x->fresh != y->fresh)
		return x->fresh ? 1 : -1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static bool uidl_taken(struct uidl_slot *slots, const size_t *order, size_t n,
		       const char *s, const struct uidl_slot *renamed, size_t nrenamed)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(slots[order[mid]].uidl, s);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < nrenamed; i++) {
		if (strcmp(renamed[i].uidl, s) == 0)
			return true;
	}
	return false;
}

long uidl_unique(struct uidl_slot *slots, size_t n)
{
	size_t *order, used = 0, nrenamed = 0, *which;
	struct uidl_slot *renamed;
	long changed = 0;

	for (size_t i = 0; i < n; i++) {
		slots[i].changed = false;
		if (slots[i].uidl[0] != '\0')
			used++;
	}
	order = malloc((used + 1) * sizeof(*order));
	renamed = malloc((used + 1) * sizeof(*renamed));
	which = malloc((used + 1) * sizeof(*which));
	if (order == NULL || renamed == NULL || which == NULL) {
		free(order);
		free(renamed);
		free(which);
		return -1;
	}
	used = 0;
	for (size_t i = 0; i < n; i++) {
		if (slots[i].uidl[0] != '\0')
			order[used++] = i;
	}
	qsort_r(order, used, sizeof(*order), uidl_slot_cmp, slots);
	/* The first of each run keeps it; the others, in uid order (the
	   run is: stored by uid, then fresh by uid), are renamed. */
	for (size_t i = 1; i < used; i++) {
		struct uidl_slot *s = &slots[order[i]];
		char suffix[32], base[UIDL_LEN + 1];
		size_t cut;

		if (strcmp(slots[order[i - 1]].uidl, s->uidl) != 0)
			continue;
		for (unsigned int k = 0;; k++) {
			int sl = k == 0 ? snprintf(suffix, sizeof(suffix), ".%x", s->uid) :
				snprintf(suffix, sizeof(suffix), ".%x.%u", s->uid, k);

			cut = strlen(s->uidl);
			if (cut > UIDL_LEN - (size_t)sl)
				cut = UIDL_LEN - (size_t)sl;
			snprintf(base, sizeof(base), "%.*s%s", (int)cut, s->uidl, suffix);
			if (!uidl_taken(slots, order, used, base, renamed, nrenamed))
				break;
		}
		snprintf(renamed[nrenamed].uidl, sizeof(renamed[nrenamed].uidl), "%s", base);
		which[nrenamed++] = order[i];
	}
	/* Written back only now: the binary search above needs the sorted
	   strings as they were. */
	for (size_t i = 0; i < nrenamed; i++) {
		memcpy(slots[which[i]].uidl, renamed[i].uidl, sizeof(renamed[i].uidl));
		slots[which[i]].changed = true;
		changed++;
	}
	free(order);
	free(renamed);
	free(which);
	return changed;
}

/* ---- a dump line ---- */

static bool uidl_blank(char c)
{
	return c == ' ' || c == '\t';
}

int uidl_dump_parse(const char *line, size_t len, struct uidl_dump_line *out,
		    const char **error_r)
{
	static const size_t max[4] = { UIDL_DUMP_ADDRESS_MAX, UIDL_LEN,
				       UIDL_DUMP_MESSAGE_ID_MAX, 19 };
	char *dst[4];
	char size[20];
	size_t i = 0, f = 0;
	uint64_t v = 0;

	memset(out, 0, sizeof(*out));
	dst[0] = out->address;
	dst[1] = out->uidl;
	dst[2] = out->message_id;
	dst[3] = size;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (i < len && uidl_blank(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 1;
	for (f = 0; f < 4 && i < len; f++) {
		size_t start = i;

		while (i < len && !uidl_blank(line[i])) {
			if ((unsigned char)line[i] < 0x21 || line[i] == 0x7f) {
				*error_r = "a control character or NUL";
				return -1;
			}
			i++;
		}
		if (i - start > max[f]) {
			*error_r = f == 1 ? "a UIDL longer than 70 characters" : "a field too long";
			return -1;
		}
		memcpy(dst[f], line + start, i - start);
		dst[f][i - start] = '\0';
		while (i < len && uidl_blank(line[i]))
			i++;
	}
	if (f < 4) {
		*error_r = "expected: address uidl message-id size";
		return -1;
	}
	if (i < len) {
		*error_r = "more than four fields";
		return -1;
	}
	for (size_t k = 0; out->uidl[k] != '\0'; k++) {
		if ((unsigned char)out->uidl[k] > 0x7e) {
			*error_r = "a UIDL of other characters than 0x21..0x7e";
			return -1;
		}
	}
	if (num_parse_str(size, INT64_MAX, &v) != NUM_OK) {
		*error_r = "a size that is no decimal below 2^63";
		return -1;
	}
	out->size = v;
	return 0;
}
