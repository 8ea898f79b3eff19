/* The lock with the generations; contracts in cache_gen.h. */

#include "cache_gen.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdlib.h>
#include <string.h>

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

/* --- the peek --- */

/* KEYS: uidvalidity, hidden:<device>, hidden_all, uidl, legacy. ARGV:
   uidvalidity, uids. {2} another uidvalidity, or {0, flags ('0' + the
   bits per uid), {uidl or "", ...}, EXISTS legacy}. */
static const char cache_lua_peek[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end\n"
	"local a = redis.call('HMGET', KEYS[2], unpack(ARGV, 2))\n"
	"local b = redis.call('HMGET', KEYS[3], unpack(ARGV, 2))\n"
	"local u = redis.call('HMGET', KEYS[4], unpack(ARGV, 2))\n"
	"local f, out = {}, {}\n"
	"for i = 1, #ARGV - 1 do\n"
	"  f[i] = 48 + (a[i] and 1 or 0) + (b[i] and 2 or 0)\n"
	"  out[i] = u[i] and (string.match(u[i], '^[^ ]* (.*)$') or '') or ''\n"
	"end\n"
	"return {0, string.char(unpack(f)), out, redis.call('EXISTS', KEYS[5])}\n";

struct cache_peek_data {
	struct cache_peek p;
	size_t asked;
	uint8_t *hidden;
	char (*got)[CACHE_UIDL_MAX + 1];
	const char **ptrs;
};

static void cache_peek_free(void *data)
{
	struct cache_peek_data *d = data;

	if (d == NULL)
		return;
	free(d->hidden);
	free(d->got);
	free(d->ptrs);
	free(d);
}

static enum cache_status cache_peek_parse(struct cache_req *req, const redisReply *r)
{
	struct cache_peek_data *d = req->data;
	const redisReply *const *e = (const redisReply *const *)r->element;
	size_t n = d->asked;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || e[0]->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (e[0]->integer == 2 && r->elements == 1) {
		cache_req_log(req, CACHE_LOG_INFO, "cache_conflict",
			      "error=\"uidvalidity is not the listing's\"");
		return CACHE_CONFLICT;
	}
	if (e[0]->integer != 0 || r->elements != 4 || e[1]->type != REDIS_REPLY_STRING ||
	    e[1]->len != n || e[2]->type != REDIS_REPLY_ARRAY || e[2]->elements != n ||
	    e[3]->type != REDIS_REPLY_INTEGER)
		return cache_reply_bad(req, "unexpected peek reply");
	for (size_t i = 0; i < n; i++) {
		unsigned char f = (unsigned char)e[1]->str[i] - '0';
		const redisReply *u = e[2]->element[i];

		if (f > (CACHE_HIDDEN_DEVICE | CACHE_HIDDEN_ALL) || u->type != REDIS_REPLY_STRING ||
		    u->len > CACHE_UIDL_MAX)
			return cache_reply_bad(req, "unexpected peek reply");
		d->hidden[i] = f;
		memcpy(d->got[i], u->str, u->len);
		d->got[i][u->len] = '\0';
		d->ptrs[i] = u->len > 0 ? d->got[i] : NULL;
	}
	d->p = (struct cache_peek){ .hidden = d->hidden, .uidls = d->ptrs, .n = n,
				    .legacy = e[3]->integer == 1 };
	return CACHE_OK;
}

static void cache_peek_deliver(struct cache_req *req)
{
	struct cache_peek_data *d = req->data;

	if (req->cb.peek != NULL)
		req->cb.peek(req->ctx, req->status, req->status == CACHE_OK ? &d->p : NULL);
}

static const struct cache_req_type cache_type_peek = {
	.name = "peek", .parse = cache_peek_parse, .deliver = cache_peek_deliver,
	.free_data = cache_peek_free,
};

static bool cache_peek_uids_valid(const uint32_t *uids, size_t n)
{
	if (n == 0 || n > CACHE_PEEK_MAX || uids == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (uids[i] == 0)
			return false;
	}
	return true;
}

struct cache_req *cache_peek(struct cache *c, const char *account, const char *device,
			     uint32_t uidvalidity, const uint32_t *uids, size_t n,
			     cache_peek_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_peek,
					      (union cache_req_cb){ .peek = cb }, ctx);
	char k[5][CACHE_KEY_MAX];
	struct cache_peek_data *d;
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .ok = uidvalidity != 0 && cache_peek_uids_valid(uids, n),
			     .why = "error=\"bad uidvalidity or uids\"", .argc = 9 + n,
			     .nums_size = (n + 1) * CACHE_U32_LEN }, &a))
		return req;
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->hidden = calloc(n, 1)) == NULL ||
	    (d->got = calloc(n, sizeof(*d->got))) == NULL ||
	    (d->ptrs = calloc(n, sizeof(*d->ptrs))) == NULL) {
		cache_peek_free(d);
		cache_args_free(&a);
		cache_req_cancel(&req);
		return NULL;
	}
	d->asked = n;
	req->data = d;
	cache_key(k[0], account, "uidvalidity", NULL);
	cache_key(k[1], account, "hidden:", device);
	cache_key(k[2], account, "hidden_all", NULL);
	cache_key(k[3], account, "uidl", NULL);
	cache_key(k[4], account, "legacy", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_peek);
	cache_arg(&a, "5");
	for (size_t i = 0; i < 5; i++)
		cache_arg(&a, k[i]);
	cache_arg_num(&a, uidvalidity);
	for (size_t i = 0; i < n; i++)
		cache_arg_num(&a, uids[i]);
	cache_args_send(req, &a);
	return req;
}

/* --- a hide's bump --- */

/* {0, before or "", after}. */
static enum cache_status cache_parse_gen_change(struct cache_req *req, const redisReply *r)
{
	const redisReply *const *e = (const redisReply *const *)r->element;
	struct cache_gen_change *g;

	if (r->elements != 3 || e[0]->type != REDIS_REPLY_INTEGER || e[0]->integer != 0)
		return cache_reply_unexpected(req, r);
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return cache_reply_bad(req, "out of memory");
	free(req->data);
	req->data = g;
	if (!cache_gen_value(e[1], &g->before) || !cache_gen_value(e[2], &g->after) ||
	    g->after == 0)
		return cache_reply_bad(req, "unexpected hide reply");
	return CACHE_OK;
}

/* The hide's reply with the generation it bumped; the plain forms (a
   refusal) as cache_parse_hide() reads them. */
static enum cache_status cache_gen_parse_hide(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ARRAY)
		return cache_parse_gen_change(req, r);
	return cache_parse_hide(req, r);
}

static void cache_gen_deliver_hide(struct cache_req *req)
{
	if (req->cb.hide_gen != NULL)
		req->cb.hide_gen(req->ctx, req->status, req->status == CACHE_OK ? req->data : NULL);
}

/* A QUIT relies on it: durable, as cache_type_hide. */
const struct cache_req_type cache_type_hide_gen = {
	.name = "hide", .durable = true, .parse = cache_gen_parse_hide,
	.deliver = cache_gen_deliver_hide, .free_data = free,
};
