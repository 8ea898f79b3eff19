#ifndef CACHE_PRIVATE_H
#define CACHE_PRIVATE_H

/*
 * Shared between cache.c (connection, request life cycle), cache_ops.c
 * (the operations: arguments, scripts, replies) and cache_server.c
 * (the managed redis-server). Not for use outside cache/.
 *
 * Request life cycle:
 *   WAITING   formatted, waiting for the connection (DNS) to exist
 *   SENT      handed to hiredis (in_redis), waiting for the reply
 *   DONE      status known; delivery scheduled on req->ev
 *   DELIVERING  user callback running
 *   ZOMBIE    cancelled or delivered while hiredis still holds the
 *             pointer; freed when hiredis calls back (reply or NULL)
 * req->ev is the request's timeout and, once DONE, its delivery: user
 * callbacks only ever run from it, never inside hiredis or a caller.
 */

#include <sys/queue.h>

#include "cache.h"
#include "cache_url.h"

struct redisAsyncContext;
struct redisReply;
struct event;
struct evdns_getaddrinfo_request;
struct cache_server;

#define CACHE_MAX_PENDING 65536
#define CACHE_BACKOFF_MIN_MS 100
#define CACHE_BACKOFF_MAX_MS 5000
#define CACHE_DEFAULT_TIMEOUT_MS 3000
#define CACHE_MAX_TIMEOUT_MS 600000

enum cache_req_kind {
	CACHE_REQ_LOCK,
	CACHE_REQ_REFRESH,
	CACHE_REQ_UNLOCK,
	CACHE_REQ_VIEW,
	CACHE_REQ_HIDE,
	CACHE_REQ_REMAP,
};

enum cache_req_state {
	CACHE_REQ_WAITING,
	CACHE_REQ_SENT,
	CACHE_REQ_DONE,
	CACHE_REQ_DELIVERING,
	CACHE_REQ_ZOMBIE,
};

/* What a view reply is parsed into; owned by the request. */
struct cache_view_data {
	struct cache_view view;
	uint32_t *hidden, *hidden_all;
	char **hidden_fp, **hidden_all_fp;
};

struct cache_req {
	TAILQ_ENTRY(cache_req) link;
	struct cache *cache;
	enum cache_req_kind kind;
	enum cache_req_state state;
	bool in_redis;
	struct event *ev;
	char *cmd;             /* formatted command until sent */
	size_t cmd_len;
	enum cache_status status;
	cache_status_cb *status_cb;
	cache_view_cb *view_cb;
	void *ctx;
	struct cache_view_data *data;
};

enum cache_conn_state {
	CACHE_CONN_WAIT,       /* backoff before the next attempt */
	CACHE_CONN_RESOLVING,  /* DNS */
	CACHE_CONN_CONNECTING, /* hiredis context exists, handshake running */
	CACHE_CONN_READY,
};

struct cache {
	struct event_base *base;
	struct cache_hooks hooks;
	struct cache_url url;      /* UNIX in auto mode (socket of server) */
	bool managed;
	char *password;            /* NULL = no AUTH */
	char desc[300];            /* for logs, without password */
	unsigned int timeout_ms;

	struct evdns_base *dns;
	bool own_dns;
	struct evdns_getaddrinfo_request *dns_req;
	unsigned int dns_turn;     /* which resolved address to try next */

	enum cache_conn_state state;
	struct redisAsyncContext *ac;
	struct event *conn_ev;     /* backoff wait, or attempt timeout */
	struct event *drop_ev;     /* deferred close of ac, from the loop */
	bool drop_scheduled;
	char drop_reason[160];
	unsigned int backoff_ms;
	bool was_up, logged_down;

	TAILQ_HEAD(, cache_req) reqs;
	unsigned int live_reqs;    /* not ZOMBIE */

	/* Unlocks not confirmed yet: replayed when the connection is back,
	   so a Redis outage does not keep a device locked for its whole
	   ttl (cache_ops.c). */
	TAILQ_HEAD(, cache_unlock) unlocks;
	unsigned int unlock_count;

	struct cache_server *server;
	unsigned int callback_depth;
	bool free_pending, destroying;
};

static inline unsigned int cache_backoff_next(unsigned int ms)
{
	return ms * 2 > CACHE_BACKOFF_MAX_MS ? CACHE_BACKOFF_MAX_MS : ms * 2;
}

/* cache_log.c: formats a line and hands it to hooks->log, if any. */
void cache_log(const struct cache_hooks *hooks, enum cache_log_level level,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* cache_ops.c: replays unconfirmed unlocks (connection up) and frees
   them (destroy). */
void cache_unlocks_retry(struct cache *c);
void cache_unlocks_free(struct cache *c);

/* cache.c */

/* A new request (state WAITING, not linked to a command yet), or NULL. */
struct cache_req *cache_req_new(struct cache *c, enum cache_req_kind kind,
				cache_status_cb *status_cb,
				cache_view_cb *view_cb, void *ctx);
/* Formats argv and sends it (or queues it while resolving, or fails it
   at once when there is no connection). */
void cache_req_submit(struct cache_req *req, int argc, const char **argv,
		      const size_t *argvlen);
/* Completes the request with st; delivery from the loop. */
void cache_req_complete(struct cache_req *req, enum cache_status st);

/* cache_ops.c */

/* The status a reply means for req; fills req->data for views. */
enum cache_status cache_req_parse(struct cache_req *req,
				  const struct redisReply *reply);
void cache_view_data_free(struct cache_view_data **data);
const char *cache_req_kind_name(enum cache_req_kind kind);

/* cache_server.c */

typedef void cache_server_restart_cb(void *ctx);

/*
 * Prepares state_dir, starts redis-server and waits (blocking, bounded)
 * until its socket accepts. Afterwards the server is watched on the loop
 * and restarted with a backoff when it dies; restart_cb runs after each
 * restart. Returns 0, or -1 with malloc'd *error_r.
 */
int cache_server_new(struct event_base *base, const struct cache_hooks *hooks,
		     const char *state_dir, const char *binary, cache_server_restart_cb *restart_cb,
		     void *ctx, struct cache_server **server_r,
		     char **error_r);
/* Absolute path of the server's unix socket. */
const char *cache_server_socket(const struct cache_server *s);
/* Stops the server (SIGTERM, bounded wait, SIGKILL). NULL is fine. */
void cache_server_free(struct cache_server **s);

#endif
