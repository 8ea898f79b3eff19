/* Retention's pass at QUIT; the steps are listed in retention.h. */

#include "retention.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cache_retention.h"
#include "conf.h"
#include "device.h"
#include "folders.h"
#include "imap_client.h"
#include "imap_fp.h"
#include "imap_remove.h"
#include "log.h"
#include "maildrop.h"
#include "metrics.h"
#include "pop3_parse.h"
#include "profile.h"
#include "session.h"
#include "text.h"

/* What the upstream says of a done uid. */
enum {
	RETENTION_GONE,              /* not reported: expunged meanwhile */
	RETENTION_REMOVE,
	RETENTION_YOUNG,             /* younger than min_age */
	RETENTION_LISTABLE,          /* within a device's max_age */
};

struct pop3_retention {
	struct pop3_session *s;
	/* The folder the pass is for (folders.h): its device (lock and
	   account) and drop; the upstream has it selected. */
	struct pop3_device *dev;
	const struct pop3_maildrop *drop;
	char folder[200];            /* its name, escaped for the log */
	struct cache_req *req;
	uint32_t *retr;              /* what this session RETRieved */
	size_t retr_count;
	struct cache_retention_age *ages; /* devices whose max_age counts */
	size_t age_count;
	char *names;                 /* the ages' device names */
	uint32_t *done;              /* the done set, ascending */
	uint32_t *need;              /* per done uid: its largest max_age */
	size_t done_count;
	uint32_t *remove, *gone;     /* old enough and still there; not there */
	size_t remove_count, gone_count;
	uint8_t *present;            /* one per done uid: RETENTION_* */
	size_t young;                /* done but younger than min_age */
	size_t listable;             /* a max_age device may still list it */
	struct timespec started;
	struct imap_fp_op fp;
	struct imap_remove_op rm;
	bool removing;
	pop3_retention_done_cb *cb;
	void *ctx;
};

static const char *retention_action(const struct pop3_retention *r)
{
	return r->s->conf->retention_action == CONF_RETENTION_TRASH ? "trash" : "expunge";
}

static void retention_end(struct pop3_retention *r, const char *result, size_t removed)
{
	log_info("%s event=retention result=%s action=%s dry_run=%s done=%zu removed=%zu "
		 "young=%zu listable=%zu gone=%zu folder=%s", r->s->log_id, result,
		 retention_action(r), r->s->conf->retention_dry_run ? "yes" : "no", r->done_count,
		 removed, r->young, r->listable, r->gone_count, r->folder);
	metrics_retention(removed > 0 ? METRICS_RETENTION_REMOVED :
			  strcmp(result, "ok") == 0 || strcmp(result, "dry_run") == 0 ?
			  METRICS_RETENTION_NONE : METRICS_RETENTION_SKIPPED, removed);
	r->cb(r->ctx);
}

static bool retention_over_time(const struct pop3_retention *r)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - r->started.tv_sec) * 1000LL +
		(now.tv_nsec - r->started.tv_nsec) / 1000000;
	return ms > (long long)r->s->conf->retention_max_time_ms;
}

/* The store's records were renumbered (a new UIDVALIDITY upstream)
   since this login: nothing is written or removed by its UIDs. */
static void retention_remapped(struct pop3_retention *r)
{
	log_warn("%s event=retention_skipped reason=uidvalidity_changed uidvalidity=%u",
		 r->s->log_id, r->drop->uidvalidity);
	retention_end(r, "remapped", 0);
}

/* ---- finish ---- */

static void retention_finished(void *ctx, enum cache_status st)
{
	struct pop3_retention *r = ctx;
	size_t removed = r->removing ? r->remove_count : 0;

	r->req = NULL;
	if (st == CACHE_CONFLICT) {
		/* A remap renumbered the records since the decision: these
		   uids name other records now, so none is cleared. What was
		   removed upstream (by this session's selection, whose UIDs
		   are the decision's) stays removed; the remap moved only
		   the records of the messages its listing found, so one of
		   a removed message is left at most: a later pass finds it
		   gone and clears it once it is done, else it only keeps
		   more mail, never less. */
		log_warn("%s event=retention_unrecorded reason=uidvalidity_changed "
			 "uidvalidity=%u", r->s->log_id, r->drop->uidvalidity);
		retention_end(r, "remapped", removed);
		return;
	}
	if (st != CACHE_OK) {
		/* The intent stays: the next pass takes these up again. */
		log_warn("%s event=retention_unrecorded status=%s", r->s->log_id,
			 cache_status_name(st));
		retention_end(r, "unrecorded", removed);
		return;
	}
	retention_end(r, "ok", removed);
}

/* The removed and the gone, in one list (both ascending, disjoint). */
static void retention_step_finish(struct pop3_retention *r, size_t removed)
{
	size_t n = 0, i = 0, j = 0;
	uint32_t *all = malloc((removed + r->gone_count + 1) * sizeof(*all));

	if (all == NULL) {
		retention_end(r, "out_of_memory", removed);
		return;
	}
	while (i < removed || j < r->gone_count)
		all[n++] = j >= r->gone_count || (i < removed && r->remove[i] < r->gone[j]) ?
			r->remove[i++] : r->gone[j++];
	if (n > 0)
		r->req = cache_retention_finish(r->s->srv->cache, pop3_device_account(r->dev),
						r->drop->uidvalidity, all, n, retention_finished, r);
	free(all);
	if (n == 0)
		retention_end(r, "ok", 0);
	else if (r->req == NULL)
		retention_end(r, "out_of_memory", removed);
}

/* ---- remove ---- */

static void retention_removed(void *ctx, const struct imap_remove_result *res)
{
	struct pop3_retention *r = ctx;

	if (!res->ok) {
		log_warn("%s event=retention_remove_failed done=%zu of=%zu permanent=%s "
			 "error=\"%s\"", r->s->log_id, res->done, r->remove_count,
			 res->permanent ? "yes" : "no", res->error);
		/* The first res->done are gone upstream; the rest stay in the
		   intent for the next pass. */
		retention_step_finish(r, res->done);
		return;
	}
	log_info("%s event=retention_removed messages=%zu action=%s%s%s", r->s->log_id,
		 r->remove_count, retention_action(r), res->trash != NULL ? " trash=" : "",
		 res->trash != NULL ? res->trash : "");
	retention_step_finish(r, r->remove_count);
}

static void retention_step_remove(struct pop3_retention *r)
{
	struct pop3_session *s = r->s;

	r->removing = true;
	if (imap_remove(&r->rm, s->imap, r->remove, r->remove_count,
			s->conf->retention_action == CONF_RETENTION_TRASH, s->conf->trash_mailbox,
			retention_removed, r) < 0) {
		log_warn("%s event=retention_remove_failed done=0 of=%zu permanent=%s "
			 "error=\"%s\"", s->log_id, r->remove_count,
			 r->rm.permanent ? "yes" : "no", r->rm.error);
		r->removing = false;
		retention_step_finish(r, 0);
	}
}

/* ---- intent ---- */

static void retention_intended(void *ctx, enum cache_status st)
{
	struct pop3_retention *r = ctx;

	r->req = NULL;
	if (st == CACHE_IN_USE) {
		retention_end(r, "busy", 0);
		return;
	}
	if (st == CACHE_CONFLICT) {
		/* A remap renumbered the records since the decision: the
		   done set is of the old numbering; nothing is removed. */
		retention_remapped(r);
		return;
	}
	if (st != CACHE_OK) {
		log_warn("%s event=retention_intent_failed status=%s", r->s->log_id,
			 cache_status_name(st));
		retention_end(r, "store_failed", 0);
		return;
	}
	retention_step_remove(r);
}

static void retention_step_intent(struct pop3_retention *r)
{
	const struct conf *conf = r->s->conf;

	r->req = cache_retention_intent(r->s->srv->cache, pop3_device_account(r->dev),
					pop3_device_name(r->dev), pop3_device_token(r->dev),
					r->drop->uidvalidity, (uint64_t)time(NULL),
					conf->retention_forget_after_secs, r->remove,
					r->remove_count, retention_intended, r);
	if (r->req == NULL)
		retention_end(r, "out_of_memory", 0);
}

/* ---- age ---- */

static size_t retention_index(const struct pop3_retention *r, uint32_t uid)
{
	size_t lo = 0, hi = r->done_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->done[mid] == uid)
			return mid;
		if (r->done[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static void retention_fp_message(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct pop3_retention *r = ctx;
	size_t i = retention_index(r, uid);
	time_t now = time(NULL);
	int64_t cutoff = (int64_t)now - (int64_t)r->s->conf->retention_min_age_secs;

	(void)fp;
	if (i == SIZE_MAX || r->present[i] != RETENTION_GONE)
		return;
	/* No INTERNALDATE: its age is unknown, so it is neither past a
	   device's max_age nor old enough. */
	if (r->need[i] > 0 && !pop3_profile_past_age(r->need[i], internaldate, now))
		r->present[i] = RETENTION_LISTABLE;
	else if (r->s->conf->retention_min_age_secs > 0 &&
		 (internaldate <= 0 || internaldate > cutoff))
		r->present[i] = RETENTION_YOUNG;
	else
		r->present[i] = RETENTION_REMOVE;
}

static void retention_fps_done(void *ctx, bool ok)
{
	struct pop3_retention *r = ctx;

	if (!ok) {
		log_warn("%s event=retention_fetch_failed", r->s->log_id);
		retention_end(r, "upstream_failed", 0);
		return;
	}
	for (size_t i = 0; i < r->done_count; i++) {
		if (r->present[i] == RETENTION_REMOVE)
			r->remove[r->remove_count++] = r->done[i];
		else if (r->present[i] == RETENTION_YOUNG)
			r->young++;
		else if (r->present[i] == RETENTION_LISTABLE)
			r->listable++;
		else
			r->gone[r->gone_count++] = r->done[i];
	}
	if (r->s->conf->retention_dry_run) {
		for (size_t i = 0; i < r->remove_count; i++)
			log_info("%s event=retention_dry_run uid=%u action=%s", r->s->log_id,
				 r->remove[i], retention_action(r));
		retention_end(r, "dry_run", 0);
		return;
	}
	if (retention_over_time(r)) {
		retention_end(r, "over_time", 0);
		return;
	}
	if (r->remove_count == 0) {
		retention_step_finish(r, 0);
		return;
	}
	retention_step_intent(r);
}

static const struct imap_fp_handlers retention_fp_handlers = {
	.message = retention_fp_message,
	.done = retention_fps_done,
};

/* ---- decide ---- */

static void retention_decided(void *ctx, enum cache_status st, const struct cache_retention *d)
{
	struct pop3_retention *r = ctx;
	size_t n = d != NULL ? d->count : 0;

	r->req = NULL;
	if (st == CACHE_IN_USE) {
		log_info("%s event=retention_skipped reason=%s%s", r->s->log_id,
			 d != NULL && d->busy[0] != '\0' ? "device_in_session device=" : "lock_lost",
			 d != NULL ? d->busy : "");
		retention_end(r, "busy", 0);
		return;
	}
	if (st == CACHE_CONFLICT) {
		/* The records are of another numbering than this login's. */
		retention_remapped(r);
		return;
	}
	if (st != CACHE_OK || d == NULL) {
		log_warn("%s event=retention_decide_failed status=%s", r->s->log_id,
			 cache_status_name(st));
		retention_end(r, "store_failed", 0);
		return;
	}
	if (d->forgotten[0] != '\0')
		log_info("%s event=retention_forgotten devices=\"%s\" forget_after=%us",
			 r->s->log_id, d->forgotten, r->s->conf->retention_forget_after_secs);
	if (n == 0) {
		retention_end(r, "ok", 0);
		return;
	}
	r->done = malloc(n * sizeof(*r->done));
	r->need = malloc(n * sizeof(*r->need));
	r->remove = malloc(n * sizeof(*r->remove));
	r->gone = malloc(n * sizeof(*r->gone));
	r->present = calloc(n, 1);
	if (r->done == NULL || r->need == NULL || r->remove == NULL || r->gone == NULL ||
	    r->present == NULL) {
		retention_end(r, "out_of_memory", 0);
		return;
	}
	memcpy(r->done, d->uids, n * sizeof(*r->done));
	memcpy(r->need, d->need, n * sizeof(*r->need));
	r->done_count = n;
	if (imap_fp_fetch(&r->fp, r->s->imap, r->done, n, &retention_fp_handlers, r) < 0)
		retention_end(r, "out_of_memory", 0);
}

static uint32_t *retention_retrieved(const struct pop3_maildrop *drop, size_t *n_r)
{
	uint32_t *uids = malloc(((size_t)drop->count + 1) * sizeof(*uids));
	size_t n = 0;

	if (uids == NULL)
		return NULL;
	for (unsigned int i = 0; i < drop->count && n < CACHE_HIDE_MAX; i++)
		if ((pop3_msg_flags(drop, &drop->msgs[i]) &
		     (POP3_MSG_RETRIEVED | POP3_MSG_VANISHED)) == POP3_MSG_RETRIEVED)
			uids[n++] = drop->msgs[i].uid;
	*n_r = n;
	return uids;
}

static struct cache_req *retention_decide(struct pop3_retention *r)
{
	struct pop3_session *s = r->s;
	const struct conf *conf = s->conf;

	return cache_retention_decide(s->srv->cache, pop3_device_account(r->dev),
				      pop3_device_name(r->dev), pop3_device_token(r->dev),
				      r->drop->uidvalidity, (uint64_t)time(NULL),
				      conf->retention_forget_after_secs,
				      conf->retention_max_messages, r->ages, r->age_count,
				      r->retr, r->retr_count, retention_decided, r);
}

/* ---- devices ---- */

/* Each registered device's profile (as its login would find it): those
   with a max_age go to the decision. A device that registers after this
   has none there, so it holds back everything it has not got. */
static void retention_devices(void *ctx, enum cache_status st, const struct cache_retention *d)
{
	struct pop3_retention *r = ctx;
	const struct conf *conf = r->s->conf;
	char device[POP3_DEVICE_MAX + 1], *save = NULL, *name;
	const char *error;
	size_t address_len, n = 1;

	r->req = NULL;
	if (st != CACHE_OK || d == NULL) {
		log_warn("%s event=retention_decide_failed status=%s", r->s->log_id,
			 cache_status_name(st));
		retention_end(r, "store_failed", 0);
		return;
	}
	for (const char *p = d->devices; *p != '\0'; p++)
		n += *p == ' ';
	r->names = strdup(d->devices);
	r->ages = calloc(n, sizeof(*r->ages));
	if (r->names == NULL || r->ages == NULL ||
	    pop3_split_device(r->s->user, r->s->user_len, conf->device_separator, &address_len,
			      device, &error) < 0) {
		retention_end(r, "out_of_memory", 0);
		return;
	}
	for (name = strtok_r(r->names, " ", &save); name != NULL && r->age_count < n &&
	     r->age_count < CACHE_DEVICES_MAX; name = strtok_r(NULL, " ", &save)) {
		unsigned int age = pop3_profile_done_age(conf_profile_find(conf, name, r->s->user,
									    address_len));

		if (age > 0) {
			r->ages[r->age_count].device = name;
			r->ages[r->age_count++].max_age_secs = age;
		}
	}
	r->req = retention_decide(r);
	if (r->req == NULL)
		retention_end(r, "out_of_memory", 0);
}

/* Whether any profile has a max_age: else no device can ever stop
   listing a message by its age, and the pass needs no profiles. */
static bool retention_ages_matter(const struct conf *conf)
{
	if (pop3_profile_done_age(&conf->policy_profile) > 0)
		return true;
	for (unsigned int i = 0; i < conf->profile_count; i++)
		if (pop3_profile_done_age(&conf->profiles[i]) > 0)
			return true;
	return false;
}

bool pop3_retention_start(struct pop3_session *s, unsigned int folder,
			  struct pop3_retention **rp, pop3_retention_done_cb *done, void *ctx)
{
	const struct conf *conf = s->conf;
	const struct pop3_folder *f = s->folders != NULL && folder < s->folders->n ?
		&s->folders->f[folder] : NULL;
	struct pop3_retention *r;
	const char *name;

	if (conf->retention_when == CONF_RETENTION_OFF || f == NULL || f->dev == NULL ||
	    f->drop == NULL || !pop3_device_locked(f->dev) || s->imap == NULL ||
	    !imap_client_is_connected(s->imap))
		return false;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return false;
	r->dev = f->dev;
	r->drop = f->drop;
	/* A single-folder maildrop's is the route's mailbox (unnamed). */
	name = f->name != NULL ? f->name : s->route->mailbox;
	text_escape(name, strlen(name), r->folder, sizeof(r->folder));
	r->retr = retention_retrieved(f->drop, &r->retr_count);
	if (r->retr == NULL) {
		free(r);
		return false;
	}
	r->s = s;
	r->cb = done;
	r->ctx = ctx;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	if (retention_ages_matter(conf))
		r->req = cache_retention_devices(s->srv->cache, pop3_device_account(r->dev),
						 retention_devices, r);
	else
		r->req = retention_decide(r);
	if (r->req == NULL) {
		free(r->retr);
		free(r);
		return false;
	}
	*rp = r;
	return true;
}

void pop3_retention_free(struct pop3_retention **rp)
{
	struct pop3_retention *r = *rp;

	if (r == NULL)
		return;
	cache_req_cancel(&r->req);
	imap_fp_op_clear(&r->fp);
	free(r->retr);
	free(r->ages);
	free(r->names);
	free(r->done);
	free(r->need);
	free(r->remove);
	free(r->gone);
	free(r->present);
	free(r);
	*rp = NULL;
}
