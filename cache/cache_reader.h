#ifndef CACHE_READER_H
#define CACHE_READER_H

/*
 * A guard on hiredis's reply reader for one async connection: a reply
 * that arrives when no request is waiting for one (a server that answers
 * twice, or something that is not Redis at the url) makes hiredis 0.14
 * abort the process (an assert in redisProcessCallbacks: only a
 * subscribed or monitoring context may get replies unasked). With the
 * guard, such a reply is refused as it is being parsed: the reader fails,
 * hiredis closes the connection as after a protocol error, and
 * guard->tripped says why. A subscribed (or monitoring) connection gets
 * its messages unasked by design: the guard lets them through.
 */

#include <stdbool.h>

struct redisAsyncContext;

struct cache_reader_guard {
	struct redisAsyncContext *ac;
	bool tripped;              /* a reply came that nobody asked for */
};

/* Guards ac's reader; guard must stay valid as long as ac. */
void cache_reader_guard(struct cache_reader_guard *guard,
			struct redisAsyncContext *ac);

/* Why ac, guarded by guard, was closed: for its disconnect callback. */
const char *cache_reader_why(const struct cache_reader_guard *guard,
			     const struct redisAsyncContext *ac);

#endif
