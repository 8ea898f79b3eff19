#ifndef POP3_POP3_ACCOUNT_H
#define POP3_POP3_ACCOUNT_H

/*
 * Which upstream mailbox a POP3 user name (its device already split off)
 * is, and the account its state is stored under: the route chosen by the
 * domain (what follows the last '@'), the upstream login name (the local
 * part or the whole, per the route's login_name) and cache_account_name()
 * of that. The one computation, for LOGIN and for popgate device.
 */

#include <stddef.h>

#include "cache.h"
#include "imap_client.h"

struct conf;
struct conf_upstream;

enum pop3_account_result {
	POP3_ACCOUNT_OK,
	POP3_ACCOUNT_NO_DOMAIN,    /* no '@', and no default route */
	POP3_ACCOUNT_NO_ROUTE,     /* no route for that domain */
	POP3_ACCOUNT_EMPTY,        /* the login name would be empty */
	POP3_ACCOUNT_TOO_LONG,     /* the account name does not fit */
};

struct pop3_account {
	const struct conf_upstream *route;
	const char *login_user;    /* within the given user */
	size_t login_user_len;
	/* The domain (within user) and its length, 0 without '@'. */
	const char *domain;
	size_t domain_len;
	char account[CACHE_ACCOUNT_MAX + 1];
};

enum pop3_account_result pop3_account_find(const struct conf *conf, const char *user,
					   size_t user_len, struct pop3_account *a);

/* How the IMAP client reaches a route's upstream (its tls key), for
   the login and for the tools that connect as it does. */
enum imap_tls_mode pop3_account_tls_mode(const struct conf_upstream *up);

#endif
