/* The bookkeeping of requests on a connection: their life cycle from made
   to freed, delivery and cancelling; see cache_conn.h. What is sent and
   when: cache_conn_send.c. */

#include "cache_conn_private.h"
#include "cache_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

static void cache_req_free_data(struct cache_req *req)
{
	if (req->data != NULL && req->type->free_data != NULL)
		req->type->free_data(req->data);
	req->data = NULL;
}

void cache_req_destroy(struct cache_req *req)
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
void cache_req_release(struct cache_req *req)
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

void cache_req_deliver(struct cache_req *req)
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

void cache_req_done(struct cache_req *req, enum cache_status st)
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


void cache_req_cancel(struct cache_req **reqp)
{
	struct cache_req *req = *reqp;

	*reqp = NULL;
	if (req == NULL || req->state == CACHE_REQ_DELIVERING ||
	    req->state == CACHE_REQ_ZOMBIE)
		return;
	cache_req_release(req);
}

/* --- the connection's hooks and state, for its users --- */

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

bool cache_conn_busy(const struct cache_conn *conn)
{
	return conn->callback_depth > 0;
}

void cache_req_move(struct cache_req *req, struct cache_conn *to, bool asking)
{
	struct cache_conn *from = req->conn;

	TAILQ_REMOVE(&from->reqs, req, link);
	from->live_reqs--;
	TAILQ_INSERT_TAIL(&to->reqs, req, link);
	to->live_reqs++;
	req->conn = to;
	req->state = CACHE_REQ_WAITING;
	req->acked = false;
	req->asking = asking;
}

void cache_conn_each_waiting(struct cache_conn *conn,
			     void (*fn)(void *ctx, struct cache_req *req),
			     void *ctx)
{
	struct cache_req *req, *next;

	for (req = TAILQ_FIRST(&conn->reqs); req != NULL; req = next) {
		next = TAILQ_NEXT(req, link);
		if (req->state == CACHE_REQ_WAITING && req->cmd != NULL)
			fn(ctx, req);
	}
}
