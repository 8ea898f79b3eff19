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

#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 1024
#define HTTP_PAUSE_MS 1000
#define HTTP_LOG_EVERY_SECS 10
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define REFUSAL_BODY "too many connections to the metrics endpoint\n"
#define REFUSAL "HTTP/1.1 503 Service Unavailable\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Length: 45\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" REFUSAL_BODY
_Static_assert(sizeof(REFUSAL_BODY) - 1 == 45, "Content-Length of REFUSAL");

/* At most one log line per HTTP_LOG_EVERY_SECS for one kind of event; the
   line says how many went unlogged since the one before. */
struct ratelog {
	time_t last;               /* 0: never logged */
	unsigned long unlogged;
};

/*
 * One connection evhttp serves. evhttp (2.1) accepts them itself, keeps
 * evhttp_get_request() private and tells nothing when it takes one, so the
 * bufferevent it asks for through evhttp_set_bevcb is
 * where one is counted; "adopting" it follows in the same loop pass, before
 * any of its I/O: then the evhttp_connection exists, its close callback
 * (which evhttp calls for every connection it frees, those that never sent
 * a request included) ends the count, and its deadline starts.
 */
struct conn {
	struct metrics_http *mh;
	struct bufferevent *bev;          /* owned by evhttp */
	struct evhttp_connection *evcon;  /* NULL until adopted */
	struct event *timer;              /* adoption, then the deadline */
	bool over;                        /* beyond max_connections: refused */
	struct conn *prev, *next;
};

struct metrics_http {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *resume;      /* accepting again after a pause */
	struct metrics_http_limits limits;
	struct conn *conns;
	unsigned int live;         /* connections in conns */
	struct ratelog log_refused, log_timeout, log_paused;
};

/* The one endpoint, for its listener's error callback (whose argument is
   evhttp's own). */
static struct metrics_http *metrics_server;

static bool ratelog_due(struct ratelog *r, unsigned long *unlogged)
{
	time_t now = time(NULL);

	if (r->last != 0 && now - r->last < HTTP_LOG_EVERY_SECS && now >= r->last) {
		r->unlogged++;
		return false;
	}
	*unlogged = r->unlogged;
	r->unlogged = 0;
	r->last = now;
	return true;
}

static struct timeval ms_tv(unsigned int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	return tv;
}

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
	struct timeval pause = ms_tv(HTTP_PAUSE_MS);
	int err = EVUTIL_SOCKET_ERROR();
	unsigned long unlogged;

	if (mh == NULL || (err != EMFILE && err != ENFILE && err != ENOBUFS &&
			   err != ENOMEM))
		return;
	evconnlistener_disable(l);
	event_add(mh->resume, &pause);
	if (ratelog_due(&mh->log_paused, &unlogged))
		log_error("event=metrics_accept_paused error=\"%s\" pause_ms=%u connections=%u "
			  "pauses_since_last=%lu", evutil_socket_error_to_string(err),
			  HTTP_PAUSE_MS, mh->live, unlogged);
}

/* ---------------------------------------------------------------- connections */

static void conn_forget(struct conn *c)
{
	struct metrics_http *mh = c->mh;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		mh->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	mh->live--;
	metrics_endpoint_connections(mh->live);
	event_free(c->timer);
	free(c);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_forget(arg);
}

/* Written without reading the request: the client learns why at once.
   What it sent already is dropped first, as closing a socket with unread
   bytes would reset the connection and lose the answer. */
static void conn_refuse(struct conn *c)
{
	struct metrics_http *mh = c->mh;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	unsigned long unlogged;
	char sink[4096];

	if (fd >= 0) {
		(void)!recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		(void)!send(fd, REFUSAL, sizeof(REFUSAL) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	metrics_endpoint_refused();
	if (ratelog_due(&mh->log_refused, &unlogged))
		log_warn("event=metrics_refused reason=max_connections max_connections=%u "
			 "refused_since_last=%lu", mh->limits.max_connections, unlogged);
	evhttp_connection_free(c->evcon);        /* conn_closed */
}

static void conn_arm(struct conn *c)
{
	struct timeval tv = ms_tv(c->mh->limits.request_timeout_ms);

	evtimer_add(c->timer, &tv);
}

static void conn_adopt(struct conn *c)
{
	bufferevent_data_cb readcb = NULL;
	void *cbarg = NULL;

	/* evhttp_connection_base_bufferevent_new() makes the connection the
	   bufferevent's callback argument (every libevent 2.x does); a
	   bufferevent without callbacks is one evhttp has freed already. */
	bufferevent_getcb(c->bev, &readcb, NULL, NULL, &cbarg);
	if (readcb == NULL || cbarg == NULL ||
	    evhttp_connection_get_bufferevent(cbarg) != c->bev) {
		conn_forget(c);
		return;
	}
	c->evcon = cbarg;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	if (c->over)
		conn_refuse(c);
	else
		conn_arm(c);
}

/* The deadline: no complete request within request_timeout of the accept
   or of the reply before. */
static void conn_expire(struct conn *c)
{
	struct metrics_http *mh = c->mh;
	unsigned long unlogged;

	metrics_endpoint_timed_out();
	if (ratelog_due(&mh->log_timeout, &unlogged))
		log_warn("event=metrics_request_timeout request_timeout_ms=%u "
			 "timeouts_since_last=%lu", mh->limits.request_timeout_ms, unlogged);
	evhttp_connection_free(c->evcon);        /* conn_closed */
}

static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->evcon == NULL)
		conn_adopt(c);
	else
		conn_expire(c);
}

/* evhttp_set_bevcb: a connection was accepted. NULL (out of memory) lets
   evhttp make its own bufferevent: that connection goes uncounted. */
static struct bufferevent *http_bev(struct event_base *base, void *arg)
{
	struct metrics_http *mh = arg;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(base, conn_timer, c);
	if (c->bev == NULL || c->timer == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
		return NULL;
	}
	c->mh = mh;
	c->next = mh->conns;
	if (c->next != NULL)
		c->next->prev = c;
	mh->conns = c;
	mh->live++;
	metrics_endpoint_connections(mh->live);
	c->over = mh->live > mh->limits.max_connections;
	event_active(c->timer, EV_TIMEOUT, 1);
	return c->bev;
}

/* A complete request: the deadline starts again for the next one on the
   connection (keep-alive), the reply's writing included. */
static void conn_request_done(struct metrics_http *mh, struct evhttp_connection *evcon)
{
	for (struct conn *c = mh->conns; c != NULL; c = c->next) {
		if (c->evcon == evcon) {
			conn_arm(c);
			return;
		}
	}
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

	conn_request_done(arg, evhttp_request_get_connection(req));
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

static void limits_apply(struct metrics_http *mh, const struct metrics_http_limits *limits)
{
	struct timeval tv;

	mh->limits.max_connections = limits != NULL && limits->max_connections > 0 ?
		limits->max_connections : METRICS_HTTP_MAX_CONNECTIONS;
	mh->limits.request_timeout_ms = limits != NULL && limits->request_timeout_ms > 0 ?
		limits->request_timeout_ms : METRICS_HTTP_REQUEST_TIMEOUT_MS;
	/* evhttp's own timeout, per read and write, only backs up the
	   deadline (which is counted and logged): a second longer */
	tv = ms_tv(mh->limits.request_timeout_ms + 1000);
	evhttp_set_timeout_tv(mh->http, &tv);
}

void metrics_http_set_limits(struct metrics_http *mh,
			     const struct metrics_http_limits *limits)
{
	if (mh != NULL)
		limits_apply(mh, limits);
}

struct metrics_http *metrics_http_start(struct event_base *base,
					const char *host, uint16_t port,
					const struct metrics_http_limits *limits,
					char **error_r)
{
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
	limits_apply(mh, limits);
	evhttp_set_gencb(mh->http, http_request, mh);
	evhttp_set_bevcb(mh->http, http_bev, mh);

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
	/* frees every connection: the adopted ones leave through conn_closed */
	evhttp_free(mh->http);
	while (mh->conns != NULL)
		conn_forget(mh->conns);
	free(mh);
}
