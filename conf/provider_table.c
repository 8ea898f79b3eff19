/* The provider table's reader; the format is in conf/providers.conf. */

#include "provider_table.h"

#include <string.h>

#include "num.h"
#include "text.h"

static const char *const provider_tls_names[] = { "imaps", "starttls" };
static const char *const provider_auth_names[] = { "password", "app-password", "oauth2" };
static const char *const provider_login_names[] = { "full", "local-part" };

const char *provider_tls_name(enum provider_tls tls)
{
	return (unsigned int)tls < 2 ? provider_tls_names[tls] : "?";
}

const char *provider_auth_name(enum provider_auth auth)
{
	return (unsigned int)auth < 3 ? provider_auth_names[auth] : "?";
}

const char *provider_login_name(enum provider_login login)
{
	return (unsigned int)login < 2 ? provider_login_names[login] : "?";
}

static char provider_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int provider_domain_valid(const char *s, size_t len)
{
	size_t label = 0, labels = 1;

	if (len == 0 || len > PROVIDER_HOST_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = provider_lower(s[i]);

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-' && labels >= 2;
}

/* One field of a line: [*pos..) up to the next space or tab. */
static int provider_field(const char *line, size_t len, size_t *pos, const char **f_r,
			  size_t *flen_r)
{
	size_t p = *pos;

	while (p < len && (line[p] == ' ' || line[p] == '\t'))
		p++;
	if (p == len)
		return 0;
	*f_r = line + p;
	while (p < len && line[p] != ' ' && line[p] != '\t')
		p++;
	*flen_r = (size_t)(line + p - *f_r);
	*pos = p;
	return 1;
}

static int provider_word(const char *f, size_t flen, const char *const *names, int count)
{
	for (int i = 0; i < count; i++) {
		if (strlen(names[i]) == flen && memcmp(f, names[i], flen) == 0)
			return i;
	}
	return -1;
}

static int provider_name_valid(const char *f, size_t flen)
{
	if (flen == 0 || flen > PROVIDER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < flen; i++) {
		char c = f[i];

		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
			return 0;
	}
	return 1;
}

/* Lower-case domain fields only: the table is data we ship, and one
   spelling keeps a lookup a plain comparison. */
static int provider_domain_field(const char *f, size_t flen)
{
	for (size_t i = 0; i < flen; i++) {
		if (f[i] >= 'A' && f[i] <= 'Z')
			return 0;
	}
	return provider_domain_valid(f, flen);
}

static int provider_key_eq(const char *f, size_t flen, const char *key)
{
	size_t i;

	for (i = 0; i < flen; i++) {
		if (key[i] == '\0' || provider_lower(key[i]) != f[i])
			return 0;
	}
	return key[i] == '\0';
}

/*
 * One provider line into *p; 1 when it matches key. -1 with *error_r.
 */
static int provider_line(const char *line, size_t len, enum provider_by by, const char *key,
			 struct provider *p, const char **error_r)
{
	const char *f;
	size_t flen, pos = 0;
	unsigned int domains = 0;
	uint32_t port;
	int v, match = 0;

	if (!provider_field(line, len, &pos, &f, &flen) || !provider_name_valid(f, flen)) {
		*error_r = "NAME: 1..32 of a-z, 0-9, '-'";
		return -1;
	}
	memcpy(p->name, f, flen);
	p->name[flen] = '\0';
	if (by == PROVIDER_BY_NAME && provider_key_eq(f, flen, key))
		match = 1;
	if (!provider_field(line, len, &pos, &f, &flen) || !provider_domain_field(f, flen)) {
		*error_r = "HOST: not a host name";
		return -1;
	}
	memcpy(p->host, f, flen);
	p->host[flen] = '\0';
	if (!provider_field(line, len, &pos, &f, &flen) ||
	    num_parse_u32(f, flen, 65535, &port) != NUM_OK || port == 0 || f[0] == '0') {
		*error_r = "PORT: a number 1..65535";
		return -1;
	}
	p->port = (uint16_t)port;
	if (!provider_field(line, len, &pos, &f, &flen) ||
	    (v = provider_word(f, flen, provider_tls_names, 2)) < 0) {
		*error_r = "TLS: imaps or starttls";
		return -1;
	}
	p->tls = (enum provider_tls)v;
	if (!provider_field(line, len, &pos, &f, &flen) ||
	    (v = provider_word(f, flen, provider_auth_names, 3)) < 0) {
		*error_r = "AUTH: password, app-password or oauth2";
		return -1;
	}
	p->auth = (enum provider_auth)v;
	if (!provider_field(line, len, &pos, &f, &flen) ||
	    (v = provider_word(f, flen, provider_login_names, 2)) < 0) {
		*error_r = "LOGIN: full or local-part";
		return -1;
	}
	p->login = (enum provider_login)v;
	while (provider_field(line, len, &pos, &f, &flen)) {
		if (!provider_domain_field(f, flen)) {
			*error_r = "DOMAIN: not a lower-case domain name";
			return -1;
		}
		if (++domains > PROVIDER_MAX_DOMAINS) {
			*error_r = "too many domains on one line (at most 32)";
			return -1;
		}
		if (by == PROVIDER_BY_DOMAIN && provider_key_eq(f, flen, key))
			match = 1;
	}
	if (domains == 0) {
		*error_r = "no DOMAIN";
		return -1;
	}
	return match;
}

static int provider_blank(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '#';
}

int provider_lookup(const char *text, size_t len, enum provider_by by, const char *key,
		    struct provider *p_r, unsigned int *error_line_r, const char **error_r)
{
	struct provider p;
	unsigned int lineno = 0, entries = 0;
	size_t pos = 0;
	int found = 0;

	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t line_len = nl != NULL ? (size_t)(nl - line) : len - pos;
		int r;

		pos += line_len + (nl != NULL);
		lineno++;
		*error_line_r = lineno;
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (line_len > PROVIDER_LINE_MAX) {
			*error_r = "line too long (at most 400 characters)";
			return -1;
		}
		if (memchr(line, '\0', line_len) != NULL || memchr(line, '\r', line_len) != NULL) {
			*error_r = "NUL or CR inside a line";
			return -1;
		}
		if (provider_blank(line, line_len))
			continue;
		if (++entries > PROVIDER_MAX_ENTRIES) {
			*error_r = "too many providers (at most 200)";
			return -1;
		}
		memset(&p, 0, sizeof(p));
		p.line = lineno;
		if ((r = provider_line(line, line_len, by, key, &p, error_r)) < 0)
			return -1;
		/* The first match wins; the rest is still checked. */
		if (r == 1 && !found) {
			*p_r = p;
			found = 1;
		}
	}
	*error_line_r = 0;
	return found;
}
