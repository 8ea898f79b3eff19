/* The operations of cache.h on the connection: argument checks, key
   names, the Lua scripts and their arguments; cache_lock(), cache_lock_refresh(),
   cache_barrier() and cache_hide() of cache.h (cache_unlock() and the
   unconfirmed unlocks: cache.c). Their replies: cache_reply.c. */

#include "cache.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_gen.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Scripts go with EVAL every time rather than EVALSHA: each call is then
 * self-contained, so a SCRIPT FLUSH, a restarted or failed-over server
 * never needs a NOSCRIPT retry path (which would have to keep a copy of a
 * 100000-UID argument list around). Redis caches the compiled script by
 * its SHA1, so the cost is hashing ~0.5 KB per call, and calls come per
 * login, per QUIT and per lock refresh, never per message. Every key is
 * passed in KEYS (Redis Cluster) and all share the account's hash tag.
 */

/* KEYS: lock. ARGV: token, ttl. */
static const char cache_lua_refresh[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/* KEYS: lock, uidvalidity, target hidden hash, gen.
   ARGV: token, uidvalidity, most entries, gen field, uid1, fp1, uid2, fp2, ...
   Returns {0, generation before, after} written (and the field's
   generation bumped; 0 when nothing was to be written), 1 lock not
   held, 2 uidvalidity differs, 3 the hash would hold more than the most.
   The checks come before any write; HSET goes in chunks because Lua's
   unpack() is limited to a few thousand values. */
static const char cache_lua_hide[] =
	CACHE_GEN_LUA
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 1 end\n"
	"if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 2 end\n"
	"local new = 0\n"
	"for i = 5, #ARGV, 2 do\n"
	"  new = new + 1 - redis.call('HEXISTS', KEYS[3], ARGV[i])\n"
	"end\n"
	"if new > 0 and redis.call('HLEN', KEYS[3]) + new > tonumber(ARGV[3]) then\n"
	"  return 3\n"
	"end\n"
	"for i = 5, #ARGV, 1000 do\n"
	"  redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
	"end\n"
	"if #ARGV > 4 then\n"
	"  local was, new = gen_bump(KEYS[4], ARGV[4])\n"
	"  return {0, was, new}\n"
	"end\n"
	"return 0\n";

static struct cache_req *cache_status_req(struct cache_conn *conn,
					  const struct cache_req_type *type,
					  cache_status_cb *cb, void *ctx)
{
	return cache_req_new(conn, type, (union cache_req_cb){ .status = cb },
			     ctx);
}

/* --- operations --- */

static struct cache_req *cache_lock_req(struct cache_conn *conn,
					const struct cache_req_type *type,
					const char *account,
					const char *device, const char *token,
					unsigned int ttl_secs,
					cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_status_req(conn, type, cb, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .token = token, .need_token = true,
			     .ok = ttl_secs != 0 && ttl_secs <= CACHE_TTL_MAX,
			     .why = "error=\"bad ttl\"", .argc = 6, .nums_size = CACHE_U32_LEN },
			     &a))
		return req;
	cache_key(key, account, "lock:", device);
	if (type == &cache_type_lock) {
		cache_arg(&a, "SET");
		cache_arg(&a, key);
		cache_arg(&a, token);
		cache_arg(&a, "NX");
		cache_arg(&a, "EX");
		cache_arg_num(&a, ttl_secs);
	} else {
		cache_arg(&a, "EVAL");
		cache_arg(&a, cache_lua_refresh);
		cache_arg(&a, "1");
		cache_arg(&a, key);
		cache_arg(&a, token);
		cache_arg_num(&a, ttl_secs);
	}
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_lock(struct cache *c, const char *account,
			     const char *device, const char *token,
			     unsigned int ttl_secs, cache_status_cb *cb,
			     void *ctx)
{
	return cache_lock_req(cache_route(c, account), &cache_type_lock,
			      account, device,
			      token, ttl_secs, cb, ctx);
}

struct cache_req *cache_lock_refresh(struct cache *c, const char *account,
				     const char *device, const char *token,
				     unsigned int ttl_secs,
				     cache_status_cb *cb, void *ctx)
{
	return cache_lock_req(cache_route(c, account), &cache_type_refresh,
			      account, device,
			      token, ttl_secs, cb, ctx);
}

struct cache_req *cache_barrier(struct cache *c, const char *account, cache_status_cb *cb,
				void *ctx)
{
	struct cache_req *req = cache_status_req(cache_route(c, account),
						 &cache_type_barrier, cb, ctx);
	const char *argv[] = { "PING" };
	static const size_t argvlen[] = { 4 };

	if (req != NULL)
		cache_req_submit(req, 1, argv, argvlen);
	return req;
}

static bool cache_hide_args_valid(const uint32_t *uids,
				  const char *const *fingerprints, size_t n)
{
	size_t i;

	if (n > CACHE_HIDE_MAX || (n > 0 && uids == NULL))
		return false;
	for (i = 0; i < n; i++) {
		if (uids[i] == 0)
			return false;
		if (fingerprints != NULL && fingerprints[i] != NULL &&
		    strnlen(fingerprints[i], CACHE_FINGERPRINT_MAX + 1) >
		    CACHE_FINGERPRINT_MAX)
			return false;
	}
	return true;
}

static struct cache_req *cache_hide_req(struct cache *c, const struct cache_req_type *type,
					const char *account, const char *device, const char *token,
					bool all_devices, uint32_t uidvalidity, const uint32_t *uids,
					const char *const *fingerprints, size_t n,
					union cache_req_cb cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), type, cb, ctx);
	char k_lock[CACHE_KEY_MAX], k_uidv[CACHE_KEY_MAX], k_set[CACHE_KEY_MAX];
	char k_gen[CACHE_KEY_MAX];
	char why[128] = "";
	bool ok = uidvalidity != 0 && cache_hide_args_valid(uids, fingerprints, n);
	struct cache_args a;
	size_t i;

	if (!ok)
		snprintf(why, sizeof(why), "error=\"bad uidvalidity, uid or fingerprint, or "
			 "more than %d uids\" uids=%zu", CACHE_HIDE_MAX, n);
	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .token = token, .need_token = true, .ok = ok, .why = why,
			     .argc = 11 + 2 * n, .nums_size = (n + 2) * CACHE_U32_LEN }, &a))
		return req;
	cache_key(k_lock, account, "lock:", device);
	cache_key(k_uidv, account, "uidvalidity", NULL);
	if (all_devices)
		cache_key(k_set, account, "hidden_all", NULL);
	else
		cache_key(k_set, account, "hidden:", device);
	cache_key(k_gen, account, "gen", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_hide);
	cache_arg(&a, "4");
	cache_arg(&a, k_lock);
	cache_arg(&a, k_uidv);
	cache_arg(&a, k_set);
	cache_arg(&a, k_gen);
	cache_arg(&a, token);
	cache_arg_num(&a, uidvalidity);
	cache_arg_num(&a, CACHE_HIDDEN_MAX);
	cache_arg(&a, all_devices ? CACHE_GEN_ACCOUNT : device);
	for (i = 0; i < n; i++) {
		cache_arg_num(&a, uids[i]);
		cache_arg(&a, fingerprints != NULL && fingerprints[i] != NULL ?
			  fingerprints[i] : "");
	}
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_hide(struct cache *c, const char *account,
			     const char *device, const char *token,
			     bool all_devices, uint32_t uidvalidity,
			     const uint32_t *uids,
			     const char *const *fingerprints, size_t n,
			     cache_status_cb *cb, void *ctx)
{
	return cache_hide_req(c, &cache_type_hide, account, device, token, all_devices,
			      uidvalidity, uids, fingerprints, n,
			      (union cache_req_cb){ .status = cb }, ctx);
}

struct cache_req *cache_hide_gen(struct cache *c, const char *account, const char *device,
				 const char *token, bool all_devices, uint32_t uidvalidity,
				 const uint32_t *uids, const char *const *fingerprints, size_t n,
				 cache_hide_gen_cb *cb, void *ctx)
{
	return cache_hide_req(c, &cache_type_hide_gen, account, device, token, all_devices,
			      uidvalidity, uids, fingerprints, n,
			      (union cache_req_cb){ .hide_gen = cb }, ctx);
}
