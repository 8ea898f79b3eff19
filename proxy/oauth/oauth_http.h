#ifndef OAUTH_HTTP_H
#define OAUTH_HTTP_H

/*
 * HTTPS POSTs to OAuth2 endpoints on the caller's event loop: libcurl's
 * multi interface driven by libevent (its sockets and its timer become
 * events), so no request ever blocks the loop. TLS is verified against
 * the system store (or ca_file), redirects are not followed, only https
 * (and http, which the configuration allows only on loopback) is spoken,
 * and libcurl honours https_proxy / no_proxy from the environment.
 *
 * Callbacks run from the event loop, never inside oauth_http_post(), and
 * never after oauth_http_cancel() or oauth_http_free().
 */

#include <stddef.h>

struct event_base;
struct oauth_http;
struct oauth_http_req;

/* Process-wide set-up: oauth_json_init() and libcurl, loaded now (see
   oauth_curl.h: after a failure a later call tries again); from the event
   loop's thread. 0, or -1 with *error_r a static sentence saying why
   libcurl cannot be used. */
int oauth_http_global_init(const char **error_r);

/* Only after oauth_http_global_init() returned 0. ca_file: NULL for the
   system store. NULL when out of memory. */
struct oauth_http *oauth_http_new(struct event_base *base, const char *ca_file);
/* Cancels every request (no callback runs). Sets *h to NULL. */
void oauth_http_free(struct oauth_http **h);

#define OAUTH_HTTP_BODY_MAX 65536

/*
 * status: the HTTP status (200, 400...), or 0 when there was none (DNS,
 * connect, TLS, timeout, a reply larger than OAUTH_HTTP_BODY_MAX); error
 * then says why (libcurl's words, no secret in them). body: the reply,
 * NUL-terminated, len octets, valid during the call.
 */
typedef void oauth_http_cb(void *ctx, long status, const char *body, size_t len,
			   const char *error);

/*
 * POSTs form (application/x-www-form-urlencoded, already encoded; copied
 * and wiped after use) to url, within timeout_ms for the whole exchange.
 * Returns the request, or NULL when it cannot be started (then cb never
 * runs).
 */
struct oauth_http_req *oauth_http_post(struct oauth_http *h, const char *url, const char *form,
				       unsigned int timeout_ms, oauth_http_cb *cb, void *ctx);

/* Its callback will not run. Sets *req to NULL; NULL is fine. Not from
   inside its own callback (it is freed when the callback returns). */
void oauth_http_cancel(struct oauth_http_req **req);

/* Appends "&name=value" ("name=value" at the start) to a form being built
   in buf (size), value percent-encoded. -1 when it does not fit. */
int oauth_form_add(char *buf, size_t size, const char *name, const char *value);

/* Requests in flight, for tests and metrics. */
unsigned int oauth_http_active(const struct oauth_http *h);

#endif
