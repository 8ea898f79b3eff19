#ifndef OAUTH_TOKENS_H
#define OAUTH_TOKENS_H

/*
 * Access tokens for logins on auth = oauth2 routes. One per process,
 * shared by every session: the record of the account is read from the
 * state store, the gateway password checked against it (scrypt, constant
 * time), the tokens opened; a valid access token is handed out, else the
 * refresh token is used at the route's token endpoint.
 *
 * At most one refresh per account is in flight: in this process, later
 * callers join the one running; across gateways sharing the store, a
 * lease in Redis (cache_oauth_lease) lets one refresh while the others
 * poll the record until the new token is there. A rotated refresh token
 * is written back with compare-and-set (cache_oauth_put), so no gateway
 * ever overwrites a newer record with an older one. A refresh goes on to
 * its end even when every caller went away, so a rotation is never lost.
 *
 * Callbacks run from the event loop, never inside oauth_token_get(), and
 * never after oauth_token_cancel(). Nothing secret is logged.
 */

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct cache;
struct oauth_http;
struct conf_upstream;
struct oauth_tokens;
struct oauth_get;

/* The log and metrics of the manager go through these (the layer above
   owns both); every member may be NULL. */
struct oauth_hooks {
	/* result: "ok", "invalid_grant", "error", "unavailable", "timeout",
	   "shared" (another gateway refreshed) */
	void (*refreshed)(const char *route, const char *result);
};

struct oauth_tokens *oauth_tokens_new(struct event_base *base, struct cache *cache,
				      struct oauth_http *http, const struct oauth_hooks *hooks);
/* Cancels everything; no callback runs. Sets *t to NULL. */
void oauth_tokens_free(struct oauth_tokens **t);

enum oauth_result {
	OAUTH_OK,           /* token holds an access token */
	OAUTH_NO_ACCOUNT,   /* nobody enrolled this account */
	OAUTH_BAD_PASSWORD, /* not the account's gateway password */
	OAUTH_REAUTH,       /* the provider revoked the grant (invalid_grant):
			       the account must be enrolled again */
	OAUTH_TEMP,         /* the token endpoint or the store is down, slow
			       or answered nonsense: try again later */
	OAUTH_DAMAGED,      /* the stored record cannot be read */
	OAUTH_RESULT_COUNT
};

/* "ok", "no_account", "bad_password", "reauth", "temp", "damaged". */
const char *oauth_result_name(enum oauth_result r);

/* token: valid during the call only (copy it), NULL unless OAUTH_OK. */
typedef void oauth_get_cb(void *ctx, enum oauth_result result, const char *token);

/*
 * An access token of account (the state store's account name) with the
 * gateway password (copied, wiped when done). stale: the access token the
 * server just refused, or NULL; with it a refresh is done unless the
 * stored token is already another one. up must stay valid until the
 * callback (the session's configuration generation). log_id prefixes log
 * lines. NULL when out of memory (no callback).
 */
struct oauth_get *oauth_token_get(struct oauth_tokens *t, const struct conf_upstream *up,
				  const char *account, const char *pass, size_t pass_len,
				  const char *stale, const char *log_id, oauth_get_cb *cb,
				  void *ctx);

/* No callback will run; sets *g to NULL; NULL is fine. */
void oauth_token_cancel(struct oauth_get **g);

/* Refreshes running in this process (tests). */
unsigned int oauth_tokens_in_flight(const struct oauth_tokens *t);

#endif
