/* The login flow's bookkeeping: the steps' names, the password, what an
   attempt holds, and the one failure exit. See login_private.h. */

#include "login_private.h"

#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "folders.h"
#include "imap_listing.h"
#include "keep.h"
#include "log.h"
#include "login_legacy.h"
#include "login_oauth.h"
#include "maildrop.h"
#include "remap.h"
#include "session.h"
#include "settings.h"
#include "sizes.h"
#include "uidl_map.h"
#include "warm.h"

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
void login_set_step(struct pop3_login *l, enum login_step step)
{
	log_debug("%s login_step=%s->%s", l->s->log_id, login_step_names[l->step],
		  login_step_names[step]);
	l->step = step;
	l->s->doing = login_step_doing[step];
}

void login_clear_password(struct pop3_login *l)
{
	if (l->pass != NULL) {
		explicit_bzero(l->pass, l->pass_len);
		free(l->pass);
		l->pass = NULL;
		l->pass_len = 0;
	}
}

void login_free_remap(struct pop3_login *l)
{
	pop3_remap_free(&l->remap);
	if (l->remapping) {
		l->remapping = false;
		l->s->srv->remaps--;
	}
	pop3_session_unreserve(l->s, l->reserved_remap);
	l->reserved_remap = 0;
}

void login_free_uidls(struct pop3_login *l)
{
	pop3_uidl_map_free(&l->uidls);
	free(l->stored);
	l->stored = NULL;
	free(l->hidden);
	l->hidden = NULL;
	pop3_session_unreserve(l->s, l->reserved_uidl);
	l->reserved_uidl = 0;
}

void login_release(struct pop3_login *l)
{
	struct pop3_session *s = l->s;

	login_clear_password(l);
	pop3_oauth_auth_free(&l->oauth);
	pop3_throttle_cancel(&l->throttle);
	pop3_session_retire_imap(s, &l->imap);
	pop3_sizes_free(&l->sizes);
	login_free_remap(l);
	pop3_legacy_free(&l->legacy);
	login_free_uidls(l);
	pop3_warm_free(&l->warm);
	l->warm_hit = false;
	l->warm_more = false;
	l->lock_pending = false;
	l->sizes_pending = false;
	pop3_device_free(&l->dev);
	pop3_maildrop_free(&l->drop);
	if (l->folders != NULL) {
		/* The first folder's are the session's only once logged in. */
		pop3_device_free(&l->folders->f[0].dev);
		pop3_maildrop_free(&l->folders->f[0].drop);
		pop3_folders_free(&l->folders);
	}
	free(l->folder_account);
	l->folder_account = NULL;
	imap_listing_free(&l->kept_listing);
	pop3_shared_release(&l->shared);
	l->ahead_waits = false;
	free(l->shared_blob);
	l->shared_blob = NULL;
	free(l->special);
	l->special = NULL;
	pop3_session_unreserve(s, l->reserved_drop);
	l->reserved_drop = 0;
	pop3_server_trim_soon(s->srv);
}

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

void login_fail(struct pop3_login *l, enum metrics_login result,
		       enum login_answer answer, const char *reply)
{
	struct pop3_session *s = l->s;
	bool auth = answer == LOGIN_ANSWER_AUTH;
	unsigned int delay_ms = 0;

	pop3_keep_forget(s);
	login_release(l);
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

bool login_throttled(struct pop3_login *l, enum imap_throttle kind, const char *text)
{
	if (kind == IMAP_THROTTLE_NONE)
		return false;
	pop3_throttle_hit(l->s, l->account, kind, login_step_names[l->step], text);
	login_fail(l, METRICS_LOGIN_UPSTREAM_UNAVAILABLE, LOGIN_ANSWER_REPLY, POP3_THROTTLE_REPLY);
	return true;
}

bool login_reserve(struct pop3_login *l, size_t need)
{
	struct pop3_session *s = l->s;

	if (pop3_session_reserve(s, need))
		return true;
	log_warn("%s event=listing_memory_full need=%zu budget_mib=%u", s->log_id, need,
		 s->conf->max_listing_mib);
	login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
		   "-ERR [SYS/TEMP] The gateway is too busy, try again later");
	return false;
}
