#ifndef LIMITS_TABLE_H
#define LIMITS_TABLE_H

/*
 * Per-client limits for a gateway shared by a whole office: open
 * connections per address, progressive delays after failed logins (per
 * address and per user name) and RFC 2449 LOGIN-DELAY. Pure: libc only, no
 * I/O, no clock (the caller passes a monotonic now_ms), not thread-safe.
 *
 * Keys come from the network (addresses, user names), so each table is a
 * hash table keyed with a per-process secret, has a hard cap of max_entries
 * entries and costs O(1) on average per call. The five tables (connections,
 * failures per address, failures per user, LOGIN-DELAY, provider
 * back-offs) each have that cap, so limits_entries() <= 5 * max_entries.
 *
 * Keys are NUL-terminated strings; any other byte is allowed. Only the
 * first LIMITS_KEY_MAX bytes are stored, but a longer key is still told
 * apart from others by its length and its keyed 64-bit hash over all its
 * bytes: two long keys merge only if they share the stored bytes, the
 * length and the hash, which a client cannot arrange without the secret.
 *
 * For IPv6 the caller may want to pass the /64 prefix as the address:
 * a client usually holds a whole /64 and could spread failures over it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Stored bytes of a key: a 64-octet local part, '@', a 255-octet domain. */
#define LIMITS_KEY_MAX 320

struct limits;

/* The settings in force, passed per call (they change on config reload). */
struct limits_auth {
	unsigned int delay_ms;      /* first failure's delay; 0 = no delay at all */
	unsigned int delay_max_ms;  /* cap, taken literally: 0 gives no delay */
	unsigned int window_secs;   /* failures are forgotten this long after the
				       key's last failure; 0 = remember none */
};

enum limits_table_id {
	LIMITS_CONN,
	LIMITS_AUTH_IP,
	LIMITS_AUTH_USER,
	LIMITS_LOGIN,
	LIMITS_THROTTLE,
	LIMITS_TABLES
};

/* max_entries per table (0 is taken as 1). Seeds the hash key with
   getrandom(). Returns NULL with errno set (ENOMEM, or getrandom's). */
struct limits *limits_new(size_t max_entries);
/* Frees everything and sets *l to NULL; NULL or *l NULL is fine. */
void limits_free(struct limits **l);
/* Forgets every entry of every table, then uses k0/k1 as the hash key:
   call it right after limits_new(). */
void limits_set_seed_for_tests(struct limits *l, uint64_t k0, uint64_t k1);

/*
 * Connections per client address (ip: the address without port, e.g.
 * "192.0.2.7" or "2001:db8::1"; NULL is taken as "" so that clients
 * without an address share one count rather than escape it).
 *
 * limits_conn_open() counts the connection and returns true, or returns
 * false and counts nothing when the address already has max_per_ip
 * (0 = unlimited, still counted) or when the table is full: an entry with
 * open connections is never evicted, since its count would be lost, so a
 * full table refuses new addresses instead (the caller tells the two
 * apart with limits_conn_count() < max_per_ip). Each true must be paired
 * with one limits_conn_close(); the entry goes at zero, and closing an
 * address with no count does nothing.
 */
bool limits_conn_open(struct limits *l, const char *ip, unsigned int max_per_ip);
void limits_conn_close(struct limits *l, const char *ip);
unsigned int limits_conn_count(const struct limits *l, const char *ip);

/*
 * Authentication failures, per address and per user name (ip NULL is "",
 * user NULL = not known: only the address counts). A failure is forgotten
 * when window_secs have passed since the last failure of the same key.
 *
 * limits_auth_failed() records one failure for each key and returns the
 * delay in ms to wait before answering it: with n = max(failures of ip,
 * failures of user) counting this one, min(delay_ms * 2^(n-1),
 * delay_max_ms), or 0 if delay_ms is 0. Counts saturate; no overflow for
 * any n. When a table is full, its least recently failed key is forgotten.
 *
 * limits_auth_failures() returns that max without recording (the next
 * failure's n is one more), forgetting the expired records it meets.
 *
 * limits_auth_succeeded() forgets the user's failures and takes as many
 * off the address's count (dropping the address's record when nothing is
 * left): what other users' failures cost the address stays, since one
 * address may be guessing many users, but one mistyped password no longer
 * delays every correct login from an office's shared address.
 */
unsigned int limits_auth_failed(struct limits *l, const char *ip, const char *user,
				const struct limits_auth *a, uint64_t now_ms);
unsigned int limits_auth_failures(struct limits *l, const char *ip, const char *user,
				  const struct limits_auth *a, uint64_t now_ms);
void limits_auth_succeeded(struct limits *l, const char *ip, const char *user);
/* The delay for the n-th failure, as above (0 for n 0). */
unsigned int limits_auth_delay(const struct limits_auth *a, unsigned int n);

/*
 * RFC 2449 LOGIN-DELAY, per login name (user + device; NULL = no limit).
 * limits_login_wait() returns the seconds, rounded up, before the login
 * may log in again (0 = may now), delay_secs after its last recorded
 * login. When the table is full the least recently logged-in name is
 * forgotten and may log in early: LOGIN-DELAY is advice to clients, not
 * a security limit.
 */
unsigned int limits_login_wait(struct limits *l, const char *login, unsigned int delay_secs,
			       uint64_t now_ms);
void limits_login_record(struct limits *l, const char *login, uint64_t now_ms);

/*
 * Provider back-off per upstream account (key; NULL = none): the
 * upstream answered "throttled" ([THROTTLED], [LIMIT], [UNAVAILABLE], a
 * connection cap), so nothing is sent to it for that account for a while.
 * a->delay_ms is the first back-off (0: none at all), a->delay_max_ms its
 * cap, a->window_secs how long after its last throttle answer a key's
 * level is forgotten (make it longer than the cap, or levels never grow).
 *
 * limits_throttle_hit() records one more throttle answer and returns the
 * back-off it starts, in ms: for the n-th answer of the key within the
 * window, limits_auth_delay(a, n) (the first back-off doubled each time,
 * capped). An answer while a back-off runs (logins of the account under
 * way at once) changes nothing and returns what is left of it.
 * limits_throttle_left() returns the ms left of the back-off the
 * last answer started (0 = the upstream may be asked), with the settings
 * in force now, forgetting records past the window. limits_throttle_clear()
 * forgets the key (a login succeeded). When the table is full the least
 * recently throttled key is forgotten: its next login asks the upstream.
 */
unsigned int limits_throttle_hit(struct limits *l, const char *key, const struct limits_auth *a,
				 uint64_t now_ms);
unsigned int limits_throttle_left(struct limits *l, const char *key, const struct limits_auth *a,
				  uint64_t now_ms);
void limits_throttle_clear(struct limits *l, const char *key);

/* For tests and metrics: entries in all tables, or in one. */
size_t limits_entries(const struct limits *l);
size_t limits_table_entries(const struct limits *l, enum limits_table_id t);

/* The keyed hash of key as the tables use it (tests: seeds move keys). */
uint64_t limits_key_hash(const struct limits *l, const char *key);
/* SipHash-2-4 of data[0..len) under the key (k0, k1) (tests: reference vectors). */
uint64_t limits_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
