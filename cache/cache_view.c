/*
 * cache_load_view() (cache.h): the device's view of a listing, asked for
 * the listed UIDs only, and the pruning of hides whose message is gone.
 * An operation of several requests (cache_conn.h), each a step:
 *
 *   first    one script: registers the device, stores the uidvalidity if
 *            none, returns the stored one and the device entry; when it
 *            is the one given, also the flags of the first chunk of uids
 *            and the sizes of both hidden hashes
 *   chunks   the flags of the next CACHE_VIEW_CHUNK uids each, up to
 *            CACHE_OP_WINDOW in flight (each writes only its own slice,
 *            so their order does not matter)
 *   prune    for a hash holding more entries than the listed uids found
 *            in it (see CACHE_PRUNE_SHARE): HSCAN through it, and delete
 *            what is below uidnext and not listed, in a script that
 *            checks the uidvalidity
 *
 * The first chunk goes alone: on an account seen for the first time it
 * stores the uidvalidity that the chunks after it check.
 */

#include "cache_private.h"
#include "cache_args.h"
#include "cache_conn.h"
#include "cache_op.h"
#include "cache_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define CACHE_VIEW_CHUNK 4000      /* uids per request (Lua's unpack()
				      takes up to ~8000 values) */
#define CACHE_VIEW_SCAN "2000"     /* HSCAN COUNT */
/* A hash this small is scanned for any dead entry; a bigger one once a
   sixteenth of it is dead (each scan then pays for itself). */
#define CACHE_PRUNE_SMALL 10000
#define CACHE_PRUNE_SHARE 16

/*
 * KEYS: uidvalidity, devices, hidden:<device>, hidden_all.
 * ARGV: device, uidvalidity, first_uidnext, now, "1" for the first chunk,
 * CACHE_DEVICES_MAX, then the uids.
 * First chunk: {0, stored or "0", 1 if registered now, entry, flags,
 * HLEN hidden, HLEN hidden_all}; {1, stored, new, entry} when the stored
 * uidvalidity differs; {3} when the device would pass the limit. Later
 * chunks: {0, flags}, or {2} when the uidvalidity is not the one given.
 * flags: a string, one byte per uid, '0' + the enum cache_hidden bits.
 */
static const char cache_lua_view[] =
	"local stored = redis.call('GET', KEYS[1])\n"
	"local function get(key)\n"
	"  if redis.call('EXISTS', key) == 0 then return {} end\n"
	"  return redis.call('HMGET', key, unpack(ARGV, 7))\n"
	"end\n"
	"local function flags()\n"
	"  if #ARGV < 7 then return '' end\n"
	"  local a, b, out = get(KEYS[3]), get(KEYS[4]), {}\n"
	"  for i = 1, #ARGV - 6 do\n"
	"    out[i] = 48 + (a[i] and 1 or 0) + (b[i] and 2 or 0)\n"
	"  end\n"
	"  return string.char(unpack(out))\n"
	"end\n"
	"if ARGV[5] ~= '1' then\n"
	"  if stored ~= ARGV[2] then return {2} end\n"
	"  return {0, flags()}\n"
	"end\n"
	"local new, entry = 0, redis.call('HGET', KEYS[2], ARGV[1])\n"
	"if not entry then\n"
	"  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then\n"
	"    return {3}\n"
	"  end\n"
	"  entry = ARGV[3] .. ' ' .. ARGV[4]\n"
	"  redis.call('HSET', KEYS[2], ARGV[1], entry)\n"
	"  new = 1\n"
	"end\n"
	"if not stored then\n"
	"  redis.call('SET', KEYS[1], ARGV[2])\n"
	"  stored = '0'\n"
	"elseif stored ~= ARGV[2] then\n"
	"  return {1, stored, new, entry}\n"
	"end\n"
	"return {0, stored, new, entry, flags(), redis.call('HLEN', KEYS[3]),\n"
	"        redis.call('HLEN', KEYS[4])}\n";

/* KEYS: a hidden hash. ARGV: HSCAN cursor, COUNT.
   Returns {next cursor, uid, uid, ...}: the fingerprints stay in Redis. */
static const char cache_lua_scan[] =
	"local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])\n"
	"local out, batch = {r[1]}, r[2]\n"
	"for i = 1, #batch, 2 do out[#out + 1] = batch[i] end\n"
	"return out\n";

/* KEYS: uidvalidity, a hidden hash. ARGV: uidvalidity, uids.
   Returns how many were deleted, or -1 when the uidvalidity differs. */
static const char cache_lua_prune[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
	"return redis.call('HDEL', KEYS[2], unpack(ARGV, 2))\n";

enum cache_view_phase {
	CACHE_VIEW_FIRST,
	CACHE_VIEW_CHUNKS,
	CACHE_VIEW_PRUNE,
};

/* The data of the caller's request. */
struct cache_view_job {
	struct cache_op op;        /* first */
	enum cache_view_phase phase;
	char k_uidv[CACHE_KEY_MAX], k_dev[CACHE_KEY_MAX];
	char k_hidden[2][CACHE_KEY_MAX];   /* hidden:<device>, hidden_all */
	char device[CACHE_DEVICE_MAX + 1];
	char uidv[CACHE_U32_LEN];
	uint32_t uidvalidity, uidnext, first_uidnext;
	uint64_t now;
	const uint32_t *uids;      /* the caller's */
	size_t n, next;            /* next: the first uid not asked for */
	uint8_t *flags;
	long long len[2];          /* HLEN of both hashes, at the first chunk */
	size_t found[2];           /* listed uids found in them */
	/* Pruning hash which (2: done): its HSCAN cursor, and the dead uids
	   of the last batch, of which dead_sent are being deleted. */
	unsigned int which;
	char cursor[CACHE_U64_LEN];
	bool scan_done;
	uint32_t *dead;
	size_t dead_n, dead_sent, dead_cap;
	struct cache_view view;
};

static void cache_view_next(struct cache_view_job *job);

/* --- replies --- */

static struct cache_view_job *cache_view_job_of(struct cache_req *req)
{
	return (struct cache_view_job *)((struct cache_op_step *)req->ctx)->op;
}

/* '0'..'3' per uid of the step: into the job's flags, counted. */
static bool cache_view_flags(struct cache_op_step *step,
			     const redisReply *r)
{
	struct cache_view_job *job = (struct cache_view_job *)step->op;
	size_t i;

	if (r->type != REDIS_REPLY_STRING || r->len != step->count)
		return false;
	for (i = 0; i < step->count; i++) {
		unsigned char f = (unsigned char)r->str[i] - '0';

		if (f > (CACHE_HIDDEN_DEVICE | CACHE_HIDDEN_ALL))
			return false;
		job->flags[step->from + i] = f;
		job->found[0] += (f & CACHE_HIDDEN_DEVICE) != 0;
		job->found[1] += (f & CACHE_HIDDEN_ALL) != 0;
	}
	return true;
}

static enum cache_status cache_view_parse_first(struct cache_req *req,
						const redisReply *r)
{
	struct cache_op_step *step = req->ctx;
	struct cache_view_job *job = (struct cache_view_job *)step->op;
	struct cache_view *v = &job->view;
	const redisReply *const *e = (const redisReply *const *)r->element;
	long long code;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    e[0]->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	code = e[0]->integer;
	if (code == 3) {
		cache_req_log(req, CACHE_LOG_WARN, "cache_limit",
			      "error=\"the account has %d devices already\" "
			      "device=%s limit=%d", CACHE_DEVICES_MAX,
			      job->device, CACHE_DEVICES_MAX);
		return CACHE_LIMIT;
	}
	if ((code != 0 || r->elements != 7) && (code != 1 || r->elements != 4))
		return cache_reply_bad(req, "unexpected view reply");
	if (e[2]->type != REDIS_REPLY_INTEGER)
		return cache_reply_bad(req, "unexpected view reply");
	if (!cache_reply_u32(e[1], &v->uidvalidity))
		return cache_reply_bad(req, "stored uidvalidity is corrupt");
	v->new_device = e[2]->integer == 1;
	if (e[3]->type != REDIS_REPLY_STRING ||
	    !cache_parse_device(e[3]->str, e[3]->len, &v->first_uidnext,
				&v->first_seen))
		return cache_reply_bad(req, "device entry is corrupt");
	if (code == 1) {
		/* Another mailbox's numbering: nothing to look up. */
		job->next = job->n;
		return CACHE_OK;
	}
	if (e[5]->type != REDIS_REPLY_INTEGER ||
	    e[6]->type != REDIS_REPLY_INTEGER || !cache_view_flags(step, e[4]))
		return cache_reply_bad(req, "unexpected view reply");
	job->len[0] = e[5]->integer;
	job->len[1] = e[6]->integer;
	return CACHE_OK;
}

static enum cache_status cache_view_parse_chunk(struct cache_req *req,
						const redisReply *r)
{
	struct cache_op_step *step = req->ctx;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (r->element[0]->integer == 2 && r->elements == 1) {
		cache_req_log(req, CACHE_LOG_INFO, "cache_conflict",
			      "error=\"uidvalidity changed while loading\"");
		return CACHE_CONFLICT;
	}
	if (r->element[0]->integer != 0 || r->elements != 2 ||
	    !cache_view_flags(step, r->element[1]))
		return cache_reply_bad(req, "unexpected view reply");
	return CACHE_OK;
}

static bool cache_view_listed(const struct cache_view_job *job, uint32_t uid)
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

/* [cursor, uid, uid, ...]: the dead uids of the batch. */
static enum cache_status cache_view_parse_scan(struct cache_req *req,
					       const redisReply *r)
{
	struct cache_view_job *job = cache_view_job_of(req);
	const redisReply *cur;
	uint64_t v;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return cache_reply_unexpected(req, r);
	cur = r->element[0];
	if (cur->type != REDIS_REPLY_STRING || cur->len >= CACHE_U64_LEN)
		return cache_reply_bad(req, "unexpected scan reply");
	if (r->elements - 1 > job->dead_cap) {
		uint32_t *dead = realloc(job->dead, (r->elements - 1) *
					 sizeof(*dead));

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
			return cache_reply_bad(req, "hidden set is corrupt");
		if (v < job->uidnext && !cache_view_listed(job, (uint32_t)v))
			job->dead[job->dead_n++] = (uint32_t)v;
	}
	memcpy(job->cursor, cur->str, cur->len);
	job->cursor[cur->len] = '\0';
	job->scan_done = strcmp(job->cursor, "0") == 0;
	return CACHE_OK;
}

static enum cache_status cache_view_parse_prune(struct cache_req *req,
						const redisReply *r)
{
	struct cache_view_job *job = cache_view_job_of(req);

	if (r->type != REDIS_REPLY_INTEGER)
		return cache_reply_unexpected(req, r);
	if (r->integer < 0) {
		cache_req_log(req, CACHE_LOG_INFO, "cache_conflict",
			      "error=\"uidvalidity changed while pruning\"");
		return CACHE_CONFLICT;
	}
	job->view.pruned += (size_t)r->integer;
	return CACHE_OK;
}

/* Every step's delivery: on to the next one. */
static void cache_view_step_done(struct cache_req *req)
{
	struct cache_view_job *job =
		(struct cache_view_job *)cache_op_step_done(req);

	if (!job->op.done) {
		if (job->phase == CACHE_VIEW_FIRST)
			job->phase = CACHE_VIEW_CHUNKS;
		cache_view_next(job);
	}
	cache_op_settle(&job->op, true);
}

static const struct cache_req_type cache_type_view_first = {
	.name = "load_view", .step = true, .parse = cache_view_parse_first,
	.deliver = cache_view_step_done,
};
static const struct cache_req_type cache_type_view_chunk = {
	.name = "load_view", .step = true, .parse = cache_view_parse_chunk,
	.deliver = cache_view_step_done,
};
static const struct cache_req_type cache_type_view_scan = {
	.name = "load_view_scan", .step = true, .parse = cache_view_parse_scan,
	.deliver = cache_view_step_done,
};
static const struct cache_req_type cache_type_view_prune = {
	.name = "load_view_prune", .step = true,
	.parse = cache_view_parse_prune, .deliver = cache_view_step_done,
};

/* --- requests --- */

static void cache_view_send_chunk(struct cache_view_job *job)
{
	bool first = job->phase == CACHE_VIEW_FIRST;
	struct cache_op_step *step = cache_op_step(&job->op, first ?
		&cache_type_view_first : &cache_type_view_chunk);
	size_t count = job->n - job->next, i;
	struct cache_args a;

	if (step == NULL)
		return;
	if (count > CACHE_VIEW_CHUNK)
		count = CACHE_VIEW_CHUNK;
	step->from = job->next;
	step->count = count;
	job->next += count;
	if (!cache_args_init(&a, 13 + count, (count + 3) * CACHE_U64_LEN)) {
		cache_op_end(&job->op, CACHE_UNAVAILABLE);
		return;
	}
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_view);
	cache_arg(&a, "4");
	cache_arg(&a, job->k_uidv);
	cache_arg(&a, job->k_dev);
	cache_arg(&a, job->k_hidden[0]);
	cache_arg(&a, job->k_hidden[1]);
	cache_arg(&a, job->device);
	cache_arg(&a, job->uidv);
	cache_arg_num(&a, job->first_uidnext);
	cache_arg_num(&a, job->now);
	cache_arg(&a, first ? "1" : "0");
	cache_arg_num(&a, CACHE_DEVICES_MAX);
	for (i = 0; i < count; i++)
		cache_arg_num(&a, job->uids[step->from + i]);
	cache_args_send(step->req, &a);
}

static void cache_view_send_scan(struct cache_view_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op,
						       &cache_type_view_scan);
	const char *argv[] = {
		"EVAL", cache_lua_scan, "1", job->k_hidden[job->which],
		job->cursor, CACHE_VIEW_SCAN,
	};
	size_t len[6], i;

	if (step == NULL)
		return;
	for (i = 0; i < 6; i++)
		len[i] = strlen(argv[i]);
	cache_req_submit(step->req, 6, argv, len);
}

static void cache_view_send_prune(struct cache_view_job *job)
{
	struct cache_op_step *step = cache_op_step(&job->op,
						       &cache_type_view_prune);
	size_t count = job->dead_n - job->dead_sent, i;
	struct cache_args a;

	if (step == NULL)
		return;
	if (count > CACHE_VIEW_CHUNK)
		count = CACHE_VIEW_CHUNK;
	if (!cache_args_init(&a, 6 + count, count * CACHE_U32_LEN)) {
		cache_op_end(&job->op, CACHE_UNAVAILABLE);
		return;
	}
	cache_arg(&a, "EVAL");
	cache_arg(&a, cache_lua_prune);
	cache_arg(&a, "2");
	cache_arg(&a, job->k_uidv);
	cache_arg(&a, job->k_hidden[job->which]);
	cache_arg(&a, job->uidv);
	for (i = 0; i < count; i++)
		cache_arg_num(&a, job->dead[job->dead_sent + i]);
	job->dead_sent += count;
	cache_args_send(step->req, &a);
}

static void cache_view_finish(struct cache_view_job *job)
{
	struct cache_view *v = &job->view;
	size_t i;

	v->count = job->n;
	if (v->uidvalidity == 0 || v->uidvalidity == job->uidvalidity) {
		v->hidden = job->flags;
		for (i = 0; i < job->n; i++) {
			v->hidden_count += (job->flags[i] &
					    CACHE_HIDDEN_DEVICE) != 0;
			v->hidden_all_count += (job->flags[i] &
						CACHE_HIDDEN_ALL) != 0;
		}
	}
	job->op.done = true;
	job->op.status = CACHE_OK;
}

/* Whether hash which has dead entries worth a scan. */
static bool cache_view_prune_due(const struct cache_view_job *job,
				 unsigned int which)
{
	long long len = job->len[which];
	long long dead = len - (long long)job->found[which];

	return dead > 0 && (len <= CACHE_PRUNE_SMALL ||
			    dead >= len / CACHE_PRUNE_SHARE);
}

/* The prune's next step: the deletes of what the last scan found, the
   next scan of the hash, or the next hash. */
static void cache_view_prune(struct cache_view_job *job)
{
	while (job->which < 2) {
		if (job->dead_sent < job->dead_n) {
			cache_view_send_prune(job);
			return;
		}
		if (cache_view_prune_due(job, job->which) && !job->scan_done) {
			cache_view_send_scan(job);
			return;
		}
		job->which++;
		job->scan_done = false;
		strcpy(job->cursor, "0");
	}
	cache_view_finish(job);
}

static void cache_view_next(struct cache_view_job *job)
{
	if (job->phase == CACHE_VIEW_CHUNKS) {
		while (!job->op.done && job->op.in_flight < CACHE_OP_WINDOW &&
		       job->next < job->n)
			cache_view_send_chunk(job);
		if (job->op.done || job->op.in_flight > 0)
			return;
		job->phase = CACHE_VIEW_PRUNE;
		/* Another mailbox's numbering: its hides are the remap's. */
		if (job->view.uidvalidity != 0 &&
			job->view.uidvalidity != job->uidvalidity)
			job->which = 2;
	}
	if (job->phase == CACHE_VIEW_PRUNE && job->op.in_flight == 0)
		cache_view_prune(job);
}

/* --- the caller's request --- */

static void cache_view_job_free(void *data)
{
	struct cache_view_job *job = data;

	cache_op_cancel(&job->op);
	free(job->flags);
	free(job->dead);
	free(job);
}

static void cache_view_deliver(struct cache_req *req)
{
	struct cache_view_job *job = req->data;

	if (req->cb.view != NULL)
		req->cb.view(req->ctx, req->status, req->status == CACHE_OK ?
			     &job->view : NULL);
}

static const struct cache_req_type cache_type_view = {
	.name = "load_view", .deliver = cache_view_deliver,
	.free_data = cache_view_job_free,
};

struct cache_req *cache_load_view(struct cache *c, const char *account,
				  const char *device,
				  const struct cache_listing *listing,
				  uint32_t first_uidnext, cache_view_cb *cb,
				  void *ctx)
{
	const uint32_t *uids = listing->uids;
	size_t n = listing->n;
	struct cache_req *req = cache_req_new(cache_route(c, account),
					      &cache_type_view,
					      (union cache_req_cb){ .view = cb },
					      ctx);
	struct cache_view_job *job;

	if (req == NULL)
		return NULL;
	if (!cache_args_valid(req, account, device, NULL, false)) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (listing->uidvalidity == 0 || listing->uidnext == 0 ||
	    first_uidnext == 0 || n > CACHE_VIEW_MAX ||
	    !cache_uids_ascending(uids, n) ||
	    (n > 0 && uids[n - 1] >= listing->uidnext)) {
		cache_req_log(req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"bad uidvalidity, uidnext or listing "
			      "(ascending uids below uidnext, at most %d)\" "
			      "uids=%zu", CACHE_VIEW_MAX, n);
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL || (job->flags = calloc(n + 1, 1)) == NULL) {
		free(job);
		cache_req_cancel(&req);
		return NULL;
	}
	req->data = job;
	cache_op_init(&job->op, req);
	job->uids = uids;
	job->n = n;
	job->uidvalidity = listing->uidvalidity;
	job->uidnext = listing->uidnext;
	job->first_uidnext = first_uidnext;
	job->now = (uint64_t)time(NULL);
	snprintf(job->device, sizeof(job->device), "%s", device);
	snprintf(job->uidv, sizeof(job->uidv), "%u", listing->uidvalidity);
	strcpy(job->cursor, "0");
	cache_key(job->k_uidv, account, "uidvalidity", NULL);
	cache_key(job->k_dev, account, "devices", NULL);
	cache_key(job->k_hidden[0], account, "hidden:", device);
	cache_key(job->k_hidden[1], account, "hidden_all", NULL);
	cache_view_send_chunk(job);
	cache_op_settle(&job->op, false);
	return req;
}
