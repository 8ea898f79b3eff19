#ifndef CACHE_PRIVATE_H
#define CACHE_PRIVATE_H

/*
 * struct cache, the handle of cache.h: the parts that cache_new()
 * (cache.c) wires together. The operations (cache_ops.c) use its
 * connection and unlock queue; only cache.c makes, frees or changes it.
 * Not for use outside cache/.
 */

#include <stdbool.h>

struct cache_conn;
struct cache_unlocks;
struct cache_server;

struct cache {
	struct cache_conn *conn;
	struct cache_unlocks *unlocks;
	struct cache_server *server;   /* cache = auto; NULL otherwise */
	bool free_pending;             /* cache_free() called */
};

#endif
