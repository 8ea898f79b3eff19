#ifndef LEGACY_URL_H
#define LEGACY_URL_H

/*
 * The address of a legacy POP3 server ([route] legacy_pop3):
 * "pop3s://host[:port]" (implicit TLS, port 995) or "pop3://host[:port]"
 * (port 110, STLS). host is a DNS name, an IPv4 address or an IPv6
 * address in brackets. No user, path or query. Pure: libc only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEGACY_URL_HOST_MAX 253

struct legacy_url {
	bool implicit_tls;      /* pop3s:// */
	char host[LEGACY_URL_HOST_MAX + 1];   /* without brackets */
	uint16_t port;
};

/* s[0..len). 0, or -1 with a static *error_r. */
int legacy_url_parse(const char *s, size_t len, struct legacy_url *u, const char **error_r);

#endif
