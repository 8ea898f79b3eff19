#ifndef POP3_THROTTLE_H
#define POP3_THROTTLE_H

/*
 * Provider throttling, per upstream account (the state store's account
 * key of the login). When the upstream answers that it throttles the
 * account (imap_throttle.h: [THROTTLED], [LIMIT], [UNAVAILABLE], a
 * connection cap in words, a BYE in place of the greeting) at connect,
 * login, SELECT or the listing, the account backs off: for the route's
 * [upstream] throttle_backoff, doubled at each further throttle answer
 * after a back-off, up to throttle_backoff_max; a level is forgotten
 * 2 x throttle_backoff_max after the last throttle answer, and at once
 * when a login of the account succeeds. While it backs off, a login of
 * the account gets POP3_THROTTLE_REPLY at once and the upstream is not
 * contacted.
 *
 * The levels are the process's own (core/limits_table.h, LIMITS_THROTTLE,
 * bounded like the other tables). With [server] shared_limits the running
 * back-off is shared too: a mark per account in the state store
 * (popgate:{<account>}:throttled, cache_mark_set(), expiring with the
 * back-off), read before connecting, so every gateway holds the account
 * while one backs it off. While the store is not available the local
 * table decides alone; a login never waits for a store that is down.
 *
 * Each back-off that starts is logged once (event=upstream_throttled,
 * warning); each throttle answer is counted in
 * popgate_upstream_throttled_total{code}.
 */

#include "imap_client.h"

struct cache_req;
struct pop3_session;

/* One per login, owned by it; pop3_throttle_cancel() when it ends. */
struct pop3_throttle {
	struct pop3_session *s;
	struct cache_req *req;
	void (*go)(struct pop3_session *s);
	void (*refused)(struct pop3_session *s);
};

#define POP3_THROTTLE_REPLY "-ERR [SYS/TEMP] provider is throttling this account, retry later"

/* Before connecting: refused(s) while the account backs off (locally,
   or by the store's mark), else go(s); at once or from the loop. account
   must live until then. */
void pop3_throttle_hold(struct pop3_throttle *t, struct pop3_session *s, const char *account,
			void (*go)(struct pop3_session *s),
			void (*refused)(struct pop3_session *s));
/* Cancels a pending hold: neither continuation runs. */
void pop3_throttle_cancel(struct pop3_throttle *t);

/* What a failed reply of imap says of throttling: the code and words of
   a NO or BAD; for FAILED (the connection ended) the BYE before it. */
enum imap_throttle pop3_throttle_of(const struct imap_client *imap,
				    const struct imap_reply *reply);

/* The upstream throttled the account (kind not NONE) during the login
   step named step, saying text (may be NULL): counted, the back-off
   started unless one runs, logged when it starts; with shared_limits the
   store's mark set for it. */
void pop3_throttle_hit(struct pop3_session *s, const char *account, enum imap_throttle kind,
		       const char *step, const char *text);

/* A login of the account succeeded: its back-off level is forgotten. */
void pop3_throttle_clear(struct pop3_session *s, const char *account);

#endif
