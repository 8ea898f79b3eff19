/* Expiring counters and marks (shared limits); contracts in cache.h. */

#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* Bytes of a key: "popgate:{" tag "}:" what, and the NUL. */
#define COUNT_KEY_MAX (sizeof("popgate:{}:") + CACHE_ACCOUNT_MAX + CACHE_WHAT_MAX)

/* KEYS: counter. ARGV: ttl_ms, most. A value that is not a count makes
   INCR fail: an error, not a reset. */
static const char count_lua_incr[] =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n > tonumber(ARGV[2]) then\n"
	"  n = tonumber(ARGV[2])\n"
	"  redis.call('SET', KEYS[1], n)\n"
	"end\n"
	"redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
	"return n\n";

/* KEYS: counter. ARGV: how many off. */
static const char count_lua_sub[] =
	"local v = redis.call('GET', KEYS[1])\n"
	"if not v then return 0 end\n"
	"local n = tonumber(v)\n"
	"if not n then return redis.error_reply('ERR not a count') end\n"
	"n = n - tonumber(ARGV[1])\n"
	"if n <= 0 then\n"
	"  redis.call('DEL', KEYS[1])\n"
	"  return 0\n"
	"end\n"
	"redis.call('SET', KEYS[1], n, 'KEEPTTL')\n"
	"return n\n";

/* An integer reply, or GET's string or nil; PTTL's -1 and -2 are 0. */
static enum cache_status count_parse(struct cache_req *req, const redisReply *r)
{
	uint64_t v = 0, *data;

	if (r->type == REDIS_REPLY_INTEGER) {
		v = r->integer > 0 ? (uint64_t)r->integer : 0;
	} else if (r->type == REDIS_REPLY_STRING) {
		if (!cache_parse_u64(r->str, r->len, UINT64_MAX, &v))
			return cache_reply_bad(req, "not a count");
	} else if (r->type == REDIS_REPLY_STATUS) {
		v = 0;   /* SET's OK */
	} else if (r->type != REDIS_REPLY_NIL) {
		return cache_reply_unexpected(req, r);
	}
	data = malloc(sizeof(*data));
	if (data == NULL)
		return cache_reply_bad(req, "out of memory");
	*data = v;
	req->data = data;
	return CACHE_OK;
}

static void count_deliver(struct cache_req *req)
{
	uint64_t v = req->data != NULL ? *(uint64_t *)req->data : 0;

	if (req->cb.count != NULL)
		req->cb.count(req->ctx, req->status, req->status == CACHE_OK ? v : 0);
}

static const struct cache_req_type count_type_incr = {
	.name = "count_incr", .parse = count_parse, .deliver = count_deliver,
	.free_data = free,
};
static const struct cache_req_type count_type_get = {
	.name = "count_get", .parse = count_parse, .deliver = count_deliver,
	.free_data = free,
};
static const struct cache_req_type count_type_sub = {
	.name = "count_sub", .parse = count_parse, .deliver = count_deliver,
	.free_data = free,
};
static const struct cache_req_type count_type_mark = {
	.name = "mark_set", .parse = count_parse, .deliver = count_deliver,
	.free_data = free,
};
static const struct cache_req_type count_type_left = {
	.name = "mark_left", .parse = count_parse, .deliver = count_deliver,
	.free_data = free,
};

static bool count_what_valid(const char *what)
{
	size_t n = strnlen(what, CACHE_WHAT_MAX + 1);

	if (n == 0 || n > CACHE_WHAT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = what[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
		      ch == '-'))
			return false;
	}
	return true;
}

/* A new request (*reqp) with its key in key and room for argc arguments
   in a (as cache_req_begin(): false, the caller returns *reqp). */
static bool count_req(struct cache *c, const struct cache_req_type *type, const char *tag,
		      const char *what, unsigned int ttl_ms, bool need_ttl, cache_count_cb *cb,
		      void *ctx, struct cache_req **reqp, char *key, struct cache_args *a,
		      size_t argc, size_t nums_size)
{
	/* The key's slot is the tag's (a cluster's node; checked below). */
	*reqp = cache_req_new(cache_route(c, tag != NULL ? tag : ""),
			      type, (union cache_req_cb){ .count = cb }, ctx);
	if (!cache_req_begin(reqp, &(struct cache_begin){
			     .ok = tag != NULL && what != NULL && cache_account_valid(tag) &&
				   strpbrk(tag, "{}") == NULL && count_what_valid(what) &&
				   (!need_ttl || (ttl_ms != 0 && ttl_ms <= CACHE_COUNT_TTL_MAX)),
			     .why = "error=\"bad arguments\"", .argc = argc,
			     .nums_size = nums_size }, a))
		return false;
	snprintf(key, COUNT_KEY_MAX, "popgate:{%s}:%s", tag, what);
	return true;
}

/* EVAL script 1 key, then up to two numbers. */
static struct cache_req *count_eval(struct cache *c, const struct cache_req_type *type,
				    const char *script, const char *tag, const char *what,
				    unsigned int ttl_ms, int nums, uint64_t a1, uint64_t a2,
				    cache_count_cb *cb, void *ctx)
{
	char key[COUNT_KEY_MAX];
	struct cache_args a;
	struct cache_req *req;

	if (!count_req(c, type, tag, what, ttl_ms, type == &count_type_incr, cb, ctx, &req, key,
		       &a, 6, 2 * CACHE_U64_LEN))
		return req;
	cache_arg(&a, "EVAL");
	cache_arg(&a, script);
	cache_arg(&a, "1");
	cache_arg(&a, key);
	if (nums > 0)
		cache_arg_num(&a, a1);
	if (nums > 1)
		cache_arg_num(&a, a2);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_count_incr(struct cache *c, const char *tag, const char *what,
				   unsigned int ttl_ms, cache_count_cb *cb, void *ctx)
{
	return count_eval(c, &count_type_incr, count_lua_incr, tag, what, ttl_ms, 2, ttl_ms,
			  CACHE_COUNT_MAX, cb, ctx);
}

struct cache_req *cache_count_sub(struct cache *c, const char *tag, const char *what,
				  uint64_t n, cache_count_cb *cb, void *ctx)
{
	/* Lua numbers are doubles: more than any count is "all of it". */
	return count_eval(c, &count_type_sub, count_lua_sub, tag, what, 0, 1,
			  n > CACHE_COUNT_MAX ? CACHE_COUNT_MAX : n, 0, cb, ctx);
}

/* A command of one key and at most two more arguments. */
static struct cache_req *count_plain(struct cache *c, const struct cache_req_type *type,
				     const char *cmd, const char *tag, const char *what,
				     unsigned int ttl_ms, cache_count_cb *cb, void *ctx)
{
	char key[COUNT_KEY_MAX];
	struct cache_args a;
	bool mark = type == &count_type_mark;
	struct cache_req *req;

	if (!count_req(c, type, tag, what, ttl_ms, mark, cb, ctx, &req, key, &a, 5,
		       CACHE_U32_LEN))
		return req;
	cache_arg(&a, cmd);
	cache_arg(&a, key);
	if (mark) {
		cache_arg(&a, "1");
		cache_arg(&a, "PX");
		cache_arg_num(&a, ttl_ms);
	}
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_count_get(struct cache *c, const char *tag, const char *what,
				  cache_count_cb *cb, void *ctx)
{
	return count_plain(c, &count_type_get, "GET", tag, what, 0, cb, ctx);
}

struct cache_req *cache_mark_set(struct cache *c, const char *tag, const char *what,
				 unsigned int ttl_ms, cache_count_cb *cb, void *ctx)
{
	return count_plain(c, &count_type_mark, "SET", tag, what, ttl_ms, cb, ctx);
}

struct cache_req *cache_mark_left(struct cache *c, const char *tag, const char *what,
				  cache_count_cb *cb, void *ctx)
{
	return count_plain(c, &count_type_left, "PTTL", tag, what, 0, cb, ctx);
}
