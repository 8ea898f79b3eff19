/*
 * The top of cache/: the settings of cache_new() and the wiring of its
 * parts, the connection (cache_conn.c), the unlock queue of the
 * operations (cache_ops.c) and, with cache = auto, the managed server
 * (cache_server.c); their free, deferred when asked for from inside a
 * callback. The operations themselves: cache_ops.c.
 */

#include "cache_private.h"
#include "cache_conn.h"
#include "cache_args.h"
#include "cache_cluster.h"
#include "cache_reply.h"
#include "cache_server.h"
#include "cache_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

/* The unlocks of cache_unlock() not yet confirmed by Redis, kept to send
   again when the connection is back (at the end of this file). */
static struct cache_unlocks *cache_unlocks_new(struct cache *c);
static void cache_unlocks_free(struct cache_unlocks **qp);

#define CACHE_DEFAULT_TIMEOUT_MS 3000
#define CACHE_DEFAULT_MAX_MEMORY (256ULL << 20)
#define CACHE_MIN_MAX_MEMORY (1ULL << 20)
#define CACHE_MAX_TIMEOUT_MS 600000

const char *cache_status_name(enum cache_status st)
{
	switch (st) {
	case CACHE_OK: return "ok";
	case CACHE_IN_USE: return "in-use";
	case CACHE_UNAVAILABLE: return "unavailable";
	case CACHE_CONFLICT: return "conflict";
	case CACHE_ERROR: return "error";
	case CACHE_LIMIT: return "limit";
	}
	return "?";
}

/* The url parsed into *url, and the password of the url or the settings
   (pointing into one of them, NULL = none). */
static int cache_settings_check(const struct cache_settings *set,
				struct cache_url *url, const char **password_r,
				char **error_r)
{
	const char *error;

	*password_r = NULL;
	if (cache_url_parse(set->url, url, &error) < 0) {
		if (asprintf(error_r, "cache: %s", error) < 0)
			*error_r = NULL;
		return -1;
	}
	if (set->replicas > CACHE_REPLICAS_MAX) {
		*error_r = strdup("cache: replicas above 16");
		return -1;
	}
	if (set->replicas > 0 && url->kind == CACHE_URL_AUTO) {
		*error_r = strdup("cache: replicas with cache = auto (the "
				  "private server has none)");
		return -1;
	}
	if (set->timeout_ms > CACHE_MAX_TIMEOUT_MS) {
		*error_r = strdup("cache: timeout too long (max 600 s)");
		return -1;
	}
	if (set->max_memory != 0 && set->max_memory < CACHE_MIN_MAX_MEMORY) {
		*error_r = strdup("cache: max_memory below 1 MB");
		return -1;
	}
	if (set->password != NULL && url->password[0] != '\0') {
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
	if (url->user[0] != '\0' && set->password == NULL &&
	    url->password[0] == '\0') {
		*error_r = strdup("cache: user name without password");
		return -1;
	}
	if (set->password != NULL)
		*password_r = set->password;
	else if (url->password[0] != '\0')
		*password_r = url->password;
	if (url->kind == CACHE_URL_AUTO && *password_r != NULL) {
		*error_r = strdup("cache: no password with cache = auto "
				  "(the private server is on a 0700 socket)");
		return -1;
	}
	return 0;
}

int cache_settings_validate(const struct cache_settings *set, char **error_r)
{
	struct cache_url url;
	const char *password;
	int ret;

	*error_r = NULL;
	ret = cache_settings_check(set, &url, &password, error_r);
	if (ret == 0 && url.kind == CACHE_URL_AUTO) {
		if (set->state_dir == NULL || set->state_dir[0] == '\0') {
			*error_r = strdup("cache: auto needs a state directory");
			ret = -1;
		} else {
			ret = cache_server_check(set->state_dir, set->redis_server != NULL ?
						 set->redis_server : "redis-server", error_r);
		}
	}
	explicit_bzero(&url, sizeof(url));
	return ret;
}

static void cache_server_restarted(void *ctx)
{
	struct cache *c = ctx;

	if (c->conn != NULL)
		cache_conn_retry_soon(c->conn);
}

/* cache = auto: starts the server; *url becomes its socket. */
static int cache_start_server(struct cache *c, struct event_base *base,
			      const struct cache_settings *set,
			      struct cache_url *url, char **error_r)
{
	if (set->state_dir == NULL || set->state_dir[0] == '\0') {
		*error_r = strdup("cache: auto needs a state directory");
		return -1;
	}
	if (cache_server_new(base, &set->hooks, set->state_dir,
			     set->redis_server != NULL ?
			     set->redis_server : "redis-server",
			     set->max_memory != 0 ? set->max_memory :
			     CACHE_DEFAULT_MAX_MEMORY,
			     cache_server_restarted, c, &c->server,
			     error_r) < 0)
		return -1;
	url->kind = CACHE_URL_UNIX;
	snprintf(url->path, sizeof(url->path), "%s",
		 cache_server_socket(c->server));
	return 0;
}

static void cache_destroy(void *ctx)
{
	struct cache *c = ctx;

	cache_unlocks_free(&c->unlocks);
	cache_conn_free(&c->conn);
	cache_cluster_free(&c->cluster);
	cache_server_free(&c->server);
	free(c);
}

struct cache *cache_new(struct event_base *base,
			const struct cache_settings *set, char **error_r)
{
	struct cache *c = calloc(1, sizeof(*c));
	struct cache_conn_settings conn_set = {
		.base = base, .hooks = set->hooks, .dns = set->dns,
	};
	struct cache_url url;

	*error_r = NULL;
	memset(&url, 0, sizeof(url));
	if (c == NULL)
		goto fail;
	if (cache_settings_check(set, &url, &conn_set.password, error_r) < 0)
		goto fail;
	if (url.kind == CACHE_URL_AUTO &&
	    cache_start_server(c, base, set, &url, error_r) < 0)
		goto fail;
	conn_set.url = &url;
	conn_set.replicas = set->replicas;
	conn_set.timeout_ms = set->timeout_ms != 0 ? set->timeout_ms :
		CACHE_DEFAULT_TIMEOUT_MS;
	if (url.kind == CACHE_URL_CLUSTER) {
		struct cache_cluster_settings cset = {
			.base = base, .hooks = set->hooks, .url = &url,
			.password = conn_set.password,
			.timeout_ms = conn_set.timeout_ms,
			.replicas = set->replicas, .dns = set->dns,
		};

		c->cluster = cache_cluster_new(&cset, error_r);
	} else {
		c->conn = cache_conn_new(&conn_set, error_r);
	}
	explicit_bzero(&url, sizeof(url));
	if (c->conn == NULL && c->cluster == NULL)
		goto fail;
	c->unlocks = cache_unlocks_new(c);
	if (c->unlocks == NULL)
		goto fail;
	if (c->cluster != NULL)
		cache_cluster_start(c->cluster);
	else
		cache_conn_start(c->conn);
	return c;
fail:
	explicit_bzero(&url, sizeof(url));
	if (*error_r == NULL)
		*error_r = strdup("cache: out of memory");
	if (c != NULL)
		cache_destroy(c);
	return NULL;
}

void cache_free(struct cache **cp)
{
	struct cache *c = *cp;

	*cp = NULL;
	if (c == NULL || c->free_pending)
		return;
	c->free_pending = true;
	/* From inside a callback, the free waits until it returns. */
	if (c->cluster != NULL)
		cache_cluster_when_idle(c->cluster, cache_destroy, c);
	else
		cache_conn_when_idle(c->conn, cache_destroy, c);
}

const char *cache_describe(const struct cache *c)
{
	return c->cluster != NULL ? cache_cluster_describe(c->cluster) :
		cache_conn_describe(c->conn);
}

bool cache_available(const struct cache *c)
{
	if (c != NULL && c->cluster != NULL)
		return cache_cluster_ready(c->cluster);
	return c != NULL && cache_conn_ready(c->conn);
}

/* KEYS: lock. ARGV: token. */
static const char cache_lua_unlock[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n";

/* The unlock itself: deletes lock:<device> if token holds it. */
static struct cache_req *cache_unlock_req(struct cache_conn *conn, const char *account,
					  const char *device, const char *token,
					  cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(conn, &cache_type_unlock,
					      (union cache_req_cb){ .status = cb }, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .token = token, .need_token = true, .ok = true, .argc = 5 }, &a))
		return req;
	cache_key(key, account, "lock:", device);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_unlock);
	cache_arg(&a, "1");
	cache_arg(&a, key);
	cache_arg(&a, token);
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
	u->req = cache_unlock_req(cache_route(u->queue->cache, u->account), u->account,
				  u->device, u->token, cache_unlock_done, u);
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

static struct cache_unlocks *cache_unlocks_new(struct cache *c)
{
	struct cache_unlocks *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->cache = c;
	TAILQ_INIT(&q->list);
	cache_unlocks_hook(c, cache_unlocks_retry, q);
	return q;
}

static void cache_unlocks_free(struct cache_unlocks **qp)
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
		(void)cache_unlock_req(cache_route(c, account), account, device, token,
				       NULL, NULL);
		return;
	}
	u->queue = q;
	strcpy(u->device, device);
	strcpy(u->token, token);
	TAILQ_INSERT_TAIL(&q->list, u, link);
	q->count++;
	cache_unlock_send(u);
}
