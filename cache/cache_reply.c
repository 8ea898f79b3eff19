/* What Redis's replies to the operations mean, and their delivery to the
   caller: the request types of cache_reply.h. */

#include "cache_reply.h"
#include "num.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

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

static enum cache_status cache_reply_bad(struct cache_req *req,
					 const char *what)
{
	cache_req_log(req, CACHE_LOG_ERROR, "cache_error", "error=\"%s\"", what);
	return CACHE_ERROR;
}

/* A reply that none of req's expected ones matched. */
static enum cache_status cache_reply_unexpected(struct cache_req *req,
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

static enum cache_status cache_parse_hide(struct cache_req *req,
					  const redisReply *r)
{
	static const enum cache_status st[] = {
		CACHE_OK, CACHE_IN_USE, CACHE_CONFLICT,
	};

	return cache_reply_int(req, r, st, 3);
}

static enum cache_status cache_parse_remap(struct cache_req *req,
					   const redisReply *r)
{
	static const enum cache_status st[] = {
		CACHE_OK, CACHE_ERROR, CACHE_CONFLICT,
	};

	return cache_reply_int(req, r, st, 3);
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

/* What a view reply is parsed into: req->data of a view request. */
struct cache_view_data {
	struct cache_view view;
	uint32_t *hidden, *hidden_all;
	char **hidden_fp, **hidden_all_fp;
};

static void cache_fps_free(char **fps, size_t n)
{
	size_t i;

	if (fps == NULL)
		return;
	for (i = 0; i < n; i++)
		free(fps[i]);
	free(fps);
}

static void cache_view_data_free(void *data)
{
	struct cache_view_data *d = data;

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

	if (r->type == REDIS_REPLY_ERROR)
		return cache_reply_error(req, r);
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
		cache_view_data_free(d);
		req->data = NULL;
		return cache_reply_bad(req, "hidden set is corrupt or too big");
	}
	v->hidden = d->hidden;
	v->hidden_all = d->hidden_all;
	v->hidden_fingerprints = (const char *const *)d->hidden_fp;
	v->hidden_all_fingerprints = (const char *const *)d->hidden_all_fp;
	return CACHE_OK;
}

/* --- delivery, and the types --- */

static void cache_deliver_status(struct cache_req *req)
{
	if (req->cb.status != NULL)
		req->cb.status(req->ctx, req->status);
}

static void cache_deliver_view(struct cache_req *req)
{
	const struct cache_view_data *d = req->data;
	const struct cache_view *view =
		req->status == CACHE_OK && d != NULL ? &d->view : NULL;

	if (req->cb.view == NULL)
		return;
	req->cb.view(req->ctx, view != NULL ? CACHE_OK :
		     req->status == CACHE_OK ? CACHE_ERROR : req->status,
		     view);
}

const struct cache_req_type cache_type_lock = {
	"lock", cache_parse_lock, cache_deliver_status, NULL,
};
const struct cache_req_type cache_type_refresh = {
	"lock_refresh", cache_parse_refresh, cache_deliver_status, NULL,
};
const struct cache_req_type cache_type_unlock = {
	"unlock", cache_parse_unlock, cache_deliver_status, NULL,
};
const struct cache_req_type cache_type_view = {
	"load_view", cache_parse_view, cache_deliver_view,
	cache_view_data_free,
};
const struct cache_req_type cache_type_hide = {
	"hide", cache_parse_hide, cache_deliver_status, NULL,
};
const struct cache_req_type cache_type_remap = {
	"remap", cache_parse_remap, cache_deliver_status, NULL,
};
