#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

/*
 * The small HTTP server that exposes metrics_render()'s text. Single-
 * threaded: called from the event loop only.
 */

#include <stdint.h>

#include "http_guard.h"

struct event_base;

struct metrics_http;

/* [metrics] max_connections and request_timeout when limits say 0. */
#define METRICS_HTTP_MAX_CONNECTIONS 64
#define METRICS_HTTP_REQUEST_TIMEOUT_MS 10000

/*
 * Serves GET and HEAD /metrics on host:port (host: numeric address or
 * name; port 0 picks a free port) with evhttp on base. Other paths get 404,
 * other methods on /metrics 405. Requests are limited to 8 KB of headers,
 * 1 KB of body, and by limits (NULL: the defaults): max_connections open
 * at once, one more answered "503 Service Unavailable" without its request
 * being read; a complete request within request_timeout of the accept or
 * of the reply before (http_guard.h). When accept() runs out
 * of descriptors, accepting pauses for a second. Refusals, timeouts and
 * pauses are counted (metrics_endpoint_*) and logged at most once per 10 s
 * each, with how many went unlogged. Returns NULL with a malloc'd message
 * in *error_r, e.g. "cannot bind 127.0.0.1:9110: Address already in use".
 */
struct metrics_http *metrics_http_start(struct event_base *base,
					const char *host, uint16_t port,
					const struct http_limits *limits,
					char **error_r);
/* New limits (reload) for connections accepted from now on; open ones
   keep their deadline until their next request. NULL mh is fine. */
void metrics_http_set_limits(struct metrics_http *mh,
			     const struct http_limits *limits);
/* The port actually bound (useful after port 0), or -1. */
int metrics_http_port(const struct metrics_http *http);
/* Closes the listener and any open HTTP connection; NULL is fine. */
void metrics_http_free(struct metrics_http **http);

#endif
