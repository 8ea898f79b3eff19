/*
 * The UIDL map (cache.h: cache_uidl_load(), cache_uidl_assign()), an
 * operation of several requests each (cache_op.h):
 *
 *   load     the stored UIDLs of CACHE_UIDL_CHUNK listed uids per request,
 *            up to CACHE_OP_WINDOW in flight, each checking the
 *            uidvalidity; the first one also gives the map's size
 *   prune    when the map holds more entries than the listed uids found
 *            in it (and enough of them, as for the hidden hashes): HSCAN
 *            through it and delete what is below uidnext and not listed
 *   assign   CACHE_UIDL_CHUNK new entries per request, each one script
 *            that checks the uidvalidity and sets only entries still
 *            missing (HSETNX), answering what another session stored first
 */

#include "cache_private.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_gen.h"
#include "cache_op.h"
#include "cache_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#define CACHE_UIDL_CHUNK 2000
#define CACHE_UIDL_SCAN "2000"
#define CACHE_UIDL_PRUNE_SMALL 10000
#define CACHE_UIDL_PRUNE_SHARE 16

/* KEYS: uidvalidity, uidl, legacy. ARGV: uidvalidity, "1" for the first
   chunk, then uids. Returns {0, {uidl or "", ...}, HLEN or -1, EXISTS
   legacy}, or {2} when the stored uidvalidity is not the one given. A
   value is "<fp> <uidl>". */
static const char cache_lua_uidl_load[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end\n"
	"local out = {}\n"
	"if #ARGV > 2 then\n"
	"  local v = redis.call('HMGET', KEYS[2], unpack(ARGV, 3))\n"
	"  for i = 1, #ARGV - 2 do\n"
	"    out[i] = v[i] and (string.match(v[i], '^[^ ]* (.*)$') or '') or ''\n"
	"  end\n"
	"end\n"
	"return {0, out, ARGV[2] == '1' and redis.call('HLEN', KEYS[2]) or -1,\n"
	"        redis.call('EXISTS', KEYS[3])}\n";

/* KEYS: legacy. ARGV: message-id, size pairs. Returns {0, {uidl or "",
   ...}}: of the imported entries with that Message-ID ("<size> <uidl>"
   each, space-separated), the first of that size, else the only one. */
static const char cache_lua_uidl_legacy[] =
	"local out = {}\n"
	"for i = 1, #ARGV, 2 do\n"
	"  local v = ARGV[i] ~= '' and redis.call('HGET', KEYS[1], ARGV[i])\n"
	"  local pick, n, only = '', 0, ''\n"
	"  if v then\n"
	"    for size, uidl in string.gmatch(v, '(%d+) (%S+)') do\n"
	"      n, only = n + 1, uidl\n"
	"      if pick == '' and size == ARGV[i + 1] then pick = uidl end\n"
	"    end\n"
	"  end\n"
	"  if pick == '' and n == 1 then pick = only end\n"
	"  out[#out + 1] = pick\n"
	"end\n"
	"return {0, out}\n";

/* KEYS: legacy, gen. ARGV: message-id, size, uidl triples. Replaces the
   whole import at once (the account's generation bumped). Returns the
   number of Message-IDs. */
static const char cache_lua_uidl_import[] =
	CACHE_GEN_LUA
	"redis.call('DEL', KEYS[1])\n"
	"local g, n = {}, 0\n"
	"for i = 1, #ARGV, 3 do\n"
	"  local k = ARGV[i]\n"
	"  if not g[k] then n = n + 1 end\n"
	"  g[k] = (g[k] and (g[k] .. ' ') or '') .. ARGV[i + 1] .. ' ' .. ARGV[i + 2]\n"
	"end\n"
	"for k, v in pairs(g) do redis.call('HSET', KEYS[1], k, v) end\n"
	"gen_bump(KEYS[2], '" CACHE_GEN_ACCOUNT "')\n"
	"return n\n";

/* KEYS: uidl. ARGV: HSCAN cursor, COUNT. {next cursor, uid, uid, ...}. */
static const char cache_lua_uidl_scan[] =
	"local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])\n"
	"local out, batch = {r[1]}, r[2]\n"
	"for i = 1, #batch, 2 do out[#out + 1] = batch[i] end\n"
	"return out\n";

/* KEYS: uidvalidity, uidl. ARGV: uidvalidity, uids. Deleted, or -1. */
static const char cache_lua_uidl_prune[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
	"return redis.call('HDEL', KEYS[2], unpack(ARGV, 2))\n";

/* KEYS: uidvalidity, uidl. ARGV: uidvalidity, map limit, then uid,
   fingerprint, uidl triples. Returns {0, {"" set now, or the uidl stored
   before, ...}}, {2} uidvalidity differs, {3} the map would pass the
   limit (nothing written). */
static const char cache_lua_uidl_assign[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end\n"
	"if redis.call('HLEN', KEYS[2]) + (#ARGV - 2) / 3 > tonumber(ARGV[2]) then\n"
	"  return {3}\n"
	"end\n"
	"local out = {}\n"
	"for i = 3, #ARGV, 3 do\n"
	"  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1] .. ' ' .. ARGV[i + 2]) == 1 then\n"
	"    out[#out + 1] = ''\n"
	"  else\n"
	"    local had = redis.call('HGET', KEYS[2], ARGV[i])\n"
	"    out[#out + 1] = string.match(had, '^[^ ]* (.*)$') or ''\n"
	"  end\n"
	"end\n"
	"return {0, out}\n";

enum cache_uidl_phase {
	CACHE_UIDL_LOAD,
	CACHE_UIDL_PRUNE,
	CACHE_UIDL_ASSIGN,
	CACHE_UIDL_LEGACY,
};

struct cache_uidl_job {
	struct cache_op op;        /* first */
	enum cache_uidl_phase phase;
	char k_uidv[CACHE_KEY_MAX], k_map[CACHE_KEY_MAX], k_legacy[CACHE_KEY_MAX];
	char uidv[CACHE_U32_LEN];
	uint32_t uidnext;
	const uint32_t *uids;      /* load: the caller's */
	const struct cache_uidl_new *entries;  /* assign: the caller's */
	const struct cache_uidl_query *queries; /* legacy: the caller's */
	size_t n, next;
	/* What came, per uid/entry: 1 + where its UIDL starts in pool, or 0
	   (none); the UIDLs at their own length, each NUL-terminated. */
	uint32_t *at;
	char *pool;
	size_t pool_len, pool_cap;
	const char **ptrs;
	long long len;
	size_t found;
	char cursor[CACHE_U64_LEN];
	bool scan_done, sent_first;
	uint32_t *dead;
	size_t dead_n, dead_sent, dead_cap;
	struct cache_uidls result;
};

static void cache_uidl_next(struct cache_uidl_job *job);

static struct cache_uidl_job *cache_uidl_job_of(struct cache_req *req)
{
	return (struct cache_uidl_job *)((struct cache_op_step *)req->ctx)->op;
}

/* --- replies --- */

/* Room in the pool for len more octets. */
static bool cache_uidl_pool_room(struct cache_uidl_job *job, size_t len)
{
	size_t cap = job->pool_cap;
	char *pool;

	if (job->pool_len + len <= cap)
		return true;
	while (cap < job->pool_len + len)
		cap = cap < 4096 ? 4096 : cap * 2;
	if (cap > UINT32_MAX || (pool = realloc(job->pool, cap)) == NULL)
		return false;
	job->pool = pool;
	job->pool_cap = cap;
	return true;
}

/* The strings of a step's answer, for [from..from+count). */
static bool cache_uidl_strings(struct cache_op_step *step, const redisReply *r)
{
	struct cache_uidl_job *job = (struct cache_uidl_job *)step->op;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != step->count)
		return false;
	for (i = 0; i < step->count; i++) {
		const redisReply *s = r->element[i];

		if (s->type != REDIS_REPLY_STRING || s->len > CACHE_UIDL_MAX)
			return false;
		job->at[step->from + i] = 0;
		if (s->len == 0)
			continue;
		if (!cache_uidl_pool_room(job, s->len + 1))
			return false;
		memcpy(job->pool + job->pool_len, s->str, s->len);
		job->pool[job->pool_len + s->len] = '\0';
		job->at[step->from + i] = (uint32_t)job->pool_len + 1;
		job->pool_len += s->len + 1;
		job->found++;
	}
	return true;
}

static enum cache_status cache_uidl_parse_chunk(struct cache_req *req, const redisReply *r)
{
	struct cache_op_step *step = req->ctx;
	struct cache_uidl_job *job = (struct cache_uidl_job *)step->op;
	const redisReply *const *e = (const redisReply *const *)r->element;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || e[0]->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (e[0]->integer == 2 && r->elements == 1) {
		cache_req_log(req, CACHE_LOG_INFO, "cache_conflict",
			      "error=\"uidvalidity is not the listing's\"");
		return CACHE_CONFLICT;
	}
	if (e[0]->integer == 3 && r->elements == 1) {
		cache_req_log(req, CACHE_LOG_WARN, "cache_limit",
			      "error=\"the UIDL map would pass its limit\" limit=%d",
			      CACHE_UIDL_MAP_MAX);
		return CACHE_LIMIT;
	}
	if (e[0]->integer != 0 || r->elements < 2 || !cache_uidl_strings(step, e[1]))
		return cache_reply_bad(req, "unexpected uidl reply");
	if (job->phase == CACHE_UIDL_LOAD) {
		if (r->elements != 4 || e[2]->type != REDIS_REPLY_INTEGER ||
		    e[3]->type != REDIS_REPLY_INTEGER)
			return cache_reply_bad(req, "unexpected uidl reply");
		if (e[2]->integer >= 0) {
			job->len = e[2]->integer;
			job->result.legacy = e[3]->integer == 1;
		}
	}
	return CACHE_OK;
}

static bool cache_uidl_listed(const struct cache_uidl_job *job, uint32_t uid)
{
	size_t lo = 0, hi = job->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (job->uids[mid] == uid)
			return true;
		if (job->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static enum cache_status cache_uidl_parse_scan(struct cache_req *req, const redisReply *r)
{
	struct cache_uidl_job *job = cache_uidl_job_of(req);
	const redisReply *cur;
	uint64_t v;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return cache_reply_unexpected(req, r);
	cur = r->element[0];
	if (cur->type != REDIS_REPLY_STRING || cur->len >= CACHE_U64_LEN)
		return cache_reply_bad(req, "unexpected scan reply");
	if (r->elements - 1 > job->dead_cap) {
		uint32_t *dead = realloc(job->dead, (r->elements - 1) * sizeof(*dead));

		if (dead == NULL)
			return cache_reply_bad(req, "out of memory");
		job->dead = dead;
		job->dead_cap = r->elements - 1;
	}
	job->dead_n = job->dead_sent = 0;
	for (i = 1; i < r->elements; i++) {
		const redisReply *f = r->element[i];

		if (f->type != REDIS_REPLY_STRING ||
		    !cache_parse_u64(f->str, f->len, UINT32_MAX, &v) || v == 0)
			return cache_reply_bad(req, "uidl map is corrupt");
		if (v < job->uidnext && !cache_uidl_listed(job, (uint32_t)v))
			job->dead[job->dead_n++] = (uint32_t)v;
	}
	memcpy(job->cursor, cur->str, cur->len);
	job->cursor[cur->len] = '\0';
	job->scan_done = strcmp(job->cursor, "0") == 0;
	return CACHE_OK;
}

static enum cache_status cache_uidl_parse_prune(struct cache_req *req, const redisReply *r)
{
	struct cache_uidl_job *job = cache_uidl_job_of(req);

	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (r->integer < 0)
		return CACHE_CONFLICT;
	job->result.pruned += (size_t)r->integer;
	return CACHE_OK;
}

static void cache_uidl_step_done(struct cache_req *req)
{
	struct cache_uidl_job *job = (struct cache_uidl_job *)cache_op_step_done(req);

	if (!job->op.done)
		cache_uidl_next(job);
	cache_op_settle(&job->op, true);
}

static const struct cache_req_type cache_type_uidl_chunk = {
	.name = "uidl", .step = true, .parse = cache_uidl_parse_chunk,
	.deliver = cache_uidl_step_done,
};
/* A UIDL once shown must survive a failover: with replicas, it waits. */
static const struct cache_req_type cache_type_uidl_assign = {
	.name = "uidl_assign", .step = true, .durable = true, .parse = cache_uidl_parse_chunk,
	.deliver = cache_uidl_step_done,
};
static const struct cache_req_type cache_type_uidl_scan = {
	.name = "uidl_scan", .step = true, .parse = cache_uidl_parse_scan,
	.deliver = cache_uidl_step_done,
};
static const struct cache_req_type cache_type_uidl_prune = {
	.name = "uidl_prune", .step = true, .parse = cache_uidl_parse_prune,
	.deliver = cache_uidl_step_done,
};

/* --- requests --- */

static void cache_uidl_send_chunk(struct cache_uidl_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op, job->phase == CACHE_UIDL_ASSIGN ?
						   &cache_type_uidl_assign : &cache_type_uidl_chunk);
	bool load = job->phase == CACHE_UIDL_LOAD, first = !job->sent_first;
	bool legacy = job->phase == CACHE_UIDL_LEGACY;
	size_t count = job->n - job->next, i;
	struct cache_args a;

	if (step == NULL)
		return;
	if (count > CACHE_UIDL_CHUNK)
		count = CACHE_UIDL_CHUNK;
	step->from = job->next;
	step->count = count;
	job->sent_first = true;
	if (!cache_args_init(&a, 9 + 3 * count, (count + 2) * CACHE_U64_LEN)) {
		cache_op_end(&job->op, CACHE_UNAVAILABLE);
		return;
	}
	cache_arg(&a, "EVAL");
	if (legacy) {
		cache_arg(&a, cache_lua_uidl_legacy);
		cache_arg(&a, "1");
		cache_arg(&a, job->k_legacy);
		for (i = job->next; i < job->next + count; i++) {
			cache_arg(&a, job->queries[i].message_id);
			cache_arg_num(&a, job->queries[i].size);
		}
		job->next += count;
		cache_args_send(step->req, &a);
		return;
	}
	cache_arg(&a, load ? cache_lua_uidl_load : cache_lua_uidl_assign);
	cache_arg(&a, load ? "3" : "2");
	cache_arg(&a, job->k_uidv);
	cache_arg(&a, job->k_map);
	if (load)
		cache_arg(&a, job->k_legacy);
	cache_arg(&a, job->uidv);
	if (load)
		cache_arg(&a, first ? "1" : "0");
	else
		cache_arg_num(&a, CACHE_UIDL_MAP_MAX);
	for (i = job->next; i < job->next + count; i++) {
		if (load) {
			cache_arg_num(&a, job->uids[i]);
			continue;
		}
		cache_arg_num(&a, job->entries[i].uid);
		cache_arg(&a, job->entries[i].fingerprint[0] != '\0' ?
			  job->entries[i].fingerprint : "-");
		cache_arg(&a, job->entries[i].uidl);
	}
	job->next += count;
	cache_args_send(step->req, &a);
}

static void cache_uidl_send_scan(struct cache_uidl_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op, &cache_type_uidl_scan);
	const char *argv[] = {
		"EVAL", cache_lua_uidl_scan, "1", job->k_map, job->cursor, CACHE_UIDL_SCAN,
	};
	size_t len[6], i;

	if (step == NULL)
		return;
	for (i = 0; i < 6; i++)
		len[i] = strlen(argv[i]);
	cache_req_submit(step->req, 6, argv, len);
}

static void cache_uidl_send_prune(struct cache_uidl_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op, &cache_type_uidl_prune);
	size_t count = job->dead_n - job->dead_sent, i;
	struct cache_args a;

	if (step == NULL)
		return;
	if (count > CACHE_UIDL_CHUNK)
		count = CACHE_UIDL_CHUNK;
	if (!cache_args_init(&a, 6 + count, count * CACHE_U32_LEN)) {
		cache_op_end(&job->op, CACHE_UNAVAILABLE);
		return;
	}
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_uidl_prune);
	cache_arg(&a, "2");
	cache_arg(&a, job->k_uidv);
	cache_arg(&a, job->k_map);
	cache_arg(&a, job->uidv);
	for (i = 0; i < count; i++)
		cache_arg_num(&a, job->dead[job->dead_sent + i]);
	job->dead_sent += count;
	cache_args_send(step->req, &a);
}

static void cache_uidl_finish(struct cache_uidl_job *job)
{
	char *pool;
	size_t i;

	/* The pool grows no more: pointers into it hold. */
	if (job->pool_len > 0 && job->pool_len < job->pool_cap &&
	    (pool = realloc(job->pool, job->pool_len)) != NULL) {
		job->pool = pool;
		job->pool_cap = job->pool_len;
	}
	for (i = 0; i < job->n; i++)
		job->ptrs[i] = job->at[i] != 0 ? job->pool + job->at[i] - 1 : NULL;
	job->result.uidls = job->ptrs;
	job->result.count = job->n;
	job->result.found = job->found;
	job->op.done = true;
	job->op.status = CACHE_OK;
}

static bool cache_uidl_prune_due(const struct cache_uidl_job *job)
{
	long long dead = job->len - (long long)job->found;

	return dead > 0 && (job->len <= CACHE_UIDL_PRUNE_SMALL ||
			    dead >= job->len / CACHE_UIDL_PRUNE_SHARE);
}

static void cache_uidl_next(struct cache_uidl_job *job)
{
	if (job->phase != CACHE_UIDL_PRUNE) {
		/* A load sends one chunk even for an empty listing: it reads
		   the map's size, for the prune. */
		while (!job->op.done && job->op.in_flight < CACHE_OP_WINDOW &&
		       (job->next < job->n || (job->phase == CACHE_UIDL_LOAD && !job->sent_first)))
			cache_uidl_send_chunk(job);
		if (job->op.done || job->op.in_flight > 0)
			return;
		if (job->phase != CACHE_UIDL_LOAD || !cache_uidl_prune_due(job)) {
			cache_uidl_finish(job);
			return;
		}
		job->phase = CACHE_UIDL_PRUNE;
	}
	if (job->op.in_flight > 0)
		return;
	if (job->dead_sent < job->dead_n)
		cache_uidl_send_prune(job);
	else if (!job->scan_done)
		cache_uidl_send_scan(job);
	else
		cache_uidl_finish(job);
}

/* --- the caller's request --- */

static void cache_uidl_job_free(void *data)
{
	struct cache_uidl_job *job = data;

	cache_op_cancel(&job->op);
	free(job->at);
	free(job->pool);
	free(job->ptrs);
	free(job->dead);
	free(job);
}

static void cache_uidl_deliver(struct cache_req *req)
{
	struct cache_uidl_job *job = req->data;

	if (req->cb.uidls != NULL)
		req->cb.uidls(req->ctx, req->status, req->status == CACHE_OK ? &job->result : NULL);
}

static const struct cache_req_type cache_type_uidl = {
	.name = "uidl", .deliver = cache_uidl_deliver, .free_data = cache_uidl_job_free,
};

bool cache_uidl_valid(const char *uidl)
{
	size_t i;

	for (i = 0; uidl[i] != '\0'; i++) {
		if (i >= CACHE_UIDL_MAX || uidl[i] < 0x21 || uidl[i] > 0x7e)
			return false;
	}
	return i > 0;
}

bool cache_uidl_entries_valid(const struct cache_uidl_new *e, size_t n)
{
	if (n > 0 && e == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *fp = e[i].fingerprint;

		if (e[i].uid == 0 || (i > 0 && e[i].uid <= e[i - 1].uid) || fp == NULL ||
		    strnlen(fp, CACHE_FINGERPRINT_MAX + 1) > CACHE_FINGERPRINT_MAX ||
		    strchr(fp, ' ') != NULL || e[i].uidl == NULL || !cache_uidl_valid(e[i].uidl))
			return false;
	}
	return true;
}

static struct cache_uidl_job *cache_uidl_job_new(struct cache_req *req, const char *account,
						 uint32_t uidvalidity, size_t n)
{
	struct cache_uidl_job *job = calloc(1, sizeof(*job));

	if (job == NULL || (job->at = calloc(n + 1, sizeof(*job->at))) == NULL ||
	    (job->ptrs = calloc(n + 1, sizeof(*job->ptrs))) == NULL) {
		if (job != NULL)
			free(job->at);
		free(job);
		return NULL;
	}
	req->data = job;
	cache_op_init(&job->op, req);
	job->n = n;
	snprintf(job->uidv, sizeof(job->uidv), "%u", uidvalidity);
	strcpy(job->cursor, "0");
	cache_key(job->k_uidv, account, "uidvalidity", NULL);
	cache_key(job->k_map, account, "uidl", NULL);
	cache_key(job->k_legacy, account, "legacy", NULL);
	return job;
}

static struct cache_req *cache_uidl_begin(struct cache_req *req, struct cache_uidl_job *job)
{
	if (job == NULL) {
		cache_req_cancel(&req);
		return NULL;
	}
	cache_uidl_next(job);
	cache_op_settle(&job->op, false);
	return req;
}

static struct cache_req *cache_uidl_refuse(struct cache_req *req, const char *why, size_t n)
{
	cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"%s\" entries=%zu", why, n);
	cache_req_complete(req, CACHE_ERROR);
	return req;
}

struct cache_req *cache_uidl_load(struct cache *c, const char *account,
				  const struct cache_listing *listing, cache_uidls_cb *cb,
				  void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_uidl,
					      (union cache_req_cb){ .uidls = cb }, ctx);
	struct cache_uidl_job *job;

	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account) || listing->uidvalidity == 0 ||
	    listing->uidnext == 0 || listing->n > CACHE_VIEW_MAX ||
	    !cache_uids_ascending(listing->uids, listing->n) ||
	    (listing->n > 0 && listing->uids[listing->n - 1] >= listing->uidnext))
		return cache_uidl_refuse(req, "bad account or listing", listing->n);
	job = cache_uidl_job_new(req, account, listing->uidvalidity, listing->n);
	if (job != NULL) {
		job->uids = listing->uids;
		job->uidnext = listing->uidnext;
	}
	return cache_uidl_begin(req, job);
}

struct cache_req *cache_uidl_assign(struct cache *c, const char *account, uint32_t uidvalidity,
				    const struct cache_uidl_new *entries, size_t n,
				    cache_uidls_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_uidl,
					      (union cache_req_cb){ .uidls = cb }, ctx);
	struct cache_uidl_job *job;

	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account) || uidvalidity == 0 || n > CACHE_VIEW_MAX ||
	    (n > 0 && entries == NULL))
		return cache_uidl_refuse(req, "bad account, uidvalidity or count", n);
	if (!cache_uidl_entries_valid(entries, n))
		return cache_uidl_refuse(req, "bad entry (ascending uids, fingerprint "
					 "without space, uidl of 1..70 of 0x21..0x7e)", n);
	job = cache_uidl_job_new(req, account, uidvalidity, n);
	if (job != NULL) {
		job->phase = CACHE_UIDL_ASSIGN;
		job->entries = entries;
	}
	return cache_uidl_begin(req, job);
}

struct cache_req *cache_uidl_legacy(struct cache *c, const char *account,
				    const struct cache_uidl_query *queries, size_t n,
				    cache_uidls_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_uidl,
					      (union cache_req_cb){ .uidls = cb }, ctx);
	struct cache_uidl_job *job;
	size_t i;

	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account) || n > CACHE_VIEW_MAX || (n > 0 && queries == NULL))
		return cache_uidl_refuse(req, "bad account or count", n);
	for (i = 0; i < n; i++) {
		if (queries[i].message_id == NULL ||
		    strlen(queries[i].message_id) > CACHE_MESSAGE_ID_MAX)
			return cache_uidl_refuse(req, "bad Message-ID", n);
	}
	job = cache_uidl_job_new(req, account, 1, n);
	if (job != NULL) {
		job->phase = CACHE_UIDL_LEGACY;
		job->queries = queries;
	}
	return cache_uidl_begin(req, job);
}

/* --- the import, one request --- */

static enum cache_status cache_uidl_parse_import(struct cache_req *req, const redisReply *r)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	return CACHE_OK;
}

static const struct cache_req_type cache_type_uidl_import = {
	.name = "uidl_import", .durable = true, .parse = cache_uidl_parse_import,
	.deliver = cache_deliver_status,
};

struct cache_req *cache_uidl_import(struct cache *c, const char *account,
				    const struct cache_uidl_legacy_entry *e, size_t n,
				    cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_uidl_import,
					      (union cache_req_cb){ .status = cb }, ctx);
	char key[CACHE_KEY_MAX], k_gen[CACHE_KEY_MAX];
	struct cache_args a;
	size_t i;

	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account) || n == 0 || n > CACHE_VIEW_MAX || e == NULL)
		return cache_uidl_refuse(req, "bad account or count", n);
	for (i = 0; i < n; i++) {
		if (e[i].message_id == NULL || e[i].message_id[0] == '\0' ||
		    strlen(e[i].message_id) > CACHE_MESSAGE_ID_MAX || e[i].uidl == NULL ||
		    !cache_uidl_valid(e[i].uidl))
			return cache_uidl_refuse(req, "bad entry (Message-ID, uidl)", n);
	}
	if (!cache_args_init(&a, 5 + 3 * n, n * CACHE_U64_LEN)) {
		cache_req_cancel(&req);
		return NULL;
	}
	cache_key(key, account, "legacy", NULL);
	cache_key(k_gen, account, "gen", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_uidl_import);
	cache_arg(&a, "2");
	cache_arg(&a, key);
	cache_arg(&a, k_gen);
	for (i = 0; i < n; i++) {
		cache_arg(&a, e[i].message_id);
		cache_arg_num(&a, e[i].size);
		cache_arg(&a, e[i].uidl);
	}
	cache_args_send(req, &a);
	return req;
}

/* --- the whole map, for popgate uidl show --- */

/* KEYS: uidvalidity, uidl, legacy, legacy_done. {stored or "", HGETALL
   uidl, HGETALL legacy, the lazy import's mark or ""}. */
static const char cache_lua_uidl_dump[] =
	"return {redis.call('GET', KEYS[1]) or '', redis.call('HGETALL', KEYS[2]),\n"
	"        redis.call('HGETALL', KEYS[3]), redis.call('GET', KEYS[4]) or ''}\n";

struct cache_uidl_dump_data {
	struct cache_uidl_dump d;
	const char **strs;
};

static bool cache_uidl_dump_strings(const redisReply *r, const char **out)
{
	for (size_t i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			return false;
		out[i] = r->element[i]->str;
	}
	return true;
}

static void cache_uidl_dump_free(void *data)
{
	struct cache_uidl_dump_data *dd = data;

	if (dd != NULL)
		free(dd->strs);
	free(dd);
}

/* The strings stay in the reply, which lives until delivery: they are
   copied into one block here. */
static enum cache_status cache_uidl_parse_dump(struct cache_req *req, const redisReply *r)
{
	struct cache_uidl_dump_data *dd;
	const redisReply *const *e = (const redisReply *const *)r->element;
	size_t total = 0, n, o = 0;
	char *block;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 || e[0]->type != REDIS_REPLY_STRING ||
	    e[1]->type != REDIS_REPLY_ARRAY || e[2]->type != REDIS_REPLY_ARRAY ||
	    e[3]->type != REDIS_REPLY_STRING)
		return cache_reply_unexpected(req, r);
	n = e[1]->elements + e[2]->elements;
	for (size_t k = 1; k < 3; k++) {
		for (size_t i = 0; i < e[k]->elements; i++)
			total += e[k]->element[i]->len + 1;
	}
	dd = calloc(1, sizeof(*dd));
	if (dd == NULL || (dd->strs = calloc(n + 1, sizeof(char *) + 1)) == NULL ||
	    (block = malloc(total + 1)) == NULL) {
		cache_uidl_dump_free(dd);
		return cache_reply_bad(req, "out of memory");
	}
	if (!cache_uidl_dump_strings(e[1], dd->strs) ||
	    !cache_uidl_dump_strings(e[2], dd->strs + e[1]->elements)) {
		free(block);
		cache_uidl_dump_free(dd);
		return cache_reply_bad(req, "unexpected dump reply");
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(dd->strs[i]) + 1;

		memcpy(block + o, dd->strs[i], len);
		dd->strs[i] = block + o;
		o += len;
	}
	/* The block is freed with the first string (strs[0] or none). */
	if (n == 0)
		free(block);
	(void)cache_reply_u32(e[0], &dd->d.uidvalidity);
	dd->d.map = dd->strs;
	dd->d.map_n = e[1]->elements / 2;
	dd->d.legacy = dd->strs + e[1]->elements;
	dd->d.legacy_n = e[2]->elements / 2;
	snprintf(dd->d.legacy_done, sizeof(dd->d.legacy_done), "%.*s", (int)e[3]->len, e[3]->str);
	req->data = dd;
	return CACHE_OK;
}

static void cache_uidl_dump_free_all(void *data)
{
	struct cache_uidl_dump_data *dd = data;

	if (dd != NULL && dd->strs != NULL && (dd->d.map_n + dd->d.legacy_n) > 0)
		free((void *)dd->strs[0]);
	cache_uidl_dump_free(dd);
}

static void cache_uidl_deliver_dump(struct cache_req *req)
{
	struct cache_uidl_dump_data *dd = req->data;

	req->cb.dump(req->ctx, req->status, req->status == CACHE_OK ? &dd->d : NULL);
}

static const struct cache_req_type cache_type_uidl_dump = {
	.name = "uidl_dump", .parse = cache_uidl_parse_dump,
	.deliver = cache_uidl_deliver_dump, .free_data = cache_uidl_dump_free_all,
};

struct cache_req *cache_uidl_dump(struct cache *c, const char *account, cache_uidl_dump_cb *cb,
				  void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account), &cache_type_uidl_dump,
					      (union cache_req_cb){ .dump = cb }, ctx);
	char k[4][CACHE_KEY_MAX];
	const char *argv[7];
	size_t len[7];

	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account))
		return cache_uidl_refuse(req, "bad account", 0);
	cache_key(k[0], account, "uidvalidity", NULL);
	cache_key(k[1], account, "uidl", NULL);
	cache_key(k[2], account, "legacy", NULL);
	cache_key(k[3], account, "legacy_done", NULL);
	argv[0] = "EVAL";
	argv[1] = cache_lua_uidl_dump;
	argv[2] = "4";
	argv[3] = k[0];
	argv[4] = k[1];
	argv[5] = k[2];
	argv[6] = k[3];
	for (size_t i = 0; i < 7; i++)
		len[i] = strlen(argv[i]);
	cache_req_submit(req, 7, argv, len);
	return req;
}
