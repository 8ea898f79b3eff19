/* The HTTP endpoint that serves the exposition of metrics.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "http_guard.h"

#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 1024
#define HTTP_PAUSE_MS 1000
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *resume;      /* accepting again after a pause */
	struct http_guard *guard;  /* max_connections, request_timeout */
	struct http_ratelog log_paused;
};

/* The one endpoint, for its listener's error callback (whose argument is
   evhttp's own). */
static struct metrics_http *metrics_server;

static void http_resume(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http *mh = arg;

	evconnlistener_enable(evhttp_bound_socket_get_listener(mh->bound));
}

/* Out of descriptors: the listening socket stays readable, so pause a
   second rather than fail accept() on every loop pass. */
static void http_accept_error(struct evconnlistener *l, void *arg)
{
	struct metrics_http *mh = metrics_server;
	struct timeval pause = { HTTP_PAUSE_MS / 1000, (HTTP_PAUSE_MS % 1000) * 1000 };
	int err = EVUTIL_SOCKET_ERROR();
	unsigned long unlogged;

	if (mh == NULL || (err != EMFILE && err != ENFILE && err != ENOBUFS &&
			   err != ENOMEM))
		return;
	evconnlistener_disable(l);
	event_add(mh->resume, &pause);
	if (http_ratelog_due(&mh->log_paused, &unlogged))
		log_error("event=metrics_accept_paused error=\"%s\" pause_ms=%u connections=%u "
			  "pauses_since_last=%lu", evutil_socket_error_to_string(err),
			  HTTP_PAUSE_MS, http_guard_open(mh->guard), unlogged);
}

/* ---------------------------------------------------------------- requests */

/* libevent would send a body even to HEAD: leave it out here. */
static void http_reply(struct evhttp_request *req, int code, const char *reason,
		       const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char len[24];

	evhttp_add_header(h, "Content-Type", type);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", body ? evbuffer_get_length(body) : 0);
		evhttp_add_header(h, "Content-Length", len);
		body = NULL;
	}
	evhttp_send_reply(req, code, reason, body);
}

static void http_text(struct evhttp_request *req, int code, const char *reason,
		      const char *text)
{
	struct evbuffer *body = evbuffer_new();

	if (body != NULL && evbuffer_add(body, text, strlen(text)) == 0) {
		http_reply(req, code, reason, "text/plain; charset=utf-8", body);
	} else {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	}
	if (body != NULL)
		evbuffer_free(body);
}

static void http_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evbuffer *body;

	if (!http_guard_request(((struct metrics_http *)arg)->guard, req))
		return;
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		http_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
				  "GET, HEAD");
		http_text(req, 405, "Method Not Allowed", "method not allowed\n");
		return;
	}
	body = evbuffer_new();
	if (body == NULL || metrics_render(body) < 0) {
		http_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
	} else {
		http_reply(req, HTTP_OK, "OK", CONTENT_TYPE, body);
	}
	if (body != NULL)
		evbuffer_free(body);
}

/* "host:port", with brackets around an IPv6 address. */
static char *where(const char *host, uint16_t port, const char *what,
		   const char *why)
{
	bool v6 = strchr(host, ':') != NULL;
	char *s;

	if (asprintf(&s, "%s %s%s%s:%u: %s", what, v6 ? "[" : "", host,
		     v6 ? "]" : "", (unsigned int)port, why) < 0)
		return NULL;
	return s;
}

void metrics_http_set_limits(struct metrics_http *mh, const struct http_limits *limits)
{
	if (mh != NULL)
		http_guard_set_limits(mh->guard, limits);
}

struct metrics_http *metrics_http_start(struct event_base *base,
					const char *host, uint16_t port,
					const struct http_limits *limits, char **error_r)
{
	static const struct http_guard_settings guard = {
		.name = "metrics", .refusal = "too many connections to the metrics endpoint\n",
		.defaults = { METRICS_HTTP_MAX_CONNECTIONS, METRICS_HTTP_REQUEST_TIMEOUT_MS },
		.open = metrics_endpoint_connections, .refused = metrics_endpoint_refused,
		.timed_out = metrics_endpoint_timed_out,
	};
	/* every method reaches the callback, which answers 405 itself
	   (libevent would say 501 for the ones not allowed) */
	const ev_uint16_t methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST |
		EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
		EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
		EVHTTP_REQ_PATCH;
	struct evutil_addrinfo hints = { .ai_socktype = SOCK_STREAM,
					 .ai_flags = EVUTIL_AI_PASSIVE };
	struct evutil_addrinfo *ai = NULL;
	struct metrics_http *mh;
	int rc;

	*error_r = NULL;
	metrics_init();
	/* resolved here first: libevent's own failure leaves errno unset */
	rc = evutil_getaddrinfo(host, NULL, &hints, &ai);
	if (rc != 0) {
		*error_r = where(host, port, "cannot resolve", evutil_gai_strerror(rc));
		return NULL;
	}
	evutil_freeaddrinfo(ai);

	mh = calloc(1, sizeof(*mh));
	if (mh == NULL || (mh->http = evhttp_new(base)) == NULL) {
		free(mh);
		*error_r = strdup("out of memory");
		return NULL;
	}
	evhttp_set_allowed_methods(mh->http, methods);
	evhttp_set_max_headers_size(mh->http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(mh->http, HTTP_MAX_BODY);
	mh->guard = http_guard_new(mh->http, &guard, limits);
	if (mh->guard == NULL) {
		*error_r = strdup("out of memory");
		metrics_http_free(&mh);
		return NULL;
	}
	evhttp_set_gencb(mh->http, http_request, mh);

	errno = 0;
	mh->bound = evhttp_bind_socket_with_handle(mh->http, host, port);
	if (mh->bound == NULL) {
		*error_r = where(host, port, "cannot bind",
				 errno != 0 ? strerror(errno) : "failed");
		metrics_http_free(&mh);
		return NULL;
	}
	mh->resume = evtimer_new(base, http_resume, mh);
	if (mh->resume == NULL) {
		*error_r = strdup("out of memory");
		metrics_http_free(&mh);
		return NULL;
	}
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(mh->bound),
				    http_accept_error);
	metrics_server = mh;
	return mh;
}

int metrics_http_port(const struct metrics_http *mh)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd;

	if (mh == NULL || mh->bound == NULL)
		return -1;
	fd = evhttp_bound_socket_get_fd(mh->bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

void metrics_http_free(struct metrics_http **http)
{
	struct metrics_http *mh = *http;

	if (mh == NULL)
		return;
	*http = NULL;
	if (metrics_server == mh)
		metrics_server = NULL;
	if (mh->resume != NULL)
		event_free(mh->resume);
	/* frees every connection: the adopted ones leave the guard's count
	   as they close */
	evhttp_free(mh->http);
	http_guard_free(&mh->guard);
	free(mh);
}
