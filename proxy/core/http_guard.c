/* The connection cap and request deadline of an evhttp server; see
   http_guard.h. */

#include "http_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"

#define HTTP_LOG_EVERY_SECS 10
#define HTTP_REFUSAL_MAX 200

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
	struct http_guard *g;
	struct bufferevent *bev;          /* owned by evhttp */
	struct evhttp_connection *evcon;  /* NULL until adopted */
	struct event *timer;              /* adoption, then the deadline */
	bool over;                        /* beyond max_connections: refused */
	struct conn *prev, *next;
};

struct http_guard {
	struct evhttp *http;
	struct http_guard_settings set;
	struct http_limits limits;
	struct conn *conns;
	unsigned int live;         /* connections in conns */
	struct http_ratelog log_refused, log_timeout;
	char refusal[HTTP_REFUSAL_MAX + 256];   /* the whole 503, plain HTTP */
	size_t refusal_len;
};

bool http_ratelog_due(struct http_ratelog *r, unsigned long *unlogged)
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

static void conn_forget(struct conn *c)
{
	struct http_guard *g = c->g;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	g->live--;
	if (g->set.open != NULL)
		g->set.open(g->live);
	event_free(c->timer);
	free(c);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_forget(arg);
}

static void guard_refused(struct http_guard *g)
{
	unsigned long unlogged;

	if (g->set.refused != NULL)
		g->set.refused();
	if (http_ratelog_due(&g->log_refused, &unlogged))
		log_warn("event=%s_refused reason=max_connections max_connections=%u "
			 "refused_since_last=%lu", g->set.name, g->limits.max_connections,
			 unlogged);
}

/* Written without reading the request: the client learns why at once.
   What it sent already is dropped first, as closing a socket with unread
   bytes would reset the connection and lose the answer. */
static void conn_refuse(struct conn *c)
{
	struct http_guard *g = c->g;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	char sink[4096];

	if (fd >= 0) {
		(void)!recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		(void)!send(fd, g->refusal, g->refusal_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	guard_refused(g);
	evhttp_connection_free(c->evcon);        /* conn_closed */
}

static void conn_arm(struct conn *c)
{
	struct timeval tv = ms_tv(c->g->limits.request_timeout_ms);

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
	/* Through TLS the refusal waits for the request (http_guard_request);
	   the deadline bounds that wait. */
	if (c->over && c->g->set.make_bev == NULL)
		conn_refuse(c);
	else
		conn_arm(c);
}

/* The deadline: no complete request within request_timeout of the accept
   or of the reply before. */
static void conn_expire(struct conn *c)
{
	struct http_guard *g = c->g;
	unsigned long unlogged;

	if (g->set.timed_out != NULL)
		g->set.timed_out();
	if (http_ratelog_due(&g->log_timeout, &unlogged))
		log_warn("event=%s_request_timeout request_timeout_ms=%u "
			 "timeouts_since_last=%lu", g->set.name, g->limits.request_timeout_ms,
			 unlogged);
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
static struct bufferevent *guard_bev(struct event_base *base, void *arg)
{
	struct http_guard *g = arg;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->bev = g->set.make_bev != NULL ? g->set.make_bev(base, g->set.ctx) :
		bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(base, conn_timer, c);
	if (c->bev == NULL || c->timer == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
		return NULL;
	}
	c->g = g;
	c->next = g->conns;
	if (c->next != NULL)
		c->next->prev = c;
	g->conns = c;
	g->live++;
	if (g->set.open != NULL)
		g->set.open(g->live);
	c->over = g->live > g->limits.max_connections;
	event_active(c->timer, EV_TIMEOUT, 1);
	return c->bev;
}

static struct conn *conn_of(struct http_guard *g, struct evhttp_connection *evcon)
{
	for (struct conn *c = g->conns; c != NULL; c = c->next) {
		if (c->evcon == evcon)
			return c;
	}
	return NULL;
}

/* slow_replies: the reply is written, the deadline starts again. */
static void guard_replied(struct evhttp_request *req, void *arg)
{
	struct conn *c = conn_of(arg, evhttp_request_get_connection(req));

	if (c != NULL)
		conn_arm(c);
}

static void guard_refuse_request(struct http_guard *g, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Retry-After", "1");
	evhttp_add_header(h, "Connection", "close");
	if (body != NULL)
		evbuffer_add(body, g->set.refusal, strlen(g->set.refusal));
	evhttp_send_reply(req, 503, "Service Unavailable", body);
	if (body != NULL)
		evbuffer_free(body);
	guard_refused(g);
}

bool http_guard_request(struct http_guard *g, struct evhttp_request *req)
{
	struct conn *c = conn_of(g, evhttp_request_get_connection(req));

	if (c == NULL)
		return true;
	if (c->over) {
		guard_refuse_request(g, req);
		return false;
	}
	if (!g->set.slow_replies) {
		conn_arm(c);
		return true;
	}
	evtimer_del(c->timer);
	evhttp_request_set_on_complete_cb(req, guard_replied, g);
	return true;
}

void http_guard_set_limits(struct http_guard *g, const struct http_limits *limits)
{
	struct timeval tv;

	if (g == NULL)
		return;
	g->limits.max_connections = limits != NULL && limits->max_connections > 0 ?
		limits->max_connections : g->set.defaults.max_connections;
	g->limits.request_timeout_ms = limits != NULL && limits->request_timeout_ms > 0 ?
		limits->request_timeout_ms : g->set.defaults.request_timeout_ms;
	/* evhttp's own timeout, per read and write, only backs up the
	   deadline (which is counted and logged): a second longer */
	tv = ms_tv(g->limits.request_timeout_ms + 1000);
	evhttp_set_timeout_tv(g->http, &tv);
}

struct http_limits http_guard_limits(const struct http_guard *g)
{
	return g->limits;
}

unsigned int http_guard_open(const struct http_guard *g)
{
	return g->live;
}

struct http_guard *http_guard_new(struct evhttp *http, const struct http_guard_settings *set,
				  const struct http_limits *limits)
{
	struct http_guard *g;
	size_t n = strlen(set->refusal);
	int len;

	if (n > HTTP_REFUSAL_MAX || (g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->http = http;
	g->set = *set;
	len = snprintf(g->refusal, sizeof(g->refusal), "HTTP/1.1 503 Service Unavailable\r\n"
		       "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
		       "Retry-After: 1\r\nConnection: close\r\n\r\n%s", n, set->refusal);
	g->refusal_len = (size_t)len;
	http_guard_set_limits(g, limits);
	evhttp_set_bevcb(http, guard_bev, g);
	return g;
}

void http_guard_free(struct http_guard **gp)
{
	struct http_guard *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	while (g->conns != NULL)
		conn_forget(g->conns);
	free(g);
}
