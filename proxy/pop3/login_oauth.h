#ifndef POP3_LOGIN_OAUTH_H
#define POP3_LOGIN_OAUTH_H

/*
 * The authenticate step of a login on an auth = oauth2 route (login.c
 * runs it in place of the password login): an access token for the
 * account with the gateway password (oauth_tokens.h), then AUTHENTICATE
 * XOAUTH2 or OAUTHBEARER with it; when the server refuses the token
 * (expired, revoked early), one refresh and one more AUTHENTICATE on the
 * same connection. The gateway password never goes upstream.
 *
 * done runs once, from the event loop: with the server's reply to the
 * last AUTHENTICATE (reply != NULL; result OAUTH_OK), or without one
 * (reply NULL) when no token could be had (result says why).
 */

#include <stddef.h>

#include "imap_client.h"
#include "metrics.h"
#include "oauth_tokens.h"

struct conf_upstream;
struct pop3_oauth_auth;

typedef void pop3_oauth_done_cb(void *ctx, enum oauth_result result,
				const struct imap_reply *reply);

struct pop3_oauth_settings {
	struct oauth_tokens *tokens;
	struct imap_client *imap;
	const struct conf_upstream *up;
	const char *user;           /* sent upstream */
	size_t user_len;
	const char *account;        /* the state store's account name */
	const char *pass;           /* the gateway password; copied */
	size_t pass_len;
	const char *log_id;
};

/* NULL when out of memory (no callback). */
struct pop3_oauth_auth *pop3_oauth_auth_start(const struct pop3_oauth_settings *set,
					      pop3_oauth_done_cb *done, void *ctx);
/* No callback after this; wipes what it holds. NULL is fine. */
void pop3_oauth_auth_free(struct pop3_oauth_auth **a);

/* How a login that got no token is answered: the metric, whether it is
   a rejected password (answered after the auth failure delay), and the
   reply, which for OAUTH_REAUTH names the command that fixes it. address:
   the login name without its device suffix. */
struct pop3_oauth_failure {
	enum metrics_login metric;
	bool auth;
	char reply[700];
};

void pop3_oauth_failure(enum oauth_result result, const char *address, size_t address_len,
			struct pop3_oauth_failure *f);

#endif
