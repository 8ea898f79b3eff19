/*
 * The lazy import's marks (cache.h: cache_legacy_claim() and below): a
 * lease so that one login at a time imports an account, and the result
 * written with the done mark in one script, so an import is stored whole
 * or not at all and never runs twice.
 */

#include "cache_args.h"
#include "cache_conn.h"
#include "cache_gen.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* KEYS: done, lease. ARGV: token, ttl_ms. 1 done, 2 leased by another,
   0 leased now. */
static const char cache_lua_legacy_claim[] =
	"if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end\n"
	"if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end\n"
	"return 2\n";

/* KEYS: uidvalidity, uidl, lease, done, gen. ARGV: uidvalidity, token,
   summary, map limit, then uid, fingerprint, uidl triples. 0 stored, 2
   uidvalidity differs, 3 past the limit, 4 the lease is not ours. An
   account with no uidvalidity yet (imported before its first login) gets
   the import's. */
static const char cache_lua_legacy_store[] =
	CACHE_GEN_LUA
	"if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 4 end\n"
	"local v = redis.call('GET', KEYS[1])\n"
	"if v and v ~= ARGV[1] then return 2 end\n"
	"if redis.call('HLEN', KEYS[2]) + (#ARGV - 4) / 3 > tonumber(ARGV[4]) then\n"
	"  return 3\n"
	"end\n"
	"if not v then redis.call('SET', KEYS[1], ARGV[1]) end\n"
	"for i = 5, #ARGV, 3 do\n"
	"  redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1] .. ' ' .. ARGV[i + 2])\n"
	"end\n"
	"redis.call('SET', KEYS[4], ARGV[3])\n"
	"redis.call('DEL', KEYS[3])\n"
	"gen_bump(KEYS[5], '" CACHE_GEN_ACCOUNT "')\n"
	"return 0\n";

/* KEYS: lease. ARGV: token. */
static const char cache_lua_legacy_release[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

static enum cache_status cache_legacy_parse_claim(struct cache_req *req, const redisReply *r)
{
	uint64_t *v;

	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > 2)
		return cache_reply_unexpected(req, r);
	v = malloc(sizeof(*v));
	if (v == NULL)
		return cache_reply_bad(req, "out of memory");
	*v = (uint64_t)r->integer;
	req->data = v;
	return CACHE_OK;
}

static void cache_legacy_deliver_claim(struct cache_req *req)
{
	uint64_t v = req->data != NULL ? *(uint64_t *)req->data : 0;

	if (req->cb.count != NULL)
		req->cb.count(req->ctx, req->status, req->status == CACHE_OK ? v : 0);
}

static enum cache_status cache_legacy_parse_store(struct cache_req *req, const redisReply *r)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	switch (r->integer) {
	case 0:
		return CACHE_OK;
	case 2:
	case 4:
		return CACHE_CONFLICT;
	case 3:
		return CACHE_LIMIT;
	}
	return cache_reply_unexpected(req, r);
}

static const struct cache_req_type cache_type_legacy_claim = {
	.name = "legacy_claim", .parse = cache_legacy_parse_claim,
	.deliver = cache_legacy_deliver_claim, .free_data = free,
};
static const struct cache_req_type cache_type_legacy_store = {
	.name = "legacy_store", .durable = true, .parse = cache_legacy_parse_store,
	.deliver = cache_deliver_status,
};
static const struct cache_req_type cache_type_legacy_release = {
	.name = "legacy_release", .parse = cache_legacy_parse_store,
	.deliver = cache_deliver_status,
};

static bool cache_legacy_text_valid(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	}
	return true;
}

/* A valid account, and a lease token (claim, store, release). */
static bool cache_legacy_token_valid(const char *account, const char *token)
{
	return cache_account_valid(account) && token != NULL &&
	       cache_legacy_text_valid(token, CACHE_LEGACY_TOKEN_MAX);
}

struct cache_req *cache_legacy_claim(struct cache *c, const char *account, const char *token,
				     unsigned int ttl_ms, cache_count_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_legacy_claim,
					      (union cache_req_cb){ .count = cb }, ctx);
	char k_done[CACHE_KEY_MAX], k_lease[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = cache_legacy_token_valid(account, token) && ttl_ms != 0,
			     .argc = 7, .nums_size = CACHE_U64_LEN }, &a))
		return req;
	cache_key(k_done, account, "legacy_done", NULL);
	cache_key(k_lease, account, "legacy_lease", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_legacy_claim);
	cache_arg(&a, "2");
	cache_arg(&a, k_done);
	cache_arg(&a, k_lease);
	cache_arg(&a, token);
	cache_arg_num(&a, ttl_ms);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_legacy_store(struct cache *c, const char *account, const char *token,
				     uint32_t uidvalidity, const struct cache_uidl_new *e, size_t n,
				     const char *summary, cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_legacy_store,
					      (union cache_req_cb){ .status = cb }, ctx);
	char k_uidv[CACHE_KEY_MAX], k_map[CACHE_KEY_MAX], k_lease[CACHE_KEY_MAX];
	char k_done[CACHE_KEY_MAX], k_gen[CACHE_KEY_MAX];
	struct cache_args a;
	size_t i;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = cache_legacy_token_valid(account, token) && uidvalidity != 0 &&
				   n <= CACHE_UIDL_MAP_MAX && summary != NULL &&
				   cache_legacy_text_valid(summary, CACHE_LEGACY_SUMMARY_MAX) &&
				   cache_uidl_entries_valid(e, n),
			     .argc = 12 + 3 * n, .nums_size = (n + 3) * CACHE_U64_LEN }, &a))
		return req;
	cache_key(k_uidv, account, "uidvalidity", NULL);
	cache_key(k_map, account, "uidl", NULL);
	cache_key(k_lease, account, "legacy_lease", NULL);
	cache_key(k_done, account, "legacy_done", NULL);
	cache_key(k_gen, account, "gen", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_legacy_store);
	cache_arg(&a, "5");
	cache_arg(&a, k_uidv);
	cache_arg(&a, k_map);
	cache_arg(&a, k_lease);
	cache_arg(&a, k_done);
	cache_arg(&a, k_gen);
	cache_arg_num(&a, uidvalidity);
	cache_arg(&a, token);
	cache_arg(&a, summary);
	cache_arg_num(&a, CACHE_UIDL_MAP_MAX);
	for (i = 0; i < n; i++) {
		cache_arg_num(&a, e[i].uid);
		cache_arg(&a, e[i].fingerprint[0] != '\0' ? e[i].fingerprint : "-");
		cache_arg(&a, e[i].uidl);
	}
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_legacy_release(struct cache *c, const char *account, const char *token,
				       cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_legacy_release,
					      (union cache_req_cb){ .status = cb }, ctx);
	char k_lease[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = cache_legacy_token_valid(account, token), .argc = 5 }, &a))
		return req;
	cache_key(k_lease, account, "legacy_lease", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_legacy_release);
	cache_arg(&a, "1");
	cache_arg(&a, k_lease);
	cache_arg(&a, token);
	cache_args_send(req, &a);
	return req;
}
