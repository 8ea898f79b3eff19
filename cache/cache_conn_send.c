/* What goes over a connection and what comes back: requests sent in the
   order they were made, their replies handed to their types, and what a
   reply or a timeout tells the connection (LOADING, READONLY, a server
   that no longer answers), told only by arming the connection's events;
   see cache_conn_private.h. Making, dropping and retrying the connection:
   cache_conn.c. */

#include "cache_conn_private.h"
#include "cache_backoff.h"
#include "cache_log.h"
#include "cache_slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

/* --- what the traffic tells the connection --- */

void cache_conn_schedule(struct cache_conn *conn, unsigned int ms)
{
	struct timeval tv = cache_timeval_ms(ms);

	event_del(conn->conn_ev);
	event_add(conn->conn_ev, &tv);
}

/* From inside hiredis: the close happens on the loop. */
void cache_conn_drop_later(struct cache_conn *conn, const char *why)
{
	if (conn->drop_scheduled)
		return;
	conn->drop_scheduled = true;
	snprintf(conn->drop_reason, sizeof(conn->drop_reason), "%s", why);
	event_active(conn->drop_ev, EV_TIMEOUT, 1);
}

/* The server said LOADING (to the handshake PING or to a request):
   nothing more is sent until a PING, every CACHE_LOADING_POLL_MS, gets
   PONG. Inside hiredis. */
void cache_conn_poll(struct cache_conn *conn)
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

/* --- sending requests --- */

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
bool cache_reply_loading(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 7 &&
		strncmp(r->str, "LOADING", 7) == 0 &&
		(r->len == 7 || r->str[7] == ' ');
}

/* A write refused by a replica; from a script, Redis 7 keeps the code. */
static bool cache_reply_readonly(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
		strncmp(r->str, "READONLY", 8) == 0;
}

/* Redis Cluster: MOVED, ASK, TRYAGAIN, CLUSTERDOWN mean it was not run;
   the owner's hook sends it elsewhere or again, up to a bound (and
   within its timeout). */
static bool cache_conn_redirected(struct cache_req *req, const redisReply *r)
{
	struct cache_conn *conn = req->conn;
	struct cache_redirect rd;

	if (r->type != REDIS_REPLY_ERROR ||
	    cache_redirect_parse(r->str, r->len, &rd) < 0 ||
	    rd.kind == CACHE_REDIRECT_NONE)
		return false;
	/* TRYAGAIN and CLUSTERDOWN last as long as a migration or a
	   failover: only the request's timeout bounds them. */
	if ((rd.kind == CACHE_REDIRECT_MOVED || rd.kind == CACHE_REDIRECT_ASK) &&
	    ++req->redirects > CACHE_MAX_REDIRECTS) {
		cache_req_log(req, CACHE_LOG_WARN, "cache_redirect_loop",
			      "redirects=%u", req->redirects - 1);
		redisFreeCommand(req->cmd);
		req->cmd = NULL;
		cache_req_complete(req, CACHE_UNAVAILABLE);
		return true;
	}
	req->state = CACHE_REQ_WAITING;
	/* The importing node says TRYAGAIN until the migration ends. */
	if (rd.kind == CACHE_REDIRECT_TRYAGAIN)
		req->asking = req->asked;
	conn->redirect(conn->redirect_ctx, req, &rd);
	return true;
}

static void cache_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_req *req = privdata;
	enum cache_status st;

	if (--req->in_redis == 0 && req->state == CACHE_REQ_ZOMBIE) {
		cache_req_destroy(req);
		return;
	}
	if (req->state != CACHE_REQ_SENT || req->acked ||
	    req->conn->destroying)
		return;
	if (r != NULL && cache_reply_readonly(r)) {
		/* A master demoted to replica refused it (so it was not run):
		   it waits for the connection to the new master. */
		req->state = CACHE_REQ_WAITING;
		if (!req->conn->drop_scheduled)
			cache_failover(&req->conn->hooks);
		cache_conn_drop_later(req->conn, "READONLY: the server is a "
				      "replica now");
		return;
	}
	if (r != NULL && req->conn->redirect != NULL &&
	    cache_conn_redirected(req, r))
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
	st = r == NULL ? CACHE_UNAVAILABLE : req->type->parse(req, r);
	if (st == CACHE_OK && req->type->durable && req->conn->replicas > 0) {
		/* Written on the master; the WAIT behind it says where else. */
		req->acked = true;
		return;
	}
	cache_req_complete(req, st);
}

/* The WAIT behind a durable write: fewer replicas than asked for have it
   (or no answer) and the outcome is unknown, as after a lost connection:
   written on the master, but a failover now may lose it. */
static void cache_wait_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_req *req = privdata;
	const redisReply *reply = r;
	struct cache_conn *conn = req->conn;

	if (--req->in_redis == 0 && req->state == CACHE_REQ_ZOMBIE) {
		cache_req_destroy(req);
		return;
	}
	if (req->state != CACHE_REQ_SENT || !req->acked || conn->destroying)
		return;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer >= (long long)conn->replicas) {
		cache_req_complete(req, CACHE_OK);
		return;
	}
	cache_req_log(req, CACHE_LOG_WARN, "cache_unreplicated",
		      "replicas=%u acked=%lld wait_ms=%u", conn->replicas,
		      reply != NULL && reply->type == REDIS_REPLY_INTEGER ?
		      reply->integer : -1LL, conn->wait_ms);
	cache_req_complete(req, CACHE_UNAVAILABLE);
}

/* The command stays until its reply: a LOADING one sends it again.
   hiredis refuses only on a connection it is closing; the request then
   waits for the next one. */
static void cache_req_send(struct cache_req *req)
{
	struct cache_conn *conn = req->conn;

	if (req->asking) {
		/* ASK: this one command may touch the importing slot. */
		(void)redisAsyncCommand(conn->ac, NULL, NULL, "ASKING");
	}
	req->asked = req->asking;
	req->asking = false;
	if (redisAsyncFormattedCommand(conn->ac, cache_reply_cb, req, req->cmd,
				       req->cmd_len) != REDIS_OK)
		return;
	req->in_redis++;
	req->acked = false;
	req->state = CACHE_REQ_SENT;
	/* WAIT blocks this connection (not the server) until the replicas
	   have everything written on it so far, or wait_ms. */
	if (req->type->durable && conn->replicas > 0 &&
	    redisAsyncCommand(conn->ac, cache_wait_cb, req, "WAIT %u %u",
			      conn->replicas, conn->wait_ms) == REDIS_OK)
		req->in_redis++;
}

/* The waiting requests go out, in the order they were made. */
void cache_conn_flush(struct cache_conn *conn)
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
	req->slot = conn->redirect != NULL ?
		cache_slot_of_command(argc, argv, argvlen) : -2;
	if (req->slot == -1) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"keys of one request in several slots\"");
		cache_req_complete(req, CACHE_ERROR);
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
