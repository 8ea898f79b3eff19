/* The account of a user name; contracts in account.h. */

#include "pop3_account.h"

#include <string.h>

#include "conf.h"

enum pop3_account_result pop3_account_find(const struct conf *conf, const char *user,
					   size_t user_len, struct pop3_account *a)
{
	/* A local part may hold a quoted '@': the domain follows the last. */
	const char *at = memrchr(user, '@', user_len);

	memset(a, 0, sizeof(*a));
	if (at != NULL) {
		a->domain = at + 1;
		a->domain_len = user_len - (size_t)(at + 1 - user);
	}
	a->route = conf_route(conf, a->domain, a->domain_len);
	if (a->route == NULL)
		return at != NULL ? POP3_ACCOUNT_NO_ROUTE : POP3_ACCOUNT_NO_DOMAIN;
	a->login_user = user;
	a->login_user_len = user_len;
	if (a->route->login_name == CONF_LOGIN_LOCAL_PART && at != NULL)
		a->login_user_len = (size_t)(at - user);
	if (a->login_user_len == 0)
		return POP3_ACCOUNT_EMPTY;
	if (cache_account_name(a->account, sizeof(a->account), a->login_user,
			       a->login_user_len, a->route->host, a->route->port,
			       a->route->mailbox) == 0)
		return POP3_ACCOUNT_TOO_LONG;
	return POP3_ACCOUNT_OK;
}

enum imap_tls_mode pop3_account_tls_mode(const struct conf_upstream *up)
{
	switch (up->tls) {
	case CONF_TLS_IMAPS:
		return IMAP_TLS_IMAPS;
	case CONF_TLS_STARTTLS:
		return IMAP_TLS_STARTTLS;
	case CONF_TLS_NONE:
		break;
	}
	return IMAP_TLS_NONE;
}
