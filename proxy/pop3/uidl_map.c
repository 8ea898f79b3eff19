/* The maildrop's UIDLs; contracts in uidl_map.h. */

#include "uidl_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "device.h"
#include "imap_client.h"
#include "imap_fp.h"
#include "imap_resp.h"
#include "log.h"
#include "maildrop.h"

struct pop3_uidl_map {
	struct imap_client *imap;
	struct pop3_device *dev;
	struct pop3_maildrop *d;
	const struct uidl_format *fmt;
	char log_id[32];
	struct uidl_slot *slots;      /* one per listed uid (d->exists) */
	size_t n;
	uint32_t *missing;                 /* uids to assign, ascending */
	size_t *missing_slot;              /* their slots */
	char (*fps)[IMAP_FP_HEX + 1];      /* their fingerprints */
	struct imap_fp_more_values *more;  /* what the form needs of them */
	size_t nmissing;
	size_t cap;                        /* missing..entries hold this many */
	bool legacy;                       /* the account has an import */
	struct cache_uidl_query *queries;  /* for it */
	struct imap_fp_op fp;
	struct cache_uidl_new *entries;
	struct pop3_uidl_map_stats stats;
	struct event *known_ev;            /* start_known: the "load" */
	const char *const *known;
	bool known_legacy;
	pop3_uidl_map_cb *cb;
	void *ctx;
};

size_t pop3_uidl_map_bytes(size_t n, const struct uidl_format *fmt)
{
	return (n + 1) * (sizeof(struct uidl_slot) + sizeof(uint32_t) + sizeof(size_t) +
			  IMAP_FP_HEX + 1 + sizeof(struct cache_uidl_new) +
			  (fmt->needs != 0 ? sizeof(struct imap_fp_more_values) : 0)) +
		((fmt->needs & UIDL_NEED_MD5) != 0 ? 2 * IMAP_FP_HEADER_MAX : 0);
}

void pop3_uidl_map_free(struct pop3_uidl_map **mp)
{
	struct pop3_uidl_map *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	imap_fp_op_clear(&m->fp);
	if (m->known_ev != NULL)
		event_free(m->known_ev);
	free(m->slots);
	free(m->missing);
	free(m->missing_slot);
	free(m->fps);
	free(m->more);
	free(m->queries);
	free(m->entries);
	free(m);
}

size_t pop3_uidl_map_held(const struct pop3_uidl_map *m)
{
	size_t n = m->n + 1, k = m->cap, held = n * sizeof(*m->slots);

	if (m->missing != NULL)
		held += k * (sizeof(*m->missing) + sizeof(*m->missing_slot) +
			     sizeof(*m->fps) + sizeof(*m->entries));
	if (m->more != NULL)
		held += m->nmissing * sizeof(*m->more);
	if (m->queries != NULL)
		held += (m->nmissing + 1) * sizeof(*m->queries);
	return held;
}

static enum pop3_uidl_map_result pop3_uidl_map_store_result(enum cache_status st)
{
	return st == CACHE_UNAVAILABLE || st == CACHE_CONFLICT ? POP3_UIDL_MAP_STORE_TEMP :
		POP3_UIDL_MAP_STORE_PERM;
}

static void pop3_uidl_map_fail(struct pop3_uidl_map *m, enum pop3_uidl_map_result r,
			       enum cache_status st)
{
	m->cb(m->ctx, r, st, &m->stats);
}

/* Makes the slots unique, logging what had to change. */
static bool pop3_uidl_map_unique(struct pop3_uidl_map *m)
{
	long changed = uidl_unique(m->slots, m->n);

	if (changed < 0)
		return false;
	for (size_t i = 0; changed > 0 && i < m->n; i++) {
		if (m->slots[i].changed)
			log_warn("%s event=uidl_duplicate uid=%u uidl=%s stored=%s", m->log_id,
				 m->slots[i].uid, m->slots[i].uidl,
				 m->slots[i].fresh ? "no" : "yes (served, not stored)");
	}
	m->stats.renamed += (size_t)changed;
	return true;
}

/* ---- done: into the maildrop ---- */

static void pop3_uidl_map_finish(struct pop3_uidl_map *m)
{
	struct pop3_maildrop *d = m->d;
	size_t j = 0;

	/* Both ascending; the drop's messages are a subset of the listing. */
	for (unsigned int i = 0; i < d->count; i++) {
		struct pop3_msg *msg = &d->msgs[i];

		while (j < m->n && m->slots[j].uid < msg->uid)
			j++;
		if (j == m->n || m->slots[j].uid != msg->uid || m->slots[j].uidl[0] == '\0')
			continue;
		if (pop3_maildrop_set_uidl(d, msg, m->slots[j].uidl,
					   strlen(m->slots[j].uidl)) < 0) {
			pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
			return;
		}
	}
	m->cb(m->ctx, POP3_UIDL_MAP_OK, CACHE_OK, &m->stats);
}

/* ---- assign ---- */

static void pop3_uidl_map_assigned(void *ctx, enum cache_status st, const struct cache_uidls *u)
{
	struct pop3_uidl_map *m = ctx;
	bool other = false;

	if (st != CACHE_OK) {
		pop3_uidl_map_fail(m, pop3_uidl_map_store_result(st), st);
		return;
	}
	/* Another session stored some first: theirs is the UIDL. */
	for (size_t k = 0; k < u->count; k++) {
		struct uidl_slot *s = &m->slots[m->missing_slot[k]];

		if (u->uidls[k] == NULL)
			continue;
		snprintf(s->uidl, sizeof(s->uidl), "%s", u->uidls[k]);
		s->fresh = false;
		other = true;
	}
	m->stats.assigned = m->nmissing - u->found;
	m->stats.stored += u->found;
	if (other && !pop3_uidl_map_unique(m)) {
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
		return;
	}
	pop3_uidl_map_finish(m);
}

static void pop3_uidl_map_assign(struct pop3_uidl_map *m)
{
	for (size_t k = 0; k < m->nmissing; k++) {
		struct uidl_slot *s = &m->slots[m->missing_slot[k]];
		struct uidl_input in = { .uid = s->uid, .uidvalidity = m->d->uidvalidity };

		/* Imported: the legacy server's. */
		if (s->uidl[0] != '\0') {
			s->fresh = true;
			continue;
		}
		if (m->more != NULL) {
			in.gmid = m->more[k].gmid;
			in.guid = m->more[k].guid;
			in.md5 = m->more[k].md5[0] != '\0' ? m->more[k].md5 : NULL;
		}

		if (uidl_format_apply(m->fmt, &in, s->uidl) == 0) {
			log_warn("%s event=uidl_not_computable uid=%u", m->log_id, s->uid);
			pop3_uidl_map_fail(m, POP3_UIDL_MAP_NO_INPUT, CACHE_OK);
			return;
		}
		s->fresh = true;
	}
	if (!pop3_uidl_map_unique(m)) {
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
		return;
	}
	for (size_t k = 0; k < m->nmissing; k++) {
		m->entries[k] = (struct cache_uidl_new){
			.uid = m->missing[k], .fingerprint = m->fps[k],
			.uidl = m->slots[m->missing_slot[k]].uidl,
		};
	}
	if (pop3_device_uidl_assign(m->dev, m->d->uidvalidity, m->entries, m->nmissing,
				    pop3_uidl_map_assigned, m) < 0)
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
}

/* ---- fetch ---- */

/* Index of uid in missing, or -1. */
static long pop3_uidl_map_index(const struct pop3_uidl_map *m, uint32_t uid)
{
	size_t lo = 0, hi = m->nmissing;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->missing[mid] == uid)
			return (long)mid;
		if (m->missing[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void pop3_uidl_map_fp(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct pop3_uidl_map *m = ctx;
	long i = pop3_uidl_map_index(m, uid);

	if (i >= 0)
		snprintf(m->fps[i], sizeof(m->fps[i]), "%s", fp);
}

static void pop3_uidl_map_more(void *ctx, uint32_t uid, const struct imap_fp_more_values *v)
{
	struct pop3_uidl_map *m = ctx;
	long i = pop3_uidl_map_index(m, uid);

	if (i >= 0 && m->more != NULL)
		m->more[i] = *v;
}

static void pop3_uidl_map_imported(void *ctx, enum cache_status st, const struct cache_uidls *u)
{
	struct pop3_uidl_map *m = ctx;

	if (st != CACHE_OK) {
		pop3_uidl_map_fail(m, pop3_uidl_map_store_result(st), st);
		return;
	}
	for (size_t k = 0; k < u->count && k < m->nmissing; k++) {
		if (u->uidls[k] == NULL)
			continue;
		snprintf(m->slots[m->missing_slot[k]].uidl, UIDL_LEN + 1, "%s", u->uidls[k]);
		m->stats.imported++;
	}
	pop3_uidl_map_assign(m);
}

/* The new messages' Message-IDs and sizes, against the import. */
static void pop3_uidl_map_match(struct pop3_uidl_map *m)
{
	m->queries = calloc(m->nmissing + 1, sizeof(*m->queries));
	if (m->queries == NULL) {
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
		return;
	}
	for (size_t k = 0; k < m->nmissing; k++) {
		const struct pop3_msg *msg = pop3_maildrop_by_uid(m->d, m->missing[k]);

		m->queries[k].message_id = m->more[k].message_id;
		m->queries[k].size = msg != NULL ? pop3_msg_size(m->d, msg) : 0;
	}
	if (pop3_device_uidl_legacy(m->dev, m->queries, m->nmissing, pop3_uidl_map_imported,
				    m) < 0)
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
}

static void pop3_uidl_map_fps(void *ctx, bool ok)
{
	struct pop3_uidl_map *m = ctx;

	if (!ok) {
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_UPSTREAM, CACHE_OK);
		return;
	}
	if (m->legacy) {
		pop3_uidl_map_match(m);
		return;
	}
	pop3_uidl_map_assign(m);
}

static const struct imap_fp_handlers pop3_uidl_map_fp_handlers = {
	.message = pop3_uidl_map_fp,
	.more = pop3_uidl_map_more,
	.done = pop3_uidl_map_fps,
};

/* ---- load ---- */

/* The drop's messages without a stored UIDL (\Deleted ones get none):
   counted, and listed into missing when it is there. */
static size_t pop3_uidl_map_missing(struct pop3_uidl_map *m, const struct cache_uidls *u)
{
	const struct pop3_maildrop *d = m->d;
	unsigned int j = 0;
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (u->uidls[i] != NULL)
			continue;
		while (j < d->count && d->msgs[j].uid < m->slots[i].uid)
			j++;
		if (j < d->count && d->msgs[j].uid == m->slots[i].uid) {
			if (m->missing != NULL) {
				m->missing_slot[k] = i;
				m->missing[k] = m->slots[i].uid;
			}
			k++;
		}
	}
	return k;
}

/* What the messages to assign need, for nmissing of them: only then (a
   login with nothing new needs none of it). */
static bool pop3_uidl_map_alloc(struct pop3_uidl_map *m)
{
	size_t n = m->nmissing + 1;

	m->cap = n;
	m->missing = calloc(n, sizeof(*m->missing));
	m->missing_slot = calloc(n, sizeof(*m->missing_slot));
	m->fps = calloc(n, sizeof(*m->fps));
	m->entries = calloc(n, sizeof(*m->entries));
	return m->missing != NULL && m->missing_slot != NULL && m->fps != NULL &&
		m->entries != NULL;
}

static void pop3_uidl_map_loaded(void *ctx, enum cache_status st, const struct cache_uidls *u)
{
	struct pop3_uidl_map *m = ctx;
	const struct pop3_maildrop *d = m->d;

	if (st != CACHE_OK) {
		pop3_uidl_map_fail(m, pop3_uidl_map_store_result(st), st);
		return;
	}
	m->stats.pruned = u->pruned;
	m->stats.stored = u->found;
	m->legacy = u->legacy;
	for (size_t i = 0; i < m->n; i++) {
		struct uidl_slot *s = &m->slots[i];

		s->uid = d->exists[i];
		if (u->uidls[i] != NULL)
			snprintf(s->uidl, sizeof(s->uidl), "%s", u->uidls[i]);
	}
	m->nmissing = pop3_uidl_map_missing(m, u);
	if (m->nmissing == 0) {
		if (!pop3_uidl_map_unique(m)) {
			pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
			return;
		}
		pop3_uidl_map_finish(m);
		return;
	}
	if (!pop3_uidl_map_alloc(m)) {
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
		return;
	}
	(void)pop3_uidl_map_missing(m, u);
	if ((m->fmt->needs & UIDL_NEED_GMID) != 0 &&
	    (imap_client_caps(m->imap) & IMAP_CAP_X_GM_EXT_1) == 0) {
		log_warn("%s event=uidl_not_computable error=\"uidl_format gmail needs an "
			 "upstream with X-GM-EXT-1\"", m->log_id);
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_NO_INPUT, CACHE_OK);
		return;
	}
	if ((m->fmt->needs != 0 || m->legacy) &&
	    (m->more = calloc(m->nmissing, sizeof(*m->more))) == NULL) {
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
		return;
	}
	if (imap_fp_fetch_more(&m->fp, m->imap, m->missing, m->nmissing,
			       ((m->fmt->needs & UIDL_NEED_GMID) != 0 ? IMAP_FP_GMID : 0) |
			       ((m->fmt->needs & UIDL_NEED_GUID) != 0 ? IMAP_FP_GUID : 0) |
			       ((m->fmt->needs & UIDL_NEED_MD5) != 0 ? IMAP_FP_HEADER_MD5 : 0) |
			       (m->legacy ? IMAP_FP_MESSAGE_ID : 0),
			       &pop3_uidl_map_fp_handlers, m) < 0)
		pop3_uidl_map_fail(m, POP3_UIDL_MAP_MEMORY, CACHE_OK);
}

static struct pop3_uidl_map *pop3_uidl_map_new(struct imap_client *imap, struct pop3_device *dev,
					       struct pop3_maildrop *d,
					       const struct uidl_format *fmt, const char *log_id,
					       pop3_uidl_map_cb *cb, void *ctx)
{
	struct pop3_uidl_map *m = calloc(1, sizeof(*m));
	size_t n = d->exists_count;

	if (m == NULL)
		return NULL;
	m->imap = imap;
	m->dev = dev;
	m->d = d;
	m->fmt = fmt;
	m->n = n;
	m->cb = cb;
	m->ctx = ctx;
	snprintf(m->log_id, sizeof(m->log_id), "%s", log_id);
	/* The rest only for messages to assign, once the load tells. */
	m->slots = calloc(n + 1, sizeof(*m->slots));
	if (m->slots == NULL)
		pop3_uidl_map_free(&m);
	return m;
}

struct pop3_uidl_map *pop3_uidl_map_start(struct imap_client *imap, struct pop3_device *dev,
					  struct pop3_maildrop *d,
					  const struct uidl_format *fmt, const char *log_id,
					  pop3_uidl_map_cb *cb, void *ctx)
{
	struct pop3_uidl_map *m = pop3_uidl_map_new(imap, dev, d, fmt, log_id, cb, ctx);
	struct cache_listing listing = {
		.uidvalidity = d->uidvalidity, .uidnext = d->uidnext,
		.uids = d->exists, .n = d->exists_count,
	};

	if (m != NULL && pop3_device_uidl_load(dev, &listing, pop3_uidl_map_loaded, m) < 0)
		pop3_uidl_map_free(&m);
	return m;
}

/* The stored UIDLs as a load would have given them. */
static void pop3_uidl_map_known(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_uidl_map *m = arg;
	struct cache_uidls u = { .uidls = m->known, .count = m->n, .legacy = m->known_legacy };

	for (size_t i = 0; i < m->n; i++)
		u.found += m->known[i] != NULL;
	pop3_uidl_map_loaded(m, CACHE_OK, &u);
}

struct pop3_uidl_map *pop3_uidl_map_start_known(struct imap_client *imap, struct pop3_device *dev,
						struct pop3_maildrop *d,
						const struct uidl_format *fmt, const char *log_id,
						struct event_base *base,
						const char *const *stored, bool legacy,
						pop3_uidl_map_cb *cb, void *ctx)
{
	struct pop3_uidl_map *m = pop3_uidl_map_new(imap, dev, d, fmt, log_id, cb, ctx);
	static const struct timeval now = { 0, 0 };

	if (m == NULL)
		return NULL;
	m->known = stored;
	m->known_legacy = legacy;
	/* From the loop, as a load's answer would come. */
	m->known_ev = event_new(base, -1, 0, pop3_uidl_map_known, m);
	if (m->known_ev == NULL || event_add(m->known_ev, &now) < 0)
		pop3_uidl_map_free(&m);
	return m;
}
