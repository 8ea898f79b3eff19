/* The login's upstream steps: connect (or take a kept connection),
   authenticate, LOGIN-DELAY, select, and the complete listing. */

#include "login_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf.h"
#include "imap_cmd.h"
#include "imap_listing.h"
#include "imap_login.h"
#include "imap_pool.h"
#include "keep.h"
#include "log.h"
#include "login_oauth.h"
#include "maildrop.h"
#include "pop3_account.h"
#include "profile.h"
#include "session.h"
#include "settings.h"
#include "text.h"
#include "version.h"

static void login_step_select(struct pop3_login *l);

/* A kept connection that failed before anything of it was used: it goes,
   and the login starts again on a new one, as if there had been none. */
static void login_kept_broken(struct pop3_login *l, const char *step, const char *error)
{
	log_info("%s event=upstream_kept_broken step=%s error=\"%s\"", l->s->log_id, step,
		 error);
	l->rtt_before += imap_client_round_trips(l->imap) - l->rtt_start;
	pop3_session_retire_imap(l->s, &l->imap);
	l->kept = false;
	l->fresh = true;
	login_step_connect(l->s);
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
	if (!ok && l->kept && l->folder == 0 && l->folders == NULL &&
	    !imap_client_is_connected(l->imap)) {
		/* The kept connection answered the SELECT, then its server
		   ended it (Dovecot: "IMAP session state is inconsistent"
		   after the mailbox was recreated under it): nothing of its
		   listing is used. */
		pop3_maildrop_free(&l->drop);
		pop3_session_unreserve(l->s, l->reserved_drop);
		l->reserved_drop = 0;
		l->exist_total = 0;
		l->left_out = 0;
		login_kept_broken(l, "list", l->list.failed ? l->list.error : "connection lost");
		return;
	}
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

/* A listing fetched whole, or whose validators moved, is the copy other
   gateways start from (shared_listing.h), written once the login has
   answered (login_finish()); an unchanged one is not written again. */
static void login_list_listed(void *ctx, const struct imap_listing *listing)
{
	struct pop3_login *l = ctx;

	if (l->folder != 0 || l->list.kind == IMAP_SYNC_UNCHANGED || l->s->srv->cache == NULL ||
	    !conf_shares_listings(l->s->conf))
		return;
	free(l->shared_blob);
	l->shared_blob = pop3_shared_encode(listing, l->list.info.exists,
					    l->list.kind == IMAP_SYNC_FULL ? NULL :
					    &l->listing_before, l->s->log_id, &l->shared_len);
	l->shared_messages = listing->count;
}

static const struct imap_list_handlers login_list_handlers = {
	.message = login_list_message,
	.done = login_listed,
	.listed = login_list_listed,
};

/* The listing the sync starts from: the one kept with the connection
   (memory), else a cold login's copy from Redis, else none; its
   validators are noted for the write after. */
static void login_list_source(struct pop3_login *l)
{
	struct imap_listing *kept = imap_client_listing(l->imap);

	if (l->list.early && l->list.c == l->imap) {
		/* Fetched whole already, asked for ahead. */
		kept = NULL;
		l->listing_source = "none";
	} else if (kept != NULL) {
		l->listing_source = "memory";
	} else if (pop3_shared_has_copy(&l->shared)) {
		kept = pop3_shared_take(&l->shared);
		imap_client_set_listing(l->imap, kept);
		l->listing_source = "redis";
	} else {
		l->listing_source = "none";
	}
	pop3_shared_release(&l->shared);
	pop3_shared_mark_of(&l->listing_before, kept);
}

void login_step_list(struct pop3_login *l, const struct imap_selected *info)
{
	/* The limit is the maildrop's, all its folders together. */
	uint64_t before = l->exist_total, limit = l->s->conf->max_messages;

	login_set_step(l, LOGIN_LIST);
	if (before + info->exists > limit) {
		log_warn("%s event=mailbox_too_large exists=%llu limit=%llu", l->s->log_id,
			 (unsigned long long)(before + info->exists), (unsigned long long)limit);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, l->folder == 0 ?
			   "-ERR [SYS/PERM] Mailbox has too many messages for POP3" :
			   "-ERR [SYS/PERM] The folders of this device have too many messages "
			   "for one POP3 maildrop");
		return;
	}
	l->exist_total += info->exists;
	/* The table and the list of every UID, within max_listing_memory. */
	if (!login_reserve(l, (size_t)info->exists * (sizeof(struct pop3_msg) + sizeof(uint32_t))))
		return;
	l->reserved_drop += (uint64_t)info->exists * (sizeof(struct pop3_msg) + sizeof(uint32_t));
	l->drop = pop3_maildrop_new(info->uidvalidity, info->uidnext, info->exists);
	if (l->drop == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	l->listed_at = time(NULL);
	if (l->folder == 0)
		login_list_source(l);
	/* Kept with the connection only if the connection may be kept. */
	if (imap_sync_listing(&l->list, l->imap, info, POP3_MAX_MESSAGES,
			      pop3_profile_needs_date(l->s->profile),
			      l->s->keep_key != NULL && l->folder == 0,
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
		   was recreated under it). */
		login_kept_broken(l, "select", reply->text);
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
	if (imap_select_retried(&l->select) && imap_client_login_pipelined(l->imap))
		imap_client_note_no_pipelining(l->imap);
	if (info->uidvalidity == 0) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] Upstream gave no UIDVALIDITY");
		return;
	}
	login_step_list(l, info);
}

/* Behind the SELECT asked for ahead, on a new connection: the whole
   listing, unless a copy from Redis is there to be validated instead
   (then nothing: the sync follows the SELECT's answer). While the copy
   is being read this waits for it, until the upstream answers the login
   (login_shared_deadline()). */
static void login_list_ahead(struct pop3_login *l)
{
	if (!l->select.early || l->select.c != l->imap || l->kept)
		return;
	if (pop3_shared_pending(&l->shared)) {
		l->ahead_waits = true;
		return;
	}
	if (pop3_shared_has_copy(&l->shared))
		return;
	(void)imap_sync_prefetch(&l->list, l->imap, POP3_MAX_MESSAGES,
				 pop3_profile_needs_date(l->s->profile));
}

/* The copy's read came (shared_listing.h). */
static void login_shared_answered(void *ctx)
{
	struct pop3_login *l = ctx;

	if (l->ahead_waits) {
		l->ahead_waits = false;
		login_list_ahead(l);
	}
}

/* The upstream answered the login: a copy not read by now is not waited
   for (a slow Redis never holds up the listing). */
static void login_shared_deadline(struct pop3_login *l)
{
	if (!pop3_shared_pending(&l->shared))
		return;
	pop3_shared_late(&l->shared);
	login_shared_answered(l);
}

/* SELECT, and on a new connection the whole listing right behind it,
   asked for at once (imap_select_early(), imap_sync_prefetch()). */
static void login_ask_ahead(struct pop3_login *l)
{
	if (!l->kept && imap_select_early(&l->select, l->imap, l->s->route->mailbox) == 0)
		login_list_ahead(l);
}

static void login_step_select(struct pop3_login *l)
{
	login_set_step(l, LOGIN_SELECT);
	if (!l->select.early || l->select.c != l->imap)
		login_ask_ahead(l);
	if (l->select.early && l->select.c == l->imap) {
		imap_select_claim(&l->select, login_selected, l);
		return;
	}
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
	login_shared_deadline(l);
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
	/* Not before LOGIN-DELAY is checked: a refused login opens nothing. */
	if (imap_client_login_pipelined(l->imap) && l->s->conf->login_delay_secs == 0)
		login_ask_ahead(l);
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

void login_step_connect(struct pop3_session *s)
{
	struct pop3_login *l = s->run_ctx;
	const struct conf_upstream *up = s->route;
	struct imap_client_settings set = {
		.host = up->host,
		.port = up->port,
		.tls = pop3_account_tls_mode(up),
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
		.caps_memo = imap_pool_caps_memo(s->srv->pool),
	};

	if (!l->fresh && (l->imap = pop3_keep_take(s)) != NULL) {
		static const struct imap_reply kept = { .result = IMAP_REPLY_OK, .text = "kept" };

		/* Logged in with these very credentials: on to what follows
		   the login (LOGIN-DELAY, SELECT). */
		l->kept = true;
		l->rtt_start = imap_client_round_trips(l->imap);
		login_set_step(l, LOGIN_AUTHENTICATE);
		s->upstream_tls = imap_client_tls_version(l->imap);
		login_authenticated(l, &kept);
		return;
	}
	login_set_step(l, LOGIN_CONNECT);
	/* Cold: the copy of the listing is read while connecting. */
	if (l->shared.state == POP3_SHARED_OFF && conf_shares_listings(s->conf))
		pop3_shared_ask(&l->shared, s, l->account, up, login_shared_answered, l);
	l->imap = imap_client_new(s->srv->base, s->srv->dns, &set);
	if (l->imap == NULL) {
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY, "-ERR [SYS/TEMP] Out of memory");
		return;
	}
	l->rtt_start = 0;
	clock_gettime(CLOCK_MONOTONIC, &l->connect_started);
	imap_client_connect(l->imap, login_connected, l);
}
