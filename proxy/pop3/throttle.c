/* Provider throttling per upstream account; contracts in throttle.h. */

#include "throttle.h"

#include <string.h>

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

unsigned int pop3_throttle_left(struct pop3_session *s, const char *account)
{
	struct limits_auth a;

	if (s->route == NULL || account == NULL)
		return 0;
	a = throttle_settings(s);
	return limits_throttle_left(s->srv->limits, account, &a, pop3_now_ms());
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
