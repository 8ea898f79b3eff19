/* The OAuth2 authenticate step; contracts in login_oauth.h. */

#include "login_oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "imap_login.h"
#include "log.h"
#include "oauth_json.h"

struct pop3_oauth_auth {
	struct pop3_oauth_settings set;   /* strings below are owned */
	char *user, *account, *pass, *log_id;
	char *token;                      /* the one sent last */
	struct oauth_get *get;
	bool retried;
	pop3_oauth_done_cb *done;
	void *ctx;
};

static void pop3_oauth_wipe(char **s, size_t len)
{
	if (*s != NULL) {
		explicit_bzero(*s, len);
		free(*s);
		*s = NULL;
	}
}

void pop3_oauth_auth_free(struct pop3_oauth_auth **ap)
{
	struct pop3_oauth_auth *a = *ap;

	if (a == NULL)
		return;
	oauth_token_cancel(&a->get);
	pop3_oauth_wipe(&a->pass, a->set.pass_len);
	pop3_oauth_wipe(&a->token, a->token != NULL ? strlen(a->token) : 0);
	free(a->user);
	free(a->account);
	free(a->log_id);
	free(a);
	*ap = NULL;
}

static void pop3_oauth_request(struct pop3_oauth_auth *a);

/* The reply is the owner's to act on; a is freed by the owner. */
static void pop3_oauth_finish(struct pop3_oauth_auth *a, enum oauth_result result,
			      const struct imap_reply *reply)
{
	a->done(a->ctx, result, reply);
}

static void pop3_oauth_authenticated(void *ctx, const struct imap_reply *reply)
{
	struct pop3_oauth_auth *a = ctx;
	const char *challenge = imap_client_sasl_challenge(a->set.imap);
	char status[OAUTH_STATUS_MAX + 1] = "-";

	if (reply->result == IMAP_REPLY_NO && !a->retried) {
		if (challenge[0] != '\0' &&
		    !oauth_json_challenge_status(challenge, strlen(challenge), status,
						 sizeof(status)))
			snprintf(status, sizeof(status), "?");
		log_info("%s event=upstream_token_refused status=%s action=refresh", a->log_id,
			 status);
		a->retried = true;
		pop3_oauth_request(a);
		return;
	}
	pop3_oauth_finish(a, OAUTH_OK, reply);
}

static const struct imap_cmd_handlers pop3_oauth_handlers = {
	.done = pop3_oauth_authenticated,
};

static void pop3_oauth_got_token(void *ctx, enum oauth_result result, const char *token)
{
	struct pop3_oauth_auth *a = ctx;
	const char *error;

	a->get = NULL;
	if (result != OAUTH_OK) {
		pop3_oauth_finish(a, result, NULL);
		return;
	}
	pop3_oauth_wipe(&a->token, a->token != NULL ? strlen(a->token) : 0);
	a->token = strdup(token);
	if (a->token == NULL) {
		pop3_oauth_finish(a, OAUTH_TEMP, NULL);
		return;
	}
	if (imap_client_login_oauth(a->set.imap,
				    a->set.up->oauth_mechanism == CONF_OAUTH_OAUTHBEARER ?
				    IMAP_OAUTH_OAUTHBEARER : IMAP_OAUTH_XOAUTH2,
				    a->user, a->set.user_len, a->token, strlen(a->token),
				    a->set.up->host, a->set.up->port, &pop3_oauth_handlers, a,
				    &error) < 0) {
		struct imap_reply reply = { .result = IMAP_REPLY_BAD, .text = error };

		log_warn("%s event=login_not_sent error=\"%s\"", a->log_id, error);
		pop3_oauth_finish(a, OAUTH_OK, &reply);
	}
}

static void pop3_oauth_request(struct pop3_oauth_auth *a)
{
	a->get = oauth_token_get(a->set.tokens, a->set.up, a->account, a->pass, a->set.pass_len,
				 a->retried ? a->token : NULL, a->log_id, pop3_oauth_got_token, a);
	if (a->get == NULL) {
		struct imap_reply reply = { .result = IMAP_REPLY_FAILED, .text = "out of memory" };

		/* Not from inside the caller's call: the IMAP client's
		   callbacks are already from the loop, and so is the start. */
		pop3_oauth_finish(a, OAUTH_TEMP, a->retried ? &reply : NULL);
	}
}

struct pop3_oauth_auth *pop3_oauth_auth_start(const struct pop3_oauth_settings *set,
					      pop3_oauth_done_cb *done, void *ctx)
{
	struct pop3_oauth_auth *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->set = *set;
	a->done = done;
	a->ctx = ctx;
	if ((a->user = strndup(set->user, set->user_len)) == NULL ||
	    (a->account = strdup(set->account)) == NULL ||
	    (a->log_id = strdup(set->log_id)) == NULL ||
	    (a->pass = malloc(set->pass_len + 1)) == NULL) {
		pop3_oauth_auth_free(&a);
		return NULL;
	}
	memcpy(a->pass, set->pass, set->pass_len);
	a->pass[set->pass_len] = '\0';
	a->get = oauth_token_get(set->tokens, set->up, a->account, a->pass, set->pass_len, NULL,
				 a->log_id, pop3_oauth_got_token, a);
	if (a->get == NULL) {
		pop3_oauth_auth_free(&a);
		return NULL;
	}
	return a;
}

void pop3_oauth_failure(enum oauth_result result, const char *address, size_t address_len,
			struct pop3_oauth_failure *f)
{
	f->auth = false;
	switch (result) {
	case OAUTH_NO_ACCOUNT:
	case OAUTH_BAD_PASSWORD:
		/* The same answer for both: nobody learns who is enrolled. */
		f->metric = METRICS_LOGIN_AUTH_FAILED;
		f->auth = true;
		snprintf(f->reply, sizeof(f->reply), "-ERR [AUTH] Authentication failed");
		return;
	case OAUTH_REAUTH:
		f->metric = METRICS_LOGIN_AUTH_FAILED;
		snprintf(f->reply, sizeof(f->reply), "-ERR [AUTH] This account must be authorized "
			 "again: the administrator runs \"popgate account add %.*s\" on the gateway",
			 (int)(address_len > 512 ? 512 : address_len), address);
		return;
	case OAUTH_DAMAGED:
		f->metric = METRICS_LOGIN_STATE_STORE;
		snprintf(f->reply, sizeof(f->reply), "-ERR [SYS/PERM] The stored authorization of "
			 "this account cannot be read: enrol it again");
		return;
	case OAUTH_OK:
	case OAUTH_TEMP:
	case OAUTH_RESULT_COUNT:
		break;
	}
	f->metric = METRICS_LOGIN_UPSTREAM_UNAVAILABLE;
	snprintf(f->reply, sizeof(f->reply), "-ERR [SYS/TEMP] The mail provider's token service "
		 "is unavailable, try again later");
}
