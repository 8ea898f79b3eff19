#ifndef CACHE_BACKOFF_H
#define CACHE_BACKOFF_H

/*
 * The retry backoff shared by the connection (cache_conn.c) and the
 * managed server (cache_server.c): 100 ms doubling to 5 s, and the
 * millisecond timeouts their timers are set with. Header only.
 */

#include <sys/time.h>

#define CACHE_BACKOFF_MIN_MS 100
#define CACHE_BACKOFF_MAX_MS 5000

/* The wait after the one of ms. */
static inline unsigned int cache_backoff_next(unsigned int ms)
{
	return ms * 2 > CACHE_BACKOFF_MAX_MS ? CACHE_BACKOFF_MAX_MS : ms * 2;
}

static inline struct timeval cache_timeval_ms(unsigned int ms)
{
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

#endif
