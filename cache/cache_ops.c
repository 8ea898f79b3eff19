/* The operations of cache.h on the connection: argument checks, key
   names, the Lua scripts and their arguments, unconfirmed unlocks; see
   cache_ops.h. Their replies: cache_reply.c. */

#include "cache_ops.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Scripts go with EVAL every time rather than EVALSHA: each call is then
 * self-contained, so a SCRIPT FLUSH, a restarted or failed-over server
 * never needs a NOSCRIPT retry path (which would have to keep a copy of a
 * 100000-UID argument list around). Redis caches the compiled script by
 * its SHA1, so the cost is hashing ~0.5 KB per call, and calls come per
 * login, per QUIT and per lock refresh, never per message. Every key is
 * passed in KEYS (Redis Cluster) and all share the account's hash tag.
 */

/* KEYS: lock. ARGV: token, ttl. */
static const char cache_lua_refresh[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/* KEYS: lock. ARGV: token. */
static const char cache_lua_unlock[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n";

/* KEYS: lock, uidvalidity, target hidden hash.
   ARGV: token, uidvalidity, most entries, uid1, fp1, uid2, fp2, ...
   Returns 0 written, 1 lock not held, 2 uidvalidity differs, 3 the hash
   would hold more than the most. The checks come before any write; HSET
   goes in chunks because Lua's unpack() is limited to a few thousand
   values. */
static const char cache_lua_hide[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 1 end\n"
	"if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 2 end\n"
	"local new = 0\n"
	"for i = 4, #ARGV, 2 do\n"
	"  new = new + 1 - redis.call('HEXISTS', KEYS[3], ARGV[i])\n"
	"end\n"
	"if new > 0 and redis.call('HLEN', KEYS[3]) + new > tonumber(ARGV[3]) then\n"
	"  return 3\n"
	"end\n"
	"for i = 4, #ARGV, 1000 do\n"
	"  redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
	"end\n"
	"return 0\n";

static struct cache_req *cache_status_req(struct cache_conn *conn,
					  const struct cache_req_type *type,
					  cache_status_cb *cb, void *ctx)
{
	return cache_req_new(conn, type, (union cache_req_cb){ .status = cb },
			     ctx);
}

/* --- operations --- */

static struct cache_req *cache_lock_req(struct cache_conn *conn,
					const struct cache_req_type *type,
					const char *account,
					const char *device, const char *token,
					unsigned int ttl_secs,
					cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_status_req(conn, type, cb, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;

	if (req == NULL)
		return NULL;
	if (!cache_args_valid(req, account, device, token, true)) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (type != &cache_type_unlock &&
	    (ttl_secs == 0 || ttl_secs > CACHE_TTL_MAX)) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"bad ttl\"");
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (!cache_args_init(&a, 6, CACHE_U32_LEN)) {
		cache_req_cancel(&req);
		return NULL;
	}
	cache_key(key, account, "lock:", device);
	if (type == &cache_type_lock) {
		cache_arg(&a, "SET");
		cache_arg(&a, key);
		cache_arg(&a, token);
		cache_arg(&a, "NX");
		cache_arg(&a, "EX");
		cache_arg_num(&a, ttl_secs);
	} else {
		cache_arg(&a, "EVAL");
		cache_arg(&a, type == &cache_type_refresh ? cache_lua_refresh :
			  cache_lua_unlock);
		cache_arg(&a, "1");
		cache_arg(&a, key);
		cache_arg(&a, token);
		if (type == &cache_type_refresh)
			cache_arg_num(&a, ttl_secs);
	}
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_lock(struct cache *c, const char *account,
			     const char *device, const char *token,
			     unsigned int ttl_secs, cache_status_cb *cb,
			     void *ctx)
{
	return cache_lock_req(cache_route(c, account), &cache_type_lock,
			      account, device,
			      token, ttl_secs, cb, ctx);
}

struct cache_req *cache_lock_refresh(struct cache *c, const char *account,
				     const char *device, const char *token,
				     unsigned int ttl_secs,
				     cache_status_cb *cb, void *ctx)
{
	return cache_lock_req(cache_route(c, account), &cache_type_refresh,
			      account, device,
			      token, ttl_secs, cb, ctx);
}

struct cache_req *cache_barrier(struct cache *c, const char *account, cache_status_cb *cb,
				void *ctx)
{
	struct cache_req *req = cache_status_req(cache_route(c, account),
						 &cache_type_barrier, cb, ctx);
	const char *argv[] = { "PING" };
	static const size_t argvlen[] = { 4 };

	if (req != NULL)
		cache_req_submit(req, 1, argv, argvlen);
	return req;
}

static bool cache_hide_args_valid(const uint32_t *uids,
				  const char *const *fingerprints, size_t n)
{
	size_t i;

	if (n > CACHE_HIDE_MAX || (n > 0 && uids == NULL))
		return false;
	for (i = 0; i < n; i++) {
		if (uids[i] == 0)
			return false;
		if (fingerprints != NULL && fingerprints[i] != NULL &&
		    strnlen(fingerprints[i], CACHE_FINGERPRINT_MAX + 1) >
		    CACHE_FINGERPRINT_MAX)
			return false;
	}
	return true;
}

struct cache_req *cache_hide(struct cache *c, const char *account,
			     const char *device, const char *token,
			     bool all_devices, uint32_t uidvalidity,
			     const uint32_t *uids,
			     const char *const *fingerprints, size_t n,
			     cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_status_req(cache_route(c, account),
						 &cache_type_hide,
						 cb, ctx);
	char k_lock[CACHE_KEY_MAX], k_uidv[CACHE_KEY_MAX], k_set[CACHE_KEY_MAX];
	struct cache_args a;
	size_t i;

	if (req == NULL)
		return NULL;
	if (!cache_args_valid(req, account, device, token, true)) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (uidvalidity == 0 || !cache_hide_args_valid(uids, fingerprints, n)) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"bad uidvalidity, uid or fingerprint, or "
			      "more than %d uids\" uids=%zu", CACHE_HIDE_MAX, n);
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (!cache_args_init(&a, 9 + 2 * n, (n + 2) * CACHE_U32_LEN)) {
		cache_req_cancel(&req);
		return NULL;
	}
	cache_key(k_lock, account, "lock:", device);
	cache_key(k_uidv, account, "uidvalidity", NULL);
	if (all_devices)
		cache_key(k_set, account, "hidden_all", NULL);
	else
		cache_key(k_set, account, "hidden:", device);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_hide);
	cache_arg(&a, "3");
	cache_arg(&a, k_lock);
	cache_arg(&a, k_uidv);
	cache_arg(&a, k_set);
	cache_arg(&a, token);
	cache_arg_num(&a, uidvalidity);
	cache_arg_num(&a, CACHE_HIDDEN_MAX);
	for (i = 0; i < n; i++) {
		cache_arg_num(&a, uids[i]);
		cache_arg(&a, fingerprints != NULL && fingerprints[i] != NULL ?
			  fingerprints[i] : "");
	}
	cache_args_send(req, &a);
	return req;
}

/* --- unconfirmed unlocks --- */

/* Beyond this many unconfirmed unlocks, the oldest are left to expire. */
#define CACHE_UNLOCKS_MAX 4096

struct cache_unlock {
	TAILQ_ENTRY(cache_unlock) link;
	struct cache_unlocks *queue;
	struct cache_req *req;     /* in flight, or NULL: waiting */
	char *account;
	char device[CACHE_DEVICE_MAX + 1];
	char token[CACHE_TOKEN_MAX + 1];
};

struct cache_unlocks {
	struct cache *cache;
	TAILQ_HEAD(, cache_unlock) list;
	unsigned int count;
};

static void cache_unlock_drop(struct cache_unlock *u)
{
	struct cache_unlocks *q = u->queue;

	cache_req_cancel(&u->req);
	TAILQ_REMOVE(&q->list, u, link);
	q->count--;
	free(u->account);
	free(u);
}

static void cache_unlock_done(void *ctx, enum cache_status st)
{
	struct cache_unlock *u = ctx;

	u->req = NULL;
	/* Unavailable: outcome unknown, so it is sent again once the
	   connection is back (deleting only our own token is harmless to
	   repeat). Anything else is final. */
	if (st != CACHE_UNAVAILABLE)
		cache_unlock_drop(u);
}

static void cache_unlock_send(struct cache_unlock *u)
{
	u->req = cache_lock_req(cache_route(u->queue->cache, u->account),
				&cache_type_unlock, u->account,
				u->device, u->token, 0, cache_unlock_done, u);
}

/* The connection is back: the waiting ones go again. */
static void cache_unlocks_retry(void *ctx)
{
	struct cache_unlocks *q = ctx;
	struct cache_unlock *u, *next;

	for (u = TAILQ_FIRST(&q->list); u != NULL; u = next) {
		next = TAILQ_NEXT(u, link);
		if (u->req == NULL)
			cache_unlock_send(u);
	}
}

/* Every connection's hook: a cluster's nodes, or the one connection. */
static void cache_unlocks_hook(struct cache *c, void (*fn)(void *ctx),
			       void *ctx)
{
	if (c->cluster != NULL)
		cache_cluster_set_connected(c->cluster, fn, ctx);
	else
		cache_conn_set_connected(c->conn, fn, ctx);
}

struct cache_unlocks *cache_unlocks_new(struct cache *c)
{
	struct cache_unlocks *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->cache = c;
	TAILQ_INIT(&q->list);
	cache_unlocks_hook(c, cache_unlocks_retry, q);
	return q;
}

void cache_unlocks_free(struct cache_unlocks **qp)
{
	struct cache_unlocks *q = *qp;

	*qp = NULL;
	if (q == NULL)
		return;
	while (!TAILQ_EMPTY(&q->list))
		cache_unlock_drop(TAILQ_FIRST(&q->list));
	cache_unlocks_hook(q->cache, NULL, NULL);
	free(q);
}

void cache_unlock(struct cache *c, const char *account, const char *device,
		  const char *token)
{
	struct cache_unlocks *q = c->unlocks;
	struct cache_unlock *u;

	if (strlen(device) > CACHE_DEVICE_MAX || strlen(token) > CACHE_TOKEN_MAX)
		return;
	if (q->count >= CACHE_UNLOCKS_MAX)
		cache_unlock_drop(TAILQ_FIRST(&q->list));
	u = calloc(1, sizeof(*u));
	if (u == NULL || (u->account = strdup(account)) == NULL) {
		free(u);
		/* Without memory the lock just expires. */
		(void)cache_lock_req(cache_route(c, account), &cache_type_unlock,
				     account,
				     device, token, 0, NULL, NULL);
		return;
	}
	u->queue = q;
	strcpy(u->device, device);
	strcpy(u->token, token);
	TAILQ_INSERT_TAIL(&q->list, u, link);
	q->count++;
	cache_unlock_send(u);
}
