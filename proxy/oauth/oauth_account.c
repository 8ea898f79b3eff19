/* Contracts in oauth_account.h. */

#include "oauth_account.h"
#include "oauth_json.h"
#include "oauth_record.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"

const struct conf_upstream *oauth_account_of(const struct conf *conf, const char *address,
					     char *account, const char **error_r)
{
	const char *at = strrchr(address, '@');
	const struct conf_upstream *up;
	size_t user_len = strlen(address);

	if (user_len == 0 || user_len > CACHE_ACCOUNT_MAX ||
	    strchr(address, conf->device_separator) != NULL ||
	    strpbrk(address, " \t\r\n") != NULL) {
		*error_r = "not an address (and no device suffix here)";
		return NULL;
	}
	up = conf_route(conf, at != NULL ? at + 1 : NULL, at != NULL ? strlen(at + 1) : 0);
	if (up == NULL || up->auth != CONF_AUTH_OAUTH2) {
		*error_r = up == NULL ? "no route serves this address" :
			"its route does not use auth = oauth2";
		return NULL;
	}
	if (up->login_name == CONF_LOGIN_LOCAL_PART && at != NULL)
		user_len = (size_t)(at - address);
	if (user_len == 0 || cache_account_name(account, CACHE_ACCOUNT_MAX + 1, address, user_len,
						up->host, up->port, up->mailbox) == 0) {
		*error_r = "address too long";
		return NULL;
	}
	return up;
}

char *oauth_account_record(const char *address, const struct conf_upstream *up,
			   const char *account, const char *pass,
			   const struct oauth_token_reply *reply, const char **error_r)
{
	struct oauth_record rec;
	struct oauth_secrets sec = { 0 };
	uint8_t key[CRYPTO_KEY_LEN];
	char *json = NULL;

	if (reply->refresh_token == NULL) {
		*error_r = "the provider sent no refresh token (is offline access in the scope?)";
		return NULL;
	}
	memset(&rec, 0, sizeof(rec));
	rec.address = strdup(address);
	rec.route = strdup(up->name);
	rec.created = rec.updated = (int64_t)time(NULL);
	sec.refresh_token = strdup(reply->refresh_token);
	sec.access_token = strdup(reply->access_token);
	sec.expires = (int64_t)time(NULL) + reply->expires_in;
	if (rec.address != NULL && rec.route != NULL && sec.refresh_token != NULL &&
	    sec.access_token != NULL &&
	    oauth_record_set_password(&rec, pass, strlen(pass), key) == 0 &&
	    oauth_record_seal(&rec, key, account, &sec) == 0)
		json = oauth_record_format(&rec);
	explicit_bzero(key, sizeof(key));
	oauth_secrets_clear(&sec);
	oauth_record_clear(&rec);
	if (json == NULL)
		*error_r = "cannot build the record";
	return json;
}
