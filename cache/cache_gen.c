/* The lock with the generations; contracts in cache_gen.h. */

#include "cache_gen.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdlib.h>

#include <hiredis/hiredis.h>

/* KEYS: lock, gen. ARGV: token, ttl, device. {1} held, or {0, account's
   gen, device's gen or ""}; the account's is made when missing. */
static const char cache_lua_lock_gen[] =
	CACHE_GEN_LUA
	"if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then\n"
	"  return {1}\n"
	"end\n"
	"local a = '" CACHE_GEN_ACCOUNT "'\n"
	"if redis.call('HEXISTS', KEYS[2], a) == 0 then gen_bump(KEYS[2], a) end\n"
	"local g = redis.call('HMGET', KEYS[2], a, ARGV[3])\n"
	"return {0, g[1] or '', g[2] or ''}\n";

static bool cache_gen_value(const redisReply *r, uint64_t *v)
{
	*v = 0;
	if (r->type != REDIS_REPLY_STRING)
		return false;
	/* A value that does not parse is one no reader ever matches. */
	if (r->len > 0 && !cache_parse_u64(r->str, r->len, UINT64_MAX, v))
		*v = 0;
	return true;
}

static enum cache_status cache_gen_parse(struct cache_req *req, const redisReply *r)
{
	const redisReply *const *e = (const redisReply *const *)r->element;
	struct cache_gens *g;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || e[0]->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (e[0]->integer == 1 && r->elements == 1)
		return CACHE_IN_USE;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return cache_reply_bad(req, "out of memory");
	req->data = g;
	if (e[0]->integer != 0 || r->elements != 3 || !cache_gen_value(e[1], &g->account) ||
	    !cache_gen_value(e[2], &g->device))
		return cache_reply_bad(req, "unexpected lock reply");
	return CACHE_OK;
}

static void cache_gen_deliver(struct cache_req *req)
{
	if (req->cb.lock_gen != NULL)
		req->cb.lock_gen(req->ctx, req->status, req->status == CACHE_OK ? req->data : NULL);
}

static const struct cache_req_type cache_type_lock_gen = {
	.name = "lock", .parse = cache_gen_parse, .deliver = cache_gen_deliver,
	.free_data = free,
};

struct cache_req *cache_lock_gen(struct cache *c, const char *account, const char *device,
				 const char *token, unsigned int ttl_secs, cache_lock_gen_cb *cb,
				 void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_lock_gen,
					      (union cache_req_cb){ .lock_gen = cb }, ctx);
	char k_lock[CACHE_KEY_MAX], k_gen[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .token = token, .need_token = true,
			     .ok = ttl_secs > 0 && ttl_secs <= CACHE_TTL_MAX,
			     .why = "error=\"bad ttl\"", .argc = 8, .nums_size = CACHE_U32_LEN }, &a))
		return req;
	cache_key(k_lock, account, "lock:", device);
	cache_key(k_gen, account, "gen", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_lock_gen);
	cache_arg(&a, "2");
	cache_arg(&a, k_lock);
	cache_arg(&a, k_gen);
	cache_arg(&a, token);
	cache_arg_num(&a, ttl_secs);
	cache_arg(&a, device);
	cache_args_send(req, &a);
	return req;
}
