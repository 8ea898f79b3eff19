#ifndef ENROL_WEB_H
#define ENROL_WEB_H

/*
 * The enrolment page ([enrol] listen, off by default): a user enters the
 * address, is sent to the provider (authorization code grant with PKCE),
 * comes back to /callback, and sets (or is shown a generated) gateway
 * password for the legacy POP3 client. Plain HTML forms, no script. TLS
 * with the [tls] certificate when one is configured.
 *
 * Each sign-in is bound to the browser that started it: the state sent to
 * the provider is random, kept in memory for 10 minutes, used once, and
 * only valid together with the HttpOnly cookie set when it started; the
 * password form carries a one-time ticket bound the same way. A forged
 * or replayed callback gets a 400 page and changes nothing.
 *
 * At most [enrol] max_connections open at once (one more is answered 503),
 * and a complete request within [enrol] request_timeout of the accept or of
 * the reply before, else the connection is closed (http_guard.h); the wait
 * for the provider or the store does not count. Refusals and timeouts are
 * logged as event=enrol_refused and event=enrol_request_timeout.
 */

#include <stdint.h>

struct event_base;
struct cache;
struct conf;
struct oauth_http;
struct tls_server_ctx;
struct enrol_web;

/* conf (its routes, [enrol]) must outlive the page. tls: NULL for plain
   HTTP. NULL with a malloc'd *error_r (bind failure...). */
struct enrol_web *enrol_web_start(struct event_base *base, const struct conf *conf,
				  struct cache *cache, struct oauth_http *http,
				  struct tls_server_ctx *tls, char **error_r);
/* [enrol] max_connections and request_timeout of conf (a reload) for
   connections accepted from now on (http_guard.h); NULL w is fine. */
void enrol_web_set_limits(struct enrol_web *w, const struct conf *conf);
void enrol_web_free(struct enrol_web **w);

#endif
