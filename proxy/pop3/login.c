/* The login flow; the steps are listed in login.h, the files that carry
   them in login_private.h. This one is the command: its start, the route
   and delay steps, and its end. */

#include "login.h"
#include "login_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_account.h"
#include "conf.h"
#include "imap_cmd.h"
#include "keep.h"
#include "log.h"
#include "session.h"
#include "text.h"

static void login_free(struct pop3_session *s, void *ctx)
{
	struct pop3_login *l = ctx;

	pop3_limits_cancel(&l->limits);
	login_release(l);
	free(l->account);
	free(l);
}

static const struct pop3_cmd_ops login_ops = {
	.free = login_free,
};

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
	if (!login_folders_first_ok(l)) {
		log_warn("%s event=profile_refused profile=%s reason=\"the first folder is not the "
			 "route's mailbox\"", s->log_id, s->profile->pattern);
		login_fail(l, METRICS_LOGIN_UPSTREAM_ERROR, LOGIN_ANSWER_REPLY,
			   "-ERR [SYS/PERM] The device profile's first folder is not this "
			   "route's mailbox");
		return;
	}
	if (s->profile->folder_count > 1)
		l->folder_built = login_folders_built;
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
	login_set_step(l, LOGIN_ROUTE);
	pop3_cmd_start(s, &login_ops, l);
	login_step_route(l);
}
