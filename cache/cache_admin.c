/* Device administration; contracts in cache_admin.h. */

#include "cache_admin.h"

#include "cache_args.h"
#include "cache_conn.h"
#include "cache_gen.h"
#include "cache_private.h"
#include "cache_reply.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* Both scripts answer { refused, uidvalidity or "", HLEN hidden_all,
   then per device: name, devices entry or "", HLEN hidden:<d>,
   PTTL lock:<d>, HLEN retr:<d>, its seen entry or "", SMEMBERS
   folders:<d> }. KEYS: devices, uidvalidity, hidden_all. ARGV[1]: the
   account's key prefix, ARGV[2]: the device ("" = all). */
#define ADMIN_LUA_HEAD \
	"local r = {0, redis.call('GET', KEYS[2]) or '', redis.call('HLEN', KEYS[3])}\n" \
	"local function add(d, e)\n" \
	"  r[#r + 1] = d\n" \
	"  r[#r + 1] = e or ''\n" \
	"  r[#r + 1] = redis.call('HLEN', ARGV[1] .. 'hidden:' .. d)\n" \
	"  r[#r + 1] = redis.call('PTTL', ARGV[1] .. 'lock:' .. d)\n" \
	"  r[#r + 1] = redis.call('HLEN', ARGV[1] .. 'retr:' .. d)\n" \
	"  r[#r + 1] = redis.call('HGET', ARGV[1] .. 'seen', d) or ''\n" \
	"  r[#r + 1] = redis.call('SMEMBERS', ARGV[1] .. 'folders:' .. d)\n" \
	"end\n"

static const char admin_lua_info[] =
	ADMIN_LUA_HEAD
	"if ARGV[2] == '' then\n"
	"  local all = redis.call('HGETALL', KEYS[1])\n"
	"  for i = 1, #all, 2 do add(all[i], all[i + 1]) end\n"
	"else\n"
	"  local e = redis.call('HGET', KEYS[1], ARGV[2])\n"
	"  if e or redis.call('EXISTS', ARGV[1] .. 'lock:' .. ARGV[2]) == 1 then\n"
	"    add(ARGV[2], e)\n"
	"  end\n"
	"end\n"
	"return r\n";

/* ARGV[3]: reset, forget or unlock; ARGV[4]: "1" to go on despite the
   lock. The entry is "<first_uidnext> <first_seen>": reset keeps its
   first_seen. */
static const char admin_lua_change[] =
	CACHE_GEN_LUA
	ADMIN_LUA_HEAD
	"local d = ARGV[2]\n"
	"local lk = ARGV[1] .. 'lock:' .. d\n"
	"local hk = ARGV[1] .. 'hidden:' .. d\n"
	"local e = redis.call('HGET', KEYS[1], d)\n"
	"local locked = redis.call('EXISTS', lk) == 1\n"
	"if not e and not locked then return r end\n"
	"add(d, e)\n"
	"if locked and ARGV[4] ~= '1' then\n"
	"  r[1] = 1\n"
	"  return r\n"
	"end\n"
	"if ARGV[3] == 'reset' and e then\n"
	"  redis.call('DEL', hk, ARGV[1] .. 'retr:' .. d)\n"
	"  local sp = string.find(e, ' ', 1, true)\n"
	"  redis.call('HSET', KEYS[1], d, '1' .. (sp and string.sub(e, sp) or ' 0'))\n"
	"  gen_bump(ARGV[1] .. 'gen', d)\n"
	"elseif ARGV[3] == 'forget' then\n"
	"  redis.call('HDEL', KEYS[1], d)\n"
	"  redis.call('HDEL', ARGV[1] .. 'seen', d)\n"
	"  redis.call('DEL', hk, ARGV[1] .. 'retr:' .. d, ARGV[1] .. 'folders:' .. d)\n"
	"  gen_bump(ARGV[1] .. 'gen', d)\n"
	"end\n"
	"redis.call('DEL', lk)\n"
	"return r\n";

static void admin_free(void *data)
{
	struct cache_admin_info *info = data;

	if (info == NULL)
		return;
	for (size_t i = 0; info->devices != NULL && i < info->n; i++) {
		struct cache_admin_device *d = &info->devices[i];

		for (size_t j = 0; j < d->folder_count; j++)
			free(d->folders[j]);
		free(d->folders);
	}
	free(info->devices);
	free(info);
}

static bool admin_int(const redisReply *r, int64_t *v)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return false;
	*v = r->integer;
	return true;
}

#define ADMIN_PER_DEVICE 7

/* The folders record: at most CACHE_ADMIN_FOLDERS_MAX names. */
static bool admin_parse_folders(const redisReply *e, struct cache_admin_device *d)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements > CACHE_ADMIN_FOLDERS_MAX)
		return false;
	if (e->elements == 0)
		return true;
	if ((d->folders = calloc(e->elements, sizeof(*d->folders))) == NULL)
		return false;
	for (size_t i = 0; i < e->elements; i++) {
		const redisReply *f = e->element[i];

		if (f->type != REDIS_REPLY_STRING || f->len == 0 ||
		    f->len > CACHE_ADMIN_FOLDER_NAME_MAX || memchr(f->str, '\0', f->len) != NULL ||
		    (d->folders[i] = strndup(f->str, f->len)) == NULL)
			return false;
		d->folder_count++;
	}
	return true;
}

static bool admin_parse_device(const redisReply *const *e, struct cache_admin_device *d)
{
	int64_t hidden, ttl, retrieved;

	if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING ||
	    !cache_device_name_ok(e[0]->str, e[0]->len) || !admin_int(e[2], &hidden) ||
	    !admin_int(e[3], &ttl) || hidden < 0 || !admin_int(e[4], &retrieved) ||
	    retrieved < 0 || e[5]->type != REDIS_REPLY_STRING ||
	    (e[5]->len > 0 && !cache_parse_u64(e[5]->str, e[5]->len, UINT64_MAX, &d->last_quit)))
		return false;
	d->retrieved = (uint64_t)retrieved;
	memcpy(d->name, e[0]->str, e[0]->len);
	d->name[e[0]->len] = '\0';
	d->registered = e[1]->len > 0;
	if (d->registered && !cache_parse_device(e[1]->str, e[1]->len, &d->first_uidnext,
						 &d->first_seen))
		return false;
	d->hidden = (uint64_t)hidden;
	/* PTTL: -2 no key, -1 no expiry. */
	d->lock_ttl_ms = ttl == -2 ? -1 : ttl == -1 ? -2 : ttl;
	return admin_parse_folders(e[6], d);
}

static enum cache_status admin_parse(struct cache_req *req, const redisReply *r)
{
	struct cache_admin_info *info;
	uint64_t uidv = 0;
	int64_t refused, hidden_all;

	if (r->type != REDIS_REPLY_ARRAY)
		return cache_reply_unexpected(req, r);
	if (r->elements < 3 || (r->elements - 3) % ADMIN_PER_DEVICE != 0 ||
	    (r->elements - 3) / ADMIN_PER_DEVICE > CACHE_DEVICES_MAX + 1 ||
	    !admin_int(r->element[0], &refused) || !admin_int(r->element[2], &hidden_all) ||
	    r->element[1]->type != REDIS_REPLY_STRING || hidden_all < 0 ||
	    (r->element[1]->len > 0 &&
	     !cache_parse_u64(r->element[1]->str, r->element[1]->len, UINT32_MAX, &uidv)))
		return cache_reply_bad(req, "bad device listing");
	info = calloc(1, sizeof(*info));
	if (info == NULL)
		return cache_reply_bad(req, "out of memory");
	info->uidvalidity = (uint32_t)uidv;
	info->hidden_all = (uint64_t)hidden_all;
	info->refused = refused != 0;
	info->n = (r->elements - 3) / ADMIN_PER_DEVICE;
	if (info->n > 0 && (info->devices = calloc(info->n, sizeof(*info->devices))) == NULL) {
		admin_free(info);
		return cache_reply_bad(req, "out of memory");
	}
	for (size_t i = 0; i < info->n; i++) {
		if (!admin_parse_device((const redisReply *const *)
					&r->element[3 + ADMIN_PER_DEVICE * i],
					&info->devices[i])) {
			admin_free(info);
			return cache_reply_bad(req, "bad device entry");
		}
	}
	req->data = info;
	return info->refused ? CACHE_IN_USE : CACHE_OK;
}

static void admin_deliver(struct cache_req *req)
{
	if (req->cb.admin != NULL)
		req->cb.admin(req->ctx, req->status,
			      req->status == CACHE_OK || req->status == CACHE_IN_USE ?
			      req->data : NULL);
}

static const struct cache_req_type admin_type_info = {
	.name = "device_info", .parse = admin_parse, .deliver = admin_deliver,
	.free_data = admin_free,
};
static const struct cache_req_type admin_type_change = {
	.name = "device_change", .durable = true, .parse = admin_parse,
	.deliver = admin_deliver, .free_data = admin_free,
};

static struct cache_req *admin_eval(struct cache *c, const struct cache_req_type *type,
				    const char *script, const char *account,
				    const char *device, const char *op, bool force,
				    cache_admin_cb *cb, void *ctx)
{
	char k_dev[CACHE_KEY_MAX], k_uidv[CACHE_KEY_MAX], k_all[CACHE_KEY_MAX];
	char prefix[CACHE_KEY_MAX];
	struct cache_args a;
	struct cache_req *req;

	req = cache_req_new(cache_route(c, account != NULL ? account : ""), type,
			    (union cache_req_cb){ .admin = cb }, ctx);
	/* No account: refused unlogged (no device, nothing checked). */
	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account,
			     .device = account == NULL ? NULL : device != NULL ? device : "x",
			     .ok = account != NULL, .argc = 10 }, &a))
		return req;
	cache_key(k_dev, account, "devices", NULL);
	cache_key(k_uidv, account, "uidvalidity", NULL);
	cache_key(k_all, account, "hidden_all", NULL);
	cache_key(prefix, account, "", NULL);
	cache_arg(&a, "EVAL");
	cache_arg(&a, script);
	cache_arg(&a, "3");
	cache_arg(&a, k_dev);
	cache_arg(&a, k_uidv);
	cache_arg(&a, k_all);
	cache_arg(&a, prefix);
	cache_arg(&a, device != NULL ? device : "");
	if (op != NULL) {
		cache_arg(&a, op);
		cache_arg(&a, force ? "1" : "0");
	}
	cache_args_send(req, &a);
	return req;
}

struct cache_req *cache_admin_info(struct cache *c, const char *account,
				   const char *device, cache_admin_cb *cb, void *ctx)
{
	return admin_eval(c, &admin_type_info, admin_lua_info, account, device, NULL, false,
			  cb, ctx);
}

struct cache_req *cache_admin_change(struct cache *c, const char *account,
				     const char *device, enum cache_admin_op op,
				     bool force, cache_admin_cb *cb, void *ctx)
{
	static const char *const names[] = {
		[CACHE_ADMIN_RESET] = "reset", [CACHE_ADMIN_FORGET] = "forget",
		[CACHE_ADMIN_UNLOCK] = "unlock",
	};

	if (device == NULL || (unsigned int)op > CACHE_ADMIN_UNLOCK)
		device = "";   /* invalid: CACHE_ERROR */
	return admin_eval(c, &admin_type_change, admin_lua_change, account, device,
			  names[(unsigned int)op <= CACHE_ADMIN_UNLOCK ? op : 0], force, cb, ctx);
}

/* KEYS[1]: the record; ARGV[1]: CACHE_ADMIN_FOLDERS_MAX, then the names. */
static const char admin_lua_note[] =
	"for i = 2, #ARGV do\n"
	"  if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then break end\n"
	"  redis.call('SADD', KEYS[1], ARGV[i])\n"
	"end\n"
	"return 1\n";

static enum cache_status admin_parse_note(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return CACHE_OK;
	return cache_reply_unexpected(req, r);
}

static const struct cache_req_type admin_type_note = {
	.name = "device_folders", .parse = admin_parse_note, .deliver = cache_deliver_status,
};

struct cache_req *cache_admin_note_folders(struct cache *c, const char *account,
					   const char *device, const char *const *names,
					   size_t n, cache_status_cb *cb, void *ctx)
{
	char key[CACHE_KEY_MAX];
	struct cache_args a;
	struct cache_req *req;
	bool ok = n >= 1 && n <= CACHE_ADMIN_NOTE_MAX && device != NULL;

	for (size_t i = 0; ok && i < n; i++)
		ok = names[i] != NULL && names[i][0] != '\0' &&
			strlen(names[i]) <= CACHE_ADMIN_FOLDER_NAME_MAX;
	req = cache_req_new(cache_route(c, account != NULL ? account : ""), &admin_type_note,
			    (union cache_req_cb){ .status = cb }, ctx);
	if (!cache_req_begin(&req, &(struct cache_begin){ .account = account, .device = device,
			     .ok = ok, .why = "error=\"bad folder names\"", .argc = 5 + n, .nums_size = CACHE_U32_LEN }, &a))
		return req;
	cache_key(key, account, "folders:", device);
	cache_arg(&a, "EVAL");
	cache_arg(&a, admin_lua_note);
	cache_arg(&a, "1");
	cache_arg(&a, key);
	cache_arg_num(&a, CACHE_ADMIN_FOLDERS_MAX);
	for (size_t i = 0; i < n; i++)
		cache_arg(&a, names[i]);
	cache_args_send(req, &a);
	return req;
}
