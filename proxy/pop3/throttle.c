/* Provider throttling per upstream account; contracts in throttle.h. */

#include "throttle.h"

#include <string.h>

#include "cache.h"
#include "conf.h"
#include "limits_table.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "text.h"

/* The route's settings, as the table takes them. */
static struct limits_auth throttle_settings(const struct pop3_session *s)
{
	const struct conf_upstream *up = s->route;
	struct limits_auth a = {
		.delay_ms = up->throttle_backoff_ms,
		.delay_max_ms = up->throttle_backoff_max_ms,
		/* longer than the longest back-off, so that levels grow */
		.window_secs = (unsigned int)(((uint64_t)up->throttle_backoff_max_ms * 2 + 999) /
					      1000),
	};

	return a;
}

#define WHAT_THROTTLED "throttled"

/* The store holds the running back-offs: configured, and up now. */
static bool throttle_shared(const struct pop3_session *s)
{
	return s->conf->shared_limits && s->srv->cache != NULL && cache_available(s->srv->cache);
}

static void throttle_mark_read(void *ctx, enum cache_status st, uint64_t left_ms)
{
	struct pop3_throttle *t = ctx;

	t->req = NULL;
	/* Not known: the local table said go. */
	if (st == CACHE_OK && left_ms > 0) {
		log_debug("%s event=throttle_held_shared left_ms=%llu", t->s->log_id,
			  (unsigned long long)left_ms);
		t->refused(t->s);
		return;
	}
	t->go(t->s);
}

void pop3_throttle_hold(struct pop3_throttle *t, struct pop3_session *s, const char *account,
			void (*go)(struct pop3_session *s),
			void (*refused)(struct pop3_session *s))
{
	struct limits_auth a = throttle_settings(s);

	memset(t, 0, sizeof(*t));
	t->s = s;
	t->go = go;
	t->refused = refused;
	if (limits_throttle_left(s->srv->limits, account, &a, pop3_now_ms()) > 0) {
		refused(s);
		return;
	}
	if (!throttle_shared(s) || a.delay_ms == 0 ||
	    (t->req = cache_mark_left(s->srv->cache, account, WHAT_THROTTLED, throttle_mark_read,
				      t)) == NULL) {
		go(s);
		return;
	}
}

void pop3_throttle_cancel(struct pop3_throttle *t)
{
	cache_req_cancel(&t->req);
}

enum imap_throttle pop3_throttle_of(const struct imap_client *imap,
				    const struct imap_reply *reply)
{
	if (reply == NULL || reply->result == IMAP_REPLY_FAILED)
		return imap_client_throttle(imap);
	if (reply->result == IMAP_REPLY_OK)
		return IMAP_THROTTLE_NONE;
	return imap_throttle_of(reply->code, reply->code_len, reply->text,
				reply->text != NULL ? strlen(reply->text) : 0);
}

void pop3_throttle_hit(struct pop3_session *s, const char *account, enum imap_throttle kind,
		       const char *step, const char *text)
{
	const char *code = imap_throttle_name(kind);
	struct limits_auth a;
	unsigned int before, backoff;
	char why[200];
	uint64_t now = pop3_now_ms();

	metrics_upstream_throttled(code);
	if (s->route == NULL || account == NULL)
		return;
	a = throttle_settings(s);
	before = limits_throttle_left(s->srv->limits, account, &a, now);
	backoff = limits_throttle_hit(s->srv->limits, account, &a, now);
	/* The other gateways hold the account for as long (set again: the
	   expiry moves to this back-off's end). */
	if (before == 0 && backoff > 0 && throttle_shared(s))
		cache_mark_set(s->srv->cache, account, WHAT_THROTTLED, backoff, NULL, NULL);
	text_escape_quoted(text != NULL ? text : "", text != NULL ? strlen(text) : 0, why,
			   sizeof(why));
	/* One line per back-off, however many logins were throttled in it. */
	if (before == 0 && backoff > 0)
		log_warn("%s event=upstream_throttled user=%s route=%s code=%s step=%s "
			 "backoff_ms=%u reply=\"%s\"", s->log_id, s->user_log, s->route->name,
			 code, step, backoff, why);
	else
		log_debug("%s event=upstream_throttled user=%s code=%s step=%s left_ms=%u",
			  s->log_id, s->user_log, code, step, backoff);
}

void pop3_throttle_clear(struct pop3_session *s, const char *account)
{
	if (account != NULL)
		limits_throttle_clear(s->srv->limits, account);
}
