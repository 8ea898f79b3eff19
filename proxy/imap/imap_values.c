/* IMAP values outside the response grammar proper; contracts in
   imap_values.h. */

#include "imap_values.h"
#include "text.h"

#include <string.h>

size_t imap_unquote(const char *src, size_t src_len, char *dst)
{
	size_t i, n = 0;

	for (i = 0; i < src_len; i++) {
		if (src[i] == '\\' && i + 1 < src_len)
			i++;
		dst[n++] = src[i];
	}
	return n;
}

unsigned int imap_list_special_attr(const char *name, size_t len)
{
	static const struct {
		const char *name;
		unsigned int attr;
	} uses[] = {
		{ "\\Trash", IMAP_LIST_TRASH }, { "\\All", IMAP_LIST_ALL },
		{ "\\Archive", IMAP_LIST_ARCHIVE }, { "\\Drafts", IMAP_LIST_DRAFTS },
		{ "\\Flagged", IMAP_LIST_FLAGGED }, { "\\Junk", IMAP_LIST_JUNK },
		{ "\\Sent", IMAP_LIST_SENT },
	};

	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (ascii_eq(name, len, uses[i].name))
			return uses[i].attr;
	}
	return 0;
}

int imap_list_parse(const char *rest, size_t len, unsigned int *attrs_r,
		    char *name, size_t name_size, const char **error_r)
{
	const char *p = rest, *end = rest + len, *close;
	unsigned int attrs = 0;

	if (p == end || *p != '(') {
		*error_r = "LIST: no attribute list";
		return -1;
	}
	close = memchr(p, ')', (size_t)(end - p));
	if (close == NULL) {
		*error_r = "LIST: unterminated attribute list";
		return -1;
	}
	for (p++; p < close; ) {
		const char *a = p;

		while (p < close && *p != ' ')
			p++;
		if (imap_list_special_attr(a, (size_t)(p - a)) != 0)
			attrs |= imap_list_special_attr(a, (size_t)(p - a));
		else if (ascii_eq(a, (size_t)(p - a), "\\Noselect") ||
			 ascii_eq(a, (size_t)(p - a), "\\NonExistent"))
			attrs |= IMAP_LIST_NOSELECT;
		while (p < close && *p == ' ')
			p++;
	}
	p = close + 1;
	/* delimiter: NIL or a quoted character */
	if (p < end && *p == ' ')
		p++;
	if ((size_t)(end - p) >= 3 && ascii_eq(p, 3, "NIL")) {
		p += 3;
	} else if (p < end && *p == '"') {
		p++;
		if (p < end && *p == '\\')
			p++;
		if (p + 1 >= end || p[1] != '"') {
			*error_r = "LIST: bad delimiter";
			return -1;
		}
		p += 2;
	} else {
		*error_r = "LIST: no delimiter";
		return -1;
	}
	if (p >= end || *p != ' ') {
		*error_r = "LIST: no mailbox name";
		return -1;
	}
	p++;
	if (p < end && *p == '"') {
		const char *q = ++p;
		size_t raw;

		while (q < end && *q != '"') {
			if (*q == '\\' && q + 1 < end)
				q++;
			q++;
		}
		raw = (size_t)(q - p);
		/* LIST-EXTENDED (RFC 5258) may add data after the name. */
		if (q >= end || (q + 1 != end && q[1] != ' ') || raw >= name_size) {
			*error_r = "LIST: bad quoted mailbox name";
			return -1;
		}
		name[imap_unquote(p, raw, name)] = '\0';
	} else {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t n = (size_t)((sp != NULL ? sp : end) - p);

		if (n == 0 || n >= name_size || *p == '{') {
			*error_r = "LIST: unsupported mailbox name";
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
	}
	*attrs_r = attrs;
	return 0;
}

int imap_namespace_personal(const char *rest, size_t len, char *prefix, size_t size,
			    char *delim_r, const char **error_r)
{
	const char *p = rest, *end = rest + len, *q;
	size_t raw;

	/* (("prefix" "delim") ...) NIL NIL: only the first personal one. */
	if ((size_t)(end - p) >= 3 && ascii_eq(p, 3, "NIL")) {
		*error_r = "NAMESPACE: no personal namespace";
		return -1;
	}
	if ((size_t)(end - p) < 3 || p[0] != '(' || p[1] != '(' || p[2] != '"') {
		*error_r = "NAMESPACE: not a namespace list";
		return -1;
	}
	p += 3;
	for (q = p; q < end && *q != '"'; q++) {
		if (*q == '\\' && q + 1 < end)
			q++;
	}
	raw = (size_t)(q - p);
	if (q >= end || raw >= size) {
		*error_r = "NAMESPACE: bad prefix";
		return -1;
	}
	raw = imap_unquote(p, raw, prefix);
	prefix[raw] = '\0';
	if (memchr(prefix, '\0', raw) != NULL || (size_t)(end - q) < 4 || q[1] != ' ') {
		*error_r = "NAMESPACE: bad prefix";
		return -1;
	}
	q += 2;
	*delim_r = '\0';
	if ((size_t)(end - q) >= 3 && ascii_eq(q, 3, "NIL"))
		return 0;
	if (q[0] != '"' || (size_t)(end - q) < 3) {
		*error_r = "NAMESPACE: bad delimiter";
		return -1;
	}
	if (q[1] == '\\' && (size_t)(end - q) >= 4 && q[3] == '"')
		*delim_r = q[2];
	else if (q[2] == '"' && q[1] != '\\')
		*delim_r = q[1];
	else {
		*error_r = "NAMESPACE: bad delimiter";
		return -1;
	}
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool two_digits(const char *s, unsigned int *v)
{
	if (!is_digit(s[0]) || !is_digit(s[1]))
		return false;
	*v = (unsigned int)(s[0] - '0') * 10 + (unsigned int)(s[1] - '0');
	return true;
}

int imap_parse_date_time(const char *s, size_t len, int64_t *time_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	unsigned int day, mon, year_hi, year_lo, hh, mm, ss, zh, zm;
	int64_t t;
	int sign;

	/* "dd-Mon-yyyy hh:mm:ss +zzzz": 26 octets */
	if (len != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
	    s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
		return -1;
	if (s[0] == ' ' && is_digit(s[1]))
		day = (unsigned int)(s[1] - '0');
	else if (!two_digits(s, &day))
		return -1;
	for (mon = 0; mon < 12; mon++) {
		if (ascii_upper(s[3]) == ascii_upper(months[3 * mon]) &&
		    ascii_upper(s[4]) == ascii_upper(months[3 * mon + 1]) &&
		    ascii_upper(s[5]) == ascii_upper(months[3 * mon + 2]))
			break;
	}
	if (mon == 12 || !two_digits(s + 7, &year_hi) || !two_digits(s + 9, &year_lo) ||
	    !two_digits(s + 12, &hh) || !two_digits(s + 15, &mm) ||
	    !two_digits(s + 18, &ss) || !two_digits(s + 22, &zh) || !two_digits(s + 24, &zm))
		return -1;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59)
		return -1;
	sign = s[21] == '-' ? -1 : 1;
	t = days_from_civil((int64_t)year_hi * 100 + year_lo, mon + 1, day) * 86400 +
		(int64_t)hh * 3600 + mm * 60 + ss;
	/* local time = UTC + zone: UTC = local - zone */
	*time_r = t - sign * ((int64_t)zh * 3600 + (int64_t)zm * 60);
	return 0;
}
