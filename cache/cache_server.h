#ifndef CACHE_SERVER_H
#define CACHE_SERVER_H

/*
 * The private redis-server of cache = auto: prepares the state directory,
 * writes its config, starts it, watches it on the loop and restarts it
 * with the backoff when it dies, stops it. A leaf: it knows nothing of
 * connections or requests, and tells its owner of a restart through the
 * callback given to cache_server_new().
 */

#include <stdint.h>

#include "cache.h"

struct event_base;
struct cache_server;

typedef void cache_server_restart_cb(void *ctx);

/*
 * Prepares state_dir, starts binary (a path, or a name looked up in PATH)
 * with maxmemory max_memory bytes (noeviction) and waits (blocking, at
 * most 10 s) until it answers PING (see cache.h).
 * Afterwards the server is watched on the loop and restarted with a
 * backoff when it dies; restart_cb(ctx) runs after each restart. Returns
 * 0, or -1 with malloc'd *error_r (NULL when out of memory).
 */
/* What cache_server_new() would refuse, without starting anything: binary
   not found, state_dir not a directory (or, when missing, no parent to
   create it in). 0, or -1 with malloc'd *error_r. */
int cache_server_check(const char *state_dir, const char *binary, char **error_r);

int cache_server_new(struct event_base *base, const struct cache_hooks *hooks,
		     const char *state_dir, const char *binary,
		     uint64_t max_memory, cache_server_restart_cb *restart_cb,
		     void *ctx, struct cache_server **server_r,
		     char **error_r);
/* Absolute path of the server's unix socket. */
const char *cache_server_socket(const struct cache_server *s);
/* Stops the server (SIGTERM, up to 5 s, then SIGKILL; blocking). Sets *s
   to NULL; NULL is fine. */
void cache_server_free(struct cache_server **s);

#endif
