/* Kept upstream sessions; contracts in keep.h. */

#include "keep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "imap_client.h"
#include "imap_pool.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "warm.h"

void pop3_keep_forget(struct pop3_session *s)
{
	free(s->keep_key);
	s->keep_key = NULL;
	explicit_bzero(s->keep_digest, sizeof(s->keep_digest));
}

void pop3_keep_prepare(struct pop3_session *s, const char *account, const char *user,
		       size_t user_len, const char *pass, size_t pass_len)
{
	size_t key_len = strlen(s->route->name) + 1 + strlen(account) + 1;
	size_t len = user_len + 1 + pass_len;
	unsigned char *buf;

	pop3_keep_forget(s);
	/* Not for auth = oauth2: an account removed or re-enrolled with
	   "popgate account" must not stay usable through a kept login. */
	if (s->route->keep_idle_secs == 0 || s->srv->pool == NULL ||
	    s->route->auth == CONF_AUTH_OAUTH2)
		return;
	/* The route's name too: two routes may reach one server. */
	s->keep_key = malloc(key_len);
	buf = malloc(len);
	if (s->keep_key == NULL || buf == NULL) {
		free(buf);
		pop3_keep_forget(s);
		return;
	}
	snprintf(s->keep_key, key_len, "%s %s", s->route->name, account);
	memcpy(buf, user, user_len);
	buf[user_len] = '\0';
	memcpy(buf + user_len + 1, pass, pass_len);
	tls_hmac_sha256(imap_pool_secret(s->srv->pool), TLS_DIGEST_LEN, buf, len,
			s->keep_digest);
	explicit_bzero(buf, len);
	free(buf);
}

struct imap_client *pop3_keep_take(struct pop3_session *s)
{
	struct imap_client *c;
	unsigned int evicted = 0;

	if (s->keep_key == NULL)
		return NULL;
	c = imap_pool_take(s->srv->pool, s->keep_key, s->keep_digest, &evicted);
	if (evicted > 0)
		log_info("%s event=upstream_kept_evicted reason=other_credentials count=%u",
			 s->log_id, evicted);
	if (c == NULL)
		return NULL;
	if (imap_client_set_log_id(c, s->log_id) < 0)
		log_debug("%s event=kept_log_id_unchanged", s->log_id);
	log_info("%s event=upstream_reused kept=%u", s->log_id, imap_pool_count(s->srv->pool));
	return c;
}

bool pop3_keep_put(struct pop3_session *s)
{
	if (s->keep_key == NULL || s->imap == NULL || s->route == NULL ||
	    s->route->keep_idle_secs == 0 || !imap_client_idle(s->imap))
		return false;
	/* With it what the login read of the store (warm.h); if the pool
	   refuses it, it goes with the connection. */
	if (s->warm != NULL) {
		imap_client_attach(s->imap, s->warm, pop3_warm_free_data);
		s->warm = NULL;
	}
	if (!imap_pool_put(s->srv->pool, s->keep_key, s->keep_digest, s->imap,
			   s->route->keep_idle_secs, s->route->keep_per_account,
			   s->conf->keep_max))
		return false;
	s->imap = NULL;
	log_info("%s event=upstream_kept idle_secs=%u kept=%u", s->log_id,
		 s->route->keep_idle_secs, imap_pool_count(s->srv->pool));
	pop3_keep_forget(s);
	return true;
}
