#ifndef SETUP_FIND_H
#define SETUP_FIND_H

/*
 * popgate setup's talks with the network, each run to its end on the
 * caller's event loop (the tool has nothing else to do meanwhile):
 * finding the IMAP server of a domain, probing one server, logging in.
 * Progress and every failure's reason are printed to out.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "imap_client.h"
#include "provider_table.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;

struct setup_server {
	char host[PROVIDER_HOST_MAX + 1];
	uint16_t port;
	enum imap_tls_mode tls;
	enum provider_login login;
	const char *source;   /* "the built-in table", "DNS SRV", ...: static */
};

struct setup_find_settings {
	struct event_base *base;
	struct evdns_base *dns;
	struct tls_client_ctx *tls;      /* verifying */
	const char *domain;              /* lower case */
	const struct provider *provider; /* the table's entry, or NULL */
	unsigned int timeout_secs;       /* per server, and per DNS lookup */
	FILE *out;
};

/*
 * Tries, in order, the table's server, the targets of _imaps._tcp.DOMAIN
 * (implicit TLS) and _imap._tcp.DOMAIN (STARTTLS) by priority and weight,
 * then imap.DOMAIN and mail.DOMAIN on 993 and 143 with STARTTLS; the
 * first that answers with a valid certificate for its name wins. 0 with
 * *found_r, or -1 when none did.
 */
int setup_find(const struct setup_find_settings *set, struct setup_server *found_r);

/* One probe (upstream_probe.h); 0, or -1 with the reason in err. */
int setup_probe(struct event_base *base, struct evdns_base *dns, const char *host,
		uint16_t port, enum imap_tls_mode tls, struct tls_client_ctx *tls_ctx,
		unsigned int timeout_secs, char *err, size_t err_size);

enum setup_login_result {
	SETUP_LOGIN_OK,
	SETUP_LOGIN_REFUSED,   /* the server said NO (or BAD) */
	SETUP_LOGIN_FAILED,    /* connection, TLS, timeout, cannot send */
};

/* Connects to server and logs in as user; LOGOUT after a success. The
   reason of a refusal or failure goes into err. */
enum setup_login_result setup_login(struct event_base *base, struct evdns_base *dns,
				    struct tls_client_ctx *tls_ctx,
				    const struct setup_server *server, unsigned int timeout_secs,
				    const char *user, const char *pass, char *err,
				    size_t err_size);

/* "SSL/TLS", "STARTTLS", "none": the words mail programs use. */
const char *setup_tls_words(enum imap_tls_mode tls);

#endif
