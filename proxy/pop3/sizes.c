/* Exact sizes, counted once per message; contracts in sizes.h. */

#include "sizes.h"

#include <stdlib.h>
#include <string.h>

#include "cache_sizes.h"
#include "conf.h"
#include "device.h"
#include "folders.h"
#include "imap_body.h"
#include "log.h"
#include "maildrop.h"
#include "pop3_filter.h"
#include "session.h"

/* Input run through the filter at once; its output is thrown away. */
#define SIZES_CHUNK 16384
/* Counts stored together (a login that runs out of time keeps them). */
#define SIZES_STORE_EVERY 100

struct pop3_sizes {
	struct pop3_session *s;
	struct imap_client *imap;
	char *account;
	struct pop3_maildrop *d;
	pop3_sizes_cb *cb;
	void *ctx;
	struct cache_req *load;
	uint32_t *known;             /* UIDs with a stored size, ascending */
	size_t nknown, kpos;
	unsigned int next;           /* the next message to look at */
	struct pop3_msg *cur;        /* being counted */
	struct pop3_filter filter;
	struct imap_body_op op;
	uint32_t batch_uids[SIZES_STORE_EVERY];
	uint64_t batch_rfc822[SIZES_STORE_EVERY];
	uint64_t batch_sizes[SIZES_STORE_EVERY];
	size_t batch_n;
	struct pop3_sizes_stats stats;
	unsigned char scratch[POP3_FILTER_MAX_OUT(SIZES_CHUNK)];
};

static int sizes_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool sizes_uid_in(const uint32_t *uids, size_t n, uint32_t uid)
{
	return n > 0 && bsearch(&uid, uids, n, sizeof(*uids), sizes_uid_cmp) != NULL;
}

/* The message's size becomes the counted one; false when it cannot say
   (the difference does not fit the record: not exact then). */
static bool sizes_apply(struct pop3_maildrop *d, struct pop3_msg *m, uint64_t exact)
{
	return pop3_maildrop_set_exact(d, m, exact) == 0;
}

static void sizes_flush(struct pop3_sizes *sz)
{
	if (sz->batch_n == 0)
		return;
	/* A cache: a write that is lost is counted again next time. */
	cache_sizes_store(sz->s->srv->cache, sz->account, sz->d->uidvalidity, sz->batch_uids,
			  sz->batch_rfc822, sz->batch_sizes, sz->batch_n, NULL, 0, NULL, NULL);
	sz->batch_n = 0;
}

static void sizes_end(struct pop3_sizes *sz, enum pop3_sizes_result result)
{
	/* What was counted holds, whatever stopped the rest. */
	sizes_flush(sz);
	sz->cb(sz->ctx, result, &sz->stats);
}

static void sizes_next(struct pop3_sizes *sz);

static void sizes_begin(void *ctx, const struct imap_body_start *start)
{
	struct pop3_sizes *sz = ctx;

	pop3_filter_init(&sz->filter);
}

static size_t sizes_room(void *ctx)
{
	return SIZES_CHUNK;
}

static void sizes_data(void *ctx, const unsigned char *data, size_t len)
{
	struct pop3_sizes *sz = ctx;

	while (len > 0) {
		size_t n = len < SIZES_CHUNK ? len : SIZES_CHUNK;

		pop3_filter_run(&sz->filter, data, n, sz->scratch);
		data += n;
		len -= n;
	}
}

static void sizes_counted(void *ctx, const struct imap_body_result *r)
{
	struct pop3_sizes *sz = ctx;
	struct pop3_msg *m = sz->cur;

	sz->cur = NULL;
	if (r->reply->result == IMAP_REPLY_FAILED || (r->found && !r->complete)) {
		log_warn("%s event=exact_size_failed uid=%u reply=\"%s\"", sz->s->log_id, m->uid,
			 r->reply->text);
		sizes_end(sz, POP3_SIZES_UPSTREAM);
		return;
	}
	/* Gone since the listing (or refused): RETR will say so; no size
	   is stored for it. */
	if (r->found && r->reply->result == IMAP_REPLY_OK) {
		uint64_t listed = pop3_msg_size(sz->d, m);

		if (sizes_apply(sz->d, m, sz->filter.octets)) {
			sz->stats.counted++;
			if (pop3_msg_size(sz->d, m) != listed)
				sz->stats.differ++;
			sz->batch_uids[sz->batch_n] = m->uid;
			sz->batch_rfc822[sz->batch_n] = pop3_msg_upstream_size(sz->d, m);
			sz->batch_sizes[sz->batch_n++] = pop3_msg_size(sz->d, m);
			if (sz->batch_n == SIZES_STORE_EVERY)
				sizes_flush(sz);
		}
	}
	sizes_next(sz);
}

static const struct imap_body_handlers sizes_handlers = {
	.begin = sizes_begin,
	.room = sizes_room,
	.data = sizes_data,
	.done = sizes_counted,
};

/* The next message without a stored size is fetched and counted. */
static void sizes_next(struct pop3_sizes *sz)
{
	struct pop3_maildrop *d = sz->d;

	while (sz->next < d->count) {
		struct pop3_msg *m = &d->msgs[sz->next++];
		struct imap_body_request req = {
			.uid = m->uid, .part = IMAP_BODY_WHOLE, .peek = true,
		};

		/* Both ascending: one walk. */
		while (sz->kpos < sz->nknown && sz->known[sz->kpos] < m->uid)
			sz->kpos++;
		if (sz->kpos < sz->nknown && sz->known[sz->kpos] == m->uid)
			continue;
		sz->cur = m;
		sz->s->doing = "counting the exact size of a message";
		if (imap_body_fetch(&sz->op, sz->imap, &req, &sizes_handlers, sz) < 0) {
			sz->cur = NULL;
			sizes_end(sz, POP3_SIZES_MEMORY);
		}
		return;
	}
	sizes_end(sz, POP3_SIZES_OK);
}

/* Stored entries of UIDs that no longer exist go, a batch per login. */
static void sizes_prune(struct pop3_sizes *sz, const struct cache_sizes *st)
{
	uint32_t gone[CACHE_SIZES_BATCH];
	size_t n = 0;

	for (size_t i = 0; i < st->n && n < CACHE_SIZES_BATCH; i++) {
		if (!sizes_uid_in(sz->d->exists, sz->d->exists_count, st->uids[i]))
			gone[n++] = st->uids[i];
	}
	if (n > 0)
		cache_sizes_store(sz->s->srv->cache, sz->account, sz->d->uidvalidity, NULL, NULL,
				  NULL, 0, gone, n, NULL, NULL);
	sz->stats.pruned = (unsigned int)n;
}

static void sizes_loaded(void *ctx, enum cache_status st, const struct cache_sizes *stored)
{
	struct pop3_sizes *sz = ctx;
	struct pop3_maildrop *d = sz->d;
	bool yes = sz->s->route->exact_sizes == CONF_EXACT_SIZES_YES;

	sz->load = NULL;
	if (st != CACHE_OK) {
		/* The device's lock, next, needs the store too: that step
		   says it; the sizes stay RFC822.SIZE meanwhile. */
		sizes_end(sz, POP3_SIZES_OK);
		return;
	}
	if (stored->n > 0) {
		sz->known = malloc(stored->n * sizeof(*sz->known));
		if (sz->known == NULL) {
			sizes_end(sz, POP3_SIZES_MEMORY);
			return;
		}
	}
	for (size_t i = 0; i < stored->n; i++) {
		struct pop3_msg *m = (struct pop3_msg *)pop3_maildrop_by_uid(d, stored->uids[i]);

		/* Counted for another RFC822.SIZE: not this message (a
		   server that reused the UID); counted again. */
		if (m != NULL && stored->rfc822[i] == pop3_msg_upstream_size(d, m) &&
		    sizes_apply(d, m, stored->sizes[i]))
			sz->known[sz->nknown++] = m->uid;
	}
	if (sz->nknown > 1)
		qsort(sz->known, sz->nknown, sizeof(*sz->known), sizes_uid_cmp);
	sz->stats.loaded = (unsigned int)sz->nknown;
	sizes_prune(sz, stored);
	/* auto: exact once a RETR proved RFC822.SIZE wrong (something is
	   stored); until then nothing is fetched. */
	sz->stats.exact = yes || stored->n > 0;
	if (!sz->stats.exact) {
		sizes_end(sz, POP3_SIZES_OK);
		return;
	}
	sizes_next(sz);
}

struct pop3_sizes *pop3_sizes_start(struct pop3_session *s, struct imap_client *imap,
				    const char *account, struct pop3_maildrop *d,
				    pop3_sizes_cb *cb, void *ctx)
{
	struct pop3_sizes *sz = calloc(1, sizeof(*sz));

	if (sz == NULL || (sz->account = strdup(account)) == NULL) {
		free(sz);
		return NULL;
	}
	sz->s = s;
	sz->imap = imap;
	sz->d = d;
	sz->cb = cb;
	sz->ctx = ctx;
	sz->load = cache_sizes_load(s->srv->cache, account, d->uidvalidity, sizes_loaded, sz);
	if (sz->load == NULL) {
		pop3_sizes_free(&sz);
		return NULL;
	}
	return sz;
}

void pop3_sizes_free(struct pop3_sizes **szp)
{
	struct pop3_sizes *sz = *szp;

	if (sz == NULL)
		return;
	cache_req_cancel(&sz->load);
	free(sz->known);
	free(sz->account);
	free(sz);
	*szp = NULL;
}

void pop3_sizes_mismatch(struct pop3_session *s, const struct pop3_msg *m, uint64_t octets)
{
	/* Learnt in the state of the message's own folder (folders.h). */
	int folder = s->folders != NULL ? pop3_folders_of(s->folders, m) : -1;
	const struct pop3_folder *f = folder >= 0 ? &s->folders->f[folder] : NULL;
	bool learn = s->route->exact_sizes == CONF_EXACT_SIZES_AUTO && f != NULL &&
		f->dev != NULL && s->srv->cache != NULL;
	uint32_t uid = m->uid;
	const struct pop3_maildrop *d = pop3_folders_drop(s->folders, m);
	uint64_t rfc822 = pop3_msg_upstream_size(d, m);

	log_warn("%s event=size_mismatch uid=%u listed=%llu sent=%llu%s", s->log_id, uid,
		 (unsigned long long)pop3_msg_size(d, m), (unsigned long long)octets,
		 learn ? " action=exact_sizes" : "");
	if (learn)
		cache_sizes_store(s->srv->cache, pop3_device_account(f->dev), f->drop->uidvalidity,
				  &uid, &rfc822, &octets, 1, NULL, 0, NULL, NULL);
}
