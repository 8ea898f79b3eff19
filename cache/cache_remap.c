/*
 * cache_remap() (cache.h), streamed: an operation of several requests
 * (cache_op.h), none of them growing with the mailbox beyond a chunk, and
 * still atomic as a whole because only the last one changes state:
 *
 *   begin   checks the stored uidvalidity and reads the devices hash;
 *           each device's new first_uidnext is worked out here, from the
 *           caller's messages
 *   stage   CACHE_REMAP_CHUNK messages each into a staging hash of the
 *           account, remap:<random> (fingerprint -> its new uids), up to
 *           CACHE_OP_WINDOW in flight (appends in any order: the swap
 *           sorts), each checking the uidvalidity
 *   swap    one script: checks the uidvalidity again, and that the
 *           staging hash holds every message; re-keys every hidden hash
 *           from it, writes the device entries worked out at begin (those
 *           that did not change meanwhile), sets the new uidvalidity,
 *           deletes the staging hash
 *
 * A remap that stops half way (timeout, cancel, crash) leaves only the
 * staging hash, which expires.
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
#include <sys/random.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define CACHE_REMAP_CHUNK 2000     /* messages per staging request */
#define CACHE_REMAP_STAGE_TTL "3600"

/* KEYS: uidvalidity, devices. ARGV: old uidvalidity.
   Returns {0, {device, entry, ...}}, or {2} when it is not stored. */
static const char cache_lua_remap_begin[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2} end\n"
	"return {0, redis.call('HGETALL', KEYS[2])}\n";

/* KEYS: uidvalidity, staging hash. ARGV: old uidvalidity, ttl, then uid,
   fingerprint pairs. The field "" (no fingerprint is empty) counts the
   messages staged. Returns 0, or 2 when the uidvalidity moved. */
static const char cache_lua_remap_stage[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 2 end\n"
	"for i = 3, #ARGV, 2 do\n"
	"  local fp, uid = ARGV[i + 1], ARGV[i]\n"
	"  local had = redis.call('HGET', KEYS[2], fp)\n"
	"  redis.call('HSET', KEYS[2], fp, had and (had .. ' ' .. uid) or uid)\n"
	"end\n"
	"redis.call('HINCRBY', KEYS[2], '', (#ARGV - 2) / 2)\n"
	"redis.call('EXPIRE', KEYS[2], ARGV[2])\n"
	"return 0\n";

/*
 * KEYS: uidvalidity, devices, hidden_all, staging hash, uidl. ARGV: key prefix
 * "popgate:{<account>}:", old uidvalidity, new uidvalidity, messages
 * staged, then device, entry seen at begin, new entry triples. Returns 0
 * done, 2 the stored uidvalidity differs, 3 the staging is incomplete.
 *
 * uids(fp) is the ascending list of new uids with fingerprint fp; the k
 * entries of a hash with fp become its first k (cur[fp] walks it); in the
 * UIDL map, in the order of their old uids, so that UIDLs keep the order
 * of the messages. Retention's records (cache_retention.h) hold no
 * fingerprint: each retr:<device> entry and each uid of the intent
 * follows its message by the UIDL map's move (old uid -> new uid,
 * moved[]); one the map does not move is dropped (a device then has not
 * retrieved it, so retention keeps more, never less). The
 * hidden:<device>, retr:<device> and retention names are built here from
 * the devices hash, the way cache_key() builds them. Every key is read, and so type-checked, before
 * the first write: an error never leaves half of it (Redis does not roll
 * back a failing script). HSET goes in chunks because Lua's unpack() is
 * limited to a few thousand values; UNLINK frees big old hashes off the
 * main thread.
 */
static const char cache_lua_remap_swap[] =
	CACHE_GEN_LUA
	"local tmp = KEYS[4]\n"
	"if redis.call('GET', KEYS[1]) ~= ARGV[2] then\n"
	"  redis.call('UNLINK', tmp)\n"
	"  return 2\n"
	"end\n"
	"if (redis.call('HGET', tmp, '') or '0') ~= ARGV[4] then\n"
	"  redis.call('UNLINK', tmp)\n"
	"  return 3\n"
	"end\n"
	"local lists = {}\n"
	"local function uids(fp)\n"
	"  local l = lists[fp]\n"
	"  if l == nil then\n"
	"    l = false\n"
	"    local v = fp ~= '' and redis.call('HGET', tmp, fp)\n"
	"    if v then\n"
	"      l = {}\n"
	"      for u in string.gmatch(v, '%d+') do l[#l + 1] = u end\n"
	"      if #l > 1 then\n"
	"        table.sort(l, function(a, b) return tonumber(a) < tonumber(b) end)\n"
	"      end\n"
	"    end\n"
	"    lists[fp] = l\n"
	"  end\n"
	"  return l\n"
	"end\n"
	"local function remap(key)\n"
	"  local fps, cur, out, k = redis.call('HVALS', key), {}, {}, 0\n"
	"  for j = 1, #fps do\n"
	"    local fp = fps[j]\n"
	"    local l = uids(fp)\n"
	"    local i = (cur[fp] or 0) + 1\n"
	"    if l and i <= #l then\n"
	"      out[k + 1], out[k + 2], k = l[i], fp, k + 2\n"
	"      cur[fp] = i\n"
	"    end\n"
	"  end\n"
	"  return out\n"
	"end\n"
	"local moved = {}\n"
	"local function remap_uidl(key)\n"
	"  local all, items, cur, out, k = redis.call('HGETALL', key), {}, {}, {}, 0\n"
	"  for j = 1, #all, 2 do\n"
	"    local fp = string.match(all[j + 1], '^([^ ]+) ')\n"
	"    items[#items + 1] = {tonumber(all[j]) or 0, fp or '', all[j + 1]}\n"
	"  end\n"
	"  table.sort(items, function(a, b) return a[1] < b[1] end)\n"
	"  for j = 1, #items do\n"
	"    local fp = items[j][2]\n"
	"    local l = fp ~= '-' and uids(fp)\n"
	"    local i = (cur[fp] or 0) + 1\n"
	"    if l and i <= #l then\n"
	"      out[k + 1], out[k + 2], k = l[i], items[j][3], k + 2\n"
	"      cur[fp] = i\n"
	"      moved[tostring(items[j][1])] = l[i]\n"
	"    end\n"
	"  end\n"
	"  return out\n"
	"end\n"
	"local function remap_retr(key)\n"
	"  local all, out = redis.call('HGETALL', key), {}\n"
	"  for j = 1, #all, 2 do\n"
	"    local u = moved[all[j]]\n"
	"    if u then out[#out + 1] = u; out[#out + 1] = all[j + 1] end\n"
	"  end\n"
	"  return out\n"
	"end\n"
	"local keys, sets, devs, now = {KEYS[3]}, {}, {}, {}\n"
	"local d = redis.call('HGETALL', KEYS[2])\n"
	"for i = 1, #d, 2 do\n"
	"  keys[#keys + 1] = ARGV[1] .. 'hidden:' .. d[i]\n"
	"  now[d[i]] = d[i + 1]\n"
	"end\n"
	"for i = 5, #ARGV, 3 do\n"
	"  if now[ARGV[i]] == ARGV[i + 1] then\n"
	"    devs[#devs + 1] = ARGV[i]\n"
	"    devs[#devs + 1] = ARGV[i + 2]\n"
	"  end\n"
	"end\n"
	"for i, key in ipairs(keys) do sets[i] = remap(key) end\n"
	"local uidl = remap_uidl(KEYS[5])\n"
	"local retr, rsets, intent = {}, {}, {}\n"
	"for i = 1, #d, 2 do retr[#retr + 1] = ARGV[1] .. 'retr:' .. d[i] end\n"
	"for i, key in ipairs(retr) do rsets[i] = remap_retr(key) end\n"
	"for _, u in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'retention')) do\n"
	"  if moved[u] then intent[#intent + 1] = moved[u] end\n"
	"end\n"
	"local function hset(key, args)\n"
	"  for i = 1, #args, 1000 do\n"
	"    redis.call('HSET', key, unpack(args, i, math.min(i + 999, #args)))\n"
	"  end\n"
	"end\n"
	"for i, key in ipairs(keys) do\n"
	"  redis.call('UNLINK', key)\n"
	"  hset(key, sets[i])\n"
	"end\n"
	"redis.call('UNLINK', KEYS[5])\n"
	"hset(KEYS[5], uidl)\n"
	"for i, key in ipairs(retr) do\n"
	"  redis.call('UNLINK', key)\n"
	"  hset(key, rsets[i])\n"
	"end\n"
	"redis.call('UNLINK', ARGV[1] .. 'retention')\n"
	"for i = 1, #intent, 1000 do\n"
	"  redis.call('SADD', ARGV[1] .. 'retention', unpack(intent, i, math.min(i + 999, #intent)))\n"
	"end\n"
	"hset(KEYS[2], devs)\n"
	"redis.call('SET', KEYS[1], ARGV[3])\n"
	"redis.call('UNLINK', tmp)\n"
	"gen_bump(ARGV[1] .. 'gen', '" CACHE_GEN_ACCOUNT "')\n"
	"return 0\n";

/* A device entry at begin, and what the swap makes of it. */
struct cache_remap_dev {
	char *name, *entry;        /* as read, binary */
	size_t name_len, entry_len;
	uint64_t seen;
	char next[CACHE_U64_LEN + CACHE_U64_LEN]; /* "<uid> <seen>" */
};

enum cache_remap_phase {
	CACHE_REMAP_BEGIN,
	CACHE_REMAP_STAGE,
	CACHE_REMAP_SWAP,
};

struct cache_remap_job {
	struct cache_op op;        /* first */
	enum cache_remap_phase phase;
	char k_uidv[CACHE_KEY_MAX], k_dev[CACHE_KEY_MAX];
	char k_all[CACHE_KEY_MAX], k_tmp[CACHE_KEY_MAX], k_uidl[CACHE_KEY_MAX];
	char prefix[CACHE_KEY_MAX];
	char old_uidv[CACHE_U32_LEN], new_uidv[CACHE_U32_LEN];
	uint32_t new_uidnext;
	const struct cache_remap_msg *msgs;   /* the caller's */
	size_t n, next;
	struct cache_remap_dev *devs;         /* to change at the swap */
	size_t ndevs;
};

static void cache_remap_next(struct cache_remap_job *job);

static struct cache_remap_job *cache_remap_job_of(struct cache_req *req)
{
	return (struct cache_remap_job *)((struct cache_op_step *)req->ctx)->op;
}

/* --- the device entries --- */

static int cache_remap_dev_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct cache_remap_dev *)a)->seen;
	uint64_t y = ((const struct cache_remap_dev *)b)->seen;

	return x < y ? -1 : x > y;
}

/* Each device's new first_uidnext: the lowest new uid whose internaldate
   is at or after its first_seen, or new_uidnext. The latest internaldate
   so far grows with the index, so one walk serves the devices in order
   of first_seen. */
static void cache_remap_devices(struct cache_remap_job *job)
{
	const struct cache_remap_msg *m = job->msgs;
	uint64_t latest = job->n > 0 ? m[0].internaldate : 0;
	size_t i = 0, d;

	qsort(job->devs, job->ndevs, sizeof(*job->devs), cache_remap_dev_cmp);
	for (d = 0; d < job->ndevs; d++) {
		struct cache_remap_dev *dev = &job->devs[d];

		/* latest: the latest internaldate of m[0..i]. */
		while (i < job->n && latest < dev->seen) {
			i++;
			if (i < job->n && m[i].internaldate > latest)
				latest = m[i].internaldate;
		}
		snprintf(dev->next, sizeof(dev->next), "%u %llu",
			 i < job->n ? m[i].uid : job->new_uidnext,
			 (unsigned long long)dev->seen);
	}
}

static void cache_remap_devs_free(struct cache_remap_job *job)
{
	size_t i;

	for (i = 0; i < job->ndevs; i++) {
		free(job->devs[i].name);
		free(job->devs[i].entry);
	}
	free(job->devs);
	job->devs = NULL;
	job->ndevs = 0;
}

/* The devices whose entry moves: those that parse, first_uidnext > 1. */
static bool cache_remap_keep_devices(struct cache_remap_job *job,
				     const redisReply *d)
{
	size_t i;
	uint32_t next;
	uint64_t seen;

	job->devs = calloc(d->elements / 2 + 1, sizeof(*job->devs));
	if (job->devs == NULL)
		return false;
	for (i = 0; i + 1 < d->elements; i += 2) {
		const redisReply *name = d->element[i], *entry = d->element[i + 1];
		struct cache_remap_dev *dev = &job->devs[job->ndevs];

		if (name->type != REDIS_REPLY_STRING ||
		    entry->type != REDIS_REPLY_STRING)
			return false;
		if (!cache_parse_device(entry->str, entry->len, &next, &seen) ||
		    next <= 1)
			continue;
		dev->name = malloc(name->len + 1);
		dev->entry = malloc(entry->len + 1);
		job->ndevs++;
		if (dev->name == NULL || dev->entry == NULL)
			return false;
		memcpy(dev->name, name->str, name->len);
		memcpy(dev->entry, entry->str, entry->len);
		dev->name_len = name->len;
		dev->entry_len = entry->len;
		dev->seen = seen;
	}
	cache_remap_devices(job);
	return true;
}

/* --- replies --- */

static enum cache_status cache_remap_parse_begin(struct cache_req *req,
						 const redisReply *r)
{
	struct cache_remap_job *job = cache_remap_job_of(req);

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (r->element[0]->integer == 2 && r->elements == 1)
		return CACHE_CONFLICT;
	if (r->element[0]->integer != 0 || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return cache_reply_bad(req, "unexpected remap reply");
	if (!cache_remap_keep_devices(job, r->element[1]))
		return cache_reply_bad(req, "devices hash is corrupt, or out "
				       "of memory");
	return CACHE_OK;
}

static enum cache_status cache_remap_parse_stage(struct cache_req *req,
						 const redisReply *r)
{
	static const enum cache_status st[] = {
		CACHE_OK, CACHE_ERROR, CACHE_CONFLICT,
	};

	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
	    r->integer < 3 && st[r->integer] != CACHE_ERROR)
		return st[r->integer];
	return cache_reply_unexpected(req, r);
}

static enum cache_status cache_remap_parse_swap(struct cache_req *req,
						const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 3) {
		cache_req_log(req, CACHE_LOG_WARN, "cache_unavailable",
			      "error=\"staged remap incomplete (expired?)\"");
		return CACHE_UNAVAILABLE;
	}
	return cache_remap_parse_stage(req, r);
}

static void cache_remap_step_done(struct cache_req *req)
{
	struct cache_remap_job *job =
		(struct cache_remap_job *)cache_op_step_done(req);

	if (!job->op.done)
		cache_remap_next(job);
	cache_op_settle(&job->op, true);
}

static const struct cache_req_type cache_type_remap_begin = {
	.name = "remap", .step = true, .parse = cache_remap_parse_begin,
	.deliver = cache_remap_step_done,
};
static const struct cache_req_type cache_type_remap_stage = {
	.name = "remap_stage", .step = true, .parse = cache_remap_parse_stage,
	.deliver = cache_remap_step_done,
};
static const struct cache_req_type cache_type_remap_swap = {
	.name = "remap_swap", .step = true, .durable = true,
	.parse = cache_remap_parse_swap,
	.deliver = cache_remap_step_done,
};

/* --- requests --- */

static void cache_remap_send_begin(struct cache_remap_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op,
						   &cache_type_remap_begin);
	const char *argv[] = {
		"EVAL", cache_lua_remap_begin, "2", job->k_uidv, job->k_dev,
		job->old_uidv,
	};
	size_t len[6], i;

	if (step == NULL)
		return;
	for (i = 0; i < 6; i++)
		len[i] = strlen(argv[i]);
	cache_req_submit(step->req, 6, argv, len);
}

static void cache_remap_send_stage(struct cache_remap_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op,
						   &cache_type_remap_stage);
	size_t count = job->n - job->next, i;
	struct cache_args a;

	if (step == NULL)
		return;
	if (count > CACHE_REMAP_CHUNK)
		count = CACHE_REMAP_CHUNK;
	if (!cache_args_init(&a, 7 + 2 * count, count * CACHE_U32_LEN)) {
		cache_op_end(&job->op, CACHE_UNAVAILABLE);
		return;
	}
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_remap_stage);
	cache_arg(&a, "2");
	cache_arg(&a, job->k_uidv);
	cache_arg(&a, job->k_tmp);
	cache_arg(&a, job->old_uidv);
	cache_arg(&a, CACHE_REMAP_STAGE_TTL);
	for (i = job->next; i < job->next + count; i++) {
		cache_arg_num(&a, job->msgs[i].uid);
		cache_arg(&a, job->msgs[i].fingerprint);
	}
	job->next += count;
	cache_args_send(step->req, &a);
}

static void cache_remap_send_swap(struct cache_remap_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op,
						   &cache_type_remap_swap);
	struct cache_args a;
	size_t i;

	if (step == NULL)
		return;
	if (!cache_args_init(&a, 12 + 3 * job->ndevs, CACHE_U64_LEN)) {
		cache_op_end(&job->op, CACHE_UNAVAILABLE);
		return;
	}
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_remap_swap);
	cache_arg(&a, "5");
	cache_arg(&a, job->k_uidv);
	cache_arg(&a, job->k_dev);
	cache_arg(&a, job->k_all);
	cache_arg(&a, job->k_tmp);
	cache_arg(&a, job->k_uidl);
	/* The script appends "hidden:<device>": the same names as here. */
	cache_arg(&a, job->prefix);
	cache_arg(&a, job->old_uidv);
	cache_arg(&a, job->new_uidv);
	cache_arg_num(&a, job->n);
	for (i = 0; i < job->ndevs; i++) {
		cache_arg_len(&a, job->devs[i].name, job->devs[i].name_len);
		cache_arg_len(&a, job->devs[i].entry, job->devs[i].entry_len);
		cache_arg(&a, job->devs[i].next);
	}
	cache_args_send(step->req, &a);
}

static void cache_remap_next(struct cache_remap_job *job)
{
	switch (job->phase) {
	case CACHE_REMAP_BEGIN:
		job->phase = CACHE_REMAP_STAGE;
		/* fall through */
	case CACHE_REMAP_STAGE:
		while (!job->op.done && job->op.in_flight < CACHE_OP_WINDOW &&
		       job->next < job->n)
			cache_remap_send_stage(job);
		if (job->op.done || job->op.in_flight > 0)
			return;
		job->phase = CACHE_REMAP_SWAP;
		cache_remap_send_swap(job);
		return;
	case CACHE_REMAP_SWAP:
		job->op.done = true;
		job->op.status = CACHE_OK;
		return;
	}
}

/* --- the caller's request --- */

static void cache_remap_job_free(void *data)
{
	struct cache_remap_job *job = data;

	cache_op_cancel(&job->op);
	cache_remap_devs_free(job);
	free(job);
}

static const struct cache_req_type cache_type_remap = {
	.name = "remap", .deliver = cache_deliver_status,
	.free_data = cache_remap_job_free,
};

static bool cache_remap_args_valid(uint32_t old_uidv, uint32_t new_uidv,
				   uint32_t new_uidnext,
				   const struct cache_remap_msg *msgs,
				   size_t n)
{
	size_t i, len;

	if (old_uidv == 0 || new_uidv == 0 || old_uidv == new_uidv ||
	    new_uidnext == 0 || n > CACHE_VIEW_MAX || (n > 0 && msgs == NULL))
		return false;
	for (i = 0; i < n; i++) {
		if (msgs[i].uid == 0 || msgs[i].fingerprint == NULL ||
		    (i > 0 && msgs[i].uid <= msgs[i - 1].uid))
			return false;
		len = strnlen(msgs[i].fingerprint, CACHE_FINGERPRINT_MAX + 1);
		if (len == 0 || len > CACHE_FINGERPRINT_MAX)
			return false;
	}
	return true;
}

/* "remap:<16 hex digits>": two remaps of one account never share one. */
static void cache_remap_staging_key(char *buf, const char *account)
{
	uint64_t r;
	struct timespec ts;
	char what[40];

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		r = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
			(uint64_t)(uintptr_t)buf;
	}
	snprintf(what, sizeof(what), "remap:%016llx", (unsigned long long)r);
	cache_key(buf, account, what, NULL);
}

struct cache_req *cache_remap(struct cache *c, const char *account,
			      uint32_t old_uidvalidity,
			      uint32_t new_uidvalidity, uint32_t new_uidnext,
			      const struct cache_remap_msg *msgs, size_t n,
			      cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(cache_route(c, account),
					      &cache_type_remap,
					      (union cache_req_cb){
						      .status = cb }, ctx);
	struct cache_remap_job *job;

	if (req == NULL)
		return NULL;
	if (!cache_account_valid(account) ||
	    !cache_remap_args_valid(old_uidvalidity, new_uidvalidity,
				    new_uidnext, msgs, n)) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"bad account, uidvalidity, uidnext, uid "
			      "order or fingerprint, or more than %d "
			      "messages\" messages=%zu", CACHE_VIEW_MAX, n);
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		cache_req_cancel(&req);
		return NULL;
	}
	req->data = job;
	cache_op_init(&job->op, req);
	job->msgs = msgs;
	job->n = n;
	job->new_uidnext = new_uidnext;
	snprintf(job->old_uidv, sizeof(job->old_uidv), "%u", old_uidvalidity);
	snprintf(job->new_uidv, sizeof(job->new_uidv), "%u", new_uidvalidity);
	cache_key(job->k_uidv, account, "uidvalidity", NULL);
	cache_key(job->k_dev, account, "devices", NULL);
	cache_key(job->k_all, account, "hidden_all", NULL);
	cache_key(job->k_uidl, account, "uidl", NULL);
	cache_key(job->prefix, account, "", NULL);
	cache_remap_staging_key(job->k_tmp, account);
	cache_remap_send_begin(job);
	cache_op_settle(&job->op, false);
	return req;
}
