#ifndef CACHE_CONN_PRIVATE_H
#define CACHE_CONN_PRIVATE_H

/*
 * struct cache_conn, shared by the connection (cache_conn.c), what is sent
 * on it (cache_conn_send.c), which calls nothing of cache_conn.c, and the
 * bookkeeping of its requests (cache_req.c), which calls neither. Not for
 * use outside those three.
 */

#include <stdbool.h>
#include <sys/queue.h>

#include "cache_conn.h"
#include "cache_reader.h"
#include "cache_url.h"

struct evdns_base;
struct evdns_getaddrinfo_request;
struct redisAsyncContext;
struct redisReply;
struct cache_sentinel;

enum cache_conn_state {
	CACHE_CONN_WAIT,       /* backoff before the next attempt */
	CACHE_CONN_ASKING,     /* the sentinels, which server is the master */
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
	struct cache_url url;      /* password always empty; with sentinels,
				      host and port are the master's */
	struct cache_sentinel *sentinel;  /* redis-sentinel://, or NULL */
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

	/* [cache] replicas: durable writes are followed by WAIT replicas
	   wait_ms; 0 = none. */
	unsigned int replicas;
	unsigned int wait_ms;
	/* Redis Cluster node: where MOVED and the others go. */
	cache_conn_redirect_fn *redirect;
	void *redirect_ctx;

	TAILQ_HEAD(, cache_req) reqs;
	unsigned int live_reqs;    /* not ZOMBIE */
	unsigned int callback_depth;
	bool destroying;

	void (*connected_fn)(void *ctx);
	void *connected_ctx;
	void (*idle_fn)(void *ctx);
	void *idle_ctx;
};

/* --- cache_conn_send.c: what the traffic tells the connection --- */

/* conn_ev fires in ms (the next attempt, PING, or a timeout). */
void cache_conn_schedule(struct cache_conn *conn, unsigned int ms);
/* From inside hiredis: drop_ev closes the connection (for why) from the
   loop; once per connection. */
void cache_conn_drop_later(struct cache_conn *conn, const char *why);
/* The server said LOADING: LOADING state, a PING every
   CACHE_LOADING_POLL_MS until PONG. Inside hiredis. */
void cache_conn_poll(struct cache_conn *conn);
/* An error reply that says the server is still loading its data. */
bool cache_reply_loading(const struct redisReply *r);

/* --- cache_req.c --- */

/* Unlinks and frees req. */
void cache_req_destroy(struct cache_req *req);
/* The caller is done with req: freed, or a ZOMBIE while hiredis holds
   it. */
void cache_req_release(struct cache_req *req);
/* Runs type->deliver, releases req, then the idle hook if one waits. */
void cache_req_deliver(struct cache_req *req);
/* DONE with st, counted as a failure when it is one. */
void cache_req_done(struct cache_req *req, enum cache_status st);

#endif
