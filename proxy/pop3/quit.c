/* QUIT; the steps are listed in quit.h. */

#include "quit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "conf.h"
#include "device.h"
#include "folder_select.h"
#include "folders.h"
#include "imap_client.h"
#include "imap_fp.h"
#include "imap_pool.h"
#include "imap_remove.h"
#include "keep.h"
#include "log.h"
#include "maildrop.h"
#include "retention.h"
#include "session.h"
#include "warm.h"
#include "text.h"

enum quit_step {
	QUIT_START,
	QUIT_FINGERPRINTS,
	QUIT_HIDE,
	QUIT_REMOVE,
	QUIT_RETENTION,
	QUIT_LOGOUT,
	QUIT_UNLOCK,
	QUIT_DONE,
	QUIT_STEP_COUNT
};

static const char *const quit_step_names[] = {
	[QUIT_START] = "start",
	[QUIT_FINGERPRINTS] = "fingerprints",
	[QUIT_HIDE] = "hide",
	[QUIT_REMOVE] = "remove",
	[QUIT_RETENTION] = "retention",
	[QUIT_LOGOUT] = "logout",
	[QUIT_UNLOCK] = "unlock",
	[QUIT_DONE] = "done",
};
_Static_assert(sizeof(quit_step_names) / sizeof(quit_step_names[0]) == QUIT_STEP_COUNT,
	       "step names must match enum quit_step");

static const char *const quit_step_doing[] = {
	[QUIT_START] = "starting QUIT",
	[QUIT_FINGERPRINTS] = "fingerprinting the deleted messages",
	[QUIT_HIDE] = "saving the hidden messages",
	[QUIT_REMOVE] = "removing the deleted messages upstream",
	[QUIT_RETENTION] = "removing what every device is done with",
	[QUIT_LOGOUT] = "logging out upstream",
	[QUIT_UNLOCK] = "releasing the device",
	[QUIT_DONE] = "signing off",
};

struct pop3_quit {
	struct pop3_session *s;
	enum quit_step step;
	/* The folder whose marks are being applied (folders.h), its drop and
	   state, and how many folders' marks are applied already. */
	unsigned int folder;
	struct pop3_maildrop *drop;
	struct pop3_device *dev;
	unsigned int applied;
	struct pop3_folder_select_op select;
	uint32_t *uids;              /* the DELE'd messages, ascending */
	size_t count;
	char (*fps)[IMAP_FP_HEX + 1]; /* their fingerprints, "" if none */
	struct imap_fp_op fp;
	struct imap_remove_op remove;
	/* Retention: a pass per folder (retention.h), the folder of the one
	   under way. */
	struct pop3_retention *retention[POP3_MAX_FOLDERS];
	unsigned int rfolder;
	unsigned int unlocking;      /* releases not confirmed yet, + 1 */
};

static void quit_step_logout(struct pop3_quit *q);
static void quit_next_folder(struct pop3_quit *q);

static void quit_set_step(struct pop3_quit *q, enum quit_step step)
{
	log_debug("%s quit_step=%s->%s", q->s->log_id, quit_step_names[q->step],
		  quit_step_names[step]);
	q->step = step;
	q->s->doing = quit_step_doing[step];
}

static void quit_free(struct pop3_session *s, void *ctx)
{
	struct pop3_quit *q = ctx;

	for (unsigned int i = 0; i < POP3_MAX_FOLDERS; i++)
		pop3_retention_free(&q->retention[i]);
	imap_fp_op_clear(&q->fp);
	free(q->fps);
	free(q->uids);
	free(q);
}

static const struct pop3_cmd_ops quit_ops = {
	.free = quit_free,
};

/* The folders' names from..to-1 that have marks, ", "-separated. */
static void quit_folder_names(const struct pop3_quit *q, unsigned int from, unsigned int to,
			      char *buf, size_t size)
{
	const struct pop3_folders *fs = q->s->folders;
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned int i = from; i < to && o < size; i++) {
		if (pop3_maildrop_marked(fs->f[i].drop) == 0)
			continue;
		o += (size_t)snprintf(buf + o, size - o, "%s%s", o > 0 ? ", " : "", fs->f[i].name);
	}
}

/* The one failure exit: reply says what was and was not applied. With
   folders, after some folders' marks were applied: which were, which
   were not, and why ("-ERR [CODE] Deletes in INBOX applied; those in
   Sent were not: ..."). */
static void quit_fail(struct pop3_quit *q, const char *reply, const char *why)
{
	struct pop3_session *s = q->s;
	char done[200], left[200], partial[512];
	const char *text = reply + strlen("-ERR ");

	log_warn("%s event=quit_not_applied delete_action=%s step=%s folder=%u applied=%u "
		 "reason=\"%s\"", s->log_id, conf_delete_action_name(s->profile->delete_action),
		 quit_step_names[q->step], q->folder, q->applied, why);
	if (q->applied > 0) {
		static const char nothing[] = "; nothing was deleted";
		const char *code_end = text[0] == '[' ? strchr(text, ']') : NULL;
		int code_len = code_end != NULL ? (int)(code_end - text + 1) : 0;
		const char *why_text = text + code_len + (code_len > 0 && text[code_len] == ' ');
		size_t why_len = strlen(why_text);

		/* What failed applied nothing of its folder, but others were. */
		if (why_len >= strlen(nothing) &&
		    strcmp(why_text + why_len - strlen(nothing), nothing) == 0)
			why_len -= strlen(nothing);
		quit_folder_names(q, 0, q->folder, done, sizeof(done));
		quit_folder_names(q, q->folder, s->folders->n, left, sizeof(left));
		snprintf(partial, sizeof(partial), "-ERR %.*s%sDeletes in %s applied; those in %s "
			 "were not: %.*s", code_len, text, code_len > 0 ? " " : "", done, left,
			 (int)why_len, why_text);
		reply = partial;
	}
	pop3_reply(s, "%s", reply);
	pop3_session_close_after_flush(s, "quit_not_applied");
	pop3_cmd_done(s);
}

/* ---- unlock, and the end ---- */

static void quit_done(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;

	quit_set_step(q, QUIT_DONE);
	pop3_reply(s, "+OK popgate signing off");
	pop3_session_close_after_flush(s, "quit");
	pop3_cmd_done(s);
}

static void quit_unlocked(void *ctx, enum cache_status st)
{
	struct pop3_quit *q = ctx;

	if (st != CACHE_OK)
		log_info("%s event=unlock_unconfirmed status=%s", q->s->log_id,
			 cache_status_name(st));
	quit_done(q);
}

/* The first folder's lock goes last: a login takes it first, so once
   it is free no other folder's lock of this session is in the way. */
static void quit_unlock_first(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;

	if (s->dev == NULL || pop3_device_release_wait(s->dev, quit_unlocked, q) < 0)
		quit_done(q);
}

static void quit_folder_unlocked(void *ctx, enum cache_status st)
{
	struct pop3_quit *q = ctx;

	if (st != CACHE_OK)
		log_info("%s event=unlock_unconfirmed status=%s", q->s->log_id,
			 cache_status_name(st));
	if (--q->unlocking == 0)
		quit_unlock_first(q);
}

static void quit_step_unlock(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;

	quit_set_step(q, QUIT_UNLOCK);
	/* Everything was applied before LOGOUT, so its failure lost
	   nothing. The locks go before the +OK, as any client of the store
	   sees it: a client that logs in again at once, through this
	   gateway or another, must not find its own device in use. The
	   other folders' first, all at once; the first folder's once the
	   store has carried all of them out. */
	q->unlocking = 1;
	for (unsigned int i = 1; i < s->folders->n; i++) {
		struct pop3_device *d = s->folders->f[i].dev;

		if (d == NULL)
			continue;
		q->unlocking++;
		if (pop3_device_release_wait(d, quit_folder_unlocked, q) < 0)
			q->unlocking--;     /* released without waiting */
	}
	quit_folder_unlocked(q, CACHE_OK);
}

/* ---- logout ---- */

static void quit_logged_out(void *ctx)
{
	quit_step_unlock(ctx);
}

static void quit_retention_next(struct pop3_quit *q);

static void quit_retention_done(void *ctx)
{
	struct pop3_quit *q = ctx;

	/* The pass is freed with the QUIT: this may run inside its own
	   callbacks. */
	if (q->rfolder == 0) {
		quit_step_logout(q);
		return;
	}
	q->rfolder--;
	quit_retention_next(q);
}

static void quit_retention_selected(struct pop3_session *s, void *ctx, bool ok,
				    const char *reply)
{
	struct pop3_quit *q = ctx;

	if (!ok && q->rfolder == 0) {
		/* A kept connection must have the first folder (keep.h). */
		log_warn("%s event=quit_first_folder_unselected reply=\"%s\"", s->log_id, reply);
		pop3_keep_forget(s);
		quit_step_logout(q);
		return;
	}
	if (!ok) {
		char name[200];
		const char *f = s->folders->f[q->rfolder].name;

		log_warn("%s event=retention_skipped reason=folder_unselected folder=%s reply=\"%s\"",
			 s->log_id, text_escape(f, strlen(f), name, sizeof(name)), reply);
		quit_retention_done(q);
		return;
	}
	if (!pop3_retention_start(s, q->rfolder, &q->retention[q->rfolder], quit_retention_done,
				  q))
		quit_retention_done(q);
}

/* The session's own marks are applied: a retention pass in each folder,
   under this device's lock there (retention.h), when one is due, from
   the last folder to the first, so that the first is selected again at
   the end (for a kept connection: keep.h); then the logout. */
static void quit_retention_next(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;

	if (pop3_folder_select(&q->select, s, q->rfolder, quit_retention_selected, q) < 0)
		quit_retention_selected(s, q, false, "not sent");
}

static void quit_step_retention(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;

	quit_set_step(q, QUIT_RETENTION);
	q->rfolder = s->conf->retention_when != CONF_RETENTION_OFF ? s->folders->n - 1 : 0;
	quit_retention_next(q);
}

static void quit_step_logout(struct pop3_quit *q)
{
	quit_set_step(q, QUIT_LOGOUT);
	/* Kept for the next poll instead (keep_idle): nothing waits for the
	   upstream. */
	if (pop3_keep_put(q->s)) {
		quit_step_unlock(q);
		return;
	}
	/* Everything is applied: the LOGOUT goes on without the session
	   waiting for its answer (nothing of the session still pending on
	   the connection). */
	if (q->s->imap != NULL && imap_client_idle(q->s->imap) &&
	    imap_pool_logout(q->s->srv->pool, q->s->imap)) {
		q->s->imap = NULL;
		quit_step_unlock(q);
		return;
	}
	if (q->s->imap == NULL || !imap_client_is_connected(q->s->imap) ||
	    imap_client_logout(q->s->imap, quit_logged_out, q) < 0)
		quit_step_unlock(q);
}

/* ---- remove (trash, expunge) ---- */

/* The answer says exactly what happened upstream: the work goes in
   chunks, and a chunk that failed leaves the earlier ones done. */
static void quit_removed(void *ctx, const struct imap_remove_result *r)
{
	struct pop3_quit *q = ctx;
	bool trash = q->s->profile->delete_action == CONF_DELETE_TRASH;
	char why[320], reply[300];

	if (!r->ok) {
		char error[200];

		text_escape_quoted(r->error, strlen(r->error), error, sizeof(error));
		snprintf(why, sizeof(why), "%s (%zu of %zu done)", error, r->done, q->count);
		snprintf(reply, sizeof(reply), "-ERR [SYS/%s] The upstream server refused to %s "
			 "the deleted messages: %zu of %zu %s, the other %zu stay in the mailbox",
			 r->permanent ? "PERM" : "TEMP", trash ? "move" : "expunge", r->done,
			 q->count, trash ? "were moved to the Trash" : "were expunged",
			 q->count - r->done);
		quit_fail(q, reply, why);
		return;
	}
	q->applied++;
	quit_next_folder(q);
}

static void quit_step_remove(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;
	bool trash = s->profile->delete_action == CONF_DELETE_TRASH;

	quit_set_step(q, QUIT_REMOVE);
	log_info("%s event=remove messages=%zu action=%s", s->log_id, q->count,
		 trash ? "trash" : "expunge");
	if (imap_remove(&q->remove, s->imap, q->uids, q->count, trash, s->conf->trash_mailbox,
			quit_removed, q) < 0)
		quit_fail(q, q->remove.permanent ?
			  "-ERR [SYS/PERM] The upstream server cannot remove single messages "
			  "(needs MOVE or UIDPLUS); nothing was deleted" :
			  "-ERR [SYS/TEMP] Cannot remove the deleted messages now; "
			  "nothing was deleted", q->remove.error);
}

/* ---- hide (hide, hide-all) ---- */

/* The login's read of the store (warm.h) learns this QUIT's hides, so the
   next poll need not read them again; if another change came in between,
   it goes. */
static void quit_kept_read_hid(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;
	struct cache_gen_change change;

	/* The first folder's: the one kept with the connection. */
	if (q->folder == 0 && s->warm != NULL && pop3_device_hide_change(q->dev, &change) &&
	    !pop3_warm_hid(s->warm, s->profile->delete_action == CONF_DELETE_HIDE_ALL, &change,
			   q->uids, q->count))
		pop3_warm_free(&s->warm);
}

static void quit_hidden(void *ctx, enum cache_status st)
{
	struct pop3_quit *q = ctx;

	switch (st) {
	case CACHE_OK:
		quit_kept_read_hid(q);
		q->applied++;
		quit_next_folder(q);
		return;
	case CACHE_IN_USE:
		quit_fail(q, "-ERR [IN-USE] Device lock lost; nothing was deleted", "lock lost");
		return;
	case CACHE_UNAVAILABLE:
		/* The write is atomic, but whether it happened is not known. */
		quit_fail(q, "-ERR [SYS/TEMP] Device state unavailable; the deletions were "
			  "applied entirely or not at all, log in again to see which",
			  cache_status_name(st));
		return;
	case CACHE_CONFLICT:
		quit_fail(q, "-ERR [SYS/TEMP] The upstream mailbox changed; nothing was deleted",
			  cache_status_name(st));
		return;
	case CACHE_LIMIT: {
		char reply[120];

		snprintf(reply, sizeof(reply), "-ERR [SYS/PERM] Too many hidden messages for this "
			 "device (at most %d); nothing was deleted", CACHE_HIDDEN_MAX);
		quit_fail(q, reply, "over CACHE_HIDDEN_MAX");
		return;
	}
	case CACHE_ERROR:
		break;
	}
	quit_fail(q, "-ERR [SYS/PERM] Device state is damaged; nothing was deleted",
		  cache_status_name(st));
}

static void quit_step_hide(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;
	const char **fp = calloc(q->count + 1, sizeof(*fp));

	quit_set_step(q, QUIT_HIDE);
	if (fp == NULL) {
		quit_fail(q, "-ERR [SYS/TEMP] Out of memory; nothing was deleted", "out of memory");
		return;
	}
	for (size_t i = 0; i < q->count; i++)
		fp[i] = q->fps[i][0] != '\0' ? q->fps[i] : NULL;
	/* One atomic write: a crash before it hides nothing, after it all. */
	if (pop3_device_hide(q->dev, s->profile->delete_action == CONF_DELETE_HIDE_ALL,
			     q->drop->uidvalidity, q->uids, fp, q->count, quit_hidden, q) < 0) {
		free(fp);
		quit_fail(q, "-ERR [SYS/TEMP] Out of memory; nothing was deleted", "out of memory");
		return;
	}
	free(fp);
}

/* ---- fingerprints ---- */

static void quit_fp_message(void *ctx, uint32_t uid, const char *fp, int64_t internaldate)
{
	struct pop3_quit *q = ctx;
	const struct pop3_msg *m = pop3_maildrop_by_uid(q->drop, uid);
	size_t lo = 0, hi = q->count;

	/* Expunged since login: what the server shows under its UID now is
	   a stand-in (Courier), whose header must not follow the hide. */
	if (m != NULL && (pop3_msg_flags(q->drop, m) & POP3_MSG_VANISHED) != 0)
		return;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (q->uids[mid] == uid) {
			snprintf(q->fps[mid], sizeof(q->fps[mid]), "%s", fp);
			return;
		}
		if (q->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
}

/* Fingerprints let the hides follow the messages if the mailbox is ever
   recreated: a hide is never stored without them. */
static void quit_fps_done(void *ctx, bool ok)
{
	struct pop3_quit *q = ctx;

	if (!ok) {
		quit_fail(q, "-ERR [SYS/TEMP] The upstream server failed while the deletions were "
			  "saved; nothing was deleted", "fingerprint fetch failed");
		return;
	}
	quit_step_hide(q);
}

static const struct imap_fp_handlers quit_fp_handlers = {
	.message = quit_fp_message,
	.done = quit_fps_done,
};

static void quit_step_fingerprints(struct pop3_quit *q)
{
	quit_set_step(q, QUIT_FINGERPRINTS);
	q->fps = calloc(q->count, sizeof(*q->fps));
	if (q->fps == NULL) {
		quit_fail(q, "-ERR [SYS/TEMP] Out of memory; nothing was deleted", "out of memory");
		return;
	}
	if (imap_fp_fetch(&q->fp, q->s->imap, q->uids, q->count, &quit_fp_handlers, q) < 0)
		quit_fail(q, "-ERR [SYS/TEMP] Out of memory; nothing was deleted", "out of memory");
}

/* ---- each folder's marks in turn (folders.h), in its own folder ---- */

static void quit_folder_selected(struct pop3_session *s, void *ctx, bool ok, const char *reply)
{
	struct pop3_quit *q = ctx;
	enum conf_delete_action action = s->profile->delete_action;
	char buf[320];

	if (!ok) {
		snprintf(buf, sizeof(buf), "%s%s", reply, q->applied == 0 ?
			 "; nothing was deleted" : "");
		quit_fail(q, buf, "cannot select the folder");
		return;
	}
	if (action == CONF_DELETE_TRASH || action == CONF_DELETE_EXPUNGE)
		quit_step_remove(q);
	else
		quit_step_fingerprints(q);
}

/* The marks of folder q->folder, or of the next one that has any. */
static void quit_folder_start(struct pop3_quit *q)
{
	struct pop3_session *s = q->s;
	struct pop3_folders *fs = s->folders;

	free(q->uids);
	q->uids = NULL;
	free(q->fps);
	q->fps = NULL;
	imap_fp_op_clear(&q->fp);
	while (q->folder < fs->n && pop3_maildrop_marked(fs->f[q->folder].drop) == 0)
		q->folder++;
	if (q->folder == fs->n) {
		quit_step_retention(q);
		return;
	}
	q->drop = fs->f[q->folder].drop;
	q->dev = fs->f[q->folder].dev;
	q->uids = pop3_maildrop_marked_uids(q->drop, &q->count);
	if (q->uids == NULL) {
		quit_fail(q, "-ERR [SYS/TEMP] Out of memory; nothing was deleted", "out of memory");
		return;
	}
	if (pop3_folder_select(&q->select, s, q->folder, quit_folder_selected, q) < 0)
		quit_folder_selected(s, q, false, "-ERR [SYS/TEMP] Cannot open the folder upstream");
}

static void quit_next_folder(struct pop3_quit *q)
{
	q->folder++;
	quit_folder_start(q);
}

void pop3_quit_start(struct pop3_session *s)
{
	enum conf_delete_action action = s->profile->delete_action;
	struct pop3_quit *q = calloc(1, sizeof(*q));

	pop3_session_set_state(s, POP3_STATE_UPDATE);
	if (q == NULL) {
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory; nothing was deleted");
		pop3_session_close_after_flush(s, "quit_not_applied");
		return;
	}
	q->s = s;
	pop3_cmd_start(s, &quit_ops, q);
	s->doing = quit_step_doing[QUIT_START];
	/* Before anything is applied, in any folder: */
	for (unsigned int i = 0; i < s->folders->n; i++) {
		const struct pop3_folder *f = &s->folders->f[i];
		unsigned int marked = pop3_maildrop_marked(f->drop);

		if (marked == 0)
			continue;
		/* Another session of this device may be serving it now:
		   applying our marks behind its back would break its view. */
		if (f->dev == NULL || !pop3_device_locked(f->dev)) {
			quit_fail(q, "-ERR [IN-USE] Device lock lost; nothing was deleted",
				  "lock lost");
			return;
		}
		if (action != CONF_DELETE_TRASH && action != CONF_DELETE_EXPUNGE &&
		    marked > CACHE_HIDE_MAX) {
			quit_fail(q, "-ERR [SYS/PERM] Too many messages deleted at once; nothing "
				  "was deleted", "over CACHE_HIDE_MAX");
			return;
		}
	}
	q->folder = 0;
	quit_folder_start(q);
}
