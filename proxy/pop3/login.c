/* The login flow; the steps are listed in login.h. */

#include "login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pop3_account.h"
#include "cache.h"
#include "conf.h"
#include "device.h"
#include "imap_client.h"
#include "imap_cmd.h"
#include "imap_login.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "keep.h"
#include "limits_shared.h"
#include "log.h"
#include "login_legacy.h"
#include "login_oauth.h"
#include "maildrop.h"
#include "metrics.h"
#include "profile.h"
#include "remap.h"
#include "session.h"
#include "settings.h"
#include "sizes.h"
#include "text.h"
#include "throttle.h"
#include "uidl_map.h"
#include "version.h"

/* Logins that may re-map a recreated mailbox at the same time: each
   fingerprints every message, so a mass migration upstream must not make
   every login do it at once. */
#define POP3_MAX_REMAPS 2

enum login_step {
	LOGIN_ROUTE,
	LOGIN_DELAY,
	LOGIN_CONNECT,
	LOGIN_AUTHENTICATE,
	LOGIN_SELECT,
	LOGIN_LIST,
	LOGIN_SIZES,
	LOGIN_LOCK,
	LOGIN_VIEW,
	LOGIN_REMAP,
	LOGIN_LEGACY,
	LOGIN_UIDL,
	LOGIN_DONE,
	LOGIN_STEP_COUNT
};

static const char *const login_step_names[] = {
	[LOGIN_ROUTE] = "route",
	[LOGIN_DELAY] = "delay",
	[LOGIN_CONNECT] = "connect",
	[LOGIN_AUTHENTICATE] = "authenticate",
	[LOGIN_SELECT] = "select",
	[LOGIN_LIST] = "list",
	[LOGIN_SIZES] = "sizes",
	[LOGIN_LOCK] = "lock",
	[LOGIN_VIEW] = "view",
	[LOGIN_REMAP] = "remap",
	[LOGIN_LEGACY] = "legacy",
	[LOGIN_UIDL] = "uidl",
	[LOGIN_DONE] = "done",
};
_Static_assert(sizeof(login_step_names) / sizeof(login_step_names[0]) == LOGIN_STEP_COUNT,
	       "step names must match enum login_step");

/* What each step is doing, for error logs (session->doing). */
static const char *const login_step_doing[] = {
	[LOGIN_ROUTE] = "choosing the upstream",
	[LOGIN_DELAY] = "waiting after recent failures",
	[LOGIN_CONNECT] = "connecting to upstream",
	[LOGIN_AUTHENTICATE] = "logging in upstream",
	[LOGIN_SELECT] = "selecting the mailbox",
	[LOGIN_LIST] = "listing the mailbox",
	[LOGIN_SIZES] = "counting exact message sizes",
	[LOGIN_LOCK] = "locking the device",
	[LOGIN_VIEW] = "loading the device view",
	[LOGIN_REMAP] = "moving the device state to the recreated mailbox",
	[LOGIN_LEGACY] = "taking the UIDLs of the legacy POP3 server",
	[LOGIN_UIDL] = "assigning the UIDLs",
	[LOGIN_DONE] = "logged in",
};

struct pop3_login {
	struct pop3_session *s;
	enum login_step step;
	char *pass;
	size_t pass_len;
	const char *login_user;      /* the name sent upstream (in s->user) */
	size_t login_user_len;       /* without device, maybe without domain */
	size_t address_len;          /* s->user without the device suffix */
	char *account;               /* the state store's account key */
	struct imap_client *imap;
	struct pop3_oauth_auth *oauth;  /* auth = oauth2: the token login */
	struct timespec connect_started;
	struct imap_select_op select;
	struct imap_sync_op list;    /* validated, or fetched whole */
	struct pop3_maildrop *drop;
	struct pop3_device *dev;
	uint32_t remap_from;         /* UIDVALIDITY being re-mapped from */
	struct pop3_remap *remap;    /* the re-map in progress */
	bool remapping;              /* counted in srv->remaps */
	bool kept;                   /* l->imap came from the pool (keep.h) */
	bool fresh;                  /* ... and failed: connect anew */
	struct uidl_format uidl_fmt; /* the route's */
	struct pop3_uidl_map *uidls; /* the UIDL step in progress */
	struct pop3_legacy_import *legacy;  /* the legacy step (login_legacy.h) */
	uint8_t *hidden;             /* the view, kept for after that step */
	uint32_t first_uid;
	time_t listed_at;            /* the profile's max_age counts from it */
	unsigned int left_out;       /* by the profile's rule (profile.h) */
	bool new_device;
	size_t pruned;
	uint64_t reserved_drop;      /* memory reserved: the message table, */
	uint64_t reserved_remap;     /* the re-map, */
	uint64_t reserved_uidl;      /* and the UIDL step */
	struct pop3_limits limits;   /* failure delays, LOGIN-DELAY */
	struct pop3_sizes *sizes;    /* exact_sizes: the step in progress */
	struct pop3_throttle throttle; /* the provider's back-off, before connecting */
};

static void login_step_select(struct pop3_login *l);
static void login_step_connect(struct pop3_session *s);
static void login_step_lock(struct pop3_login *l);
static void login_step_view(struct pop3_login *l);
static void login_step_uidl(struct pop3_login *l);

static void login_set_step(struct pop3_login *l, enum login_step step)
{
	log_debug("%s login_step=%s->%s", l->s->log_id, login_step_names[l->step],
		  login_step_names[step]);
	l->step = step;
	l->s->doing = login_step_doing[step];
}

static void login_clear_password(struct pop3_login *l)
{
	if (l->pass != NULL) {
		explicit_bzero(l->pass, l->pass_len);
		free(l->pass);
		l->pass = NULL;
		l->pass_len = 0;
	}
}

static void login_free_remap(struct pop3_login *l)
{
	pop3_remap_free(&l->remap);
	if (l->remapping) {
		l->remapping = false;
		l->s->srv->remaps--;
	}
	pop3_session_unreserve(l->s, l->reserved_remap);
	l->reserved_remap = 0;
}

static void login_free_uidls(struct pop3_login *l)
{
	pop3_uidl_map_free(&l->uidls);
	free(l->hidden);
	l->hidden = NULL;
	pop3_session_unreserve(l->s, l->reserved_uidl);
	l->reserved_uidl = 0;
}

static void login_free(struct pop3_session *s, void *ctx)
{
	struct pop3_login *l = ctx;

	login_clear_password(l);
	pop3_oauth_auth_free(&l->oauth);
	pop3_limits_cancel(&l->limits);
	pop3_throttle_cancel(&l->throttle);
	pop3_session_retire_imap(s, &l->imap);
	pop3_sizes_free(&l->sizes);
	login_free_remap(l);
	pop3_legacy_free(&l->legacy);
	login_free_uidls(l);
	pop3_device_free(&l->dev);
	pop3_maildrop_free(&l->drop);
	pop3_session_unreserve(s, l->reserved_drop);
	free(l->account);
	free(l);
}

static const struct pop3_cmd_ops login_ops = {
	.free = login_free,
};

/* ---- the one failure exit ---- */

/* After a rejected password: each guess costs an upstream login, so they
   share the bad-command budget. */
static void login_auth_reply(struct pop3_session *s)
{
	if (++s->bad_commands >= s->conf->max_bad_commands) {
		pop3_reply(s, "-ERR [AUTH] Authentication failed (too many errors, closing)");
		pop3_session_close_after_flush(s, "auth_failures");
		pop3_cmd_done(s);
		return;
	}
	pop3_reply(s, "-ERR [AUTH] Authentication failed");
	pop3_cmd_done(s);
}

/* How a failed login is answered. */
enum login_answer {
	LOGIN_ANSWER_REPLY,   /* the reply, at once */
	LOGIN_ANSWER_BAD,     /* the reply, counted as a bad command (it cost
				 nobody upstream, so it costs the client) */
	LOGIN_ANSWER_AUTH,    /* the password was rejected: counted as an auth
				 failure, answered after its delay */
};

/*
 * The login failed at the current step: nothing of it is kept, the
 * session stays in AUTHORIZATION. result: for the metrics
 * (METRICS_LOGIN_COUNT: not counted, the attempt never got anywhere).
 */
static void login_fail(struct pop3_login *l, enum metrics_login result,
		       enum login_answer answer, const char *reply)
{
	struct pop3_session *s = l->s;
	bool auth = answer == LOGIN_ANSWER_AUTH;
	unsigned int delay_ms = 0;

	login_clear_password(l);
	pop3_oauth_auth_free(&l->oauth);
	pop3_throttle_cancel(&l->throttle);
	pop3_keep_forget(s);
	pop3_session_retire_imap(s, &l->imap);
	pop3_sizes_free(&l->sizes);
	login_free_remap(l);
	pop3_legacy_free(&l->legacy);
	login_free_uidls(l);
	pop3_device_free(&l->dev);
	pop3_maildrop_free(&l->drop);
	pop3_session_unreserve(s, l->reserved_drop);
	l->reserved_drop = 0;
	if (result != METRICS_LOGIN_COUNT)
		metrics_login(s->route != NULL ? s->route->name : "none", result);
	/* Per user: whatever device an attacker names. */
	if (auth)
		delay_ms = pop3_limits_failed(&l->limits);
	log_info("%s event=login_failed user=%s client=%s route=%s step=%s reason=%s "
		 "delay_ms=%u reply=\"%s\"", s->log_id, s->user_log, s->client_ip,
		 s->route != NULL ? s->route->name : "-", login_step_names[l->step],
		 result != METRICS_LOGIN_COUNT ? metrics_login_name(result) : "refused",
		 delay_ms, reply);
	/* RFC 1939: after a failed PASS the client starts again with USER. */
	pop3_session_set_user(s, NULL, 0);
	s->route = NULL;
	s->device[0] = '\0';
	s->upstream_tls = "none";
	if (answer == LOGIN_ANSWER_REPLY) {
		pop3_reply(s, "%s", reply);
		pop3_cmd_done(s);
	} else if (answer == LOGIN_ANSWER_BAD) {
		pop3_bad_command(s, reply + strlen("-ERR "));
		pop3_cmd_done(s);
	} else if (delay_ms > 0) {
		/* A timer: the loop serves everyone else meanwhile. */
		metrics_auth_delayed();
		pop3_session_set_timer(s, delay_ms, login_auth_reply);
	} else {
		login_auth_reply(s);
	}
}

/* The upstream throttles the account (throttle.h): the login ends, the
   account backs off. False when kind says nothing of throttling. */
static bool login_throttled(struct pop3_login *l, enum imap_throttle kind, const char *text)
{
	if (kind == IMAP_THROTTLE_NONE)
		return false;
	pop3_throttle_hit(l->s, l->account, kind, login_step_names[l->step], text);
	login_fail(l, METRICS_LOGIN_UPSTREAM_UNAVAILABLE, LOGIN_ANSWER_REPLY, POP3_THROTTLE_REPLY);
	return true;
}

/* ---- done ---- */

static void login_finish(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	unsigned int count;
	uint64_t size;

	login_set_step(l, LOGIN_DONE);
	s->imap = l->imap;
	l->imap = NULL;
	s->dev = l->dev;
	l->dev = NULL;
	s->drop = l->drop;
	l->drop = NULL;
	l->reserved_drop = 0;        /* the session's now, until its end */
	pop3_session_set_state(s, POP3_STATE_TRANSACTION);
	metrics_login(s->route->name, METRICS_LOGIN_OK);
	pop3_limits_succeeded(&l->limits, l->account, s->device);
	pop3_throttle_clear(s, l->account);
	pop3_maildrop_visible(s->drop, &count, &size);
	log_info("%s event=login user=%s device=%s client=%s route=%s upstream=%s:%u "
		 "messages=%u octets=%llu uidvalidity=%u",
		 s->log_id, s->user_log, s->device, s->client_ip, s->route->name,
		 s->route->host, s->route->port, count, (unsigned long long)size,
		 s->drop->uidvalidity);
	pop3_reply(s, "+OK Logged in, %u messages (%llu octets)", count,
		   (unsigned long long)size);
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
	if (!pop3_session_reserve(s, need)) {
		log_warn("%s event=listing_memory_full need=%zu budget_mib=%u", s->log_id, need,
			 s->conf->max_listing_mib);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] The gateway is too busy, try again later");
		return;
	}
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

static void login_uidls_done(void *ctx, enum pop3_uidl_map_result result, enum cache_status st,
			     const struct pop3_uidl_map_stats *stats)
{
	struct pop3_login *l = ctx;
	struct pop3_session *s = l->s;
	unsigned int hidden;

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
	/* The UIDL strings are the session's too, within the budget. */
	if (!pop3_session_reserve(s, l->drop->pool_cap)) {
		log_warn("%s event=listing_memory_full need=%zu budget_mib=%u", s->log_id,
			 l->drop->pool_cap, s->conf->max_listing_mib);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] The gateway is too busy, try again later");
		return;
	}
	l->reserved_drop += l->drop->pool_cap;
	hidden = pop3_maildrop_narrow(l->drop, l->hidden, l->first_uid);
	login_free_uidls(l);
	log_info("%s event=device_view device=%s profile=%s new_device=%s left_out=%u hidden=%u "
		 "visible=%u pruned=%zu", s->log_id, s->device,
		 s->profile->pattern != NULL ? s->profile->pattern : "[policy]",
		 l->new_device ? "yes" : "no", l->left_out, hidden, l->drop->count, l->pruned);
	login_finish(l);
}

/* Every message of the drop gets its stored UIDL; new ones are assigned
   and stored first. Within max_listing_memory. */
static void login_step_uidl(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	size_t need;
	const char *error;

	login_set_step(l, LOGIN_UIDL);
	if (uidl_format_parse(s->route->uidl_format, strlen(s->route->uidl_format),
			      &l->uidl_fmt, &error) < 0) {
		/* The configuration check refuses it: a bug if seen. */
		log_error("%s event=bad_uidl_format error=\"%s\"", s->log_id, error);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Bad uidl_format in configuration");
		return;
	}
	need = pop3_uidl_map_bytes(l->drop->exists_count, &l->uidl_fmt);
	if (!pop3_session_reserve(s, need)) {
		log_warn("%s event=listing_memory_full need=%zu budget_mib=%u", s->log_id, need,
			 s->conf->max_listing_mib);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] The gateway is too busy, try again later");
		return;
	}
	l->reserved_uidl = need;
	l->uidls = pop3_uidl_map_start(l->imap, l->dev, l->drop, &l->uidl_fmt, s->log_id,
				       login_uidls_done, l);
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
	if (l->s->route->legacy_pop3 == NULL) {
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
	/* The starting point is recorded when the device is first seen, under
	   the policy of that moment: under "all" it is 1, so a later switch
	   to "new" does not take old mail away from existing devices. */
	if (pop3_device_load_view(l->dev, &listing,
				  profile->new_device_sees == CONF_NEW_DEVICE_NEW ? d->uidnext : 1,
				  login_view_loaded, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
}

/* ---- lock ---- */

static void login_locked(void *ctx, enum cache_status st)
{
	struct pop3_login *l = ctx;

	if (st == CACHE_IN_USE) {
		log_info("%s event=device_in_use device=%s", l->s->log_id, l->s->device);
		login_fail(l, METRICS_LOGIN_IN_USE, LOGIN_ANSWER_REPLY,
			   "-ERR [IN-USE] This device already has a session open");
		return;
	}
	if (st != CACHE_OK) {
		log_warn("%s event=state_unavailable while=\"locking the device\" status=%s",
			 l->s->log_id, cache_status_name(st));
		login_fail(l, METRICS_LOGIN_STATE_STORE, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Device state unavailable, try again later");
		return;
	}
	login_step_view(l);
}

static void login_step_lock(struct pop3_login *l)
{
	struct pop3_session *s = l->s;

	login_set_step(l, LOGIN_LOCK);
	pop3_maildrop_finish(l->drop);
	l->dev = pop3_device_new(s->srv->cache, s->srv->base, l->account, s->device,
				 s->conf->lock_ttl_secs, s->id, s->log_id);
	if (l->dev == NULL || pop3_device_lock(l->dev, login_locked, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
}

/* ---- sizes ---- */

static void login_sized(void *ctx, enum pop3_sizes_result result,
			const struct pop3_sizes_stats *st)
{
	struct pop3_login *l = ctx;

	/* st is the step's: said before it goes. */
	if (st->exact)
		log_info("%s event=exact_sizes loaded=%u counted=%u differ=%u pruned=%u",
			 l->s->log_id, st->loaded, st->counted, st->differ, st->pruned);
	pop3_sizes_free(&l->sizes);
	if (result != POP3_SIZES_OK) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   result == POP3_SIZES_MEMORY ? "-ERR [SYS/TEMP] Out of memory" :
			   "-ERR [SYS/TEMP] Upstream failed while counting message sizes");
		return;
	}
	login_step_lock(l);
}

/* exact_sizes (sizes.h): LIST says what RETR sends. */
static void login_step_sizes(struct pop3_login *l)
{
	struct pop3_session *s = l->s;

	login_set_step(l, LOGIN_SIZES);
	pop3_maildrop_finish(l->drop);
	if (s->route->exact_sizes == CONF_EXACT_SIZES_NO || l->drop->count == 0 ||
	    s->srv->cache == NULL) {
		login_step_lock(l);
		return;
	}
	l->sizes = pop3_sizes_start(s, l->imap, l->account, l->drop, login_sized, l);
	if (l->sizes == NULL)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
}

/* ---- list ---- */

static bool login_list_message(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
			       int64_t internaldate)
{
	struct pop3_login *l = ctx;

	/* Left out by the rule (flagged \Deleted upstream, or by the
	   profile): not part of the drop, but it exists, so its hides and
	   UIDL stay. */
	if (!pop3_profile_lists(l->s->profile, flags, internaldate, l->listed_at)) {
		l->left_out += (flags & IMAP_FLAG_DELETED) == 0;
		return pop3_maildrop_add_gone(l->drop, uid) == 0;
	}
	return pop3_maildrop_add(l->drop, uid, size) == 0;
}

static void login_listed(void *ctx, bool ok, const struct imap_reply *reply)
{
	struct pop3_login *l = ctx;

	if (!ok && login_throttled(l, pop3_throttle_of(l->imap, reply),
				   reply != NULL ? reply->text : NULL))
		return;
	if (!ok) {
		if (l->list.failed)
			log_warn("%s event=upstream_bad_fetch error=\"%s\"", l->s->log_id,
				 l->list.error);
		/* A listing is complete or the login fails: a client that
		   keeps mail forgets every UIDL missing from a listing. */
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Cannot list the mailbox");
		return;
	}
	login_step_sizes(l);
}

static const struct imap_list_handlers login_list_handlers = {
	.message = login_list_message,
	.done = login_listed,
};

static void login_step_list(struct pop3_login *l, const struct imap_selected *info)
{
	login_set_step(l, LOGIN_LIST);
	if (info->exists > POP3_MAX_MESSAGES) {
		log_warn("%s event=mailbox_too_large exists=%u limit=%u", l->s->log_id,
			 info->exists, POP3_MAX_MESSAGES);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Mailbox has too many messages for POP3");
		return;
	}
	/* The table and the list of every UID, within max_listing_memory. */
	l->reserved_drop = (uint64_t)info->exists * (sizeof(struct pop3_msg) + sizeof(uint32_t));
	if (!pop3_session_reserve(l->s, l->reserved_drop)) {
		log_warn("%s event=listing_memory_full exists=%u budget_mib=%u", l->s->log_id,
			 info->exists, l->s->conf->max_listing_mib);
		l->reserved_drop = 0;
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] The gateway is too busy, try again later");
		return;
	}
	l->drop = pop3_maildrop_new(info->uidvalidity, info->uidnext, info->exists);
	if (l->drop == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	l->listed_at = time(NULL);
	/* Kept with the connection only if the connection may be kept. */
	if (imap_sync_listing(&l->list, l->imap, info, POP3_MAX_MESSAGES,
			      pop3_profile_needs_date(l->s->profile), l->s->keep_key != NULL,
			      &login_list_handlers, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Internal error");
}

/* ---- select ---- */

static void login_selected(void *ctx, const struct imap_reply *reply,
			   const struct imap_selected *info)
{
	struct pop3_login *l = ctx;

	if (login_throttled(l, pop3_throttle_of(l->imap, reply), reply->text))
		return;
	if (reply->result != IMAP_REPLY_OK && l->kept) {
		/* The kept connection died meanwhile, or its server cannot
		   open the mailbox again on it (Dovecot, after the mailbox
		   was recreated under it): a new one, as if there had been
		   none. */
		log_info("%s event=upstream_kept_broken error=\"%s\"", l->s->log_id, reply->text);
		pop3_session_retire_imap(l->s, &l->imap);
		l->kept = false;
		l->fresh = true;
		login_step_connect(l->s);
		return;
	}
	if (reply->result == IMAP_REPLY_FAILED) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Upstream server failed");
		return;
	}
	if (reply->result != IMAP_REPLY_OK) {
		char name[200];

		log_warn("%s event=select_failed mailbox=%s reply=\"%s\"", l->s->log_id,
			 text_escape(l->s->route->mailbox, strlen(l->s->route->mailbox), name,
				     sizeof(name)), reply->text);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Cannot open the mailbox");
		return;
	}
	if (info->uidvalidity == 0) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Upstream gave no UIDVALIDITY");
		return;
	}
	login_step_list(l, info);
}

static void login_step_select(struct pop3_login *l)
{
	login_set_step(l, LOGIN_SELECT);
	if (imap_select(&l->select, l->imap, l->s->route->mailbox, login_selected, l) < 0)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Bad mailbox name in configuration");
}

/* ---- authenticate ---- */

/* RFC 5530 codes that say it is not the password's fault (besides the
   throttling ones, throttle.h). */
static bool login_code_temporary(const struct imap_reply *reply)
{
	static const char *const codes[] = { "SERVERBUG", "INUSE", NULL };

	for (size_t i = 0; reply->code != NULL && codes[i] != NULL; i++) {
		if (strncasecmp(reply->code, codes[i], strlen(codes[i])) == 0)
			return true;
	}
	return false;
}

static void login_delay_checked(struct pop3_session *s, unsigned int wait)
{
	struct pop3_login *l = s->run_ctx;
	char msg[160];

	if (wait == 0) {
		login_step_select(l);
		return;
	}
	snprintf(msg, sizeof(msg), "-ERR [LOGIN-DELAY] Logged in less than %u seconds ago: "
		 "try again in %u seconds", s->conf->login_delay_secs, wait);
	login_fail(l, METRICS_LOGIN_LOGIN_DELAY, LOGIN_ANSWER_REPLY, msg);
}

static void login_authenticated(void *ctx, const struct imap_reply *reply)
{
	struct pop3_login *l = ctx;
	struct pop3_session *s = l->s;

	if (login_throttled(l, pop3_throttle_of(l->imap, reply), reply->text))
		return;
	if (reply->result == IMAP_REPLY_FAILED) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Upstream server failed");
		return;
	}
	if (reply->result != IMAP_REPLY_OK) {
		if (login_code_temporary(reply))
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/TEMP] Upstream cannot log in now");
		else if (reply->result == IMAP_REPLY_BAD)
			login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
				   "-ERR [SYS/PERM] Upstream rejected the login command");
		else
			login_fail(l, METRICS_LOGIN_AUTH_FAILED, LOGIN_ANSWER_AUTH, "-ERR [AUTH] Authentication failed");
		return;
	}
	/* RFC 2449 LOGIN-DELAY, checked once the password is known good:
	   nobody else learns when a login name last logged in. */
	if (s->conf->login_delay_secs > 0)
		pop3_limits_login_wait(&l->limits, l->account, s->device, login_delay_checked);
	else
		login_step_select(l);
}

static const struct imap_cmd_handlers login_auth_handlers = {
	.done = login_authenticated,
};

/* auth = oauth2: no token means no upstream attempt; the answer says
   what the user can do. */
static void login_oauth_done(void *ctx, enum oauth_result result, const struct imap_reply *reply)
{
	struct pop3_login *l = ctx;
	struct pop3_oauth_failure f;

	if (reply != NULL) {
		struct imap_reply copy = *reply;

		/* The reply's strings belong to the IMAP client, which
		   stays; only the operation goes. */
		pop3_oauth_auth_free(&l->oauth);
		login_clear_password(l);
		login_authenticated(l, &copy);
		return;
	}
	pop3_oauth_auth_free(&l->oauth);
	pop3_oauth_failure(result, l->s->user, l->address_len, &f);
	if (result == OAUTH_REAUTH)
		metrics_oauth_reauth(l->s->route->name);
	if (f.auth)
		log_info("%s event=gateway_password_refused reason=%s", l->s->log_id,
			 oauth_result_name(result));
	login_fail(l, f.metric, f.auth ? LOGIN_ANSWER_AUTH : LOGIN_ANSWER_REPLY, f.reply);
}

static void login_step_authenticate_oauth(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	struct pop3_oauth_settings set = {
		.tokens = s->srv->oauth, .imap = l->imap, .up = s->route,
		.user = l->login_user, .user_len = l->login_user_len, .account = l->account,
		.pass = l->pass, .pass_len = l->pass_len, .log_id = s->log_id,
	};

	/* No token manager: OAuth2 could not be set up (libcurl missing). */
	if (s->srv->oauth == NULL)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] OAuth2 is not available on this gateway now");
	else if ((l->oauth = pop3_oauth_auth_start(&set, login_oauth_done, l)) == NULL)
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/TEMP] Out of memory");
}

static void login_step_authenticate(struct pop3_login *l)
{
	const char *error;

	login_set_step(l, LOGIN_AUTHENTICATE);
	l->s->upstream_tls = imap_client_tls_version(l->imap);
	if (l->s->route->auth == CONF_AUTH_OAUTH2) {
		login_step_authenticate_oauth(l);
		return;
	}
	if (imap_client_login(l->imap, l->login_user, l->login_user_len, l->pass, l->pass_len,
			      &login_auth_handlers, l, &error) < 0) {
		log_warn("%s event=login_not_sent error=\"%s\"", l->s->log_id, error);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Upstream refuses plaintext login");
		return;
	}
	/* The command holds its own copy now; the legacy step needs it. */
	if (l->s->route->legacy_pop3 == NULL)
		login_clear_password(l);
}

/* ---- connect ---- */

static void login_connected(void *ctx, bool ok, const char *error)
{
	struct pop3_login *l = ctx;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_upstream_connect(l->s->route->name,
				 (double)(now.tv_sec - l->connect_started.tv_sec) +
				 (double)(now.tv_nsec - l->connect_started.tv_nsec) / 1e9, ok);
	if (!ok && login_throttled(l, imap_client_throttle(l->imap), error))
		return;
	if (!ok) {
		char reply[300], why[200];

		/* The cause, so that whoever reads the client's error knows
		   whether to wait or to fix the settings. */
		text_escape_quoted(error != NULL ? error : "no answer",
				   error != NULL ? strlen(error) : 9, why, sizeof(why));
		snprintf(reply, sizeof(reply), "-ERR [SYS/TEMP] Upstream server unavailable "
			 "(%s:%u: %s)", l->s->route->host, l->s->route->port, why);
		login_fail(l, METRICS_LOGIN_UPSTREAM_UNAVAILABLE, LOGIN_ANSWER_REPLY, reply);
		return;
	}
	login_step_authenticate(l);
}

static enum imap_tls_mode login_tls_mode(enum conf_tls_mode mode)
{
	switch (mode) {
	case CONF_TLS_IMAPS:
		return IMAP_TLS_IMAPS;
	case CONF_TLS_STARTTLS:
		return IMAP_TLS_STARTTLS;
	case CONF_TLS_NONE:
		break;
	}
	return IMAP_TLS_NONE;
}

static void login_step_connect(struct pop3_session *s)
{
	struct pop3_login *l = s->run_ctx;
	const struct conf_upstream *up = s->route;
	struct imap_client_settings set = {
		.host = up->host,
		.port = up->port,
		.tls = login_tls_mode(up->tls),
		.tls_ctx = settings_upstream_tls(s->set, up),
		.timeout_secs = up->timeout_secs,
		.log_id = s->log_id,
		/* For the ID command: the provider sees the real client. */
		.client_ip = s->client_addr,
		.client_port = s->client_port,
		.local_ip = s->local_addr[0] != '\0' ? s->local_addr : NULL,
		.local_port = s->local_port,
		.session_id = s->id,
		.version = POPGATE_VERSION,
	};

	if (!l->fresh && (l->imap = pop3_keep_take(s)) != NULL) {
		static const struct imap_reply kept = { .result = IMAP_REPLY_OK, .text = "kept" };

		/* Logged in with these very credentials: on to what follows
		   the login (LOGIN-DELAY, SELECT). */
		l->kept = true;
		login_set_step(l, LOGIN_AUTHENTICATE);
		s->upstream_tls = imap_client_tls_version(l->imap);
		login_authenticated(l, &kept);
		return;
	}
	login_set_step(l, LOGIN_CONNECT);
	l->imap = imap_client_new(s->srv->base, s->srv->dns, &set);
	if (l->imap == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &l->connect_started);
	imap_client_connect(l->imap, login_connected, l);
}

/* ---- delay ---- */

/* Recent failures of this address or user: the attempt itself waits, so
   that reconnecting for each guess does not skip the delay of the failure
   reply. */
static void login_hold_failures(struct pop3_session *s)
{
	struct pop3_login *l = s->run_ctx;

	pop3_limits_init(&l->limits, l->s, l->login_user, l->login_user_len);
	pop3_limits_hold(&l->limits, login_step_connect);
}

/* Nothing is asked of an upstream that throttles the account. */
static void login_throttle_refused(struct pop3_session *s)
{
	login_fail(s->run_ctx, METRICS_LOGIN_UPSTREAM_UNAVAILABLE, LOGIN_ANSWER_REPLY,
		   POP3_THROTTLE_REPLY);
}

static void login_step_delay(struct pop3_login *l)
{
	login_set_step(l, LOGIN_DELAY);
	pop3_throttle_hold(&l->throttle, l->s, l->account, login_hold_failures,
			   login_throttle_refused);
}

/* ---- route ---- */

/* Device suffix, route, upstream login name and state-store account of
   the login name. Fails the login when it cannot go on. */
static void login_step_route(struct pop3_login *l)
{
	struct pop3_session *s = l->s;
	const struct conf *conf = s->conf;
	struct pop3_account a;
	size_t upstream_user_len;
	const char *error;

	if (pop3_split_device(s->user, s->user_len, conf->device_separator,
			      &upstream_user_len, s->device, &error) < 0) {
		char reply[160];

		snprintf(reply, sizeof(reply), "-ERR [AUTH] Invalid login name: %s", error);
		login_fail(l, METRICS_LOGIN_COUNT, LOGIN_ANSWER_REPLY, reply);
		return;
	}
	enum pop3_account_result res = pop3_account_find(conf, s->user, upstream_user_len, &a);

	s->route = a.route;
	switch (res) {
	case POP3_ACCOUNT_OK:
		break;
	case POP3_ACCOUNT_NO_DOMAIN:
	case POP3_ACCOUNT_NO_ROUTE: {
		char domain[80];

		text_escape(a.domain != NULL ? a.domain : "", a.domain_len, domain, sizeof(domain));
		log_info("%s event=login_refused user=%s client=%s reason=no_route domain=%s",
			 s->log_id, s->user_log, s->client_ip, a.domain_len > 0 ? domain : "-");
		login_fail(l, METRICS_LOGIN_NO_ROUTE, LOGIN_ANSWER_BAD, a.domain != NULL ?
			   "-ERR [AUTH] No mail server is configured for this domain" :
			   "-ERR [AUTH] Log in with your full address (user@domain)");
		return;
	}
	case POP3_ACCOUNT_EMPTY:
		login_fail(l, METRICS_LOGIN_COUNT, LOGIN_ANSWER_BAD,
			   "-ERR [AUTH] Invalid login name: empty user");
		return;
	case POP3_ACCOUNT_TOO_LONG:
		login_fail(l, METRICS_LOGIN_COUNT, LOGIN_ANSWER_REPLY, "-ERR [AUTH] Login name too long");
		return;
	}
	l->login_user = a.login_user;
	l->login_user_len = a.login_user_len;
	l->address_len = upstream_user_len;
	s->profile = conf_profile_find(conf, s->device, s->user, upstream_user_len);
	l->account = strdup(a.account);
	if (l->account == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	pop3_keep_prepare(s, l->account, l->login_user, l->login_user_len, l->pass, l->pass_len);
	login_step_delay(l);
}

void pop3_login_start(struct pop3_session *s, const char *pass, size_t pass_len)
{
	struct pop3_login *l;

	if (s->user == NULL || pass_len == 0 || pass_len > IMAP_CRED_MAX ||
	    memchr(pass, '\0', pass_len) != NULL) {
		/* Nothing that cannot be sent upstream is ever tried. */
		pop3_reply(s, "-ERR [AUTH] Authentication failed");
		return;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL || (l->pass = malloc(pass_len)) == NULL) {
		free(l);
		pop3_reply(s, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	memcpy(l->pass, pass, pass_len);
	l->pass_len = pass_len;
	l->s = s;
	l->step = LOGIN_ROUTE;
	s->doing = login_step_doing[LOGIN_ROUTE];
	pop3_cmd_start(s, &login_ops, l);
	login_step_route(l);
}
