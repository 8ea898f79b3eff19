/* The OAuth2 settings of a route: the providers' presets and the checks
   of what auth = oauth2 needs; see conf_private.h. */

#include "conf_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What each provider documents for IMAP with OAuth2. Google does not let
   its mail scope through the device grant, so it has no device endpoint:
   enrolment there is the code grant with PKCE. */
struct conf_oauth_preset {
	const char *host;
	const char *authorization_endpoint;
	const char *token_endpoint;
	const char *device_endpoint;
	const char *scope;
};

static const struct conf_oauth_preset conf_oauth_presets[] = {
	[CONF_OAUTH_CUSTOM] = { NULL, NULL, NULL, NULL, NULL },
	[CONF_OAUTH_GOOGLE] = {
		"imap.gmail.com",
		"https://accounts.google.com/o/oauth2/v2/auth",
		"https://oauth2.googleapis.com/token",
		NULL,
		"https://mail.google.com/",
	},
	[CONF_OAUTH_MICROSOFT] = {
		"outlook.office365.com",
		"https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
		"https://login.microsoftonline.com/common/oauth2/v2.0/token",
		"https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
		"https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
	},
};
_Static_assert(sizeof(conf_oauth_presets) / sizeof(conf_oauth_presets[0]) ==
	       CONF_OAUTH_MICROSOFT + 1, "one preset per provider");

static int conf_oauth_fill(char **field, const char *value)
{
	if (*field != NULL || value == NULL)
		return 0;
	*field = strdup(value);
	return *field == NULL ? -1 : 0;
}

int conf_oauth_preset(struct conf_upstream *up)
{
	const struct conf_oauth_preset *p = &conf_oauth_presets[up->oauth_provider];

	if (up->auth != CONF_AUTH_OAUTH2)
		return 0;
	if (conf_oauth_fill(&up->host, p->host) < 0 ||
	    conf_oauth_fill(&up->authorization_endpoint, p->authorization_endpoint) < 0 ||
	    conf_oauth_fill(&up->token_endpoint, p->token_endpoint) < 0 ||
	    conf_oauth_fill(&up->device_endpoint, p->device_endpoint) < 0 ||
	    conf_oauth_fill(&up->scope, p->scope) < 0)
		return -1;
	return 0;
}

int conf_oauth_check(const struct conf_upstream *up, char *buf, size_t size)
{
	if (up->auth == CONF_AUTH_OAUTH2 && up->legacy_pop3 != NULL) {
		/* The legacy server takes the client's password; with oauth2
		   the client gives the gateway password instead. */
		snprintf(buf, size, "legacy_pop3 needs auth = password");
		return -1;
	}
	if (up->auth != CONF_AUTH_OAUTH2) {
		if (up->oauth_provider != CONF_OAUTH_CUSTOM || up->client_id != NULL ||
		    up->client_secret != NULL || up->token_endpoint != NULL ||
		    up->authorization_endpoint != NULL || up->device_endpoint != NULL ||
		    up->scope != NULL) {
			snprintf(buf, size, "OAuth2 settings need auth = oauth2");
			return -1;
		}
		return 0;
	}
	if (up->client_id == NULL) {
		snprintf(buf, size, "auth = oauth2 needs client_id (register an application "
			 "with the provider, see the README)");
		return -1;
	}
	if (up->token_endpoint == NULL) {
		snprintf(buf, size, "auth = oauth2 with oauth_provider = custom needs "
			 "token_endpoint");
		return -1;
	}
	if (up->authorization_endpoint == NULL && up->device_endpoint == NULL) {
		snprintf(buf, size, "auth = oauth2 needs authorization_endpoint or "
			 "device_endpoint (how accounts are enrolled)");
		return -1;
	}
	if (up->tls == CONF_TLS_NONE) {
		/* The access token would go over the wire in clear. */
		snprintf(buf, size, "auth = oauth2 needs tls = imaps or starttls");
		return -1;
	}
	return 0;
}
