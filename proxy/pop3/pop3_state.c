/* A device's view of the maildrop and its changes, through the state
   store: lock, view and hiding at login; lock refresh; applying DELE at
   QUIT per delete_action; releasing the lock at the end. */

#include "pop3_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cache.h"
#include "conf.h"
#include "log.h"

static const char *const pop3_delete_names[] = {
	[CONF_DELETE_HIDE] = "hide",
	[CONF_DELETE_HIDE_ALL] = "hide-all",
	[CONF_DELETE_TRASH] = "trash",
	[CONF_DELETE_EXPUNGE] = "expunge",
};
_Static_assert(sizeof(pop3_delete_names) / sizeof(pop3_delete_names[0]) ==
	       CONF_DELETE_EXPUNGE + 1, "names must match enum conf_delete_action");

static int pop3_fp_cmp(const void *a, const void *b)
{
	const struct pop3_fp *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static bool pop3_uid_in(const uint32_t *sorted, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sorted[mid] == uid)
			return true;
		if (sorted[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* ---- lock refresh ---- */

static void pop3_lock_refreshed(void *ctx, enum cache_status st)
{
	struct pop3_session *s = ctx;

	s->refresh_req = NULL;
	if (st == CACHE_IN_USE) {
		/* Expired and taken: exclusivity is gone. QUIT will refuse to
		   apply anything; nothing else can go wrong meanwhile. */
		s->locked = false;
		log_warn("%s event=lock_lost device=%s", s->log_id, s->device);
	} else if (st != CACHE_OK) {
		log_warn("%s event=lock_refresh_failed device=%s status=%s", s->log_id,
			 s->device, cache_status_name(st));
	}
}

static void pop3_lock_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	/* One refresh at a time; its own handle, apart from a command's. */
	if (!s->locked || s->refresh_req != NULL)
		return;
	s->refresh_req = cache_lock_refresh(s->srv->cache, s->account, s->device,
					    s->lock_token, s->conf->lock_ttl_secs,
					    pop3_lock_refreshed, s);
}

static void pop3_lock_timer_start(struct pop3_session *s)
{
	unsigned int secs = s->conf->lock_ttl_secs / 3;
	struct timeval tv = { .tv_sec = secs > 0 ? secs : 1, .tv_usec = 0 };

	if (s->lock_timer == NULL)
		s->lock_timer = event_new(s->srv->base, -1, EV_PERSIST, pop3_lock_timer_cb, s);
	if (s->lock_timer != NULL)
		event_add(s->lock_timer, &tv);
}

/* ---- login: lock, view, re-map ---- */

static void pop3_view_loaded(void *ctx, enum cache_status st, const struct cache_view *view);

static void pop3_state_load_view(struct pop3_session *s)
{
	/* The starting point is recorded when the device is first seen, under
	   the policy of that moment: under "all" it is 1, so a later switch
	   to "new" does not take old mail away from existing devices. */
	s->doing = "loading the device view";
	s->cache_req = cache_load_view(s->srv->cache, s->account, s->device, s->uidvalidity,
				       s->conf->new_device_sees == CONF_NEW_DEVICE_NEW ?
				       s->uidnext : 1, pop3_view_loaded, s);
	if (s->cache_req == NULL)
		pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR, "-ERR [SYS/TEMP] Out of memory");
}

static void pop3_remapped(void *ctx, enum cache_status st)
{
	struct pop3_session *s = ctx;

	s->cache_req = NULL;
	/* CONFLICT: another session re-mapped first. Either way the view is
	   read again; it must now match. */
	if (st != CACHE_OK && st != CACHE_CONFLICT) {
		log_warn("%s event=remap_failed status=%s", s->log_id, cache_status_name(st));
		pop3_login_abort(s, METRICS_LOGIN_STATE_STORE, st == CACHE_ERROR ?
				 "-ERR [SYS/PERM] Device state could not follow the recreated mailbox" :
				 "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	log_info("%s event=remapped from_uidvalidity=%u to_uidvalidity=%u status=%s",
		 s->log_id, s->remap_from, s->uidvalidity, cache_status_name(st));
	pop3_state_load_view(s);
}

static void pop3_remap_fps(struct pop3_session *s, bool ok, struct pop3_fp *fps, size_t n)
{
	struct cache_remap_msg *msgs;
	char (*none)[24];
	size_t i;

	free(s->state_uids);
	s->state_uids = NULL;
	if (!ok) {
		pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR,
				  "-ERR [SYS/TEMP] Upstream failed while following the "
				 "recreated mailbox");
		return;
	}
	msgs = calloc(n + 1, sizeof(*msgs));
	none = calloc(n + 1, sizeof(*none));
	if (msgs == NULL || none == NULL) {
		free(msgs);
		free(none);
		pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	/* The server answers in UID order for a UID range, but nothing
	   requires it. */
	qsort(fps, n, sizeof(*fps), pop3_fp_cmp);
	for (i = 0; i < n; i++) {
		msgs[i].uid = fps[i].uid;
		msgs[i].internaldate = fps[i].internaldate > 0 ? (uint64_t)fps[i].internaldate : 0;
		/* A message with no identifying header matches nothing. */
		snprintf(none[i], sizeof(none[i]), "none:%u", fps[i].uid);
		msgs[i].fingerprint = fps[i].fp[0] != '\0' ? fps[i].fp : none[i];
	}
	s->doing = "moving the device state to the recreated mailbox";
	s->cache_req = cache_remap(s->srv->cache, s->account, s->remap_from, s->uidvalidity,
				   s->uidnext, msgs, n, pop3_remapped, s);
	free(msgs);
	free(none);
	if (s->cache_req == NULL)
		pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR, "-ERR [SYS/TEMP] Out of memory");
}

/* Fingerprints of every message of the recreated mailbox, then one atomic
   re-map of every device's state onto the new UIDs. */
static void pop3_state_remap(struct pop3_session *s)
{
	s->state_uids = malloc((s->msg_count + 1) * sizeof(*s->state_uids));
	if (s->state_uids == NULL) {
		pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	for (unsigned int i = 0; i < s->msg_count; i++)
		s->state_uids[i] = s->msgs[i].uid;
	s->doing = "fingerprinting the recreated mailbox";
	pop3_fingerprints_fetch(s, s->state_uids, s->msg_count, pop3_remap_fps);
}

static void pop3_state_remap(struct pop3_session *s);

static void pop3_view_loaded(void *ctx, enum cache_status st, const struct cache_view *view)
{
	struct pop3_session *s = ctx;
	bool only_new = s->conf->new_device_sees == CONF_NEW_DEVICE_NEW;
	unsigned int out = 0, hidden = 0;

	s->cache_req = NULL;
	if (st != CACHE_OK) {
		log_warn("%s event=state_unavailable while=\"loading the device view\" status=%s",
			 s->log_id, cache_status_name(st));
		pop3_login_abort(s, METRICS_LOGIN_STATE_STORE, st == CACHE_ERROR ?
				 "-ERR [SYS/PERM] Device state is damaged" :
				 "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	if (view->uidvalidity != 0 && view->uidvalidity != s->uidvalidity) {
		/* The upstream mailbox was recreated: every UID changed. The
		   state follows the messages by fingerprint, once; a second
		   mismatch right after means something keeps changing it. */
		if (s->remap_from != 0) {
			log_error("%s event=uidvalidity_changed_again state=%u upstream=%u",
				  s->log_id, view->uidvalidity, s->uidvalidity);
			pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR,
					  "-ERR [SYS/TEMP] The upstream mailbox keeps "
					 "changing, try again later");
			return;
		}
		log_warn("%s event=uidvalidity_changed state=%u upstream=%u action=remap",
			 s->log_id, view->uidvalidity, s->uidvalidity);
		s->remap_from = view->uidvalidity;
		pop3_state_remap(s);
		return;
	}
	for (unsigned int i = 0; i < s->msg_count; i++) {
		uint32_t uid = s->msgs[i].uid;

		if (pop3_uid_in(view->hidden, view->hidden_count, uid) ||
		    pop3_uid_in(view->hidden_all, view->hidden_all_count, uid) ||
		    (only_new && uid < view->first_uidnext)) {
			hidden++;
			continue;
		}
		s->msgs[out++] = s->msgs[i];
	}
	s->msg_count = out;
	log_info("%s event=device_view device=%s new_device=%s hidden=%u visible=%u",
		 s->log_id, s->device, view->new_device ? "yes" : "no", hidden, out);
	pop3_lock_timer_start(s);
	pop3_login_finish_ok(s);
}

static void pop3_locked(void *ctx, enum cache_status st)
{
	struct pop3_session *s = ctx;

	s->cache_req = NULL;
	if (st == CACHE_IN_USE) {
		/* Someone else's: never ours to release. */
		s->lock_requested = false;
		log_info("%s event=device_in_use device=%s", s->log_id, s->device);
		pop3_login_abort(s, METRICS_LOGIN_IN_USE,
				  "-ERR [IN-USE] This device already has a session open");
		return;
	}
	if (st != CACHE_OK) {
		log_warn("%s event=state_unavailable while=\"locking the device\" status=%s",
			 s->log_id, cache_status_name(st));
		pop3_login_abort(s, METRICS_LOGIN_STATE_STORE,
				  "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	s->locked = true;
	pop3_state_load_view(s);
}

void pop3_state_open(struct pop3_session *s)
{
	/* Not a secret: names this session as the lock holder. */
	snprintf(s->lock_token, sizeof(s->lock_token), "%s.%08x", s->id,
		 (unsigned int)random());
	s->doing = "locking the device";
	s->lock_requested = true;
	s->cache_req = cache_lock(s->srv->cache, s->account, s->device, s->lock_token,
				  s->conf->lock_ttl_secs, pop3_locked, s);
	if (s->cache_req == NULL)
		pop3_login_abort(s, METRICS_LOGIN_UPSTREAM_ERROR, "-ERR [SYS/TEMP] Out of memory");
}

/* ---- QUIT ---- */

static void pop3_quit_failed(struct pop3_session *s, const char *reply, const char *why)
{
	log_warn("%s event=quit_not_applied delete_action=%s reason=\"%s\"", s->log_id,
		 pop3_delete_names[s->conf->delete_action], why);
	pop3_reply(s, "%s", reply);
	pop3_session_close_after_flush(s, "quit_not_applied");
}

static void pop3_hidden(void *ctx, enum cache_status st)
{
	struct pop3_session *s = ctx;

	s->cache_req = NULL;
	if (st == CACHE_IN_USE) {
		s->locked = false;
		pop3_quit_failed(s, "-ERR [IN-USE] Device lock lost; nothing was deleted",
				 "lock lost");
		return;
	}
	if (st == CACHE_UNAVAILABLE) {
		/* The write is atomic, but whether it happened is not known. */
		pop3_quit_failed(s, "-ERR [SYS/TEMP] Device state unavailable; the deletions "
				 "were applied entirely or not at all, log in again to see which",
				 cache_status_name(st));
		return;
	}
	if (st != CACHE_OK) {
		pop3_quit_failed(s, st == CACHE_CONFLICT ?
				 "-ERR [SYS/TEMP] The upstream mailbox changed; nothing was deleted" :
				 "-ERR [SYS/PERM] Device state is damaged; nothing was deleted",
				 cache_status_name(st));
		return;
	}
	pop3_upstream_quit(s);
}

static void pop3_removed(struct pop3_session *s, bool ok, bool permanent,
			 const char *error)
{
	if (!ok) {
		pop3_quit_failed(s, permanent ?
				 "-ERR [SYS/PERM] The upstream server cannot remove single "
				 "messages (needs MOVE or UIDPLUS)" :
				 "-ERR [SYS/TEMP] Upstream refused to remove the deleted "
				 "messages; some may remain", error);
		return;
	}
	pop3_upstream_quit(s);
}

/* Fingerprints let the hides follow the messages if the mailbox is ever
   recreated; without them (the fetch failed) the hide still happens. */
static void pop3_quit_fps(struct pop3_session *s, bool ok, struct pop3_fp *fps, size_t nfps)
{
	size_t n = s->state_uid_count;
	const char **fp = calloc(n + 1, sizeof(*fp));

	if (fp == NULL) {
		pop3_quit_failed(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted",
				 "out of memory");
		return;
	}
	if (!ok)
		log_warn("%s event=hide_without_fingerprints", s->log_id);
	/* fps come in the server's order; uids are sorted */
	qsort(fps, nfps, sizeof(*fps), pop3_fp_cmp);
	for (size_t i = 0, j = 0; ok && i < n; i++) {
		while (j < nfps && fps[j].uid < s->state_uids[i])
			j++;
		if (j < nfps && fps[j].uid == s->state_uids[i] && fps[j].fp[0] != '\0')
			fp[i] = fps[j].fp;
	}
	s->doing = "saving the hidden messages";
	/* One atomic write: a crash before it hides nothing, after it all. */
	s->cache_req = cache_hide(s->srv->cache, s->account, s->device, s->lock_token,
				  s->conf->delete_action == CONF_DELETE_HIDE_ALL, s->uidvalidity,
				  s->state_uids, fp, n, pop3_hidden, s);
	free(fp);
	free(s->state_uids);
	s->state_uids = NULL;
	if (s->cache_req == NULL)
		pop3_quit_failed(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted",
				 "out of memory");
}

void pop3_state_quit(struct pop3_session *s)
{
	enum conf_delete_action action = s->conf->delete_action;
	uint32_t *uids;
	size_t n = 0;

	for (unsigned int i = 0; i < s->msg_count; i++) {
		if ((s->msgs[i].flags & POP3_MSG_DELETED) != 0)
			n++;
	}
	if (n == 0) {
		pop3_upstream_quit(s);
		return;
	}
	/* Another session of this device may be serving it now: applying
	   our marks behind its back would break its view. */
	if (!s->locked) {
		pop3_quit_failed(s, "-ERR [IN-USE] Device lock lost; nothing was deleted",
				 "lock lost");
		return;
	}
	if (action == CONF_DELETE_TRASH || action == CONF_DELETE_EXPUNGE) {
		s->doing = action == CONF_DELETE_TRASH ? "moving deleted messages to Trash" :
			"expunging deleted messages";
		pop3_upstream_remove(s, action == CONF_DELETE_TRASH, pop3_removed);
		return;
	}
	if (n > CACHE_HIDE_MAX) {
		pop3_quit_failed(s, "-ERR [SYS/PERM] Too many messages deleted at once; "
				 "nothing was deleted", "over CACHE_HIDE_MAX");
		return;
	}
	uids = malloc(n * sizeof(*uids));
	if (uids == NULL) {
		pop3_quit_failed(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted",
				 "out of memory");
		return;
	}
	n = 0;
	for (unsigned int i = 0; i < s->msg_count; i++) {
		if ((s->msgs[i].flags & POP3_MSG_DELETED) != 0)
			uids[n++] = s->msgs[i].uid;
	}
	s->state_uids = uids;
	s->state_uid_count = n;
	s->doing = "fingerprinting the deleted messages";
	pop3_fingerprints_fetch(s, uids, n, pop3_quit_fps);
}

void pop3_state_close(struct pop3_session *s)
{
	cache_req_cancel(&s->cache_req);
	cache_req_cancel(&s->refresh_req);
	if (s->lock_timer != NULL) {
		event_free(s->lock_timer);
		s->lock_timer = NULL;
	}
	/* Also after a request whose outcome is unknown (timed out, client
	   gone meanwhile): the unlock only deletes our own token. */
	if (s->locked || s->lock_requested) {
		cache_unlock(s->srv->cache, s->account, s->device, s->lock_token);
		s->locked = false;
		s->lock_requested = false;
	}
}
