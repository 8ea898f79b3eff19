#ifndef OAUTH_ENROL_H
#define OAUTH_ENROL_H

/*
 * Getting an account's first tokens (popgate account add): the device
 * authorization grant (RFC 8628) or the authorization code grant with
 * PKCE (RFC 7636) and a loopback or pasted redirect (RFC 8252). Runs on
 * the caller's event loop; the HTTP goes through oauth_http.h.
 */

#include <stddef.h>
#include <stdint.h>

#include "oauth_json.h"

struct oauth_http;
struct conf_upstream;
struct oauth_device;
struct event_base;

/* What the user must do, once the provider has answered. */
typedef void oauth_device_prompt_cb(void *ctx, const struct oauth_device_reply *reply);
/* The end: reply holds the tokens (OAUTH_JSON_OK), or error says why
   (a provider's error code such as "access_denied", or our words). */
typedef void oauth_tokens_cb(void *ctx, enum oauth_json_kind kind,
			     const struct oauth_token_reply *reply, const char *error);

/* Starts the device grant: POST to the device endpoint, prompt, then
   polling the token endpoint at the interval asked (slow_down adds 5 s),
   until the code expires. NULL when it cannot start. */
struct oauth_device *oauth_device_start(struct event_base *base, struct oauth_http *http,
					const struct conf_upstream *up,
					oauth_device_prompt_cb *prompt, oauth_tokens_cb *done,
					void *ctx);
void oauth_device_free(struct oauth_device **d);

/* PKCE: a verifier (43 characters of base64url) and its S256 challenge;
   and a state of 22. -1 when the random source fails. */
int oauth_pkce_new(char verifier[44], char challenge[44], char state[23]);

/* The URL to send the user to: the authorization endpoint with
   response_type=code, client_id, redirect_uri, scope, state and the
   challenge (and access_type=offline, prompt=consent, which Google needs
   for a refresh token and others ignore). malloc'd; NULL on failure. */
char *oauth_authorize_url(const struct conf_upstream *up, const char *redirect_uri,
			  const char *state, const char *challenge);

/*
 * The code from a redirect URL or its query ("...?code=X&state=Y"): 0
 * and the code into code (size) when state matches; -1 with *error_r
 * (the provider's error, "state does not match", "no code").
 */
int oauth_redirect_code(const char *url, const char *state, char *code, size_t size,
			const char **error_r);

/* Exchanges the code for tokens at the token endpoint. */
struct oauth_http_req *oauth_code_exchange(struct oauth_http *http, const struct conf_upstream *up,
					   const char *code, const char *redirect_uri,
					   const char *verifier, oauth_tokens_cb *done, void *ctx);

#endif
