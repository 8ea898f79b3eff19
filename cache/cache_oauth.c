/* The records of enrolled OAuth2 accounts and the refresh lease; see
   cache.h. The records are opaque here: proxy/oauth/ seals their secrets
   before they reach this file. */

#include "cache.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* KEYS: record. ARGV: expected gen, record. Returns the new gen, or
   -(the gen found) - 1 when it is not the expected one. */
static const char cache_lua_oauth_put[] =
	"local g = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')\n"
	"if g ~= tonumber(ARGV[1]) then return -g - 1 end\n"
	"redis.call('HSET', KEYS[1], 'gen', g + 1, 'record', ARGV[2])\n"
	"return g + 1\n";

/* KEYS: lease. ARGV: token. */
static const char cache_lua_oauth_release[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n";

struct cache_oauth_result {
	uint64_t gen;
	char *record;
	size_t len;
	char **accounts;
	size_t n;
};

static void cache_oauth_result_free(void *data)
{
	struct cache_oauth_result *r = data;

	if (r == NULL)
		return;
	if (r->record != NULL) {
		explicit_bzero(r->record, r->len);
		free(r->record);
	}
	for (size_t i = 0; i < r->n; i++)
		free(r->accounts[i]);
	free(r->accounts);
	free(r);
}

static struct cache_oauth_result *cache_oauth_result(struct cache_req *req)
{
	if (req->data == NULL)
		req->data = calloc(1, sizeof(struct cache_oauth_result));
	return req->data;
}

static enum cache_status cache_parse_oauth_get(struct cache_req *req, const redisReply *r)
{
	struct cache_oauth_result *res;
	uint64_t gen;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return cache_reply_unexpected(req, r);
	if ((res = cache_oauth_result(req)) == NULL)
		return CACHE_UNAVAILABLE;
	if (r->element[0]->type == REDIS_REPLY_NIL && r->element[1]->type == REDIS_REPLY_NIL)
		return CACHE_OK;
	if (r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    !cache_parse_u64(r->element[0]->str, r->element[0]->len, UINT64_MAX / 2, &gen) ||
	    gen == 0 || r->element[1]->len == 0 || r->element[1]->len > CACHE_OAUTH_RECORD_MAX)
		return cache_reply_bad(req, "bad oauth record");
	res->record = malloc(r->element[1]->len + 1);
	if (res->record == NULL)
		return CACHE_UNAVAILABLE;
	memcpy(res->record, r->element[1]->str, r->element[1]->len);
	res->record[r->element[1]->len] = '\0';
	res->len = r->element[1]->len;
	res->gen = gen;
	return CACHE_OK;
}

static void cache_deliver_oauth_get(struct cache_req *req)
{
	struct cache_oauth_result *res = req->data;

	req->cb.oauth(req->ctx, req->status, res != NULL ? res->gen : 0,
		      res != NULL ? res->record : NULL, res != NULL ? res->len : 0);
}

static enum cache_status cache_parse_oauth_put(struct cache_req *req, const redisReply *r)
{
	struct cache_oauth_result *res;

	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if ((res = cache_oauth_result(req)) == NULL)
		return CACHE_UNAVAILABLE;
	if (r->integer > 0) {
		res->gen = (uint64_t)r->integer;
		return CACHE_OK;
	}
	res->gen = (uint64_t)(-(r->integer + 1));
	return CACHE_CONFLICT;
}

static void cache_deliver_gen(struct cache_req *req)
{
	struct cache_oauth_result *res = req->data;

	req->cb.gen(req->ctx, req->status, res != NULL ? res->gen : 0);
}

static enum cache_status cache_parse_oauth_delete(struct cache_req *req, const redisReply *r)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	return r->integer > 0 ? CACHE_OK : CACHE_CONFLICT;
}

static enum cache_status cache_parse_oauth_lease(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		return CACHE_OK;
	if (r->type == REDIS_REPLY_NIL)
		return CACHE_IN_USE;
	return cache_reply_unexpected(req, r);
}

static enum cache_status cache_parse_oauth_release(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return cache_reply_error(req, r);
	return CACHE_OK;
}

static void cache_deliver_nothing(struct cache_req *req)
{
	(void)req;
}

/* "popgate:{<account>}:oauth" -> a copy of <account>; NULL otherwise. */
static char *cache_oauth_key_account(const char *key, size_t len)
{
	static const char prefix[] = "popgate:{", suffix[] = "}:oauth";
	size_t pl = sizeof(prefix) - 1, sl = sizeof(suffix) - 1;

	if (len <= pl + sl || memcmp(key, prefix, pl) != 0 ||
	    memcmp(key + len - sl, suffix, sl) != 0)
		return NULL;
	return strndup(key + pl, len - pl - sl);
}

static enum cache_status cache_parse_oauth_scan(struct cache_req *req, const redisReply *r)
{
	struct cache_oauth_result *res;
	const redisReply *keys;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return cache_reply_unexpected(req, r);
	if ((res = cache_oauth_result(req)) == NULL)
		return CACHE_UNAVAILABLE;
	if (!cache_parse_u64(r->element[0]->str, r->element[0]->len, UINT64_MAX, &res->gen))
		return cache_reply_bad(req, "bad SCAN cursor");
	keys = r->element[1];
	res->accounts = calloc(keys->elements + 1, sizeof(char *));
	if (res->accounts == NULL)
		return CACHE_UNAVAILABLE;
	for (size_t i = 0; i < keys->elements; i++) {
		char *a;

		if (keys->element[i]->type != REDIS_REPLY_STRING)
			continue;
		a = cache_oauth_key_account(keys->element[i]->str, keys->element[i]->len);
		if (a != NULL)
			res->accounts[res->n++] = a;
	}
	return CACHE_OK;
}

static void cache_deliver_oauth_scan(struct cache_req *req)
{
	struct cache_oauth_result *res = req->data;

	req->cb.scan(req->ctx, req->status, res != NULL ? res->gen : 0,
		     res != NULL ? (const char *const *)res->accounts : NULL,
		     res != NULL ? res->n : 0);
}

static const struct cache_req_type cache_type_oauth_get = {
	.name = "oauth_get", .parse = cache_parse_oauth_get, .deliver = cache_deliver_oauth_get,
	.free_data = cache_oauth_result_free,
};
/* A rotated refresh token must survive a failover: the old one is dead. */
static const struct cache_req_type cache_type_oauth_put = {
	.name = "oauth_put", .durable = true, .parse = cache_parse_oauth_put,
	.deliver = cache_deliver_gen, .free_data = cache_oauth_result_free,
};
static const struct cache_req_type cache_type_oauth_delete = {
	.name = "oauth_delete", .durable = true, .parse = cache_parse_oauth_delete,
	.deliver = cache_deliver_status,
};
static const struct cache_req_type cache_type_oauth_lease = {
	.name = "oauth_lease", .parse = cache_parse_oauth_lease, .deliver = cache_deliver_status,
};
static const struct cache_req_type cache_type_oauth_release = {
	.name = "oauth_release", .parse = cache_parse_oauth_release,
	.deliver = cache_deliver_nothing,
};
static const struct cache_req_type cache_type_oauth_scan = {
	.name = "oauth_scan", .parse = cache_parse_oauth_scan, .deliver = cache_deliver_oauth_scan,
	.free_data = cache_oauth_result_free,
};

/* A request on account, or one already completed with CACHE_ERROR when
   the account is not valid; NULL when out of memory. */
static struct cache_req *cache_oauth_req(struct cache *c, const struct cache_req_type *type,
					 union cache_req_cb cb, void *ctx, const char *account,
					 bool *ok_r)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), type, cb, ctx);

	*ok_r = false;
	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account)) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"bad account\"");
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	*ok_r = true;
	return req;
}

struct cache_req *cache_oauth_get(struct cache *c, const char *account,
				  cache_oauth_cb *cb, void *ctx)
{
	char key[CACHE_KEY_MAX];
	bool ok;
	struct cache_req *req = cache_oauth_req(c, &cache_type_oauth_get,
						(union cache_req_cb){ .oauth = cb }, ctx,
						account, &ok);
	const char *argv[4] = { "HMGET", key, "gen", "record" };
	size_t len[4] = { 5, 0, 3, 6 };

	if (!ok)
		return req;
	cache_key(key, account, "oauth", NULL);
	len[1] = strlen(key);
	cache_req_submit(req, 4, argv, len);
	return req;
}

struct cache_req *cache_oauth_put(struct cache *c, const char *account, uint64_t expect_gen,
				  const char *record, size_t record_len, cache_gen_cb *cb,
				  void *ctx)
{
	char key[CACHE_KEY_MAX], gen[CACHE_U64_LEN];
	bool ok;
	struct cache_req *req = cache_oauth_req(c, &cache_type_oauth_put,
						(union cache_req_cb){ .gen = cb }, ctx,
						account, &ok);
	const char *argv[6] = { "EVAL", cache_lua_oauth_put, "1", key, gen, record };
	size_t len[6] = { 4, sizeof(cache_lua_oauth_put) - 1, 1, 0, 0, record_len };

	if (!ok)
		return req;
	if (record == NULL || record_len == 0 || record_len > CACHE_OAUTH_RECORD_MAX ||
	    expect_gen > UINT64_MAX / 2) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"bad oauth record\"");
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	cache_key(key, account, "oauth", NULL);
	len[3] = strlen(key);
	len[4] = (size_t)snprintf(gen, sizeof(gen), "%llu", (unsigned long long)expect_gen);
	cache_req_submit(req, 6, argv, len);
	return req;
}

struct cache_req *cache_oauth_delete(struct cache *c, const char *account,
				     cache_status_cb *cb, void *ctx)
{
	char key[CACHE_KEY_MAX], lease[CACHE_KEY_MAX];
	bool ok;
	struct cache_req *req = cache_oauth_req(c, &cache_type_oauth_delete,
						(union cache_req_cb){ .status = cb }, ctx,
						account, &ok);
	const char *argv[3] = { "DEL", key, lease };
	size_t len[3] = { 3, 0, 0 };

	if (!ok)
		return req;
	cache_key(key, account, "oauth", NULL);
	cache_key(lease, account, "oauth_lease", NULL);
	len[1] = strlen(key);
	len[2] = strlen(lease);
	cache_req_submit(req, 3, argv, len);
	return req;
}

struct cache_req *cache_oauth_lease(struct cache *c, const char *account, const char *token,
				    unsigned int ttl_ms, cache_status_cb *cb, void *ctx)
{
	char key[CACHE_KEY_MAX], ttl[CACHE_U32_LEN];
	bool ok;
	struct cache_req *req = cache_oauth_req(c, &cache_type_oauth_lease,
						(union cache_req_cb){ .status = cb }, ctx,
						account, &ok);
	const char *argv[6] = { "SET", key, token, "NX", "PX", ttl };
	size_t len[6] = { 3, 0, 0, 2, 2, 0 };

	if (!ok)
		return req;
	if (!cache_args_valid(req, account, "default", token, true) || ttl_ms == 0 ||
	    ttl_ms > 600000) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	cache_key(key, account, "oauth_lease", NULL);
	len[1] = strlen(key);
	len[2] = strlen(token);
	len[5] = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
	cache_req_submit(req, 6, argv, len);
	return req;
}

void cache_oauth_release(struct cache *c, const char *account, const char *token)
{
	char key[CACHE_KEY_MAX];
	bool ok;
	struct cache_req *req = cache_oauth_req(c, &cache_type_oauth_release,
						(union cache_req_cb){ .status = NULL }, NULL,
						account, &ok);
	const char *argv[5] = { "EVAL", cache_lua_oauth_release, "1", key, token };
	size_t len[5] = { 4, sizeof(cache_lua_oauth_release) - 1, 1, 0, 0 };

	if (!ok)
		return;
	if (!cache_args_valid(req, account, "default", token, true)) {
		cache_req_complete(req, CACHE_ERROR);
		return;
	}
	cache_key(key, account, "oauth_lease", NULL);
	len[3] = strlen(key);
	len[4] = strlen(token);
	cache_req_submit(req, 5, argv, len);
}

struct cache_req *cache_oauth_scan(struct cache *c, uint64_t cursor, cache_oauth_scan_cb *cb,
				   void *ctx)
{
	/* One node's keys: with Redis Cluster, each master is scanned on
	   its own (not done here: listing is administration). */
	struct cache_req *req = cache_req_new(cache_route(c, ""), &cache_type_oauth_scan,
					      (union cache_req_cb){ .scan = cb }, ctx);
	char num[CACHE_U64_LEN];
	const char *argv[6] = { "SCAN", num, "MATCH", "popgate:{*}:oauth", "COUNT", "1000" };
	size_t len[6] = { 4, 0, 5, 17, 5, 4 };

	if (req == NULL)
		return NULL;
	len[1] = (size_t)snprintf(num, sizeof(num), "%llu", (unsigned long long)cursor);
	cache_req_submit(req, 6, argv, len);
	return req;
}
