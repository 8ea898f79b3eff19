/* Connection to Redis and the life cycle of requests; see cache_private.h. */

#include "cache_private.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>


static const char cache_step_auth[] = "AUTH";
static const char cache_step_select[] = "SELECT";
static const char cache_step_ping[] = "PING";

static void cache_conn_start(struct cache *c);
static void cache_destroy(struct cache *c);

const char *cache_status_name(enum cache_status st)
{
	switch (st) {
	case CACHE_OK: return "ok";
	case CACHE_IN_USE: return "in-use";
	case CACHE_UNAVAILABLE: return "unavailable";
	case CACHE_CONFLICT: return "conflict";
	case CACHE_ERROR: return "error";
	}
	return "?";
}

bool cache_available(const struct cache *c)
{
	return c != NULL && c->state == CACHE_CONN_READY && c->ac != NULL;
}

static void cache_timeval(struct timeval *tv, unsigned int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* --- requests --- */

static void cache_req_destroy(struct cache_req *req)
{
	struct cache *c = req->cache;

	TAILQ_REMOVE(&c->reqs, req, link);
	if (req->state != CACHE_REQ_ZOMBIE)
		c->live_reqs--;
	event_free(req->ev);
	if (req->cmd != NULL)
		redisFreeCommand(req->cmd);
	cache_view_data_free(&req->data);
	free(req);
}

/* The user is done with req: free it, or leave it to hiredis. */
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
	cache_view_data_free(&req->data);
	req->status_cb = NULL;
	req->view_cb = NULL;
	req->state = CACHE_REQ_ZOMBIE;
	req->cache->live_reqs--;
}

static void cache_req_deliver(struct cache_req *req)
{
	struct cache *c = req->cache;
	const struct cache_view *view = NULL;

	req->state = CACHE_REQ_DELIVERING;
	c->callback_depth++;
	if (req->view_cb != NULL) {
		if (req->status == CACHE_OK && req->data != NULL)
			view = &req->data->view;
		req->view_cb(req->ctx, view != NULL ? CACHE_OK :
			     req->status == CACHE_OK ? CACHE_ERROR :
			     req->status, view);
	} else if (req->status_cb != NULL) {
		req->status_cb(req->ctx, req->status);
	}
	c->callback_depth--;
	cache_req_release(req);
	if (c->callback_depth == 0 && c->free_pending)
		cache_destroy(c);
}

void cache_req_complete(struct cache_req *req, enum cache_status st)
{
	if (st == CACHE_UNAVAILABLE || st == CACHE_ERROR)
		if (req->cache->hooks.request_failed != NULL)
			req->cache->hooks.request_failed(req->cache->hooks.ctx);
	req->status = st;
	req->state = CACHE_REQ_DONE;
	event_del(req->ev);
	event_active(req->ev, EV_TIMEOUT, 1);
}

static void cache_conn_down(struct cache *c, const char *why);

static void cache_req_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_req *req = arg;
	struct cache *c = req->cache;

	if (req->state == CACHE_REQ_WAITING || req->state == CACHE_REQ_SENT) {
		bool sent = req->state == CACHE_REQ_SENT;

		req->status = CACHE_UNAVAILABLE;
		req->state = CACHE_REQ_DONE;
		cache_log(&c->hooks, CACHE_LOG_WARN, "event=cache_timeout cache=%s op=%s timeout_ms=%u",
			 c->desc, cache_req_kind_name(req->kind),
			 c->timeout_ms);
		/* A server that does not answer one request holds up every
		   request behind it: start over with a fresh connection. */
		if (sent)
			cache_conn_down(c, "request timed out");
	}
	if (req->state == CACHE_REQ_DONE)
		cache_req_deliver(req);
}

struct cache_req *cache_req_new(struct cache *c, enum cache_req_kind kind,
				cache_status_cb *status_cb,
				cache_view_cb *view_cb, void *ctx)
{
	struct cache_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->ev = event_new(c->base, -1, 0, cache_req_event, req);
	if (req->ev == NULL) {
		free(req);
		return NULL;
	}
	req->cache = c;
	req->kind = kind;
	req->state = CACHE_REQ_WAITING;
	req->status_cb = status_cb;
	req->view_cb = view_cb;
	req->ctx = ctx;
	TAILQ_INSERT_TAIL(&c->reqs, req, link);
	c->live_reqs++;
	return req;
}

static void cache_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_req *req = privdata;

	req->in_redis = false;
	if (req->state == CACHE_REQ_ZOMBIE) {
		cache_req_destroy(req);
		return;
	}
	if (req->state != CACHE_REQ_SENT || req->cache->destroying)
		return;
	cache_req_complete(req, r == NULL ? CACHE_UNAVAILABLE :
			   cache_req_parse(req, r));
}

static void cache_req_send(struct cache_req *req)
{
	struct cache *c = req->cache;
	int ret;

	ret = redisAsyncFormattedCommand(c->ac, cache_reply_cb, req, req->cmd,
					 req->cmd_len);
	redisFreeCommand(req->cmd);
	req->cmd = NULL;
	if (ret != REDIS_OK) {
		cache_req_complete(req, CACHE_UNAVAILABLE);
		return;
	}
	req->in_redis = true;
	req->state = CACHE_REQ_SENT;
}

void cache_req_submit(struct cache_req *req, int argc, const char **argv,
		      const size_t *argvlen)
{
	struct cache *c = req->cache;
	struct timeval tv;
	int len;

	if (c->live_reqs > CACHE_MAX_PENDING) {
		cache_log(&c->hooks, CACHE_LOG_WARN, "event=cache_overload cache=%s pending=%u", c->desc,
			 c->live_reqs);
		cache_req_complete(req, CACHE_UNAVAILABLE);
		return;
	}
	/* No connection, or one that hiredis is closing (the close reaches
	   the loop a moment later). */
	if (c->state == CACHE_CONN_WAIT ||
	    (c->ac == NULL && c->state != CACHE_CONN_RESOLVING)) {
		cache_req_complete(req, CACHE_UNAVAILABLE);
		return;
	}
	len = redisFormatCommandArgv(&req->cmd, argc, argv, argvlen);
	if (len < 0) {
		req->cmd = NULL;
		cache_log(&c->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=%s "
			  "error=\"cannot format command\"", c->desc,
			  cache_req_kind_name(req->kind));
		cache_req_complete(req, CACHE_ERROR);
		return;
	}
	req->cmd_len = (size_t)len;
	cache_timeval(&tv, c->timeout_ms);
	event_add(req->ev, &tv);
	if (c->state != CACHE_CONN_RESOLVING)
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

static void cache_conn_schedule(struct cache *c, unsigned int ms)
{
	struct timeval tv;

	cache_timeval(&tv, ms);
	event_del(c->conn_ev);
	event_add(c->conn_ev, &tv);
}

/* Closes whatever attempt or connection there is, fails what waits for
   it, and schedules the next attempt. Never called inside hiredis. */
static void cache_conn_down(struct cache *c, const char *why)
{
	redisAsyncContext *ac = c->ac;
	struct evdns_getaddrinfo_request *dns_req = c->dns_req;
	struct cache_req *req;

	c->ac = NULL;
	c->dns_req = NULL;
	c->dns_turn++;
	c->state = CACHE_CONN_WAIT;
	c->drop_scheduled = false;
	event_del(c->drop_ev);
	if (dns_req != NULL)
		evdns_getaddrinfo_cancel(dns_req);
	/* Runs every pending reply callback with NULL: each request
	   completes with CACHE_UNAVAILABLE, delivered from the loop. */
	if (ac != NULL)
		redisAsyncFree(ac);
	TAILQ_FOREACH(req, &c->reqs, link) {
		if (req->state == CACHE_REQ_WAITING && req->cmd != NULL)
			cache_req_complete(req, CACHE_UNAVAILABLE);
	}
	if (c->was_up) {
		cache_log(&c->hooks, CACHE_LOG_WARN, "event=cache_down cache=%s error=\"%s\" retry_ms=%u",
			 c->desc, why, c->backoff_ms);
		c->was_up = false;
		c->logged_down = true;
	} else if (!c->logged_down) {
		cache_log(&c->hooks, CACHE_LOG_WARN, "event=cache_unreachable cache=%s error=\"%s\" "
			 "retry_ms=%u", c->desc, why, c->backoff_ms);
		c->logged_down = true;
	} else {
		cache_log(&c->hooks, CACHE_LOG_DEBUG, "event=cache_retry cache=%s error=\"%s\" retry_ms=%u",
			  c->desc, why, c->backoff_ms);
	}
	cache_conn_schedule(c, c->backoff_ms);
	c->backoff_ms = cache_backoff_next(c->backoff_ms);
}

/* From inside hiredis: the close happens on the loop. */
static void cache_conn_drop_later(struct cache *c, const char *why)
{
	if (c->drop_scheduled)
		return;
	c->drop_scheduled = true;
	snprintf(c->drop_reason, sizeof(c->drop_reason), "%s", why);
	event_active(c->drop_ev, EV_TIMEOUT, 1);
}

static void cache_drop_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache *c = arg;

	if (c->drop_scheduled)
		cache_conn_down(c, c->drop_reason);
}

/* Timer: next attempt after the backoff, or an attempt that took too
   long. */
static void cache_conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache *c = arg;

	if (c->state == CACHE_CONN_WAIT)
		cache_conn_start(c);
	else if (c->state != CACHE_CONN_READY)
		cache_conn_down(c, "connect timed out");
}

static void cache_on_connect(const redisAsyncContext *ac, int status)
{
	struct cache *c = ac->data;
	char why[160];

	if (status == REDIS_OK || c == NULL || ac != c->ac)
		return;
	/* hiredis frees ac when this returns. */
	snprintf(why, sizeof(why), "connect: %s", ac->errstr);
	c->ac = NULL;
	cache_conn_drop_later(c, why);
}

static void cache_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cache *c = ac->data;
	char why[160];

	if (c == NULL || ac != c->ac)
		return;
	snprintf(why, sizeof(why), "%s", ac->err != 0 ? ac->errstr :
		 "connection closed");
	c->ac = NULL;
	cache_conn_drop_later(c, why);
}

static void cache_handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache *c = ac->data;
	const redisReply *reply = r;
	char why[160];

	if (c == NULL || ac != c->ac || c->state != CACHE_CONN_CONNECTING ||
	    reply == NULL || c->drop_scheduled)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		char esc[100];

		snprintf(why, sizeof(why), "%s: %s", (const char *)privdata,
			 text_escape(reply->str, reply->len, esc, sizeof(esc)));
		cache_conn_drop_later(c, why);
		return;
	}
	if (privdata != cache_step_ping)
		return;
	if (reply->type != REDIS_REPLY_STATUS ||
	    strcmp(reply->str, "PONG") != 0) {
		cache_conn_drop_later(c, "PING: unexpected reply");
		return;
	}
	c->state = CACHE_CONN_READY;
	c->backoff_ms = CACHE_BACKOFF_MIN_MS;
	event_del(c->conn_ev);
	if (c->logged_down || !c->was_up)
		cache_log(&c->hooks, CACHE_LOG_INFO, "event=cache_up cache=%s", c->desc);
	c->was_up = true;
	c->logged_down = false;
	cache_unlocks_retry(c);
}

static void cache_handshake(struct cache *c)
{
	char db[16];
	const char *argv[3];
	size_t argvlen[3];
	int argc = 0;

	if (c->password != NULL) {
		argv[argc] = "AUTH";
		argvlen[argc++] = 4;
		if (c->url.user[0] != '\0') {
			argv[argc] = c->url.user;
			argvlen[argc] = strlen(c->url.user);
			argc++;
		}
		argv[argc] = c->password;
		argvlen[argc] = strlen(c->password);
		argc++;
		redisAsyncCommandArgv(c->ac, cache_handshake_cb,
				      (void *)cache_step_auth, argc, argv,
				      argvlen);
	}
	if (c->url.db != 0) {
		snprintf(db, sizeof(db), "%u", c->url.db);
		argv[0] = "SELECT";
		argvlen[0] = 6;
		argv[1] = db;
		argvlen[1] = strlen(db);
		redisAsyncCommandArgv(c->ac, cache_handshake_cb,
				      (void *)cache_step_select, 2, argv,
				      argvlen);
	}
	redisAsyncCommand(c->ac, cache_handshake_cb, (void *)cache_step_ping,
			  "PING");
}

/* host: a numeric address for TCP; ignored for unix sockets. */
static void cache_conn_open(struct cache *c, const char *host)
{
	redisAsyncContext *ac;
	struct cache_req *req;
	char why[160];

	if (c->url.kind == CACHE_URL_TCP)
		ac = redisAsyncConnect(host, c->url.port);
	else
		ac = redisAsyncConnectUnix(c->url.path);
	if (ac == NULL || ac->err != 0) {
		snprintf(why, sizeof(why), "connect: %s", ac != NULL ?
			 ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		cache_conn_down(c, why);
		return;
	}
	ac->data = c;
	redisAsyncSetConnectCallback(ac, cache_on_connect);
	redisAsyncSetDisconnectCallback(ac, cache_on_disconnect);
	if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
		redisAsyncFree(ac);
		cache_conn_down(c, "cannot attach to the event loop");
		return;
	}
	if (c->url.kind == CACHE_URL_TCP)
		(void)redisEnableKeepAlive(&ac->c);
	c->ac = ac;
	c->state = CACHE_CONN_CONNECTING;
	cache_handshake(c);
	TAILQ_FOREACH(req, &c->reqs, link) {
		if (req->state == CACHE_REQ_WAITING && req->cmd != NULL)
			cache_req_send(req);
	}
}

static void cache_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct cache *c = arg;
	char addr[INET6_ADDRSTRLEN] = "";
	char why[160];
	const struct evutil_addrinfo *ai;
	const void *in;
	unsigned int n;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	c->dns_req = NULL;
	if (result != 0 || res == NULL) {
		snprintf(why, sizeof(why), "resolving %.80s: %s", c->url.host,
			 evutil_gai_strerror(result));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		cache_conn_down(c, why);
		return;
	}
	/* A name with several addresses (localhost: ::1 and 127.0.0.1):
	   after each failure the next one. */
	for (ai = res, n = 0; ai != NULL; ai = ai->ai_next)
		n++;
	for (ai = res, n = c->dns_turn % n; n > 0; n--)
		ai = ai->ai_next;
	if (ai->ai_family == AF_INET6)
		in = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
	else
		in = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
	evutil_inet_ntop(ai->ai_family, in, addr, sizeof(addr));
	evutil_freeaddrinfo(res);
	cache_conn_open(c, addr);
}

static void cache_conn_start(struct cache *c)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *dreq;

	cache_conn_schedule(c, c->timeout_ms);
	if (c->url.kind != CACHE_URL_TCP || c->url.host_numeric) {
		cache_conn_open(c, c->url.host);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	c->state = CACHE_CONN_RESOLVING;
	/* The callback may run before this returns. */
	dreq = evdns_getaddrinfo(c->dns, c->url.host, NULL, &hints,
				 cache_dns_cb, c);
	if (dreq != NULL && c->state == CACHE_CONN_RESOLVING)
		c->dns_req = dreq;
}

static void cache_server_restarted(void *ctx)
{
	struct cache *c = ctx;

	/* The new server needs a moment to bind its socket. */
	c->backoff_ms = CACHE_BACKOFF_MIN_MS;
	if (c->state == CACHE_CONN_WAIT)
		cache_conn_schedule(c, 50);
}

/* --- life cycle --- */

static int cache_settings_apply(struct cache *c,
				const struct cache_settings *set,
				char **error_r)
{
	const char *error;

	if (cache_url_parse(set->url, &c->url, &error) < 0) {
		if (asprintf(error_r, "cache: %s", error) < 0)
			*error_r = NULL;
		return -1;
	}
	if (set->timeout_ms > CACHE_MAX_TIMEOUT_MS) {
		*error_r = strdup("cache: timeout too long (max 600 s)");
		return -1;
	}
	c->timeout_ms = set->timeout_ms != 0 ? set->timeout_ms :
		CACHE_DEFAULT_TIMEOUT_MS;
	if (set->password != NULL && c->url.password[0] != '\0') {
		*error_r = strdup("cache: password given both in the url and "
				  "as a setting");
		return -1;
	}
	if (set->password != NULL && set->password[0] == '\0') {
		*error_r = strdup("cache: empty password");
		return -1;
	}
	if (set->password != NULL &&
	    strlen(set->password) > CACHE_URL_PASSWORD_MAX) {
		*error_r = strdup("cache: password too long");
		return -1;
	}
	if (c->url.user[0] != '\0' && set->password == NULL &&
	    c->url.password[0] == '\0') {
		*error_r = strdup("cache: user name without password");
		return -1;
	}
	if (set->password != NULL || c->url.password[0] != '\0') {
		c->password = strdup(set->password != NULL ? set->password :
				     c->url.password);
		if (c->password == NULL) {
			*error_r = strdup("cache: out of memory");
			return -1;
		}
	}
	explicit_bzero(c->url.password, sizeof(c->url.password));
	if (c->url.kind == CACHE_URL_AUTO && c->password != NULL) {
		*error_r = strdup("cache: no password with cache = auto "
				  "(the private server is on a 0700 socket)");
		return -1;
	}
	return 0;
}

struct cache *cache_new(struct event_base *base,
			const struct cache_settings *set, char **error_r)
{
	struct cache *c = calloc(1, sizeof(*c));

	*error_r = NULL;
	if (c == NULL) {
		*error_r = strdup("cache: out of memory");
		return NULL;
	}
	c->base = base;
	c->hooks = set->hooks;
	c->backoff_ms = CACHE_BACKOFF_MIN_MS;
	c->state = CACHE_CONN_WAIT;
	TAILQ_INIT(&c->reqs);
	TAILQ_INIT(&c->unlocks);
	if (cache_settings_apply(c, set, error_r) < 0)
		goto fail;
	c->conn_ev = event_new(base, -1, 0, cache_conn_event, c);
	c->drop_ev = event_new(base, -1, 0, cache_drop_event, c);
	if (c->conn_ev == NULL || c->drop_ev == NULL) {
		*error_r = strdup("cache: cannot create events");
		goto fail;
	}
	if (c->url.kind == CACHE_URL_AUTO) {
		if (set->state_dir == NULL || set->state_dir[0] == '\0') {
			*error_r = strdup("cache: auto needs a state directory");
			goto fail;
		}
		if (cache_server_new(base, &c->hooks, set->state_dir,
				     set->redis_server != NULL ?
				     set->redis_server : "redis-server",
				     cache_server_restarted, c, &c->server,
				     error_r) < 0)
			goto fail;
		c->managed = true;
		c->url.kind = CACHE_URL_UNIX;
		snprintf(c->url.path, sizeof(c->url.path), "%s",
			 cache_server_socket(c->server));
	}
	cache_url_describe(&c->url, c->desc, sizeof(c->desc));
	if (c->url.kind == CACHE_URL_TCP && !c->url.host_numeric) {
		c->dns = set->dns;
		if (c->dns == NULL) {
			c->dns = evdns_base_new(base,
				EVDNS_BASE_INITIALIZE_NAMESERVERS |
				EVDNS_BASE_DISABLE_WHEN_INACTIVE);
			c->own_dns = true;
		}
		if (c->dns == NULL) {
			*error_r = strdup("cache: cannot set up DNS");
			goto fail;
		}
	}
	cache_conn_start(c);
	return c;
fail:
	if (*error_r == NULL)
		*error_r = strdup("cache: out of memory");
	cache_destroy(c);
	return NULL;
}

static void cache_destroy(struct cache *c)
{
	struct cache_req *req;

	c->destroying = true;
	if (c->dns_req != NULL) {
		struct evdns_getaddrinfo_request *dreq = c->dns_req;

		c->dns_req = NULL;
		evdns_getaddrinfo_cancel(dreq);
	}
	if (c->ac != NULL) {
		redisAsyncContext *ac = c->ac;

		c->ac = NULL;
		redisAsyncFree(ac);
	}
	cache_unlocks_free(c);
	while ((req = TAILQ_FIRST(&c->reqs)) != NULL)
		cache_req_destroy(req);
	if (c->conn_ev != NULL)
		event_free(c->conn_ev);
	if (c->drop_ev != NULL)
		event_free(c->drop_ev);
	if (c->own_dns && c->dns != NULL)
		evdns_base_free(c->dns, 1);
	cache_server_free(&c->server);
	if (c->password != NULL) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	explicit_bzero(c, sizeof(*c));
	free(c);
}

const char *cache_describe(const struct cache *c)
{
	return c->desc;
}

void cache_free(struct cache **cp)
{
	struct cache *c = *cp;

	*cp = NULL;
	if (c == NULL || c->free_pending)
		return;
	if (c->callback_depth > 0) {
		c->free_pending = true;
		return;
	}
	cache_destroy(c);
}
