#ifndef CACHE_CONN_H
#define CACHE_CONN_H

/*
 * The bottom layer of cache/: one connection to Redis (DNS, connect,
 * AUTH, SELECT, PING, backoff and reconnection as cache.h describes) and
 * the life cycle of requests on it. It sends what it is given and parses
 * nothing: every request carries a type, set by the operation that made
 * it, whose functions parse the reply, run the caller's callback and free
 * what the parser left. Upward it calls only those and the hooks its
 * owner registered (connected, when_idle).
 *
 * Request life cycle:
 *   WAITING     made, formatted once submitted; waits, within its timeout,
 *               for the connection to be ready (connected, handshake done,
 *               server not loading): through DNS, backoff, reconnection
 *   SENT        handed to hiredis (in_redis), waiting for the reply; a
 *               LOADING or READONLY reply makes it WAITING again (it was
 *               not run; READONLY also recycles the connection). With
 *               replicas, a durable request written (acked) still waits
 *               for the WAIT sent behind it
 *   DONE        status known; delivery scheduled on req->ev
 *   DELIVERING  type->deliver running
 *   ZOMBIE      cancelled or delivered while hiredis still holds the
 *               pointer; freed when hiredis calls back (reply or NULL)
 * req->ev is the request's timeout and, once DONE, its delivery: the
 * type's deliver only ever runs from it, never inside hiredis or a
 * caller. A request that times out is DONE on its own; the connection
 * goes on, and is recycled only if a PING sent then gets no answer
 * within the timeout either (or on a socket error).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "cache.h"
#include "cache_url.h"

struct event;
struct redisReply;
struct cache_conn;

#define CACHE_MAX_PENDING 65536    /* live requests; past it UNAVAILABLE */

/* What a request is, from the operation that makes it (a const table
   there). The connection calls these and knows nothing else of it.
   An operation made of several requests (a view, a remap) hands the
   caller a request of its own that is never submitted: its data is the
   operation's state, whose free_data cancels the steps still running,
   and the operation ends it with cache_req_complete(). */
struct cache_req_type {
	const char *name;          /* op=<name> in log lines */
	/* A step of such an operation: its failure is counted (hooks->
	   request_failed) once, by the operation's own request. */
	bool step;
	/* A write that must survive a failover: with replicas > 0, a
	   WAIT follows it, and CACHE_OK only when enough replicas have it
	   (else CACHE_UNAVAILABLE, outcome unknown). */
	bool durable;
	/* The status reply means (never NULL: a lost connection is
	   CACHE_UNAVAILABLE without a call); may leave a result in
	   req->data. Runs inside hiredis's reply callback: it parses and
	   logs, nothing else. */
	enum cache_status (*parse)(struct cache_req *req,
				   const struct redisReply *reply);
	/* Runs the caller's callback (req->cb, req->ctx) with req->status
	   and req->data, which are freed when it returns. */
	void (*deliver)(struct cache_req *req);
	/* Frees req->data; NULL if parse never sets it. */
	void (*free_data)(void *data);
};

struct cache_admin_info;
struct cache_retention;
struct cache_sizes;
struct cache_gens;
struct cache_gen_change;
struct cache_peek;

union cache_req_cb {
	cache_status_cb *status;
	cache_view_cb *view;
	cache_uidls_cb *uidls;
	cache_uidl_dump_cb *dump;
	cache_oauth_cb *oauth;
	cache_gen_cb *gen;
	cache_oauth_scan_cb *scan;
	cache_count_cb *count;
	/* cache_blob_cb of cache_shared.h */
	void (*blob)(void *ctx, enum cache_status st, const uint8_t *data, size_t len);
	/* cache_retention_cb of cache_retention.h */
	void (*retention)(void *ctx, enum cache_status st,
			  const struct cache_retention *r);
	/* cache_sizes_cb of cache_sizes.h */
	void (*sizes)(void *ctx, enum cache_status st, const struct cache_sizes *s);
	/* cache_hide_gen_cb of cache_gen.h */
	void (*hide_gen)(void *ctx, enum cache_status st, const struct cache_gen_change *g);
	/* cache_peek_cb of cache_gen.h */
	void (*peek)(void *ctx, enum cache_status st, const struct cache_peek *p);
	/* cache_lock_gen_cb of cache_gen.h */
	void (*lock_gen)(void *ctx, enum cache_status st, const struct cache_gens *g);
	/* cache_admin_cb of cache_admin.h */
	void (*admin)(void *ctx, enum cache_status st,
		      const struct cache_admin_info *info);
};

enum cache_req_state {
	CACHE_REQ_WAITING,
	CACHE_REQ_SENT,
	CACHE_REQ_DONE,
	CACHE_REQ_DELIVERING,
	CACHE_REQ_ZOMBIE,
};

struct cache_req {
	/* For the type's functions. */
	const struct cache_req_type *type;
	union cache_req_cb cb;     /* as given to cache_req_new() */
	void *ctx;
	enum cache_status status;  /* the outcome, once DONE */
	void *data;                /* parse's result, or NULL */

	/* The connection's own. */
	TAILQ_ENTRY(cache_req) link;
	struct cache_conn *conn;
	enum cache_req_state state;
	unsigned int in_redis;     /* callbacks hiredis holds: reply, WAIT */
	bool acked;                /* durable: written, the WAIT to come */
	bool asking;               /* send ASKING before it, once */
	bool asked;                /* it was, the last time it went */
	int slot;                  /* cluster: its keys' slot, or -2: none */
	unsigned int redirects;
	struct event *ev;
	char *cmd;                 /* formatted command until sent */
	size_t cmd_len;
};

struct cache_redirect;
/* A cluster error said req was not run (MOVED, ASK, TRYAGAIN,
   CLUSTERDOWN): req is WAITING, its command kept; the hook moves it
   (cache_req_move()) or has it sent again, and must do one of them.
   Inside hiredis. */
typedef void cache_conn_redirect_fn(void *ctx, struct cache_req *req,
				    const struct cache_redirect *r);

/* MOVED/ASK redirections of one request before it fails
   (CACHE_UNAVAILABLE). */
#define CACHE_MAX_REDIRECTS 5

struct cache_conn_settings {
	struct event_base *base;
	struct cache_hooks hooks;
	/* TCP or UNIX; copied, its password ignored. */
	const struct cache_url *url;
	/* AUTH password, NULL = none; copied, zeroed when freed. */
	const char *password;
	unsigned int timeout_ms;   /* per request and per attempt, > 0 */
	/* Durable requests wait for this many replicas (WAIT, up to
	   timeout_ms / 2); 0 = none. */
	unsigned int replicas;
	/* A Redis Cluster node: the hook for its redirections, and a
	   request whose keys do not share a slot is refused (CACHE_ERROR).
	   NULL otherwise. */
	cache_conn_redirect_fn *redirect;
	void *redirect_ctx;
	/* Resolver for a TCP host name; NULL = own one when needed. Not
	   owned. */
	struct evdns_base *dns;
};

/* Ready to start (nothing is sent until cache_conn_start()); NULL with
   malloc'd *error_r (or NULL when out of memory) on failure. */
struct cache_conn *cache_conn_new(const struct cache_conn_settings *set,
				  char **error_r);
/* First attempt now; then reconnection forever, with the backoff. */
void cache_conn_start(struct cache_conn *conn);
/* Closes the connection and frees every request, running no callback.
   Not from inside a callback: see cache_conn_when_idle(). Sets *conn to
   NULL; NULL is fine. */
void cache_conn_free(struct cache_conn **conn);

/* Runs fn(ctx) each time the connection becomes ready (inside hiredis:
   requests may be made). One hook; fn NULL removes it. */
void cache_conn_set_connected(struct cache_conn *conn, void (*fn)(void *ctx),
			      void *ctx);
/* Runs fn(ctx) once no type->deliver is running: now, or right after the
   running one returns (fn may then free the connection). One at a time. */
void cache_conn_when_idle(struct cache_conn *conn, void (*fn)(void *ctx),
			  void *ctx);
/* The server behind the socket was started again: the backoff starts
   over, and the next attempt comes in 50 ms if one is waiting. */
void cache_conn_retry_soon(struct cache_conn *conn);

/* Sends the requests that wait, if the connection is ready. */
void cache_conn_flush(struct cache_conn *conn);
/* Moves a WAITING request (from a redirect hook) to another connection
   of the same loop, with ASKING before it when asking; it goes out with
   the next cache_conn_flush() of to, or when to becomes ready. Its
   timeout goes on. */
void cache_req_move(struct cache_req *req, struct cache_conn *to,
		    bool asking);
/* fn(ctx, req) for each request of conn that waits to be sent (and has
   its command); fn may move it (cache_req_move()). */
void cache_conn_each_waiting(struct cache_conn *conn,
			     void (*fn)(void *ctx, struct cache_req *req),
			     void *ctx);
/* A type->deliver of one of its requests is running (a cluster's
   deliveries may nest across connections: cache_free() waits for all). */
bool cache_conn_busy(const struct cache_conn *conn);

/* The url without the password, for logs. */
const char *cache_conn_describe(const struct cache_conn *conn);
/* Connected, AUTH/SELECT/PING done. */
bool cache_conn_ready(const struct cache_conn *conn);

/* A WAITING request, or NULL when out of memory. Give it arguments with
   cache_req_submit() or an outcome with cache_req_complete(). */
struct cache_req *cache_req_new(struct cache_conn *conn,
				const struct cache_req_type *type,
				union cache_req_cb cb, void *ctx);
/* Formats argv and sends it, or keeps it until the connection is ready
   (CACHE_UNAVAILABLE if that takes longer than the timeout). The
   arguments are copied. */
void cache_req_submit(struct cache_req *req, int argc, const char **argv,
		      const size_t *argvlen);
/* The outcome is st; delivered from the loop. */
void cache_req_complete(struct cache_req *req, enum cache_status st);
/* The same, delivered at once: only from inside another request's
   type->deliver (so from the loop), for an operation's request to keep
   its place among the replies. req may be freed when this returns. */
void cache_req_complete_now(struct cache_req *req, enum cache_status st);
/* Logs "event=<event> cache=<url> op=<type name> <fmt...>". */
void cache_req_log(const struct cache_req *req, enum cache_log_level level,
		   const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
