#ifndef POP3_LIMITS_SHARED_H
#define POP3_LIMITS_SHARED_H

/*
 * The login's limits: authentication-failure delays per address and per
 * user, and RFC 2449 LOGIN-DELAY. The process's own tables
 * (core/limits_table.h) always count; with [server] shared_limits the
 * state store counts too (cache_count_*(), keys
 * popgate:{ip:<address>}:authfail, popgate:{<account>}:authfail and
 * popgate:{<account>}:logindelay:<device>, expiring), so the limits hold
 * across gateways sharing the store: its counts decide whenever they
 * could be read (they include what other gateways saw, successes too).
 * While the store is not available (down, loading, not answering within
 * [cache] timeout) the local tables alone decide: a login never waits
 * for a store that is down, and never fails because of it.
 *
 * One struct per login, owned by it; pop3_limits_cancel() when the login
 * ends (a pending step's continuation then never runs).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

struct pop3_session;

struct pop3_limits {
	struct pop3_session *s;
	char user_key[CACHE_ACCOUNT_MAX + 64];  /* local tables: route:user */
	char user_tag[CACHE_ACCOUNT_MAX + 1];   /* store: account of the lower-case user */
	char ip_tag[80];                        /* store: "ip:<address key>" */
	struct cache_req *ip_req, *user_req, *delay_req;
	uint64_t ip_failures, user_failures;    /* the store's, read by the hold */
	unsigned int pending;
	bool shared_ok;                         /* both read: the store decides */
	bool read_failed;
	void (*next)(struct pop3_session *s);
	void (*delay_next)(struct pop3_session *s, unsigned int wait_secs);
};

/* For the login of user (user_len bytes, the name sent upstream) on the
   session's route. */
void pop3_limits_init(struct pop3_limits *lim, struct pop3_session *s, const char *user,
		      size_t user_len);
/* Cancels what is pending; its continuation never runs. */
void pop3_limits_cancel(struct pop3_limits *lim);

/* Before connecting: waits the delay the failures of the address and the
   user call for, then next(s), from the loop or at once. */
void pop3_limits_hold(struct pop3_limits *lim, void (*next)(struct pop3_session *s));

/* A rejected password: counted locally and in the store; returns the
   delay in ms before answering it. */
unsigned int pop3_limits_failed(struct pop3_limits *lim);

/* A successful login: the user's failures forgotten, as many off the
   address's; the LOGIN-DELAY record of login (user + device) and of the
   store's account and device is written when login_delay is on. */
void pop3_limits_succeeded(struct pop3_limits *lim, const char *account, const char *device);

/* LOGIN-DELAY (login_delay > 0): next(s, seconds before login may log in
   again, 0 = now), from the loop or at once. */
void pop3_limits_login_wait(struct pop3_limits *lim, const char *account, const char *device,
			    void (*next)(struct pop3_session *s, unsigned int wait_secs));

#endif
