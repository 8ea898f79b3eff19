#ifndef CACHE_PRIVATE_H
#define CACHE_PRIVATE_H

/*
 * struct cache, the handle of cache.h: the parts that cache_new()
 * (cache.c) wires together. The operations (cache_ops.c) use its
 * connection and unlock queue; only cache.c makes, frees or changes it.
 * Not for use outside cache/.
 */

#include <stdbool.h>

#include "cache_cluster.h"

struct cache_conn;
struct cache_unlocks;
struct cache_server;

struct cache {
	struct cache_conn *conn;       /* NULL with a cluster */
	struct cache_cluster *cluster; /* redis-cluster://; NULL otherwise */
	struct cache_unlocks *unlocks;
	struct cache_server *server;   /* cache = auto; NULL otherwise */
	bool free_pending;             /* cache_free() called */
};

/* The connection an account's requests go on. */
static inline struct cache_conn *cache_route(struct cache *c,
					     const char *account)
{
	return c->cluster != NULL ? cache_cluster_route(c->cluster, account) :
		c->conn;
}

#endif
