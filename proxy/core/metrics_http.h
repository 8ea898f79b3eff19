#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

/*
 * The small HTTP server that exposes metrics_render()'s text. Single-
 * threaded: called from the event loop only.
 */

#include <stdint.h>

struct event_base;

struct metrics_http;

/*
 * Serves GET and HEAD /metrics on host:port (host: numeric address or
 * name; port 0 picks a free port) with evhttp on base. Other paths get 404,
 * other methods on /metrics 405. Requests are limited to 8 KB of headers,
 * 1 KB of body and 10 s per connection. Returns NULL with a malloc'd
 * message in *error_r, e.g. "cannot bind 127.0.0.1:9110: Address already
 * in use".
 */
struct metrics_http *metrics_http_start(struct event_base *base,
					const char *host, uint16_t port,
					char **error_r);
/* The port actually bound (useful after port 0), or -1. */
int metrics_http_port(const struct metrics_http *http);
/* Closes the listener and any open HTTP connection; NULL is fine. */
void metrics_http_free(struct metrics_http **http);

#endif
