/* What Redis's replies to the operations mean, and their delivery to the
   caller: the request types of cache_reply.h. */

#include "cache_reply.h"
#include "num.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

enum cache_status cache_reply_error(struct cache_req *req,
					   const redisReply *reply)
{
	static const char *const transient[] = {
		"LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN",
		"CLUSTERDOWN", "NOAUTH", "OOM", NULL,
	};
	char esc[200];
	size_t i;

	text_escape(reply->str, reply->len, esc, sizeof(esc));
	for (i = 0; transient[i] != NULL; i++) {
		size_t len = strlen(transient[i]);

		if (reply->len >= len &&
		    strncmp(reply->str, transient[i], len) == 0 &&
		    (reply->len == len || reply->str[len] == ' ')) {
			cache_req_log(req, CACHE_LOG_WARN, "cache_unavailable",
				      "error=\"%s\"", esc);
			return CACHE_UNAVAILABLE;
		}
	}
	cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"%s\"", esc);
	return CACHE_ERROR;
}

enum cache_status cache_reply_bad(struct cache_req *req, const char *what)
{
	cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"%s\"", what);
	return CACHE_ERROR;
}

enum cache_status cache_reply_unexpected(struct cache_req *req,
					 const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return cache_reply_error(req, r);
	return cache_reply_bad(req, "unexpected reply");
}

/* A script's integer reply i, 0 <= i < n, means statuses[i]; an entry
   CACHE_ERROR marks an integer the script never returns. */
static enum cache_status cache_reply_int(struct cache_req *req,
					 const redisReply *r,
					 const enum cache_status *statuses,
					 size_t n)
{
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
	    (unsigned long long)r->integer < n &&
	    statuses[r->integer] != CACHE_ERROR)
		return statuses[r->integer];
	return cache_reply_unexpected(req, r);
}

static enum cache_status cache_parse_lock(struct cache_req *req,
					  const redisReply *r)
{
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		return CACHE_OK;
	if (r->type == REDIS_REPLY_NIL)
		return CACHE_IN_USE;
	return cache_reply_unexpected(req, r);
}

static enum cache_status cache_parse_refresh(struct cache_req *req,
					     const redisReply *r)
{
	static const enum cache_status st[] = { CACHE_IN_USE, CACHE_OK };

	return cache_reply_int(req, r, st, 2);
}

/* Whatever the script says, the lock is not ours any more. */
static enum cache_status cache_parse_unlock(struct cache_req *req,
					    const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return cache_reply_error(req, r);
	return CACHE_OK;
}

enum cache_status cache_parse_hide(struct cache_req *req, const redisReply *r)
{
	static const enum cache_status st[] = {
		CACHE_OK, CACHE_IN_USE, CACHE_CONFLICT, CACHE_LIMIT,
	};
	enum cache_status status;

	/* The script's {0, before, after} (cache_gen.h): done; the values
	   matter to cache_type_hide_gen alone. */
	if (r->type == REDIS_REPLY_ARRAY)
		return r->elements == 3 && r->element[0]->type == REDIS_REPLY_INTEGER &&
		       r->element[0]->integer == 0 ? CACHE_OK : cache_reply_unexpected(req, r);
	status = cache_reply_int(req, r, st, 4);

	if (status == CACHE_LIMIT)
		cache_req_log(req, CACHE_LOG_WARN, "cache_limit",
			      "error=\"more than %d hidden messages\" "
			      "limit=%d", CACHE_HIDDEN_MAX, CACHE_HIDDEN_MAX);
	return status;
}

bool cache_parse_u64(const char *s, size_t len, uint64_t max,
			    uint64_t *value_r)
{
	if (len > 1 && s[0] == '0')
		return false;
	return num_parse_u64(s, len, max, value_r) == NUM_OK;
}

bool cache_reply_u32(const redisReply *r, uint32_t *value_r)
{
	uint64_t v;

	if (r->type != REDIS_REPLY_STRING ||
	    !cache_parse_u64(r->str, r->len, UINT32_MAX, &v))
		return false;
	*value_r = (uint32_t)v;
	return true;
}

bool cache_parse_device(const char *s, size_t len, uint32_t *first_uidnext_r,
			uint64_t *first_seen_r)
{
	const char *sp = memchr(s, ' ', len);
	uint64_t next, seen;

	if (sp == NULL ||
	    !cache_parse_u64(s, (size_t)(sp - s), UINT32_MAX, &next) ||
	    !cache_parse_u64(sp + 1, len - (size_t)(sp + 1 - s), UINT64_MAX,
			     &seen) || next == 0)
		return false;
	*first_uidnext_r = (uint32_t)next;
	*first_seen_r = seen;
	return true;
}

/* --- delivery, and the types --- */

void cache_deliver_status(struct cache_req *req)
{
	if (req->cb.status != NULL)
		req->cb.status(req->ctx, req->status);
}

const struct cache_req_type cache_type_lock = {
	.name = "lock", .parse = cache_parse_lock,
	.deliver = cache_deliver_status,
};
const struct cache_req_type cache_type_refresh = {
	.name = "lock_refresh", .parse = cache_parse_refresh,
	.deliver = cache_deliver_status,
};
const struct cache_req_type cache_type_unlock = {
	.name = "unlock", .durable = true, .parse = cache_parse_unlock,
	.deliver = cache_deliver_status,
};
/* PING: its answer comes after those of everything sent before it. */
static enum cache_status cache_parse_barrier(struct cache_req *req, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return cache_reply_error(req, r);
	return CACHE_OK;
}

const struct cache_req_type cache_type_barrier = {
	.name = "barrier", .parse = cache_parse_barrier,
	.deliver = cache_deliver_status,
};
const struct cache_req_type cache_type_hide = {
	.name = "hide", .durable = true, .parse = cache_parse_hide,
	.deliver = cache_deliver_status, .free_data = free,
};
