/* The connection to Redis and the life cycle of requests on it; see
   cache_conn.h. Parses no reply: each request's type does. */

#include "cache_conn.h"
#include "cache_backoff.h"
#include "cache_log.h"
#include "cache_reader.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

enum cache_conn_state {
	CACHE_CONN_WAIT,       /* backoff before the next attempt */
	CACHE_CONN_RESOLVING,  /* DNS */
	CACHE_CONN_CONNECTING, /* hiredis context exists, handshake running */
	CACHE_CONN_LOADING,    /* connected, the server is loading its data */
	CACHE_CONN_READY,
};

/* While the server answers LOADING: the next PING after this long. */
#define CACHE_LOADING_POLL_MS 50

struct cache_conn {
	struct event_base *base;
	struct cache_hooks hooks;
	struct cache_url url;      /* password always empty */
	char *password;            /* NULL = no AUTH */
	char desc[300];            /* for logs, without password */
	unsigned int timeout_ms;

	struct evdns_base *dns;
	bool own_dns;
	struct evdns_getaddrinfo_request *dns_req;
	unsigned int dns_turn;     /* which resolved address to try next */

	enum cache_conn_state state;
	struct redisAsyncContext *ac;
	struct cache_reader_guard guard;   /* on ac's reader */
	/* Backoff wait, attempt timeout, or while LOADING the next PING
	   (poll_ping_out false) or the timeout of the one out (true). */
	struct event *conn_ev;
	bool poll_ping_out;
	/* READY: a request timed out and this PING asks whether the
	   server is still there; ping_ev is its timeout. */
	struct event *ping_ev;
	bool ping_out;
	struct event *drop_ev;     /* deferred close of ac, from the loop */
	bool drop_scheduled;
	char drop_reason[160];
	unsigned int backoff_ms;
	bool was_up, logged_down;

	TAILQ_HEAD(, cache_req) reqs;
	unsigned int live_reqs;    /* not ZOMBIE */
	unsigned int callback_depth;
	bool destroying;

	void (*connected_fn)(void *ctx);
	void *connected_ctx;
	void (*idle_fn)(void *ctx);
	void *idle_ctx;
};

static const char cache_step_auth[] = "AUTH";
static const char cache_step_select[] = "SELECT";
static const char cache_step_ping[] = "PING";

static void cache_conn_down(struct cache_conn *conn, const char *why);
static void cache_conn_check(struct cache_conn *conn);
static void cache_conn_poll(struct cache_conn *conn);

/* --- requests --- */

static void cache_req_free_data(struct cache_req *req)
{
	if (req->data != NULL && req->type->free_data != NULL)
		req->type->free_data(req->data);
	req->data = NULL;
}

static void cache_req_destroy(struct cache_req *req)
{
	struct cache_conn *conn = req->conn;

	TAILQ_REMOVE(&conn->reqs, req, link);
	if (req->state != CACHE_REQ_ZOMBIE)
		conn->live_reqs--;
	event_free(req->ev);
	if (req->cmd != NULL)
		redisFreeCommand(req->cmd);
	cache_req_free_data(req);
	free(req);
}

/* The caller is done with req: free it, or leave it to hiredis. */
static void cache_req_release(struct cache_req *req)
{
	if (!req->in_redis) {
		cache_req_destroy(req);
		return;
	}
	event_del(req->ev);
	if (req->cmd != NULL) {
		redisFreeCommand(req->cmd);
		req->cmd = NULL;
	}
	cache_req_free_data(req);
	memset(&req->cb, 0, sizeof(req->cb));
	req->state = CACHE_REQ_ZOMBIE;
	req->conn->live_reqs--;
}

static void cache_req_deliver(struct cache_req *req)
{
	struct cache_conn *conn = req->conn;
	void (*idle_fn)(void *ctx);

	req->state = CACHE_REQ_DELIVERING;
	conn->callback_depth++;
	req->type->deliver(req);
	conn->callback_depth--;
	cache_req_release(req);
	if (conn->callback_depth == 0 && conn->idle_fn != NULL) {
		idle_fn = conn->idle_fn;
		conn->idle_fn = NULL;
		idle_fn(conn->idle_ctx);  /* may free conn */
	}
}

static void cache_req_done(struct cache_req *req, enum cache_status st)
{
	const struct cache_hooks *hooks = &req->conn->hooks;

	if ((st == CACHE_UNAVAILABLE || st == CACHE_ERROR) &&
	    !req->type->step && hooks->request_failed != NULL)
		hooks->request_failed(hooks->ctx);
	req->status = st;
	req->state = CACHE_REQ_DONE;
	event_del(req->ev);
}

void cache_req_complete(struct cache_req *req, enum cache_status st)
{
	cache_req_done(req, st);
	event_active(req->ev, EV_TIMEOUT, 1);
}

void cache_req_complete_now(struct cache_req *req, enum cache_status st)
{
	cache_req_done(req, st);
	cache_req_deliver(req);
}

void cache_req_log(const struct cache_req *req, enum cache_log_level level,
		   const char *event, const char *fmt, ...)
{
	char rest[900];
	va_list args;

	va_start(args, fmt);
	vsnprintf(rest, sizeof(rest), fmt, args);
	va_end(args);
	cache_log(&req->conn->hooks, level, "event=%s cache=%s op=%s %s",
		  event, req->conn->desc, req->type->name, rest);
}

static void cache_req_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_req *req = arg;
	struct cache_conn *conn = req->conn;

	if (req->state == CACHE_REQ_WAITING || req->state == CACHE_REQ_SENT) {
		bool sent = req->state == CACHE_REQ_SENT;

		cache_req_log(req, CACHE_LOG_WARN, "cache_timeout",
			      "timeout_ms=%u waiting_for=%s", conn->timeout_ms,
			      sent ? "reply" : "connection");
		if (!req->type->step && conn->hooks.request_failed != NULL)
			conn->hooks.request_failed(conn->hooks.ctx);
		req->status = CACHE_UNAVAILABLE;
		req->state = CACHE_REQ_DONE;
		/* Only this request fails: its late reply is dropped when it
		   comes (it stays in hiredis as a zombie). One slow script is
		   no reason to fail everyone else's; a PING tells whether the
		   server is there at all. */
		if (sent)
			cache_conn_check(conn);
	}
	if (req->state == CACHE_REQ_DONE)
		cache_req_deliver(req);
}

struct cache_req *cache_req_new(struct cache_conn *conn,
				const struct cache_req_type *type,
				union cache_req_cb cb, void *ctx)
{
	struct cache_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->ev = event_new(conn->base, -1, 0, cache_req_event, req);
	if (req->ev == NULL) {
		free(req);
		return NULL;
	}
	req->conn = conn;
	req->type = type;
	req->state = CACHE_REQ_WAITING;
	req->cb = cb;
	req->ctx = ctx;
	TAILQ_INSERT_TAIL(&conn->reqs, req, link);
	conn->live_reqs++;
	return req;
}

/* An error reply that says the server is still loading its data. */
static bool cache_reply_loading(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 7 &&
		strncmp(r->str, "LOADING", 7) == 0 &&
		(r->len == 7 || r->str[7] == ' ');
}

static void cache_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_req *req = privdata;

	req->in_redis = false;
	if (req->state == CACHE_REQ_ZOMBIE) {
		cache_req_destroy(req);
		return;
	}
	if (req->state != CACHE_REQ_SENT || req->conn->destroying)
		return;
	if (r != NULL && cache_reply_loading(r)) {
		/* Not run: it goes again, in its place, once a PING says the
		   server is done loading (within its own timeout). */
		req->state = CACHE_REQ_WAITING;
		if (req->conn->state != CACHE_CONN_LOADING)
			cache_conn_poll(req->conn);
		return;
	}
	redisFreeCommand(req->cmd);
	req->cmd = NULL;
	cache_req_complete(req, r == NULL ? CACHE_UNAVAILABLE :
			   req->type->parse(req, r));
}

/* The command stays until its reply: a LOADING one sends it again.
   hiredis refuses only on a connection it is closing; the request then
   waits for the next one. */
static void cache_req_send(struct cache_req *req)
{
	struct cache_conn *conn = req->conn;

	if (redisAsyncFormattedCommand(conn->ac, cache_reply_cb, req, req->cmd,
				       req->cmd_len) != REDIS_OK)
		return;
	req->in_redis = true;
	req->state = CACHE_REQ_SENT;
}

/* The waiting requests go out, in the order they were made. */
static void cache_conn_flush(struct cache_conn *conn)
{
	struct cache_req *req;

	TAILQ_FOREACH(req, &conn->reqs, link) {
		if (req->state == CACHE_REQ_WAITING && req->cmd != NULL &&
		    cache_conn_ready(conn))
			cache_req_send(req);
	}
}

void cache_req_submit(struct cache_req *req, int argc, const char **argv,
		      const size_t *argvlen)
{
	struct cache_conn *conn = req->conn;
	struct timeval tv;
	int len;

	if (conn->live_reqs > CACHE_MAX_PENDING) {
		cache_log(&conn->hooks, CACHE_LOG_WARN,
			  "event=cache_overload cache=%s pending=%u",
			  conn->desc, conn->live_reqs);
		cache_req_complete(req, CACHE_UNAVAILABLE);
		return;
	}
	len = redisFormatCommandArgv(&req->cmd, argc, argv, argvlen);
	if (len < 0) {
		req->cmd = NULL;
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"cannot format command\"");
		cache_req_complete(req, CACHE_ERROR);
		return;
	}
	req->cmd_len = (size_t)len;
	tv = cache_timeval_ms(conn->timeout_ms);
	event_add(req->ev, &tv);
	/* Otherwise it waits, within its timeout, for the connection to be
	   (re)established and the server to be done loading. */
	if (cache_conn_ready(conn))
		cache_req_send(req);
}

void cache_req_cancel(struct cache_req **reqp)
{
	struct cache_req *req = *reqp;

	*reqp = NULL;
	if (req == NULL || req->state == CACHE_REQ_DELIVERING ||
	    req->state == CACHE_REQ_ZOMBIE)
		return;
	cache_req_release(req);
}

/* --- connection --- */

static void cache_conn_schedule(struct cache_conn *conn, unsigned int ms)
{
	struct timeval tv = cache_timeval_ms(ms);

	event_del(conn->conn_ev);
	event_add(conn->conn_ev, &tv);
}

/* Closes whatever attempt or connection there is, fails what waits for
   it, and schedules the next attempt. Never called inside hiredis. */
static void cache_conn_down(struct cache_conn *conn, const char *why)
{
	redisAsyncContext *ac = conn->ac;
	struct evdns_getaddrinfo_request *dns_req = conn->dns_req;

	conn->ac = NULL;
	conn->dns_req = NULL;
	conn->dns_turn++;
	conn->state = CACHE_CONN_WAIT;
	conn->drop_scheduled = false;
	conn->ping_out = false;
	conn->poll_ping_out = false;
	event_del(conn->drop_ev);
	event_del(conn->ping_ev);
	if (dns_req != NULL)
		evdns_getaddrinfo_cancel(dns_req);
	/* Runs every pending reply callback with NULL: each request sent
	   completes with CACHE_UNAVAILABLE (outcome unknown), delivered
	   from the loop. Those not sent yet wait for the next connection. */
	if (ac != NULL)
		redisAsyncFree(ac);
	if (conn->was_up) {
		cache_log(&conn->hooks, CACHE_LOG_WARN,
			  "event=cache_down cache=%s error=\"%s\" retry_ms=%u",
			  conn->desc, why, conn->backoff_ms);
		conn->was_up = false;
		conn->logged_down = true;
	} else if (!conn->logged_down) {
		cache_log(&conn->hooks, CACHE_LOG_WARN,
			  "event=cache_unreachable cache=%s error=\"%s\" "
			  "retry_ms=%u", conn->desc, why, conn->backoff_ms);
		conn->logged_down = true;
	} else {
		cache_log(&conn->hooks, CACHE_LOG_DEBUG,
			  "event=cache_retry cache=%s error=\"%s\" retry_ms=%u",
			  conn->desc, why, conn->backoff_ms);
	}
	cache_conn_schedule(conn, conn->backoff_ms);
	conn->backoff_ms = cache_backoff_next(conn->backoff_ms);
}

/* From inside hiredis: the close happens on the loop. */
static void cache_conn_drop_later(struct cache_conn *conn, const char *why)
{
	if (conn->drop_scheduled)
		return;
	conn->drop_scheduled = true;
	snprintf(conn->drop_reason, sizeof(conn->drop_reason), "%s", why);
	event_active(conn->drop_ev, EV_TIMEOUT, 1);
}

static void cache_drop_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_conn *conn = arg;

	if (conn->drop_scheduled)
		cache_conn_down(conn, conn->drop_reason);
}

static void cache_handshake_cb(redisAsyncContext *ac, void *r,
			       void *privdata);

/* Timer: next attempt after the backoff, the next PING while the server
   loads, or an attempt or PING that took too long. */
static void cache_conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_conn *conn = arg;

	if (conn->state == CACHE_CONN_WAIT) {
		cache_conn_start(conn);
	} else if (conn->state == CACHE_CONN_LOADING && !conn->poll_ping_out) {
		if (conn->ac == NULL)
			return;  /* closing: the drop event comes next */
		conn->poll_ping_out = true;
		cache_conn_schedule(conn, conn->timeout_ms);
		redisAsyncCommand(conn->ac, cache_handshake_cb,
				  (void *)cache_step_ping, "PING");
	} else if (conn->state != CACHE_CONN_READY) {
		cache_conn_down(conn, conn->state == CACHE_CONN_LOADING ?
				"no answer to PING while loading" :
				"connect timed out");
	}
}

static void cache_on_connect(const redisAsyncContext *ac, int status)
{
	struct cache_conn *conn = ac->data;
	char why[160];

	if (status == REDIS_OK || conn == NULL || ac != conn->ac)
		return;
	/* hiredis frees ac when this returns. */
	snprintf(why, sizeof(why), "connect: %s", ac->errstr);
	conn->ac = NULL;
	cache_conn_drop_later(conn, why);
}

static void cache_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cache_conn *conn = ac->data;
	char why[160];

	if (conn == NULL || ac != conn->ac)
		return;
	snprintf(why, sizeof(why), "%s", conn->guard.tripped ?
		 "a reply to no request (is it Redis?)" : ac->err != 0 ?
		 ac->errstr : "connection closed");
	conn->ac = NULL;
	cache_conn_drop_later(conn, why);
}

static void cache_handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_conn *conn = ac->data;
	const redisReply *reply = r;
	char why[160];

	if (conn == NULL || ac != conn->ac || reply == NULL ||
	    (conn->state != CACHE_CONN_CONNECTING &&
	     conn->state != CACHE_CONN_LOADING) || conn->drop_scheduled)
		return;
	if (privdata == cache_step_ping && cache_reply_loading(reply)) {
		cache_conn_poll(conn);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		char esc[100];

		snprintf(why, sizeof(why), "%s: %s", (const char *)privdata,
			 text_escape(reply->str, reply->len, esc, sizeof(esc)));
		cache_conn_drop_later(conn, why);
		return;
	}
	if (privdata != cache_step_ping)
		return;
	if (reply->type != REDIS_REPLY_STATUS ||
	    strcmp(reply->str, "PONG") != 0) {
		cache_conn_drop_later(conn, "PING: unexpected reply");
		return;
	}
	conn->state = CACHE_CONN_READY;
	conn->poll_ping_out = false;
	conn->backoff_ms = CACHE_BACKOFF_MIN_MS;
	event_del(conn->conn_ev);
	if (conn->logged_down || !conn->was_up)
		cache_log(&conn->hooks, CACHE_LOG_INFO,
			  "event=cache_up cache=%s", conn->desc);
	conn->was_up = true;
	conn->logged_down = false;
	cache_conn_flush(conn);
	if (conn->connected_fn != NULL)
		conn->connected_fn(conn->connected_ctx);
}

/* The server said LOADING (to the handshake PING or to a request):
   nothing more is sent until a PING, every CACHE_LOADING_POLL_MS, gets
   PONG. Inside hiredis. */
static void cache_conn_poll(struct cache_conn *conn)
{
	if (conn->state != CACHE_CONN_LOADING)
		cache_log(&conn->hooks, CACHE_LOG_INFO,
			  "event=cache_loading cache=%s", conn->desc);
	conn->state = CACHE_CONN_LOADING;
	conn->poll_ping_out = false;
	cache_conn_schedule(conn, CACHE_LOADING_POLL_MS);
}

static void cache_alive_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_conn *conn = ac->data;

	/* Any answer, even an error, says the server is there. */
	if (conn == NULL || ac != conn->ac || r == NULL)
		return;
	conn->ping_out = false;
	event_del(conn->ping_ev);
}

static void cache_alive_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_conn *conn = arg;

	if (conn->ping_out)
		cache_conn_down(conn, "no answer to PING after a request "
				"timed out");
}

/* A request timed out: a PING behind it must come back within the
   timeout, or the connection is dead and is recycled. From the loop. */
static void cache_conn_check(struct cache_conn *conn)
{
	struct timeval tv = cache_timeval_ms(conn->timeout_ms);

	if (conn->ping_out || !cache_conn_ready(conn) || conn->drop_scheduled)
		return;
	if (redisAsyncCommand(conn->ac, cache_alive_cb, NULL, "PING") !=
	    REDIS_OK)
		return;
	conn->ping_out = true;
	event_add(conn->ping_ev, &tv);
}

static void cache_handshake(struct cache_conn *conn)
{
	char db[16];
	const char *argv[3];
	size_t argvlen[3];
	int argc = 0;

	if (conn->password != NULL) {
		argv[argc] = "AUTH";
		argvlen[argc++] = 4;
		if (conn->url.user[0] != '\0') {
			argv[argc] = conn->url.user;
			argvlen[argc] = strlen(conn->url.user);
			argc++;
		}
		argv[argc] = conn->password;
		argvlen[argc] = strlen(conn->password);
		argc++;
		redisAsyncCommandArgv(conn->ac, cache_handshake_cb,
				      (void *)cache_step_auth, argc, argv,
				      argvlen);
	}
	if (conn->url.db != 0) {
		snprintf(db, sizeof(db), "%u", conn->url.db);
		argv[0] = "SELECT";
		argvlen[0] = 6;
		argv[1] = db;
		argvlen[1] = strlen(db);
		redisAsyncCommandArgv(conn->ac, cache_handshake_cb,
				      (void *)cache_step_select, 2, argv,
				      argvlen);
	}
	redisAsyncCommand(conn->ac, cache_handshake_cb,
			  (void *)cache_step_ping, "PING");
}

/* host: a numeric address for TCP; ignored for unix sockets. */
static void cache_conn_open(struct cache_conn *conn, const char *host)
{
	redisAsyncContext *ac;
	char why[160];

	if (conn->url.kind == CACHE_URL_TCP)
		ac = redisAsyncConnect(host, conn->url.port);
	else
		ac = redisAsyncConnectUnix(conn->url.path);
	if (ac == NULL || ac->err != 0) {
		snprintf(why, sizeof(why), "connect: %s", ac != NULL ?
			 ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		cache_conn_down(conn, why);
		return;
	}
	ac->data = conn;
	cache_reader_guard(&conn->guard, ac);
	redisAsyncSetConnectCallback(ac, cache_on_connect);
	redisAsyncSetDisconnectCallback(ac, cache_on_disconnect);
	if (redisLibeventAttach(ac, conn->base) != REDIS_OK) {
		redisAsyncFree(ac);
		cache_conn_down(conn, "cannot attach to the event loop");
		return;
	}
	if (conn->url.kind == CACHE_URL_TCP)
		(void)redisEnableKeepAlive(&ac->c);
	conn->ac = ac;
	conn->state = CACHE_CONN_CONNECTING;
	/* Requests wait for its PONG: sent behind the handshake, they
	   would meet a LOADING or NOAUTH of their own. */
	cache_handshake(conn);
}

static void cache_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct cache_conn *conn = arg;
	char addr[INET6_ADDRSTRLEN] = "";
	char why[160];
	const struct evutil_addrinfo *ai;
	const void *in;
	unsigned int n;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	conn->dns_req = NULL;
	if (result != 0 || res == NULL) {
		snprintf(why, sizeof(why), "resolving %.80s: %s",
			 conn->url.host, evutil_gai_strerror(result));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		cache_conn_down(conn, why);
		return;
	}
	/* A name with several addresses (localhost: ::1 and 127.0.0.1):
	   after each failure the next one. */
	for (ai = res, n = 0; ai != NULL; ai = ai->ai_next)
		n++;
	for (ai = res, n = conn->dns_turn % n; n > 0; n--)
		ai = ai->ai_next;
	if (ai->ai_family == AF_INET6)
		in = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
	else
		in = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
	evutil_inet_ntop(ai->ai_family, in, addr, sizeof(addr));
	evutil_freeaddrinfo(res);
	cache_conn_open(conn, addr);
}

void cache_conn_start(struct cache_conn *conn)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *dreq;

	cache_conn_schedule(conn, conn->timeout_ms);
	if (conn->url.kind != CACHE_URL_TCP || conn->url.host_numeric) {
		cache_conn_open(conn, conn->url.host);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	conn->state = CACHE_CONN_RESOLVING;
	/* The callback may run before this returns. */
	dreq = evdns_getaddrinfo(conn->dns, conn->url.host, NULL, &hints,
				 cache_dns_cb, conn);
	if (dreq != NULL && conn->state == CACHE_CONN_RESOLVING)
		conn->dns_req = dreq;
}

void cache_conn_retry_soon(struct cache_conn *conn)
{
	/* The new server needs a moment to bind its socket. */
	conn->backoff_ms = CACHE_BACKOFF_MIN_MS;
	if (conn->state == CACHE_CONN_WAIT)
		cache_conn_schedule(conn, 50);
}

void cache_conn_set_connected(struct cache_conn *conn, void (*fn)(void *ctx),
			      void *ctx)
{
	conn->connected_fn = fn;
	conn->connected_ctx = ctx;
}

void cache_conn_when_idle(struct cache_conn *conn, void (*fn)(void *ctx),
			  void *ctx)
{
	if (conn->callback_depth == 0) {
		fn(ctx);
		return;
	}
	conn->idle_fn = fn;
	conn->idle_ctx = ctx;
}

const char *cache_conn_describe(const struct cache_conn *conn)
{
	return conn->desc;
}

bool cache_conn_ready(const struct cache_conn *conn)
{
	return conn->state == CACHE_CONN_READY && conn->ac != NULL;
}

/* --- life cycle --- */

struct cache_conn *cache_conn_new(const struct cache_conn_settings *set,
				  char **error_r)
{
	struct cache_conn *conn = calloc(1, sizeof(*conn));

	*error_r = NULL;
	if (conn == NULL)
		return NULL;
	conn->base = set->base;
	conn->hooks = set->hooks;
	conn->url = *set->url;
	explicit_bzero(conn->url.password, sizeof(conn->url.password));
	conn->timeout_ms = set->timeout_ms;
	conn->backoff_ms = CACHE_BACKOFF_MIN_MS;
	conn->state = CACHE_CONN_WAIT;
	TAILQ_INIT(&conn->reqs);
	cache_url_describe(&conn->url, conn->desc, sizeof(conn->desc));
	if (set->password != NULL &&
	    (conn->password = strdup(set->password)) == NULL)
		goto fail;
	conn->conn_ev = event_new(set->base, -1, 0, cache_conn_event, conn);
	conn->drop_ev = event_new(set->base, -1, 0, cache_drop_event, conn);
	conn->ping_ev = event_new(set->base, -1, 0, cache_alive_event, conn);
	if (conn->conn_ev == NULL || conn->drop_ev == NULL ||
	    conn->ping_ev == NULL) {
		*error_r = strdup("cache: cannot create events");
		goto fail;
	}
	if (conn->url.kind == CACHE_URL_TCP && !conn->url.host_numeric) {
		conn->dns = set->dns;
		if (conn->dns == NULL) {
			conn->dns = evdns_base_new(set->base,
				EVDNS_BASE_INITIALIZE_NAMESERVERS |
				EVDNS_BASE_DISABLE_WHEN_INACTIVE);
			conn->own_dns = true;
		}
		if (conn->dns == NULL) {
			*error_r = strdup("cache: cannot set up DNS");
			goto fail;
		}
	}
	return conn;
fail:
	cache_conn_free(&conn);
	return NULL;
}

void cache_conn_free(struct cache_conn **connp)
{
	struct cache_conn *conn = *connp;
	struct cache_req *req;

	*connp = NULL;
	if (conn == NULL)
		return;
	conn->destroying = true;
	if (conn->dns_req != NULL) {
		struct evdns_getaddrinfo_request *dreq = conn->dns_req;

		conn->dns_req = NULL;
		evdns_getaddrinfo_cancel(dreq);
	}
	if (conn->ac != NULL) {
		redisAsyncContext *ac = conn->ac;

		conn->ac = NULL;
		redisAsyncFree(ac);
	}
	while ((req = TAILQ_FIRST(&conn->reqs)) != NULL)
		cache_req_destroy(req);
	if (conn->conn_ev != NULL)
		event_free(conn->conn_ev);
	if (conn->drop_ev != NULL)
		event_free(conn->drop_ev);
	if (conn->ping_ev != NULL)
		event_free(conn->ping_ev);
	if (conn->own_dns && conn->dns != NULL)
		evdns_base_free(conn->dns, 1);
	if (conn->password != NULL) {
		explicit_bzero(conn->password, strlen(conn->password));
		free(conn->password);
	}
	explicit_bzero(conn, sizeof(*conn));
	free(conn);
}
