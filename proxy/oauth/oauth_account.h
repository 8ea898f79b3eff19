#ifndef OAUTH_ACCOUNT_H
#define OAUTH_ACCOUNT_H

/*
 * What enrolment (popgate account add, the enrolment page) shares: the
 * route and state store name of an address, as the login flow finds
 * them, and a new sealed record for fresh tokens.
 */

#include <stddef.h>

#include "cache.h"

struct conf;
struct conf_upstream;
struct oauth_token_reply;

/* The route of address (no device suffix) and its account name into
   account (CACHE_ACCOUNT_MAX + 1). NULL with *error_r when no auth =
   oauth2 route serves it or the address cannot be one. */
const struct conf_upstream *oauth_account_of(const struct conf *conf, const char *address,
					     char *account, const char **error_r);

/* A new record for address on up with the tokens of reply, sealed under
   pass: malloc'd JSON, or NULL with *error_r (no refresh token in the
   reply, no memory, no randomness). scrypt: slow on purpose. */
char *oauth_account_record(const char *address, const struct conf_upstream *up,
			   const char *account, const char *pass,
			   const struct oauth_token_reply *reply, const char **error_r);

#endif
