/* The reply reader's guard against replies nobody asked for; see
   cache_reader.h. */

#include "cache_reader.h"

#include <stddef.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

/* hiredis's own object functions, which the guard's call: every reader
   gets the same static table. */
static redisReplyObjectFunctions *cache_reader_base;

/* The start of a reply (its outermost object; an array's comes with its
   header, before its elements) while no callback is queued. */
static bool cache_reader_unasked(const redisReadTask *task)
{
	struct cache_reader_guard *guard = task->privdata;

	if (task->parent != NULL || guard == NULL ||
	    guard->ac->replies.head != NULL ||
	    (guard->ac->c.flags & (REDIS_SUBSCRIBED | REDIS_MONITORING)) != 0)
		return false;
	guard->tripped = true;
	return true;
}

static void *cache_reader_string(const redisReadTask *task, char *s,
				 size_t len)
{
	return cache_reader_unasked(task) ? NULL :
		cache_reader_base->createString(task, s, len);
}

static void *cache_reader_array(const redisReadTask *task, int n)
{
	return cache_reader_unasked(task) ? NULL :
		cache_reader_base->createArray(task, n);
}

static void *cache_reader_integer(const redisReadTask *task, long long v)
{
	return cache_reader_unasked(task) ? NULL :
		cache_reader_base->createInteger(task, v);
}

static void *cache_reader_nil(const redisReadTask *task)
{
	return cache_reader_unasked(task) ? NULL :
		cache_reader_base->createNil(task);
}

static void cache_reader_free(void *obj)
{
	cache_reader_base->freeObject(obj);
}

static redisReplyObjectFunctions cache_reader_fns = {
	.createString = cache_reader_string,
	.createArray = cache_reader_array,
	.createInteger = cache_reader_integer,
	.createNil = cache_reader_nil,
	.freeObject = cache_reader_free,
};

void cache_reader_guard(struct cache_reader_guard *guard,
			struct redisAsyncContext *ac)
{
	redisReader *reader = ac->c.reader;

	guard->ac = ac;
	guard->tripped = false;
	if (reader->fn != &cache_reader_fns)
		cache_reader_base = reader->fn;
	reader->fn = &cache_reader_fns;
	reader->privdata = guard;
}

const char *cache_reader_why(const struct cache_reader_guard *guard,
			     const struct redisAsyncContext *ac)
{
	if (guard->tripped)
		return "a reply to no request (is it Redis?)";
	return ac->err != 0 ? ac->errstr : "connection closed";
}
