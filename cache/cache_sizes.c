/* Exact message sizes; contracts in cache_sizes.h. */

#include "cache_sizes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

/* KEYS: the hash. ARGV: ttl_ms, n, n pairs uid "rfc822 octets", then
   uids gone. */
static const char sizes_lua_store[] =
	"local n = tonumber(ARGV[2])\n"
	"for i = 0, n - 1 do\n"
	"  redis.call('HSET', KEYS[1], ARGV[3 + 2 * i], ARGV[4 + 2 * i])\n"
	"end\n"
	"for i = 3 + 2 * n, #ARGV do\n"
	"  redis.call('HDEL', KEYS[1], ARGV[i])\n"
	"end\n"
	"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
	"  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
	"end\n"
	"return 0\n";

struct sizes_data {
	struct cache_sizes sz;
	uint32_t *uids;
	uint64_t *rfc822, *sizes;
};

static void sizes_free(void *data)
{
	struct sizes_data *d = data;

	if (d != NULL) {
		free(d->uids);
		free(d->rfc822);
		free(d->sizes);
	}
	free(d);
}

/* HGETALL: uid, octets, uid, octets... A field that is not a UID or a
   value that is not a size is damage: that entry is left out (its
   message is counted again and the entry overwritten). */
static enum cache_status sizes_parse(struct cache_req *req, const redisReply *r)
{
	struct sizes_data *d;
	size_t n;

	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
		return cache_reply_unexpected(req, r);
	n = r->elements / 2;
	d = calloc(1, sizeof(*d));
	if (d == NULL || (n > 0 && ((d->uids = malloc(n * sizeof(*d->uids))) == NULL ||
				    (d->rfc822 = malloc(n * sizeof(*d->rfc822))) == NULL ||
				    (d->sizes = malloc(n * sizeof(*d->sizes))) == NULL))) {
		sizes_free(d);
		return cache_reply_bad(req, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
		const char *sp = v->type == REDIS_REPLY_STRING ? memchr(v->str, ' ', v->len) : NULL;
		uint64_t uid;
		size_t k = d->sz.n;

		if (f->type != REDIS_REPLY_STRING || sp == NULL ||
		    !cache_parse_u64(f->str, f->len, UINT32_MAX, &uid) || uid == 0 ||
		    !cache_parse_u64(v->str, (size_t)(sp - v->str), UINT64_MAX / 2,
				     &d->rfc822[k]) ||
		    !cache_parse_u64(sp + 1, v->len - (size_t)(sp - v->str) - 1, UINT64_MAX / 2,
				     &d->sizes[k]))
			continue;
		d->uids[d->sz.n++] = (uint32_t)uid;
	}
	if (d->sz.n < n)
		cache_req_log(req, CACHE_LOG_WARN, "sizes_damaged", "entries=%zu", n - d->sz.n);
	d->sz.uids = d->uids;
	d->sz.rfc822 = d->rfc822;
	d->sz.sizes = d->sizes;
	req->data = d;
	return CACHE_OK;
}

static void sizes_deliver(struct cache_req *req)
{
	struct sizes_data *d = req->data;

	req->cb.sizes(req->ctx, req->status, req->status == CACHE_OK ? &d->sz : NULL);
}

static enum cache_status sizes_parse_store(struct cache_req *req, const redisReply *r)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	return CACHE_OK;
}

static void sizes_deliver_store(struct cache_req *req)
{
	if (req->cb.count != NULL)
		req->cb.count(req->ctx, req->status, 0);
}

static const struct cache_req_type sizes_type_load = {
	.name = "sizes_load", .parse = sizes_parse, .deliver = sizes_deliver,
	.free_data = sizes_free,
};
static const struct cache_req_type sizes_type_store = {
	.name = "sizes_store", .parse = sizes_parse_store, .deliver = sizes_deliver_store,
};

/* The hash's key into key (CACHE_KEY_MAX); false for a bad account. */
static bool sizes_key(char *key, const char *account, uint32_t uidvalidity)
{
	char v[CACHE_U32_LEN];

	if (account == NULL || !cache_account_valid(account) || uidvalidity == 0)
		return false;
	snprintf(v, sizeof(v), "%u", uidvalidity);
	cache_key(key, account, "sizes:", v);
	return true;
}

#define SIZES_BAD "error=\"bad arguments\""

struct cache_req *cache_sizes_load(struct cache *c, const char *account, uint32_t uidvalidity,
				   cache_sizes_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account != NULL ? account : ""),
					      &sizes_type_load,
					      (union cache_req_cb){ .sizes = cb }, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = sizes_key(key, account, uidvalidity), .why = SIZES_BAD,
			     .argc = 2 }, &a))
		return req;
	cache_arg(&a, "HGETALL");
	cache_arg(&a, key);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_sizes_store(struct cache *c, const char *account, uint32_t uidvalidity,
				    const uint32_t *uids, const uint64_t *rfc822,
				    const uint64_t *sizes, size_t n,
				    const uint32_t *gone, size_t ngone, cache_count_cb *cb,
				    void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account != NULL ? account : ""),
					      &sizes_type_store,
					      (union cache_req_cb){ .count = cb }, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;
	size_t args = 6 + 2 * n + ngone;
	char *pairs;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = sizes_key(key, account, uidvalidity) &&
				   n + ngone <= CACHE_SIZES_BATCH &&
				   (n == 0 || (uids != NULL && rfc822 != NULL && sizes != NULL)) &&
				   (ngone == 0 || gone != NULL),
			     .why = SIZES_BAD, .argc = args,
			     .nums_size = (2 + n + ngone) * CACHE_U64_LEN }, &a))
		return req;
	/* "<rfc822> <octets>" each, alive until the command is sent. */
	pairs = malloc(n * 2 * CACHE_U64_LEN + 1);
	if (pairs == NULL) {
		cache_args_free(&a);
		cache_req_cancel(&req);
		return NULL;
	}
	cache_arg(&a, "EVAL");
	cache_arg(&a, sizes_lua_store);
	cache_arg(&a, "1");
	cache_arg(&a, key);
	cache_arg_num(&a, CACHE_SIZES_TTL_MS);
	cache_arg_num(&a, n);
	for (size_t i = 0; i < n; i++) {
		char *p = pairs + i * 2 * CACHE_U64_LEN;
		int len = snprintf(p, 2 * CACHE_U64_LEN, "%llu %llu",
				   (unsigned long long)rfc822[i], (unsigned long long)sizes[i]);

		cache_arg_num(&a, uids[i]);
		cache_arg_len(&a, p, (size_t)len);
	}
	for (size_t i = 0; i < ngone; i++)
		cache_arg_num(&a, gone[i]);
	cache_args_send(req, &a);
	free(pairs);
	return req;
}
