/* The login's limits, local and shared; contracts in limits_shared.h. */

#include "limits_shared.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "limits_table.h"
#include "log.h"
#include "session.h"

#define WHAT_AUTHFAIL "authfail"
#define WHAT_LOGINDELAY "logindelay:"

static struct limits_auth limits_settings(const struct pop3_session *s)
{
	struct limits_auth auth = {
		.delay_ms = s->conf->auth_fail_delay_ms,
		.delay_max_ms = s->conf->auth_fail_delay_max_ms,
		.window_secs = s->conf->auth_fail_window_secs,
	};

	return auth;
}

/* The store is used: configured, and up now (a request to a store that is
   down would only wait for its timeout). */
static bool limits_shared(const struct pop3_limits *lim)
{
	const struct pop3_session *s = lim->s;

	return s->conf->shared_limits && s->srv->cache != NULL &&
		cache_available(s->srv->cache) && lim->user_tag[0] != '\0';
}

void pop3_limits_init(struct pop3_limits *lim, struct pop3_session *s, const char *user,
		      size_t user_len)
{
	char lower[CACHE_ACCOUNT_MAX];
	size_t n = user_len < sizeof(lower) ? user_len : sizeof(lower);
	size_t o;

	memset(lim, 0, sizeof(*lim));
	lim->s = s;
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)user[i]);
	/* Alice and alice are one mailbox: one count. */
	o = (size_t)snprintf(lim->user_key, sizeof(lim->user_key), "%s:", s->route->name);
	for (size_t i = 0; i < n && o + 1 < sizeof(lim->user_key); i++)
		lim->user_key[o++] = lower[i];
	lim->user_key[o < sizeof(lim->user_key) ? o : sizeof(lim->user_key) - 1] = '\0';
	if (cache_account_name(lim->user_tag, sizeof(lim->user_tag), lower, n, s->route->host,
			       s->route->port, s->route->mailbox) == 0)
		lim->user_tag[0] = '\0';
	snprintf(lim->ip_tag, sizeof(lim->ip_tag), "ip:%s", s->addr_key);
}

void pop3_limits_cancel(struct pop3_limits *lim)
{
	cache_req_cancel(&lim->ip_req);
	cache_req_cancel(&lim->user_req);
	cache_req_cancel(&lim->delay_req);
	lim->pending = 0;
}

/* ---- the hold before connecting ---- */

static void limits_hold_go(struct pop3_limits *lim)
{
	struct pop3_session *s = lim->s;
	struct limits_auth auth = limits_settings(s);
	uint64_t shared = lim->ip_failures > lim->user_failures ? lim->ip_failures :
		lim->user_failures;
	unsigned int n = limits_auth_failures(s->srv->limits, s->addr_key, lim->user_key, &auth,
					      pop3_now_ms());
	unsigned int delay;

	/* The store knows what every gateway saw, including successes
	   elsewhere that this table never heard of. */
	if (lim->shared_ok)
		n = shared > UINT32_MAX ? UINT32_MAX : (unsigned int)shared;
	delay = n > 0 ? limits_auth_delay(&auth, n) : 0;
	if (delay > 0) {
		log_debug("%s event=login_held failures=%u shared_failures=%llu delay_ms=%u",
			  s->log_id, n, (unsigned long long)shared, delay);
		pop3_session_set_timer(s, delay, lim->next);
		return;
	}
	lim->next(s);
}

static void limits_read_cb(struct pop3_limits *lim, struct cache_req **req, uint64_t *into,
			   enum cache_status st, uint64_t value)
{
	*req = NULL;
	/* Not known: the local tables decide. */
	*into = st == CACHE_OK ? value : 0;
	if (st != CACHE_OK)
		lim->read_failed = true;
	if (lim->pending == 1)
		lim->shared_ok = !lim->read_failed;
	if (--lim->pending == 0)
		limits_hold_go(lim);
}

static void limits_ip_cb(void *ctx, enum cache_status st, uint64_t value)
{
	struct pop3_limits *lim = ctx;

	limits_read_cb(lim, &lim->ip_req, &lim->ip_failures, st, value);
}

static void limits_user_cb(void *ctx, enum cache_status st, uint64_t value)
{
	struct pop3_limits *lim = ctx;

	limits_read_cb(lim, &lim->user_req, &lim->user_failures, st, value);
}

void pop3_limits_hold(struct pop3_limits *lim, void (*next)(struct pop3_session *s))
{
	struct cache *c = lim->s->srv->cache;

	lim->next = next;
	lim->ip_failures = lim->user_failures = 0;
	lim->shared_ok = lim->read_failed = false;
	if (!limits_shared(lim) || lim->s->conf->auth_fail_delay_ms == 0) {
		limits_hold_go(lim);
		return;
	}
	/* Two keys in two slots: two requests (never a cross-slot one). */
	lim->ip_req = cache_count_get(c, lim->ip_tag, WHAT_AUTHFAIL, limits_ip_cb, lim);
	if (lim->ip_req != NULL)
		lim->pending++;
	lim->user_req = cache_count_get(c, lim->user_tag, WHAT_AUTHFAIL, limits_user_cb, lim);
	if (lim->user_req != NULL)
		lim->pending++;
	if (lim->pending < 2) {
		/* out of memory for one of them: neither is used */
		cache_req_cancel(&lim->ip_req);
		cache_req_cancel(&lim->user_req);
		lim->pending = 0;
		limits_hold_go(lim);
	}
}

/* ---- outcomes ---- */

unsigned int pop3_limits_failed(struct pop3_limits *lim)
{
	struct pop3_session *s = lim->s;
	struct limits_auth auth = limits_settings(s);
	unsigned int window_ms = s->conf->auth_fail_window_secs * 1000u;
	unsigned int delay = limits_auth_failed(s->srv->limits, s->addr_key, lim->user_key,
						&auth, pop3_now_ms());
	uint64_t shared = lim->ip_failures > lim->user_failures ? lim->ip_failures :
		lim->user_failures;

	if (!limits_shared(lim))
		return delay;
	/* Nothing to wait for: the count read by the hold, plus this one,
	   gives the reply's delay; the next attempt reads the new count. */
	cache_count_incr(s->srv->cache, lim->ip_tag, WHAT_AUTHFAIL, window_ms, NULL, NULL);
	cache_count_incr(s->srv->cache, lim->user_tag, WHAT_AUTHFAIL, window_ms, NULL, NULL);
	if (lim->shared_ok)
		delay = limits_auth_delay(&auth, shared + 1 < UINT32_MAX ?
					  (unsigned int)shared + 1 : UINT32_MAX);
	return delay;
}

void pop3_limits_succeeded(struct pop3_limits *lim, const char *account, const char *device)
{
	struct pop3_session *s = lim->s;
	char what[sizeof(WHAT_LOGINDELAY) + CACHE_DEVICE_MAX];

	limits_auth_succeeded(s->srv->limits, s->addr_key, lim->user_key);
	if (s->conf->login_delay_secs > 0)
		limits_login_record(s->srv->limits, s->user, pop3_now_ms());
	if (!limits_shared(lim))
		return;
	if (lim->user_failures > 0 || lim->ip_failures > 0) {
		cache_count_sub(s->srv->cache, lim->user_tag, WHAT_AUTHFAIL, UINT64_MAX, NULL,
				NULL);
		if (lim->user_failures > 0)
			cache_count_sub(s->srv->cache, lim->ip_tag, WHAT_AUTHFAIL,
					lim->user_failures, NULL, NULL);
	}
	if (s->conf->login_delay_secs > 0 && account != NULL) {
		snprintf(what, sizeof(what), WHAT_LOGINDELAY "%s", device);
		cache_mark_set(s->srv->cache, account, what, s->conf->login_delay_secs * 1000u,
			       NULL, NULL);
	}
}

/* ---- LOGIN-DELAY ---- */

static unsigned int limits_local_wait(struct pop3_limits *lim)
{
	struct pop3_session *s = lim->s;

	return limits_login_wait(s->srv->limits, s->user, s->conf->login_delay_secs,
				 pop3_now_ms());
}

static void limits_delay_cb(void *ctx, enum cache_status st, uint64_t left_ms)
{
	struct pop3_limits *lim = ctx;
	unsigned int wait = limits_local_wait(lim);
	uint64_t shared = st == CACHE_OK ? (left_ms + 999) / 1000 : 0;

	lim->delay_req = NULL;
	if (shared > wait)
		wait = (unsigned int)shared;
	lim->delay_next(lim->s, wait);
}

void pop3_limits_login_wait(struct pop3_limits *lim, const char *account, const char *device,
			    void (*next)(struct pop3_session *s, unsigned int wait_secs))
{
	char what[sizeof(WHAT_LOGINDELAY) + CACHE_DEVICE_MAX];

	lim->delay_next = next;
	if (!limits_shared(lim) || account == NULL) {
		next(lim->s, limits_local_wait(lim));
		return;
	}
	snprintf(what, sizeof(what), WHAT_LOGINDELAY "%s", device);
	lim->delay_req = cache_mark_left(lim->s->srv->cache, account, what, limits_delay_cb, lim);
	if (lim->delay_req == NULL)
		next(lim->s, limits_local_wait(lim));
}
