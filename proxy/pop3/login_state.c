/* The login's state steps, once the listing is complete: exact sizes
   and the device's lock (side by side), its view (or the last login's,
   kept: warm.h), the re-map of a recreated mailbox, the
   legacy server's UIDLs, every message's UIDL, then +OK. */

#include "login_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "conf.h"
#include "device.h"
#include "folders.h"
#include "log.h"
#include "login_legacy.h"
#include "maildrop.h"
#include "remap.h"
#include "session.h"
#include "sizes.h"
#include "uidl_map.h"
#include "warm.h"

/* Logins that may re-map a recreated mailbox at the same time: each
   fingerprints every message, so a mass migration upstream must not make
   every login do it at once. */
#define POP3_MAX_REMAPS 2

static void login_step_view(struct pop3_login *l);
static void login_step_uidl(struct pop3_login *l);

/* ---- done ---- */

const char *login_state_account(const struct pop3_login *l)
{
	return l->folder_account != NULL ? l->folder_account : l->account;
}

void login_finish(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	unsigned int count;
	uint64_t size;

	if (l->folders == NULL && (l->folders = pop3_folders_new(1)) != NULL) {
		l->folders->n = 1;
		l->folders->f[0] = (struct pop3_folder){ .drop = l->drop, .dev = l->dev };
		pop3_folders_renumber(l->folders);
	}
	if (l->folders == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	login_set_step(l, LOGIN_DONE);
	s->folders = l->folders;
	l->folders = NULL;
	s->imap = l->imap;
	l->imap = NULL;
	s->dev = l->dev;
	l->dev = NULL;
	s->drop = l->drop;
	l->drop = NULL;
	s->warm = l->warm;
	l->warm = NULL;
	l->reserved_drop = 0;        /* the session's now, until its end */
	pop3_session_set_state(s, POP3_STATE_TRANSACTION);
	metrics_login(s->route->name, METRICS_LOGIN_OK);
	pop3_limits_succeeded(&l->limits, l->account, s->device);
	pop3_throttle_clear(s, l->account);
	pop3_folders_visible(s->folders, &count, &size);
	log_info("%s event=login user=%s device=%s client=%s route=%s upstream=%s:%u "
		 "messages=%u octets=%llu uidvalidity=%u rtt_upstream=%u listing_source=%s",
		 s->log_id, s->user_log, s->device, s->client_ip, s->route->name,
		 s->route->host, s->route->port, count, (unsigned long long)size,
		 s->drop->uidvalidity,
		 l->rtt_before + imap_client_round_trips(s->imap) - l->rtt_start,
		 l->listing_source != NULL ? l->listing_source : "none");
	pop3_reply(s, "+OK Logged in, %u messages (%llu octets)", count,
		   (unsigned long long)size);
	/* After the answer: the copy of the listing for other gateways. */
	pop3_shared_put(s->srv->cache, l->account, s->route, l->shared_blob, l->shared_len,
			l->shared_messages, s->log_id);
	free(l->shared_blob);
	l->shared_blob = NULL;
	pop3_cmd_done(s);
}

/* ---- remap: the mailbox was recreated ---- */

static void login_remapped(void *ctx, enum pop3_remap_result result, enum cache_status st)
{
	struct pop3_login *l = ctx;

	login_free_remap(l);
	switch (result) {
	case POP3_REMAP_OK:
		log_info("%s event=remapped from_uidvalidity=%u to_uidvalidity=%u status=%s",
			 l->s->log_id, l->remap_from, l->drop->uidvalidity, cache_status_name(st));
		login_step_view(l);
		return;
	case POP3_REMAP_UPSTREAM:
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Upstream failed while following the recreated mailbox");
		return;
	case POP3_REMAP_MEMORY:
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
		return;
	case POP3_REMAP_STORE_TEMP:
	case POP3_REMAP_STORE_PERM:
		break;
	}
	log_warn("%s event=remap_failed status=%s", l->s->log_id, cache_status_name(st));
	login_fail(l, METRICS_LOGIN_STATE_STORE, LOGIN_ANSWER_REPLY,
		   result == POP3_REMAP_STORE_PERM ?
		   "-ERR [SYS/PERM] Device state could not follow the recreated mailbox" :
		   "-ERR [SYS/TEMP] Device state unavailable, try again later");
}

/* Fingerprints of every message of the recreated mailbox (also those
   flagged \Deleted: a device may have hidden them), then one atomic
   re-map of every device's state onto the new UIDs. Bounded: at most
   POP3_MAX_REMAPS at once, and within max_listing_memory. */
static void login_step_remap(struct pop3_login *l, uint32_t stored_uidvalidity)
{
	struct pop3_session *s = l->s;
	struct pop3_maildrop *d = l->drop;
	size_t need = pop3_remap_bytes(d->exists_count);

	login_set_step(l, LOGIN_REMAP);
	l->remap_from = stored_uidvalidity;
	if (s->srv->remaps >= POP3_MAX_REMAPS) {
		log_warn("%s event=remap_deferred remaps=%u", s->log_id, s->srv->remaps);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Busy following recreated mailboxes, try again in a "
			   "minute");
		return;
	}
	if (!login_reserve(l, need))
		return;
	l->reserved_remap = need;
	s->srv->remaps++;
	l->remapping = true;
	l->remap = pop3_remap_start(l->imap, l->dev, d->exists, d->exists_count,
				    stored_uidvalidity, d->uidvalidity, d->uidnext,
				    login_remapped, l);
	if (l->remap == NULL)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
}

/* ---- uidl ---- */

/* Every message has its UIDL: the drop narrowed to the device's view. */
static void login_uidls_ready(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	size_t extra = pop3_maildrop_extra_bytes(l->drop);
	unsigned int hidden;

	/* The UIDL strings and the rest are the session's too, within the
	   budget. */
	if (!login_reserve(l, extra))
		return;
	l->reserved_drop += extra;
	hidden = pop3_maildrop_narrow(l->drop, l->hidden, l->first_uid);
	login_free_uidls(l);
	log_info("%s event=device_view device=%s profile=%s new_device=%s left_out=%u hidden=%u "
		 "visible=%u pruned=%zu state=%s%s%s", s->log_id, s->device,
		 s->profile->pattern != NULL ? s->profile->pattern : "[policy]",
		 l->new_device ? "yes" : "no", l->left_out, hidden, l->drop->count, l->pruned,
		 l->warm_hit ? "kept" : l->warm_more ? "kept+new" : "read",
		 l->folder > 0 ? " folder=" : "", l->folder > 0 ? l->folders->f[l->folder].tag : "");
	if (l->folder_built != NULL)
		l->folder_built(l);
	else
		login_finish(l);
}

static void login_uidls_done(void *ctx, enum pop3_uidl_map_result result, enum cache_status st,
			     const struct pop3_uidl_map_stats *stats)
{
	struct pop3_login *l = ctx;
	struct pop3_session *s = l->s;

	log_info("%s event=uidls stored=%zu assigned=%zu imported=%zu renamed=%zu pruned=%zu "
		 "status=%s", s->log_id, stats->stored, stats->assigned, stats->imported,
		 stats->renamed, stats->pruned, cache_status_name(st));
	switch (result) {
	case POP3_UIDL_MAP_OK:
		break;
	case POP3_UIDL_MAP_UPSTREAM:
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Upstream failed while assigning UIDLs");
		return;
	case POP3_UIDL_MAP_NO_INPUT:
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] The upstream does not give what the UIDL format needs");
		return;
	case POP3_UIDL_MAP_MEMORY:
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
		return;
	case POP3_UIDL_MAP_STORE_TEMP:
	case POP3_UIDL_MAP_STORE_PERM:
		log_warn("%s event=state_unavailable while=\"assigning the UIDLs\" status=%s",
			 s->log_id, cache_status_name(st));
		login_fail(l, METRICS_LOGIN_STATE_STORE, LOGIN_ANSWER_REPLY,
			   result == POP3_UIDL_MAP_STORE_PERM ?
			   "-ERR [SYS/PERM] The UIDL map is damaged or full" :
			   "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	/* What was read, for the next login of the account (warm.h), of the
	   first folder (the one kept with the connection): only while all
	   listings together hold half the budget, so kept copies never crowd
	   out a login. */
	if (l->folder == 0) {
		pop3_warm_free(&l->warm);
		if (s->keep_key != NULL)
			l->warm = pop3_warm_new(&s->srv->listing_bytes,
						((uint64_t)s->conf->max_listing_mib << 20) / 2,
						s->device, &l->gens, l->drop, l->hidden,
						l->view_first_uidnext);
	}
	login_uidls_ready(l);
}

/* Every message of the drop gets its stored UIDL; new ones are assigned
   and stored first. Within max_listing_memory. */
static void login_step_uidl(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	size_t need;
	const char *error;

	login_set_step(l, LOGIN_UIDL);
	if (l->warm_hit) {
		/* The store holds what the last login read: nothing to ask. */
		if (pop3_warm_apply(l->warm, l->drop) < 0) {
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Out of memory");
			return;
		}
		login_uidls_ready(l);
		return;
	}
	if (uidl_format_parse(s->route->uidl_format, strlen(s->route->uidl_format),
			      &l->uidl_fmt, &error) < 0) {
		/* The configuration check refuses it: a bug if seen. */
		log_error("%s event=bad_uidl_format error=\"%s\"", s->log_id, error);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Bad uidl_format in configuration");
		return;
	}
	need = pop3_uidl_map_bytes(l->drop->exists_count, &l->uidl_fmt);
	if (!login_reserve(l, need))
		return;
	l->reserved_uidl = need;
	if (l->warm_more) {
		/* The kept read and the new mail's: only new ones to assign. */
		l->stored = calloc(l->drop->exists_count + 1, sizeof(*l->stored));
		for (size_t i = 0; l->stored != NULL && i < l->drop->exists_count; i++)
			l->stored[i] = pop3_warm_stored(l->warm, i);
		l->uidls = l->stored == NULL ? NULL :
			pop3_uidl_map_start_known(l->imap, l->dev, l->drop, &l->uidl_fmt,
						  s->log_id, s->srv->base, l->stored,
						  pop3_warm_legacy(l->warm), login_uidls_done, l);
	} else {
		l->uidls = pop3_uidl_map_start(l->imap, l->dev, l->drop, &l->uidl_fmt, s->log_id,
					       login_uidls_done, l);
	}
	if (l->uidls == NULL)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
}

/* ---- legacy: the old POP3 server's UIDLs, once per account ---- */

static void login_legacy_done(void *ctx, const char *reply)
{
	struct pop3_login *l = ctx;
	char copy[512];

	/* The reply is the step's, which goes now. */
	if (reply != NULL)
		snprintf(copy, sizeof(copy), "%s", reply);
	pop3_legacy_free(&l->legacy);
	login_clear_password(l);
	if (reply != NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_UNAVAILABLE, LOGIN_ANSWER_REPLY, copy);
		return;
	}
	login_step_uidl(l);
}

static void login_step_legacy(struct pop3_login *l)
{
	/* The legacy server's UIDLs are those of the route's mailbox. */
	if (l->s->route->legacy_pop3 == NULL || l->folder > 0) {
		login_step_uidl(l);
		return;
	}
	login_set_step(l, LOGIN_LEGACY);
	if (l->pass == NULL) {
		/* The configuration check keeps oauth2 routes out: a bug if seen. */
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] legacy_pop3 without a password to log in there");
		return;
	}
	l->legacy = pop3_legacy_start(l->s, l->account, l->login_user, l->login_user_len,
				      l->pass, l->pass_len, l->imap, l->drop, login_legacy_done, l);
	if (l->legacy == NULL)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] The gateway is too busy, try again later");
}

/* ---- view ---- */

/* The view from the kept read (warm.h), which holds the whole listing. */
static void login_view_kept(struct pop3_login *l)
{
	const struct pop3_maildrop *d = l->drop;
	const uint8_t *hidden = pop3_warm_hidden(l->warm);

	if (hidden != NULL && d->exists_count > 0) {
		l->hidden = malloc(d->exists_count);
		if (l->hidden == NULL) {
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Out of memory");
			return;
		}
		memcpy(l->hidden, hidden, d->exists_count);
	}
	l->view_first_uidnext = pop3_warm_first_uidnext(l->warm);
	l->first_uid = l->s->profile->new_device_sees == CONF_NEW_DEVICE_NEW ?
		l->view_first_uidnext : 0;
	login_step_legacy(l);
}

/* What the store says of the new mail, added to the kept read; any
   trouble and the view is read in full. */
static void login_peeked(void *ctx, enum cache_status st, const struct cache_peek *p)
{
	struct pop3_login *l = ctx;

	l->warm_more = false;
	if (st != CACHE_OK) {
		log_info("%s event=state_peek_failed status=%s", l->s->log_id,
			 cache_status_name(st));
		pop3_warm_free(&l->warm);
		login_step_view(l);
		return;
	}
	if (pop3_warm_add(l->warm, l->drop, p) < 0) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	l->warm_more = true;
	login_view_kept(l);
}

static void login_view_loaded(void *ctx, enum cache_status st, const struct cache_view *view)
{
	struct pop3_login *l = ctx;
	struct pop3_session *s = l->s;
	bool only_new = s->profile->new_device_sees == CONF_NEW_DEVICE_NEW;

	if (st != CACHE_OK) {
		char limit[100];

		log_warn("%s event=state_unavailable while=\"loading the device view\" status=%s",
			 s->log_id, cache_status_name(st));
		snprintf(limit, sizeof(limit), "-ERR [SYS/PERM] Too many devices for this account "
			 "(at most %d)", CACHE_DEVICES_MAX);
		login_fail(l, METRICS_LOGIN_STATE_STORE, LOGIN_ANSWER_REPLY, st == CACHE_LIMIT ? limit :
			   st == CACHE_ERROR ? "-ERR [SYS/PERM] Device state is damaged" :
			   "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	if (view->uidvalidity != 0 && view->uidvalidity != l->drop->uidvalidity) {
		/* The upstream mailbox was recreated: every UID changed. The
		   state follows the messages by fingerprint, once; a second
		   mismatch right after means something keeps changing it. */
		if (l->remap_from != 0) {
			log_error("%s event=uidvalidity_changed_again state=%u upstream=%u",
				  s->log_id, view->uidvalidity, l->drop->uidvalidity);
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] The upstream mailbox keeps changing, try again later");
			return;
		}
		log_warn("%s event=uidvalidity_changed state=%u upstream=%u action=remap",
			 s->log_id, view->uidvalidity, l->drop->uidvalidity);
		login_step_remap(l, view->uidvalidity);
		return;
	}
	/* The view is the callback's: kept for after the UIDL step. */
	if (view->hidden != NULL && view->count > 0) {
		l->hidden = malloc(view->count);
		if (l->hidden == NULL) {
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Out of memory");
			return;
		}
		memcpy(l->hidden, view->hidden, view->count);
	}
	l->view_first_uidnext = view->first_uidnext;
	l->first_uid = only_new ? view->first_uidnext : 0;
	l->new_device = view->new_device;
	l->pruned = view->pruned;
	login_step_legacy(l);
}

static void login_step_view(struct pop3_login *l)
{
	const struct conf_profile *profile = l->s->profile;
	const struct pop3_maildrop *d = l->drop;
	struct cache_listing listing = {
		.uidvalidity = d->uidvalidity, .uidnext = d->uidnext,
		.uids = d->exists, .n = d->exists_count,
	};

	login_set_step(l, LOGIN_VIEW);
	if (l->warm_more) {
		size_t old = d->exists_count - pop3_warm_new_mail(l->warm, l->s->device, &l->gens, d);

		if (pop3_device_peek(l->dev, d->uidvalidity, d->exists + old, d->exists_count - old,
				     login_peeked, l) < 0)
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	if (l->warm_hit) {
		login_view_kept(l);
		return;
	}
	/* The starting point is recorded when the device is first seen, under
	   the policy of that moment: under "all" it is 1, so a later switch
	   to "new" does not take old mail away from existing devices. */
	if (pop3_device_load_view(l->dev, &listing,
				  profile->new_device_sees == CONF_NEW_DEVICE_NEW ? d->uidnext : 1,
				  login_view_loaded, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
}

/* ---- lock and sizes, side by side ---- */

/* Both answered: on to the view. */
static void login_locked_sized(struct pop3_login *l)
{
	if (!l->lock_pending && !l->sizes_pending)
		login_step_view(l);
}

static void login_locked(void *ctx, enum cache_status st, const struct cache_gens *g)
{
	struct pop3_login *l = ctx;

	l->lock_pending = false;
	if (st == CACHE_IN_USE) {
		login_set_step(l, LOGIN_LOCK);
		log_info("%s event=device_in_use device=%s", l->s->log_id, l->s->device);
		login_fail(l, METRICS_LOGIN_IN_USE, LOGIN_ANSWER_REPLY,
			   "-ERR [IN-USE] This device already has a session open");
		return;
	}
	if (st != CACHE_OK) {
		login_set_step(l, LOGIN_LOCK);
		log_warn("%s event=state_unavailable while=\"locking the device\" status=%s",
			 l->s->log_id, cache_status_name(st));
		login_fail(l, METRICS_LOGIN_STATE_STORE, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	l->gens = *g;
	/* Folders after the first: their state is read as ever (l->warm is
	   the first folder's, made for the next login). */
	l->warm_hit = l->folder == 0 && pop3_warm_valid(l->warm, l->s->device, g, l->drop);
	l->warm_more = l->folder == 0 && !l->warm_hit &&
		pop3_warm_new_mail(l->warm, l->s->device, g, l->drop) > 0;
	if (l->folder == 0 && !l->warm_hit && !l->warm_more)
		pop3_warm_free(&l->warm);
	login_locked_sized(l);
}

/* The lock, with the generations that say whether the last login's read
   (kept with a kept connection) still holds. */
static bool login_start_lock(struct pop3_login *l)
{
	struct pop3_session *s = l->s;

	/* The first folder's read, kept with the connection (warm.h). */
	if (l->folder == 0 && l->kept && l->imap != NULL)
		l->warm = imap_client_take_attached(l->imap);
	l->dev = pop3_device_new(s->srv->cache, s->srv->base, login_state_account(l), s->device,
				 s->conf->lock_ttl_secs, s->id, s->log_id);
	l->lock_pending = true;
	if (l->dev == NULL || pop3_device_lock_gen(l->dev, login_locked, l) < 0) {
		l->lock_pending = false;
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
		return false;
	}
	return true;
}

static void login_sized(void *ctx, enum pop3_sizes_result result,
			const struct pop3_sizes_stats *st)
{
	struct pop3_login *l = ctx;

	/* st is the step's: said before it goes. */
	if (st->exact)
		log_info("%s event=exact_sizes loaded=%u counted=%u differ=%u pruned=%u",
			 l->s->log_id, st->loaded, st->counted, st->differ, st->pruned);
	pop3_sizes_free(&l->sizes);
	l->sizes_pending = false;
	if (result != POP3_SIZES_OK) {
		login_set_step(l, LOGIN_SIZES);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   result == POP3_SIZES_MEMORY ? "-ERR [SYS/TEMP] Out of memory" :
			   "-ERR [SYS/TEMP] Upstream failed while counting message sizes");
		return;
	}
	login_locked_sized(l);
}

/* exact_sizes (sizes.h): LIST says what RETR sends. The device's lock
   goes out at the same time: one round trip to the store for both. */
void login_step_sizes(struct pop3_login *l)
{
	struct pop3_session *s = l->s;

	login_set_step(l, LOGIN_SIZES);
	pop3_maildrop_finish(l->drop);
	if (!login_start_lock(l))
		return;
	if (s->route->exact_sizes == CONF_EXACT_SIZES_NO || l->drop->count == 0 ||
	    s->srv->cache == NULL)
		return;
	l->sizes_pending = true;
	l->sizes = pop3_sizes_start(s, l->imap, login_state_account(l), l->drop, login_sized, l);
	if (l->sizes == NULL) {
		l->sizes_pending = false;
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
	}
}
