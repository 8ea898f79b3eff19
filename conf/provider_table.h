#ifndef PROVIDER_TABLE_H
#define PROVIDER_TABLE_H

/*
 * The table of known mail providers (conf/providers.conf, built into the
 * binary; its comment describes the format). Pure: libc only. The text
 * is read whole on every lookup: any bad line makes the whole table
 * refused, so a broken table is found by the first lookup, never half
 * used.
 */

#include <stddef.h>
#include <stdint.h>

#define PROVIDER_NAME_MAX 32
#define PROVIDER_HOST_MAX 253
#define PROVIDER_LINE_MAX 400
#define PROVIDER_MAX_ENTRIES 200
#define PROVIDER_MAX_DOMAINS 32

enum provider_tls {
	PROVIDER_TLS_IMAPS,
	PROVIDER_TLS_STARTTLS,
};

enum provider_auth {
	PROVIDER_AUTH_PASSWORD,
	PROVIDER_AUTH_APP_PASSWORD,
	PROVIDER_AUTH_OAUTH2,
};

enum provider_login {
	PROVIDER_LOGIN_FULL,
	PROVIDER_LOGIN_LOCAL_PART,
};

struct provider {
	char name[PROVIDER_NAME_MAX + 1];
	char host[PROVIDER_HOST_MAX + 1];
	uint16_t port;
	enum provider_tls tls;
	enum provider_auth auth;
	enum provider_login login;
	unsigned int line;            /* where in the table */
};

/* What the key names. */
enum provider_by {
	PROVIDER_BY_DOMAIN,  /* key: an address domain, any case */
	PROVIDER_BY_NAME,    /* key: a provider's NAME */
};

/*
 * Looks key up in text[0..len). Returns 1 with *p_r filled, 0 when no
 * line matches, or -1 when the table is malformed: *error_r says what,
 * *error_line_r on which line (1-based). The whole table is checked in
 * every case.
 */
int provider_lookup(const char *text, size_t len, enum provider_by by, const char *key,
		    struct provider *p_r, unsigned int *error_line_r, const char **error_r);

/* "imaps"/"starttls", "password"/"app-password"/"oauth2",
   "full"/"local-part": the table's words. */
const char *provider_tls_name(enum provider_tls tls);
const char *provider_auth_name(enum provider_auth auth);
const char *provider_login_name(enum provider_login login);

/*
 * Whether s[0..len) is a domain name as the table and popgate setup take
 * it: 1..253 octets of letters, digits, '-' and '.', labels of 1..63
 * octets not starting or ending with '-', at least two labels.
 */
int provider_domain_valid(const char *s, size_t len);

#endif
