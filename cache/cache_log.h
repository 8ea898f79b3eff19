#ifndef CACHE_LOG_H
#define CACHE_LOG_H

/*
 * How every file of cache/ logs: a key=value line handed to the owner's
 * hooks->log (cache.h), if it set one. The cache never logs on its own.
 */

#include "cache.h"

/* Formats a line (truncated to 1023 bytes) and hands it to hooks->log. */
void cache_log(const struct cache_hooks *hooks, enum cache_log_level level,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Hands a failover to hooks->failover, if set. */
void cache_failover(const struct cache_hooks *hooks);

#endif
