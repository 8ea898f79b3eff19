#ifndef HTTP_GUARD_H
#define HTTP_GUARD_H

/*
 * What keeps one of our evhttp servers (the metrics endpoint, the
 * enrolment page) within bounds against idle and slow clients:
 *
 * - at most max_connections open at once; one more is answered
 *   "503 Service Unavailable" (Retry-After: 1, Connection: close) and
 *   closed: at once, without its request being read, on plain HTTP; after
 *   its request, on TLS (the client must finish its handshake to read
 *   anything);
 * - a complete request must arrive within request_timeout of the accept,
 *   or of the reply before it on a kept-alive connection, else the
 *   connection is closed; bytes dribbled in do not extend it.
 *
 * Refusals and timeouts are logged (event=<name>_refused,
 * event=<name>_request_timeout) at most once per 10 s each, with how many
 * went unlogged, and told to the hooks. Single-threaded: the event loop
 * only.
 */

#include <stdbool.h>
#include <time.h>

struct bufferevent;
struct event_base;
struct evhttp;
struct evhttp_request;
struct http_guard;

struct http_limits {
	unsigned int max_connections;     /* 0: the guard's default */
	unsigned int request_timeout_ms;  /* 0: the guard's default */
};

struct http_guard_settings {
	const char *name;          /* of the log events: "metrics" */
	const char *refusal;       /* the 503's text/plain body, at most 200
				      bytes: "too many connections to ...\n" */
	struct http_limits defaults;
	/* Replies may wait for other servers (longer than request_timeout):
	   the deadline stops while a request is answered and starts again
	   once its reply is written. false: it starts again when the request
	   is complete, the reply's writing included. */
	bool slow_replies;
	/* Each accepted connection's bufferevent, for TLS (fd -1: evhttp sets
	   it); NULL: a plain socket. */
	struct bufferevent *(*make_bev)(struct event_base *base, void *ctx);
	void *ctx;
	/* Told, when not NULL: the connections open now; one refused; one
	   closed for its deadline. */
	void (*open)(unsigned int open);
	void (*refused)(void);
	void (*timed_out)(void);
};

/*
 * Guards http (evhttp_set_bevcb: the caller sets none of its own) with
 * limits (NULL: the defaults); set is copied, its strings must outlive
 * the guard. Sets evhttp's own read and write timeout a second beyond
 * request_timeout, as a backstop. NULL when out of memory.
 */
struct http_guard *http_guard_new(struct evhttp *http, const struct http_guard_settings *set,
				  const struct http_limits *limits);
/* New limits (reload) for connections accepted from now on; open ones
   keep their deadline until their next request. NULL g is fine. */
void http_guard_set_limits(struct http_guard *g, const struct http_limits *limits);
/* The limits in force. */
struct http_limits http_guard_limits(const struct http_guard *g);
/* Connections open now. */
unsigned int http_guard_open(const struct http_guard *g);
/*
 * The server's request callback calls this first: the deadline of the
 * request's connection starts again (see slow_replies). false: the
 * request was answered here (a TLS connection beyond max_connections,
 * refused) and the callback must not touch it.
 */
bool http_guard_request(struct http_guard *g, struct evhttp_request *req);
/* After evhttp_free() of the server; NULL is fine. */
void http_guard_free(struct http_guard **g);

/* At most one log line per 10 s for one kind of event; due: *unlogged is
   how many went unlogged since the one before. */
struct http_ratelog {
	time_t last;               /* 0: never logged */
	unsigned long unlogged;
};
bool http_ratelog_due(struct http_ratelog *r, unsigned long *unlogged);

#endif
