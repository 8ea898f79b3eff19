/* The connection to Redis: found (sentinels, DNS), opened, the handshake,
   dropped and tried again after a backoff; see cache_conn.h. What is sent
   on it and what comes back: cache_conn_send.c, which tells this file
   what it saw only through the events armed here (drop_ev, conn_ev,
   ping_ev). Parses no reply: each request's type does. */

#include "cache_conn_private.h"
#include "cache_backoff.h"
#include "cache_log.h"
#include "cache_reader.h"
#include "cache_sentinel.h"
#include "text.h"

#include <arpa/inet.h>
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
static const char cache_step_role[] = "ROLE";

static void cache_conn_down(struct cache_conn *conn, const char *why);

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
	if (conn->sentinel != NULL)
		cache_sentinel_cancel(conn->sentinel);
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
	snprintf(why, sizeof(why), "%s", cache_reader_why(&conn->guard, ac));
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
	if (privdata == cache_step_role) {
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 ||
		    reply->element[0]->type != REDIS_REPLY_STRING ||
		    strcmp(reply->element[0]->str, "master") != 0) {
			cache_failover(&conn->hooks);
			cache_conn_drop_later(conn, "ROLE: not the master");
		}
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
			  "event=cache_up cache=%s%s%s", conn->desc,
			  conn->sentinel != NULL ? " master=" : "",
			  conn->sentinel != NULL ? conn->url.host : "");
	conn->was_up = true;
	conn->logged_down = false;
	cache_conn_flush(conn);
	if (conn->connected_fn != NULL)
		conn->connected_fn(conn->connected_ctx);
}



static void cache_alive_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_conn *conn = arg;

	if (conn->ping_out)
		cache_conn_down(conn, "no answer to PING after a request "
				"timed out");
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
	if (conn->sentinel != NULL)
		redisAsyncCommand(conn->ac, cache_handshake_cb,
				  (void *)cache_step_role, "ROLE");
	redisAsyncCommand(conn->ac, cache_handshake_cb,
			  (void *)cache_step_ping, "PING");
}

/* host: a numeric address for TCP; ignored for unix sockets. */
static void cache_conn_open(struct cache_conn *conn, const char *host)
{
	redisAsyncContext *ac;
	char why[160];

	if (conn->url.kind != CACHE_URL_UNIX)
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
	if (conn->url.kind != CACHE_URL_UNIX)
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

/* The address to connect to is known: resolved, then opened. */
static void cache_conn_target(struct cache_conn *conn)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *dreq;

	cache_conn_schedule(conn, conn->timeout_ms);
	if (conn->url.kind == CACHE_URL_UNIX || conn->url.host_numeric) {
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

static void cache_conn_found(void *ctx, const char *host, uint16_t port,
			     const char *error)
{
	struct cache_conn *conn = ctx;
	unsigned char addr[sizeof(struct in6_addr)];

	if (host == NULL) {
		cache_conn_down(conn, error);
		return;
	}
	snprintf(conn->url.host, sizeof(conn->url.host), "%s", host);
	conn->url.port = port;
	conn->url.host_numeric = inet_pton(AF_INET, host, addr) == 1 ||
		inet_pton(AF_INET6, host, addr) == 1;
	cache_conn_target(conn);
}

/* +switch-master: away from the old master, unless already there. */
static void cache_conn_switched(void *ctx, const char *host, uint16_t port)
{
	struct cache_conn *conn = ctx;

	if (conn->state == CACHE_CONN_WAIT ||
	    conn->state == CACHE_CONN_ASKING ||
	    (strcmp(conn->url.host, host) == 0 && conn->url.port == port))
		return;
	cache_failover(&conn->hooks);
	cache_conn_drop_later(conn, "sentinel: +switch-master");
}

void cache_conn_start(struct cache_conn *conn)
{
	if (conn->sentinel == NULL) {
		cache_conn_target(conn);
		return;
	}
	/* Each attempt asks again: after a failure the master may be
	   another one. The sentinels bound their own time. */
	event_del(conn->conn_ev);
	conn->state = CACHE_CONN_ASKING;
	cache_sentinel_ask(conn->sentinel, cache_conn_found, conn);
}

void cache_conn_retry_soon(struct cache_conn *conn)
{
	/* The new server needs a moment to bind its socket. */
	conn->backoff_ms = CACHE_BACKOFF_MIN_MS;
	if (conn->state == CACHE_CONN_WAIT)
		cache_conn_schedule(conn, 50);
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
	explicit_bzero(conn->url.sentinel_password,
		       sizeof(conn->url.sentinel_password));
	conn->timeout_ms = set->timeout_ms;
	conn->replicas = set->replicas;
	conn->redirect = set->redirect;
	conn->redirect_ctx = set->redirect_ctx;
	conn->wait_ms = set->timeout_ms / 2 > 0 ? set->timeout_ms / 2 : 1;
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
	if (conn->url.kind == CACHE_URL_SENTINEL ||
	    (conn->url.kind == CACHE_URL_TCP && !conn->url.host_numeric)) {
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
	if (conn->url.kind == CACHE_URL_SENTINEL) {
		struct cache_sentinel_settings sset = {
			.base = set->base, .hooks = set->hooks, .url = set->url,
			.timeout_ms = set->timeout_ms, .dns = conn->dns,
			.switched = cache_conn_switched, .ctx = conn,
		};

		conn->sentinel = cache_sentinel_new(&sset);
		if (conn->sentinel == NULL)
			goto fail;
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
	cache_sentinel_free(&conn->sentinel);
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
