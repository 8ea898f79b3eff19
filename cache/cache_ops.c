/* The operations: argument checks, key names, Lua scripts, replies. */

#include "cache_private.h"
#include "num.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>


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

/* KEYS: lock. ARGV: token. */
static const char cache_lua_unlock[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n";

/* KEYS: uidvalidity, devices, hidden:<device>, hidden_all.
   ARGV: device, uidvalidity, uidnext, now.
   Returns {stored uidvalidity or "0", 1 if registered now, device entry,
   hidden, hidden_all, 1 if the hidden lists are uid/fingerprint pairs}. */
static const char cache_lua_view[] =
	"local stored = redis.call('GET', KEYS[1])\n"
	"if not stored then\n"
	"  redis.call('SET', KEYS[1], ARGV[2])\n"
	"  stored = '0'\n"
	"end\n"
	"local new = redis.call('HSETNX', KEYS[2], ARGV[1],\n"
	"                       ARGV[3] .. ' ' .. ARGV[4])\n"
	"local entry = redis.call('HGET', KEYS[2], ARGV[1])\n"
	"if stored ~= '0' and stored ~= ARGV[2] then\n"
	"  return {stored, new, entry, redis.call('HGETALL', KEYS[3]),\n"
	"          redis.call('HGETALL', KEYS[4]), 1}\n"
	"end\n"
	"return {stored, new, entry, redis.call('HKEYS', KEYS[3]),\n"
	"        redis.call('HKEYS', KEYS[4]), 0}\n";

/* KEYS: lock, uidvalidity, target hidden hash.
   ARGV: token, uidvalidity, uid1, fp1, uid2, fp2, ...
   Returns 0 written, 1 lock not held, 2 uidvalidity differs. The checks
   come before any write; HSET goes in chunks because Lua's unpack() is
   limited to a few thousand values. */
static const char cache_lua_hide[] =
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 1 end\n"
	"if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 2 end\n"
	"for i = 3, #ARGV, 1000 do\n"
	"  redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
	"end\n"
	"return 0\n";

/* The script of cache_remap(), with its KEYS and ARGV: cache_remap.c. */
extern const char cache_lua_remap[];

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define CACHE_KEY_MAX (sizeof("popgate:{}:hidden:") + CACHE_ACCOUNT_MAX + \
		       CACHE_DEVICE_MAX + 1)

const char *cache_req_kind_name(enum cache_req_kind kind)
{
	switch (kind) {
	case CACHE_REQ_LOCK: return "lock";
	case CACHE_REQ_REFRESH: return "lock_refresh";
	case CACHE_REQ_UNLOCK: return "unlock";
	case CACHE_REQ_VIEW: return "load_view";
	case CACHE_REQ_HIDE: return "hide";
	case CACHE_REQ_REMAP: return "remap";
	}
	return "?";
}

static bool cache_device_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		(ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

static bool cache_account_char(unsigned char ch)
{
	return ch >= 0x20 && ch != 0x7f;
}

static bool cache_token_char(unsigned char ch)
{
	return ch >= 0x21 && ch <= 0x7e;
}

/* 1..max bytes, each accepted by char_ok. */
static bool cache_string_valid(const char *s, size_t max,
			       bool (*char_ok)(unsigned char))
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max || !char_ok((unsigned char)s[i]))
			return false;
	}
	return i > 0;
}

bool cache_device_valid(const char *device)
{
	return cache_string_valid(device, CACHE_DEVICE_MAX, cache_device_char);
}

/*
 * "popgate:{<account>}:<what>[<device>]". Device names cannot hold '}' or
 * ':', so the last "}:" of a key always closes the account: no two
 * accounts share a key, whatever bytes the account holds.
 */
static size_t cache_key(char *buf, const char *account, const char *what,
			const char *device)
{
	int len = snprintf(buf, CACHE_KEY_MAX, "popgate:{%s}:%s%s", account,
			   what, device != NULL ? device : "");

	return len < 0 ? 0 : (size_t)len;
}

/* Checks shared by all requests; logs and returns false on a bad one. */
static bool cache_args_valid(struct cache *c, enum cache_req_kind kind,
			     const char *account, const char *device,
			     const char *token, bool need_token)
{
	const char *what = NULL;

	if (!cache_string_valid(account, CACHE_ACCOUNT_MAX, cache_account_char))
		what = "bad account";
	else if (!cache_device_valid(device))
		what = "bad device name";
	else if (need_token &&
		 !cache_string_valid(token, CACHE_TOKEN_MAX, cache_token_char))
		what = "bad lock token";
	if (what == NULL)
		return true;
	cache_log(&c->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=%s error=\"%s\"", c->desc,
		  cache_req_kind_name(kind), what);
	return false;
}

static struct cache_req *cache_lock_req(struct cache *c,
					enum cache_req_kind kind,
					const char *account,
					const char *device, const char *token,
					unsigned int ttl_secs,
					cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(c, kind, cb, NULL, ctx);
	char key[CACHE_KEY_MAX], ttl[16];
	const char *argv[6];
	size_t argvlen[6];
	int argc = 6, i;

	if (req == NULL)
		return NULL;
	if (!cache_args_valid(c, kind, account, device, token, true)) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (kind != CACHE_REQ_UNLOCK &&
	    (ttl_secs == 0 || ttl_secs > CACHE_TTL_MAX)) {
		cache_log(&c->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=%s error=\"bad ttl\"",
			  c->desc, cache_req_kind_name(kind));
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	cache_key(key, account, "lock:", device);
	snprintf(ttl, sizeof(ttl), "%u", ttl_secs);
	if (kind == CACHE_REQ_LOCK) {
		argv[0] = "SET";
		argv[1] = key;
		argv[2] = token;
		argv[3] = "NX";
		argv[4] = "EX";
		argv[5] = ttl;
	} else {
		argv[0] = "EVAL";
		argv[1] = kind == CACHE_REQ_REFRESH ? cache_lua_refresh :
			cache_lua_unlock;
		argv[2] = "1";
		argv[3] = key;
		argv[4] = token;
		argv[5] = ttl;
		if (kind == CACHE_REQ_UNLOCK)
			argc = 5;
	}
	for (i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	cache_req_submit(req, argc, argv, argvlen);
	return req;
}

struct cache_req *cache_lock(struct cache *c, const char *account,
			     const char *device, const char *token,
			     unsigned int ttl_secs, cache_status_cb *cb,
			     void *ctx)
{
	return cache_lock_req(c, CACHE_REQ_LOCK, account, device, token,
			      ttl_secs, cb, ctx);
}

struct cache_req *cache_lock_refresh(struct cache *c, const char *account,
				     const char *device, const char *token,
				     unsigned int ttl_secs,
				     cache_status_cb *cb, void *ctx)
{
	return cache_lock_req(c, CACHE_REQ_REFRESH, account, device, token,
			      ttl_secs, cb, ctx);
}

/* Beyond this many unconfirmed unlocks, the oldest are left to expire. */
#define CACHE_UNLOCKS_MAX 4096

struct cache_unlock {
	TAILQ_ENTRY(cache_unlock) link;
	struct cache *c;
	struct cache_req *req;     /* in flight, or NULL: waiting */
	char *account;
	char device[CACHE_DEVICE_MAX + 1];
	char token[CACHE_TOKEN_MAX + 1];
};

static void cache_unlock_drop(struct cache_unlock *u)
{
	struct cache *c = u->c;

	cache_req_cancel(&u->req);
	TAILQ_REMOVE(&c->unlocks, u, link);
	c->unlock_count--;
	free(u->account);
	free(u);
}

static void cache_unlock_done(void *ctx, enum cache_status st)
{
	struct cache_unlock *u = ctx;

	u->req = NULL;
	/* Unavailable: outcome unknown, so it is sent again once the
	   connection is back (deleting only our own token is harmless to
	   repeat). Anything else is final. */
	if (st != CACHE_UNAVAILABLE)
		cache_unlock_drop(u);
}

static void cache_unlock_send(struct cache_unlock *u)
{
	u->req = cache_lock_req(u->c, CACHE_REQ_UNLOCK, u->account, u->device, u->token,
				0, cache_unlock_done, u);
}

void cache_unlocks_retry(struct cache *c)
{
	struct cache_unlock *u, *next;

	for (u = TAILQ_FIRST(&c->unlocks); u != NULL; u = next) {
		next = TAILQ_NEXT(u, link);
		if (u->req == NULL)
			cache_unlock_send(u);
	}
}

void cache_unlocks_free(struct cache *c)
{
	struct cache_unlock *u;

	while ((u = TAILQ_FIRST(&c->unlocks)) != NULL)
		cache_unlock_drop(u);
}

void cache_unlock(struct cache *c, const char *account, const char *device,
		  const char *token)
{
	struct cache_unlock *u;

	if (strlen(device) > CACHE_DEVICE_MAX || strlen(token) > CACHE_TOKEN_MAX)
		return;
	if (c->unlock_count >= CACHE_UNLOCKS_MAX)
		cache_unlock_drop(TAILQ_FIRST(&c->unlocks));
	u = calloc(1, sizeof(*u));
	if (u == NULL || (u->account = strdup(account)) == NULL) {
		free(u);
		/* Without memory the lock just expires. */
		(void)cache_lock_req(c, CACHE_REQ_UNLOCK, account, device, token, 0,
				     NULL, NULL);
		return;
	}
	u->c = c;
	strcpy(u->device, device);
	strcpy(u->token, token);
	TAILQ_INSERT_TAIL(&c->unlocks, u, link);
	c->unlock_count++;
	cache_unlock_send(u);
}

struct cache_req *cache_load_view(struct cache *c, const char *account,
				  const char *device, uint32_t uidvalidity,
				  uint32_t uidnext, cache_view_cb *cb,
				  void *ctx)
{
	struct cache_req *req = cache_req_new(c, CACHE_REQ_VIEW, NULL, cb, ctx);
	char k_uidv[CACHE_KEY_MAX], k_dev[CACHE_KEY_MAX];
	char k_hidden[CACHE_KEY_MAX], k_all[CACHE_KEY_MAX];
	char uidv[16], next[16], now[24];
	const char *argv[] = {
		"EVAL", cache_lua_view, "4", k_uidv, k_dev, k_hidden, k_all,
		device, uidv, next, now,
	};
	size_t argvlen[N_ELEMENTS(argv)], i;

	if (req == NULL)
		return NULL;
	if (!cache_args_valid(c, CACHE_REQ_VIEW, account, device, NULL,
			      false) || uidvalidity == 0 || uidnext == 0) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	cache_key(k_uidv, account, "uidvalidity", NULL);
	cache_key(k_dev, account, "devices", NULL);
	cache_key(k_hidden, account, "hidden:", device);
	cache_key(k_all, account, "hidden_all", NULL);
	snprintf(uidv, sizeof(uidv), "%u", uidvalidity);
	snprintf(next, sizeof(next), "%u", uidnext);
	snprintf(now, sizeof(now), "%llu", (unsigned long long)time(NULL));
	for (i = 0; i < N_ELEMENTS(argv); i++)
		argvlen[i] = strlen(argv[i]);
	cache_req_submit(req, (int)N_ELEMENTS(argv), argv, argvlen);
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

struct cache_req *cache_hide(struct cache *c, const char *account,
			     const char *device, const char *token,
			     bool all_devices, uint32_t uidvalidity,
			     const uint32_t *uids,
			     const char *const *fingerprints, size_t n,
			     cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(c, CACHE_REQ_HIDE, cb, NULL, ctx);
	char k_lock[CACHE_KEY_MAX], k_uidv[CACHE_KEY_MAX], k_set[CACHE_KEY_MAX];
	char uidv[16], *nums = NULL;
	const char **argv = NULL;
	size_t *argvlen = NULL, i, argc = 8 + 2 * n;

	if (req == NULL)
		return NULL;
	if (!cache_args_valid(c, CACHE_REQ_HIDE, account, device, token,
			      true)) {
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	if (uidvalidity == 0 || !cache_hide_args_valid(uids, fingerprints, n)) {
		cache_log(&c->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=hide error=\"bad "
			  "uidvalidity, uid or fingerprint, or more than %d "
			  "uids\" uids=%zu", c->desc, CACHE_HIDE_MAX, n);
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	argv = calloc(argc, sizeof(*argv));
	argvlen = calloc(argc, sizeof(*argvlen));
	nums = malloc(n * 11 + 1);
	if (argv == NULL || argvlen == NULL || nums == NULL) {
		free(argv);
		free(argvlen);
		free(nums);
		cache_req_cancel(&req);
		return NULL;
	}
	argv[0] = "EVAL";
	argv[1] = cache_lua_hide;
	argv[2] = "3";
	argv[3] = k_lock;
	argv[4] = k_uidv;
	argv[5] = k_set;
	argv[6] = token;
	argv[7] = uidv;
	cache_key(k_lock, account, "lock:", device);
	cache_key(k_uidv, account, "uidvalidity", NULL);
	if (all_devices)
		cache_key(k_set, account, "hidden_all", NULL);
	else
		cache_key(k_set, account, "hidden:", device);
	snprintf(uidv, sizeof(uidv), "%u", uidvalidity);
	for (i = 0; i < 8; i++)
		argvlen[i] = strlen(argv[i]);
	for (i = 0; i < n; i++) {
		char *num = nums + i * 11;
		const char *fp = fingerprints != NULL &&
			fingerprints[i] != NULL ? fingerprints[i] : "";

		argvlen[8 + 2 * i] = (size_t)snprintf(num, 11, "%u", uids[i]);
		argv[8 + 2 * i] = num;
		argv[9 + 2 * i] = fp;
		argvlen[9 + 2 * i] = strlen(fp);
	}
	cache_req_submit(req, (int)argc, argv, argvlen);
	free(argv);
	free(argvlen);
	free(nums);
	return req;
}

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

struct cache_req *cache_remap(struct cache *c, const char *account,
			      uint32_t old_uidvalidity,
			      uint32_t new_uidvalidity, uint32_t new_uidnext,
			      const struct cache_remap_msg *msgs, size_t n,
			      cache_status_cb *cb, void *ctx)
{
	struct cache_req *req = cache_req_new(c, CACHE_REQ_REMAP, cb, NULL, ctx);
	char k_uidv[CACHE_KEY_MAX], k_dev[CACHE_KEY_MAX], k_all[CACHE_KEY_MAX];
	char prefix[CACHE_KEY_MAX], old_uidv[16], new_uidv[16], next[16];
	char *nums = NULL;
	const char **argv = NULL;
	size_t *argvlen = NULL, i, argc = 10 + 3 * n;

	if (req == NULL)
		return NULL;
	if (!cache_string_valid(account, CACHE_ACCOUNT_MAX,
				cache_account_char) ||
	    !cache_remap_args_valid(old_uidvalidity, new_uidvalidity,
				    new_uidnext, msgs, n)) {
		cache_log(&c->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=remap error=\"bad "
			  "account, uidvalidity, uidnext, uid order or "
			  "fingerprint, or more than %d messages\" messages=%zu",
			  c->desc, CACHE_VIEW_MAX, n);
		cache_req_complete(req, CACHE_ERROR);
		return req;
	}
	argv = calloc(argc, sizeof(*argv));
	argvlen = calloc(argc, sizeof(*argvlen));
	nums = malloc(n * 32 + 1);      /* per message: uid 11, date 21 */
	if (argv == NULL || argvlen == NULL || nums == NULL) {
		free(argv);
		free(argvlen);
		free(nums);
		cache_req_cancel(&req);
		return NULL;
	}
	cache_key(k_uidv, account, "uidvalidity", NULL);
	cache_key(k_dev, account, "devices", NULL);
	cache_key(k_all, account, "hidden_all", NULL);
	/* The script appends "hidden:<device>": the same names as here. */
	cache_key(prefix, account, "", NULL);
	snprintf(old_uidv, sizeof(old_uidv), "%u", old_uidvalidity);
	snprintf(new_uidv, sizeof(new_uidv), "%u", new_uidvalidity);
	snprintf(next, sizeof(next), "%u", new_uidnext);
	argv[0] = "EVAL";
	argv[1] = cache_lua_remap;
	argv[2] = "3";
	argv[3] = k_uidv;
	argv[4] = k_dev;
	argv[5] = k_all;
	argv[6] = prefix;
	argv[7] = old_uidv;
	argv[8] = new_uidv;
	argv[9] = next;
	for (i = 0; i < 10; i++)
		argvlen[i] = strlen(argv[i]);
	for (i = 0; i < n; i++) {
		char *uid = nums + 32 * i, *date = uid + 11;

		argv[10 + i] = uid;
		argvlen[10 + i] = (size_t)snprintf(uid, 11, "%u", msgs[i].uid);
		argv[10 + n + i] = msgs[i].fingerprint;
		argvlen[10 + n + i] = strlen(msgs[i].fingerprint);
		argv[10 + 2 * n + i] = date;
		argvlen[10 + 2 * n + i] = (size_t)snprintf(
			date, 21, "%llu", (unsigned long long)msgs[i].internaldate);
	}
	cache_req_submit(req, (int)argc, argv, argvlen);
	free(argv);
	free(argvlen);
	free(nums);
	return req;
}

/* --- replies --- */

/* Errors that say "not now": the server is loading, a replica, busy. */
static enum cache_status cache_reply_error(struct cache_req *req,
					   const redisReply *reply)
{
	static const char *const transient[] = {
		"LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN",
		"CLUSTERDOWN", "NOAUTH", "OOM", NULL,
	};
	char esc[200];
	size_t i;

	for (i = 0; transient[i] != NULL; i++) {
		size_t len = strlen(transient[i]);

		if (reply->len >= len &&
		    strncmp(reply->str, transient[i], len) == 0 &&
		    (reply->len == len || reply->str[len] == ' ')) {
			cache_log(&req->cache->hooks, CACHE_LOG_WARN, "event=cache_unavailable cache=%s op=%s "
				 "error=\"%s\"", req->cache->desc,
				 cache_req_kind_name(req->kind),
				 text_escape(reply->str, reply->len, esc,
					    sizeof(esc)));
			return CACHE_UNAVAILABLE;
		}
	}
	cache_log(&req->cache->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=%s error=\"%s\"",
		  req->cache->desc, cache_req_kind_name(req->kind),
		  text_escape(reply->str, reply->len, esc, sizeof(esc)));
	return CACHE_ERROR;
}

static enum cache_status cache_reply_bad(struct cache_req *req,
					 const char *what)
{
	cache_log(&req->cache->hooks, CACHE_LOG_ERROR, "event=cache_error cache=%s op=%s error=\"%s\"",
		  req->cache->desc, cache_req_kind_name(req->kind), what);
	return CACHE_ERROR;
}

/* Decimal, no sign, no leading zero, 0..max. */
static bool cache_parse_u64(const char *s, size_t len, uint64_t max,
			    uint64_t *value_r)
{
	if (len > 1 && s[0] == '0')
		return false;
	return num_parse_u64(s, len, max, value_r) == NUM_OK;
}

static bool cache_reply_u32(const redisReply *r, uint32_t *value_r)
{
	uint64_t v;

	if (r->type != REDIS_REPLY_STRING ||
	    !cache_parse_u64(r->str, r->len, UINT32_MAX, &v))
		return false;
	*value_r = (uint32_t)v;
	return true;
}

/* "<first_uidnext> <first_seen>" */
static bool cache_parse_device(const redisReply *r, struct cache_view *view)
{
	const char *sp;
	uint64_t next, seen;

	if (r->type != REDIS_REPLY_STRING)
		return false;
	sp = memchr(r->str, ' ', r->len);
	if (sp == NULL ||
	    !cache_parse_u64(r->str, (size_t)(sp - r->str), UINT32_MAX,
			     &next) ||
	    !cache_parse_u64(sp + 1, r->len - (size_t)(sp + 1 - r->str),
			     UINT64_MAX, &seen) || next == 0)
		return false;
	view->first_uidnext = (uint32_t)next;
	view->first_seen = seen;
	return true;
}

struct cache_uid_fp {
	uint32_t uid;
	const redisReply *fp;
};

static int cache_uid_fp_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct cache_uid_fp *)a)->uid;
	uint32_t y = ((const struct cache_uid_fp *)b)->uid;

	return x < y ? -1 : x > y;
}

/* A hidden hash as HKEYS (uids) or HGETALL (uid, fingerprint pairs):
   sorted uids, and fingerprints in the same order when pairs. */
static bool cache_parse_hidden(const redisReply *r, bool pairs,
			       uint32_t **uids_r, char ***fps_r,
			       size_t *count_r)
{
	size_t step = pairs ? 2 : 1, n, i;
	struct cache_uid_fp *tmp;
	bool ok = true;

	if (r->type != REDIS_REPLY_ARRAY || r->elements % step != 0 ||
	    r->elements / step > CACHE_VIEW_MAX)
		return false;
	n = r->elements / step;
	*count_r = n;
	*uids_r = calloc(n + 1, sizeof(**uids_r));
	tmp = calloc(n + 1, sizeof(*tmp));
	if (pairs)
		*fps_r = calloc(n + 1, sizeof(**fps_r));
	if (*uids_r == NULL || tmp == NULL || (pairs && *fps_r == NULL)) {
		free(tmp);
		return false;
	}
	for (i = 0; i < n && ok; i++) {
		const redisReply *fp = pairs ? r->element[2 * i + 1] : NULL;

		ok = cache_reply_u32(r->element[i * step], &tmp[i].uid) &&
			tmp[i].uid != 0 &&
			(fp == NULL || fp->type == REDIS_REPLY_STRING);
		tmp[i].fp = fp;
	}
	if (ok)
		qsort(tmp, n, sizeof(*tmp), cache_uid_fp_cmp);
	for (i = 0; i < n && ok; i++) {
		(*uids_r)[i] = tmp[i].uid;
		if (pairs) {
			(*fps_r)[i] = strndup(tmp[i].fp->str, tmp[i].fp->len);
			ok = (*fps_r)[i] != NULL;
		}
	}
	free(tmp);
	return ok;
}

static void cache_fps_free(char **fps, size_t n)
{
	size_t i;

	if (fps == NULL)
		return;
	for (i = 0; i < n; i++)
		free(fps[i]);
	free(fps);
}

void cache_view_data_free(struct cache_view_data **datap)
{
	struct cache_view_data *d = *datap;

	*datap = NULL;
	if (d == NULL)
		return;
	free(d->hidden);
	free(d->hidden_all);
	cache_fps_free(d->hidden_fp, d->view.hidden_count);
	cache_fps_free(d->hidden_all_fp, d->view.hidden_all_count);
	free(d);
}

static enum cache_status cache_parse_view(struct cache_req *req,
					  const redisReply *r)
{
	struct cache_view_data *d;
	struct cache_view *v;
	uint32_t stored = 0;
	bool pairs;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[5]->type != REDIS_REPLY_INTEGER)
		return cache_reply_bad(req, "unexpected view reply");
	if (!cache_reply_u32(r->element[0], &stored))
		return cache_reply_bad(req, "stored uidvalidity is corrupt");
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cache_reply_bad(req, "out of memory");
	req->data = d;
	v = &d->view;
	v->uidvalidity = stored;
	v->new_device = r->element[1]->integer == 1;
	pairs = r->element[5]->integer == 1;
	if (!cache_parse_device(r->element[2], v))
		return cache_reply_bad(req, "device entry is corrupt");
	if (!cache_parse_hidden(r->element[3], pairs, &d->hidden,
				&d->hidden_fp, &v->hidden_count) ||
	    !cache_parse_hidden(r->element[4], pairs, &d->hidden_all,
				&d->hidden_all_fp, &v->hidden_all_count)) {
		cache_view_data_free(&req->data);
		return cache_reply_bad(req, "hidden set is corrupt or too big");
	}
	v->hidden = d->hidden;
	v->hidden_all = d->hidden_all;
	v->hidden_fingerprints = (const char *const *)d->hidden_fp;
	v->hidden_all_fingerprints = (const char *const *)d->hidden_all_fp;
	return CACHE_OK;
}

enum cache_status cache_req_parse(struct cache_req *req,
				  const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return cache_reply_error(req, r);
	switch (req->kind) {
	case CACHE_REQ_LOCK:
		if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
			return CACHE_OK;
		if (r->type == REDIS_REPLY_NIL)
			return CACHE_IN_USE;
		break;
	case CACHE_REQ_REFRESH:
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
			return CACHE_OK;
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
			return CACHE_IN_USE;
		break;
	case CACHE_REQ_UNLOCK:
		return CACHE_OK;
	case CACHE_REQ_VIEW:
		return cache_parse_view(req, r);
	case CACHE_REQ_HIDE:
		if (r->type != REDIS_REPLY_INTEGER)
			break;
		if (r->integer == 0)
			return CACHE_OK;
		if (r->integer == 1)
			return CACHE_IN_USE;
		if (r->integer == 2)
			return CACHE_CONFLICT;
		break;
	case CACHE_REQ_REMAP:
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
			return CACHE_OK;
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 2)
			return CACHE_CONFLICT;
		break;
	}
	return cache_reply_bad(req, "unexpected reply");
}
