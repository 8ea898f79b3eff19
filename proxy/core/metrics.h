#ifndef METRICS_H
#define METRICS_H

/*
 * Process-wide counters for the Prometheus endpoint (metrics_http.h serves
 * them). Single-threaded: called from the event loop
 * only. The counters are the one piece of mutable state besides the config
 * that lives for the whole process: they survive config reloads, so no
 * counter ever goes backwards.
 *
 * Route labels: "default" for the [upstream] section, else the route's
 * domain. Any bytes are accepted: invalid UTF-8 bytes are shown as the text
 * \xNN, a label is cut at METRICS_ROUTE_LABEL_MAX octets, and at most
 * METRICS_MAX_ROUTES distinct labels are kept; further ones are counted
 * under route="other". A route is remembered from its first use on.
 *
 * Counting never fails visibly: if memory for a new route runs out, that
 * one event is not counted.
 */

#include <stdbool.h>
#include <stdint.h>

struct evbuffer;

#define METRICS_MAX_ROUTES 1024
#define METRICS_ROUTE_LABEL_MAX 255

enum metrics_login {       /* label result="..." */
	METRICS_LOGIN_OK,                  /* "ok" */
	METRICS_LOGIN_AUTH_FAILED,         /* "auth_failed": upstream said NO */
	METRICS_LOGIN_NO_ROUTE,            /* "no_route": no upstream for the login's domain */
	METRICS_LOGIN_UPSTREAM_UNAVAILABLE,/* "upstream_unavailable": connect/TLS failed, timeout */
	METRICS_LOGIN_UPSTREAM_ERROR,      /* "upstream_error": BAD, SELECT failed, listing failed, [UNAVAILABLE] */
	METRICS_LOGIN_IN_USE,              /* "in_use": device locked by another session */
	METRICS_LOGIN_STATE_STORE,         /* "state_store": Redis trouble */
	METRICS_LOGIN_LOGIN_DELAY,         /* "login_delay": too soon (RFC 2449 LOGIN-DELAY) */
	METRICS_LOGIN_COUNT
};

enum metrics_refusal {     /* connections refused before the greeting; label reason="..." */
	METRICS_REFUSED_MAX_CONNECTIONS,   /* "max_connections" */
	METRICS_REFUSED_MAX_PER_IP,        /* "max_connections_per_ip" */
	METRICS_REFUSED_SHUTTING_DOWN,     /* "shutting_down" */
	METRICS_REFUSED_MAX_UNAUTHENTICATED, /* "max_unauthenticated" */
	METRICS_REFUSED_PROXY_UNTRUSTED,   /* "proxy_untrusted": not from proxy_networks */
	METRICS_REFUSED_PROXY_HEADER,      /* "proxy_header": malformed, late or cut */
	METRICS_REFUSED_COUNT
};

enum metrics_cmd { METRICS_CMD_RETR, METRICS_CMD_TOP, METRICS_CMD_DELE, METRICS_CMD_COUNT };

/* The label values ("ok", "auth_failed", ..., "max_connections", ...);
   "unknown" for a value out of range. Static strings. */
const char *metrics_login_name(enum metrics_login result);
const char *metrics_refusal_name(enum metrics_refusal why);

/* Records the start time (popgate_start_time_seconds) now; optional, as
   the first call of any other function does it too. Idempotent. */
void metrics_init(void);

void metrics_session_opened(void);     /* sessions current +1, total +1 */
void metrics_session_closed(void);     /* current -1 (never below 0) */
void metrics_refused(enum metrics_refusal why);
void metrics_proxied(unsigned int version);   /* a valid PROXY header, v1 or v2 */
/* route: "default" for the [upstream] section, else the route's domain */
void metrics_login(const char *route, enum metrics_login result);
/* ok: the latency goes into the histogram (negative or NaN counts as 0);
   !ok: the failures counter, seconds ignored */
void metrics_upstream_connect(const char *route, double seconds, bool ok);
/* octets sent to POP3 clients; route NULL = before login (route="none") */
void metrics_bytes_out(const char *route, uint64_t n);
void metrics_command(const char *route, enum metrics_cmd cmd);
void metrics_redis_error(void);
enum metrics_retention {
	METRICS_RETENTION_REMOVED,
	METRICS_RETENTION_NONE,        /* nothing removed (incl. dry run) */
	METRICS_RETENTION_SKIPPED,     /* another device's session, or a failure */
};
/* A retention pass ended; removed messages left the mailbox upstream. */
void metrics_retention(enum metrics_retention result, uint64_t removed);
enum metrics_shared {      /* the listing shared in Redis (pop3/shared_listing.h); label state="..." */
	METRICS_SHARED_USED,               /* "used": a cold login took the copy */
	METRICS_SHARED_UNUSED,             /* "unused": none, damaged, not needed */
	METRICS_SHARED_LATE,               /* "late": not read before the upstream answered */
	METRICS_SHARED_UNAVAILABLE,        /* "unavailable": Redis down or failing */
	METRICS_SHARED_STORED,             /* "stored" */
	METRICS_SHARED_REFUSED,            /* "refused": above the cap */
	METRICS_SHARED_STORE_FAILED,       /* "store_failed" */
	METRICS_SHARED_COUNT
};
void metrics_listing_shared(enum metrics_shared state);
void metrics_prefetch(bool used);      /* a message fetched ahead: used or dropped */
/* The state store's master or slot map changed (cache_hooks.failover). */
void metrics_redis_failover(void);
void metrics_auth_delayed(void);       /* an auth failure answer was delayed */
void metrics_reload(bool ok);          /* config reloads by result ok/failed */
/* OAuth2 token refreshes by result: one of METRICS_OAUTH_RESULTS below
   ("ok", "invalid_grant", "error", "unavailable", "timeout", "shared");
   another word counts as "error". */
void metrics_oauth_refresh(const char *result);
/* A login answered "must be authorized again" (route unused: one
   counter for the gateway). */
void metrics_oauth_reauth(const char *route);
/* The upstream throttled an account: code "throttled", "limit",
   "unavailable" or "connections" (imap_throttle_name()); another word
   counts as "other". */
void metrics_upstream_throttled(const char *code);
/* An enrolment through the enrolment page, by result ok/failed. */
void metrics_oauth_enrolment(bool ok);
/* The metrics endpoint's own connections (metrics_http.c): how many are
   open now, one refused at max_connections, one closed at
   request_timeout. */
void metrics_endpoint_connections(unsigned int open);
void metrics_endpoint_refused(void);
void metrics_endpoint_timed_out(void);
/* Tests only: everything back to zero, routes forgotten, the start time
   taken again at the next use. */
void metrics_reset(void);

/*
 * Appends the whole exposition (Prometheus text format 0.0.4) to out:
 * every family with one # HELP and one # TYPE line; for each route used
 * with a name, every result, command and bucket, zeros included. Returns
 * 0, or -1 on allocation failure (out is then unchanged).
 */
int metrics_render(struct evbuffer *out);

#endif
