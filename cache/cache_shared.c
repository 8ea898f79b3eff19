/* The shared copy of a listing; contracts in cache_shared.h. */

#include "cache_shared.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cache_args.h"
#include "cache_conn.h"
#include "cache_private.h"
#include "cache_reply.h"

struct shared_data {
	size_t len;
	bool found;
	uint8_t bytes[];
};

static enum cache_status shared_parse_get(struct cache_req *req, const redisReply *r)
{
	struct shared_data *d;

	if (r->type == REDIS_REPLY_NIL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return cache_reply_bad(req, "out of memory");
		req->data = d;
		return CACHE_OK;
	}
	if (r->type != REDIS_REPLY_STRING)
		return cache_reply_unexpected(req, r);
	if (r->len > CACHE_SHARED_MAX)
		return cache_reply_bad(req, "listing copy too large");
	if ((d = malloc(sizeof(*d) + r->len)) == NULL)
		return cache_reply_bad(req, "out of memory");
	d->len = r->len;
	d->found = true;
	memcpy(d->bytes, r->str, r->len);
	req->data = d;
	return CACHE_OK;
}

static void shared_deliver_get(struct cache_req *req)
{
	const struct shared_data *d = req->data;
	bool found = req->status == CACHE_OK && d != NULL && d->found;

	req->cb.blob(req->ctx, req->status, found ? d->bytes : NULL, found ? d->len : 0);
}

static enum cache_status shared_parse_put(struct cache_req *req, const redisReply *r)
{
	if (r->type != REDIS_REPLY_STATUS)
		return cache_reply_unexpected(req, r);
	return CACHE_OK;
}

static const struct cache_req_type shared_type_get = {
	.name = "listing_get", .parse = shared_parse_get, .deliver = shared_deliver_get,
	.free_data = free,
};
static const struct cache_req_type shared_type_put = {
	.name = "listing_put", .parse = shared_parse_put, .deliver = cache_deliver_status,
};

/* The copy's key into key (CACHE_KEY_MAX); false for bad arguments. */
static bool shared_key(char *key, const char *account, const char *id)
{
	if (account == NULL || !cache_account_valid(account) || id == NULL ||
	    strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
		return false;
	cache_key(key, account, "listing:", id);
	return true;
}

#define SHARED_BAD "error=\"bad arguments\""

struct cache_req *cache_shared_listing_get(struct cache *c, const char *account,
					   const char *id, cache_blob_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account != NULL ? account : ""),
					      &shared_type_get,
					      (union cache_req_cb){ .blob = cb }, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = shared_key(key, account, id), .why = SHARED_BAD,
			     .argc = 2 }, &a))
		return req;
	cache_arg(&a, "GET");
	cache_arg(&a, key);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_shared_listing_put(struct cache *c, const char *account,
					   const char *id, const uint8_t *data, size_t len,
					   cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account != NULL ? account : ""),
					      &shared_type_put,
					      (union cache_req_cb){ .status = cb }, ctx);
	char key[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = shared_key(key, account, id) && data != NULL && len > 0 &&
				   len <= CACHE_SHARED_MAX,
			     .why = SHARED_BAD, .argc = 5, .nums_size = CACHE_U64_LEN }, &a))
		return req;
	cache_arg(&a, "SET");
	cache_arg(&a, key);
	cache_arg_len(&a, (const char *)data, len);
	cache_arg(&a, "PX");
	cache_arg_num(&a, CACHE_SHARED_TTL_MS);
	cache_args_send(req, &a);
	return req;
}
