/* Retention's three scripts; contracts in cache_retention.h. */

#include "cache_retention.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_gen.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* (devices key, seen key, prefix, self, now, forget_after) -> the
   devices that count, those that stopped counting, and the first other
   counting device whose lock exists. A device's last sight is its last
   QUIT, else its registration. */
#define RETENTION_LUA_DEVICES \
	"local function devices(kd, ks, prefix, self, now, fa)\n" \
	"  local counting, forgotten, busy = {}, {}, nil\n" \
	"  local all = redis.call('HGETALL', kd)\n" \
	"  for i = 1, #all, 2 do\n" \
	"    local d = all[i]\n" \
	"    local last = tonumber(redis.call('HGET', ks, d) or '') or\n" \
	"      tonumber(string.match(all[i + 1], ' (%d+)$') or '') or now\n" \
	"    if d ~= self and fa > 0 and now - last > fa then\n" \
	"      forgotten[#forgotten + 1] = d\n" \
	"    else\n" \
	"      counting[#counting + 1] = d\n" \
	"      if d ~= self and busy == nil and\n" \
	"         redis.call('EXISTS', prefix .. 'lock:' .. d) == 1 then busy = d end\n" \
	"    end\n" \
	"  end\n" \
	"  return counting, forgotten, busy\n" \
	"end\n"

/* KEYS: lock, uidvalidity, devices, retr, intent, hidden, hidden_all,
   seen. ARGV: token, uidvalidity, now, forget_after, max, retr max,
   prefix, self, k, k (device, age) pairs, retrieved uids... Returns
   {1|2, ''}, {3, busy device} or {0, forgotten, skipped, {uids},
   {needs}}: the uids done outright (need 0) first, then those done once
   past the largest age of the devices that have not got them. */
static const char retention_lua_decide[] =
	RETENTION_LUA_DEVICES
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {1, ''} end\n"
	"if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {2, ''} end\n"
	"local now, fa, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"local prefix, self, skipped = ARGV[7], ARGV[8], 0\n"
	"local ages, first = {}, 10 + 2 * tonumber(ARGV[9])\n"
	"for i = 10, first - 1, 2 do ages[ARGV[i]] = tonumber(ARGV[i + 1]) end\n"
	"if #ARGV >= first then\n"
	"  local new = 0\n"
	"  for i = first, #ARGV do new = new + 1 - redis.call('HEXISTS', KEYS[4], ARGV[i]) end\n"
	"  if redis.call('HLEN', KEYS[4]) + new > tonumber(ARGV[6]) then\n"
	"    skipped = 1\n"
	"  else\n"
	"    local kv = {}\n"
	"    for i = first, #ARGV do\n"
	"      kv[#kv + 1] = ARGV[i]; kv[#kv + 1] = ARGV[3]\n"
	"      if #kv >= 1000 then redis.call('HSET', KEYS[4], unpack(kv)); kv = {} end\n"
	"    end\n"
	"    if #kv > 0 then redis.call('HSET', KEYS[4], unpack(kv)) end\n"
	"  end\n"
	"end\n"
	"redis.call('HSET', KEYS[8], self, ARGV[3])\n"
	"local counting, forgotten, busy = devices(KEYS[3], KEYS[8], prefix, self, now, fa)\n"
	"if busy then return {3, busy} end\n"
	"local out, aged, needs, tried = {}, {}, {}, {}\n"
	"local function try(uid)\n"
	"  if tried[uid] then return end\n"
	"  tried[uid] = true\n"
	"  local need = 0\n"
	"  if redis.call('HEXISTS', KEYS[7], uid) == 0 then\n"
	"    for _, d in ipairs(counting) do\n"
	"      if redis.call('HEXISTS', prefix .. 'retr:' .. d, uid) == 0 and\n"
	"         redis.call('HEXISTS', prefix .. 'hidden:' .. d, uid) == 0 then\n"
	"        local a = ages[d] or 0\n"
	"        if a <= 0 then return end\n"
	"        if a > need then need = a end\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  if need == 0 then out[#out + 1] = uid\n"
	"  elseif #aged < max then aged[#aged + 1] = uid; needs[#aged] = need end\n"
	"end\n"
	"for _, k in ipairs({KEYS[5], KEYS[4], KEYS[6], KEYS[7]}) do\n"
	"  if #out >= max then break end\n"
	"  local members\n"
	"  if k == KEYS[5] then members = redis.call('SMEMBERS', k)\n"
	"  else members = redis.call('HKEYS', k) end\n"
	"  for _, u in ipairs(members) do\n"
	"    try(u)\n"
	"    if #out >= max then break end\n"
	"  end\n"
	"end\n"
	"local need = {}\n"
	"for i = 1, #out do need[i] = '0' end\n"
	"for i = 1, math.min(#aged, max - #out) do\n"
	"  out[#out + 1] = aged[i]; need[#need + 1] = tostring(needs[i])\n"
	"end\n"
	"return {0, table.concat(forgotten, ' '), skipped, out, need}\n";

/* KEYS: lock, intent, devices, seen, uidvalidity. ARGV: token,
   uidvalidity, now, forget_after, prefix, self, uids... Returns 0
   written, 1 a lock says no, 2 the uidvalidity moved (a remap renumbered
   the records: the uids are of another numbering). */
static const char retention_lua_intent[] =
	RETENTION_LUA_DEVICES
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 1 end\n"
	"if redis.call('GET', KEYS[5]) ~= ARGV[2] then return 2 end\n"
	"local _, _, busy = devices(KEYS[3], KEYS[4], ARGV[5], ARGV[6],\n"
	"                           tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
	"if busy then return 1 end\n"
	"redis.call('DEL', KEYS[2])\n"
	"for i = 7, #ARGV, 1000 do\n"
	"  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
	"end\n"
	"return 0\n";

/* KEYS: intent, devices, hidden_all, uidvalidity. ARGV: prefix,
   uidvalidity, uids... Returns 0 done, 2 the uidvalidity moved (nothing
   touched: the uids are of another numbering). */
static const char retention_lua_finish[] =
	CACHE_GEN_LUA
	"if redis.call('GET', KEYS[4]) ~= ARGV[2] then return 2 end\n"
	"local devs = redis.call('HKEYS', KEYS[2])\n"
	"for i = 3, #ARGV, 1000 do\n"
	"  local j = math.min(i + 999, #ARGV)\n"
	"  redis.call('SREM', KEYS[1], unpack(ARGV, i, j))\n"
	"  redis.call('HDEL', KEYS[3], unpack(ARGV, i, j))\n"
	"  for _, d in ipairs(devs) do\n"
	"    redis.call('HDEL', ARGV[1] .. 'retr:' .. d, unpack(ARGV, i, j))\n"
	"    redis.call('HDEL', ARGV[1] .. 'hidden:' .. d, unpack(ARGV, i, j))\n"
	"  end\n"
	"end\n"
	"if #ARGV > 2 then gen_bump(ARGV[1] .. 'gen', '" CACHE_GEN_ACCOUNT "') end\n"
	"return 0\n";

struct retention_data {
	struct cache_retention r;
	uint32_t *uids, *need;
	char *forgotten, *busy, *devices;
};

static void retention_data_free(void *p)
{
	struct retention_data *d = p;

	if (d == NULL)
		return;
	free(d->uids);
	free(d->need);
	free(d->forgotten);
	free(d->busy);
	free(d->devices);
	free(d);
}

struct retention_pair {
	uint32_t uid, need;
};

static int retention_pair_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct retention_pair *)a)->uid;
	uint32_t y = ((const struct retention_pair *)b)->uid;

	return x < y ? -1 : x > y;
}

/* The uids and their needs (parallel lists), sorted by uid. */
static enum cache_status retention_parse_uids(struct cache_req *req, const redisReply *arr,
					      const redisReply *needs, struct retention_data *d)
{
	struct retention_pair *pairs;

	if (arr->type != REDIS_REPLY_ARRAY || needs->type != REDIS_REPLY_ARRAY ||
	    needs->elements != arr->elements)
		return cache_reply_bad(req, "retention: no uid list");
	d->uids = calloc(arr->elements + 1, sizeof(*d->uids));
	d->need = calloc(arr->elements + 1, sizeof(*d->need));
	pairs = calloc(arr->elements + 1, sizeof(*pairs));
	if (d->uids == NULL || d->need == NULL || pairs == NULL) {
		free(pairs);
		return cache_reply_bad(req, "out of memory");
	}
	for (size_t i = 0; i < arr->elements; i++) {
		if (!cache_reply_u32(arr->element[i], &pairs[i].uid) || pairs[i].uid == 0 ||
		    !cache_reply_u32(needs->element[i], &pairs[i].need)) {
			free(pairs);
			return cache_reply_bad(req, "retention: a uid that does not parse");
		}
	}
	qsort(pairs, arr->elements, sizeof(*pairs), retention_pair_cmp);
	for (size_t i = 0; i < arr->elements; i++) {
		d->uids[i] = pairs[i].uid;
		d->need[i] = pairs[i].need;
	}
	free(pairs);
	d->r.count = arr->elements;
	d->r.uids = d->uids;
	d->r.need = d->need;
	return CACHE_OK;
}

static enum cache_status retention_parse_decide(struct cache_req *req, const redisReply *r)
{
	struct retention_data *d;
	const redisReply *code, *text;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return cache_reply_unexpected(req, r);
	code = r->element[0];
	text = r->element[1];
	if (code->integer == 2)
		return CACHE_CONFLICT;
	if (code->integer != 0 && code->integer != 1 && code->integer != 3)
		return cache_reply_bad(req, "retention: unknown answer");
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cache_reply_bad(req, "out of memory");
	req->data = d;
	d->forgotten = strdup(code->integer == 0 ? text->str : "");
	d->busy = strdup(code->integer == 3 ? text->str : "");
	if (d->forgotten == NULL || d->busy == NULL)
		return cache_reply_bad(req, "out of memory");
	d->r.forgotten = d->forgotten;
	d->r.busy = d->busy;
	if (code->integer != 0)
		return CACHE_IN_USE;
	if (r->elements != 5 || r->element[2]->type != REDIS_REPLY_INTEGER)
		return cache_reply_bad(req, "retention: short answer");
	if (r->element[2]->integer != 0)
		cache_req_log(req, CACHE_LOG_WARN, "cache_limit",
			      "error=\"retrieved records full, not recorded\" limit=%d",
			      CACHE_HIDDEN_MAX);
	return retention_parse_uids(req, r->element[3], r->element[4], d);
}

static void retention_deliver_decide(struct cache_req *req)
{
	const struct retention_data *d = req->data;
	bool with = d != NULL && (req->status == CACHE_OK || req->status == CACHE_IN_USE);

	if (req->cb.retention != NULL)
		req->cb.retention(req->ctx, req->status, with ? &d->r : NULL);
}

/* 0 written, 1 a lock says no, 2 the uidvalidity moved. */
static enum cache_status retention_parse_intent(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && r->integer <= 2)
		return r->integer == 0 ? CACHE_OK : r->integer == 1 ? CACHE_IN_USE :
			CACHE_CONFLICT;
	return cache_reply_unexpected(req, r);
}

/* 0 done, 2 the uidvalidity moved. */
static enum cache_status retention_parse_finish(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 2))
		return r->integer == 0 ? CACHE_OK : CACHE_CONFLICT;
	return cache_reply_unexpected(req, r);
}

static enum cache_status retention_parse_devices(struct cache_req *req, const redisReply *r)
{
	struct retention_data *d;
	size_t len = 1, at = 0;

	if (r->type != REDIS_REPLY_ARRAY)
		return cache_reply_unexpected(req, r);
	for (size_t i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    !cache_device_name_ok(r->element[i]->str, r->element[i]->len))
			return cache_reply_bad(req, "retention: a device name that does not parse");
		len += r->element[i]->len + 1;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cache_reply_bad(req, "out of memory");
	req->data = d;
	d->devices = malloc(len);
	d->forgotten = strdup("");
	if (d->devices == NULL || d->forgotten == NULL)
		return cache_reply_bad(req, "out of memory");
	for (size_t i = 0; i < r->elements; i++) {
		if (at > 0)
			d->devices[at++] = ' ';
		memcpy(d->devices + at, r->element[i]->str, r->element[i]->len);
		at += r->element[i]->len;
	}
	d->devices[at] = '\0';
	d->r.devices = d->devices;
	d->r.forgotten = d->forgotten;
	d->r.busy = d->forgotten;
	return CACHE_OK;
}

static const struct cache_req_type retention_type_devices = {
	.name = "retention_devices", .parse = retention_parse_devices,
	.deliver = retention_deliver_decide, .free_data = retention_data_free,
};
static const struct cache_req_type retention_type_decide = {
	.name = "retention_decide", .durable = true, .parse = retention_parse_decide,
	.deliver = retention_deliver_decide, .free_data = retention_data_free,
};
static const struct cache_req_type retention_type_intent = {
	.name = "retention_intent", .durable = true, .parse = retention_parse_intent,
	.deliver = cache_deliver_status,
};
static const struct cache_req_type retention_type_finish = {
	.name = "retention_finish", .durable = true, .parse = retention_parse_finish,
	.deliver = cache_deliver_status,
};

static bool retention_uids_valid(const uint32_t *uids, size_t n, size_t max)
{
	if (n > max || (n > 0 && uids == NULL))
		return false;
	for (size_t i = 0; i < n; i++)
		if (uids[i] == 0)
			return false;
	return true;
}

/* What a bad argument logs. */
#define RETENTION_BAD "error=\"bad arguments\""

static bool retention_ages_valid(const struct cache_retention_age *ages, size_t n)
{
	if (n > CACHE_DEVICES_MAX || (n > 0 && ages == NULL))
		return false;
	for (size_t i = 0; i < n; i++)
		if (ages[i].device == NULL || ages[i].max_age_secs == 0 ||
		    !cache_device_name_ok(ages[i].device, strlen(ages[i].device)))
			return false;
	return true;
}

struct cache_req *cache_retention_decide(struct cache *c, const char *account,
					 const char *device, const char *token,
					 uint32_t uidvalidity, uint64_t now,
					 uint64_t forget_after, size_t max,
					 const struct cache_retention_age *ages, size_t n_ages,
					 const uint32_t *retrieved, size_t n,
					 cache_retention_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &retention_type_decide,
					      (union cache_req_cb){ .retention = cb }, ctx);
	char k[8][CACHE_KEY_MAX], prefix[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .token = token, .need_token = true,
			     .ok = uidvalidity != 0 && max >= 1 && max <= CACHE_RETENTION_MAX &&
				   retention_ages_valid(ages, n_ages) &&
				   retention_uids_valid(retrieved, n, CACHE_HIDE_MAX),
			     .why = RETENTION_BAD, .argc = 20 + 2 * n_ages + n,
			     .nums_size = (n + n_ages + 7) * CACHE_U64_LEN }, &a))
		return req;
	cache_key(k[0], account, "lock:", device);
	cache_key(k[1], account, "uidvalidity", NULL);
	cache_key(k[2], account, "devices", NULL);
	cache_key(k[3], account, "retr:", device);
	cache_key(k[4], account, "retention", NULL);
	cache_key(k[5], account, "hidden:", device);
	cache_key(k[6], account, "hidden_all", NULL);
	cache_key(k[7], account, "seen", NULL);
	cache_key(prefix, account, "", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, retention_lua_decide);
	cache_arg(&a, "8");
	for (int i = 0; i < 8; i++)
		cache_arg(&a, k[i]);
	cache_arg(&a, token);
	cache_arg_num(&a, uidvalidity);
	cache_arg_num(&a, now);
	cache_arg_num(&a, forget_after);
	cache_arg_num(&a, max);
	cache_arg_num(&a, CACHE_HIDDEN_MAX);
	cache_arg(&a, prefix);
	cache_arg(&a, device);
	cache_arg_num(&a, n_ages);
	for (size_t i = 0; i < n_ages; i++) {
		cache_arg(&a, ages[i].device);
		cache_arg_num(&a, ages[i].max_age_secs);
	}
	for (size_t i = 0; i < n; i++)
		cache_arg_num(&a, retrieved[i]);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_retention_devices(struct cache *c, const char *account,
					  cache_retention_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &retention_type_devices,
					      (union cache_req_cb){ .retention = cb }, ctx);
	char k[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = account != NULL && cache_account_valid(account),
			     .why = RETENTION_BAD, .argc = 2, .nums_size = 1 }, &a))
		return req;
	cache_key(k, account, "devices", NULL);
	cache_arg(&a, "HKEYS");
	cache_arg(&a, k);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_retention_intent(struct cache *c, const char *account,
					 const char *device, const char *token,
					 uint32_t uidvalidity, uint64_t now,
					 uint64_t forget_after, const uint32_t *uids, size_t n,
					 cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &retention_type_intent,
					      (union cache_req_cb){ .status = cb }, ctx);
	char k[5][CACHE_KEY_MAX], prefix[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .token = token, .need_token = true,
			     .ok = uidvalidity != 0 && n >= 1 &&
				   retention_uids_valid(uids, n, CACHE_RETENTION_MAX),
			     .why = RETENTION_BAD, .argc = 14 + n,
			     .nums_size = (n + 3) * CACHE_U64_LEN }, &a))
		return req;
	cache_key(k[0], account, "lock:", device);
	cache_key(k[1], account, "retention", NULL);
	cache_key(k[2], account, "devices", NULL);
	cache_key(k[3], account, "seen", NULL);
	cache_key(k[4], account, "uidvalidity", NULL);
	cache_key(prefix, account, "", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, retention_lua_intent);
	cache_arg(&a, "5");
	for (int i = 0; i < 5; i++)
		cache_arg(&a, k[i]);
	cache_arg(&a, token);
	cache_arg_num(&a, uidvalidity);
	cache_arg_num(&a, now);
	cache_arg_num(&a, forget_after);
	cache_arg(&a, prefix);
	cache_arg(&a, device);
	for (size_t i = 0; i < n; i++)
		cache_arg_num(&a, uids[i]);
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_retention_finish(struct cache *c, const char *account,
					 uint32_t uidvalidity, const uint32_t *uids, size_t n,
					 cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &retention_type_finish,
					      (union cache_req_cb){ .status = cb }, ctx);
	char k[4][CACHE_KEY_MAX], prefix[CACHE_KEY_MAX];
	struct cache_args a;

	if (!cache_req_begin(&req, &(struct cache_begin){
			     .ok = account != NULL && cache_account_valid(account) &&
				   uidvalidity != 0 && n >= 1 &&
				   retention_uids_valid(uids, n, CACHE_RETENTION_MAX),
			     .why = RETENTION_BAD, .argc = 10 + n,
			     .nums_size = (n + 1) * CACHE_U64_LEN }, &a))
		return req;
	cache_key(k[0], account, "retention", NULL);
	cache_key(k[1], account, "devices", NULL);
	cache_key(k[2], account, "hidden_all", NULL);
	cache_key(k[3], account, "uidvalidity", NULL);
	cache_key(prefix, account, "", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, retention_lua_finish);
	cache_arg(&a, "4");
	for (int i = 0; i < 4; i++)
		cache_arg(&a, k[i]);
	cache_arg(&a, prefix);
	cache_arg_num(&a, uidvalidity);
	for (size_t i = 0; i < n; i++)
		cache_arg_num(&a, uids[i]);
	cache_args_send(req, &a);
	return req;
}
