#ifndef IMAP_POOL_H
#define IMAP_POOL_H

/*
 * Upstream connections kept after their user is done with them: logged
 * in, mailbox selected, idle. The next login of the same account (key)
 * with the same credentials (digest) takes one instead of connecting and
 * logging in again. A connection is a transport here, never a view: the
 * taker selects the mailbox again and lists it itself.
 *
 * The digest is the caller's keyed digest of the credentials
 * (pop3 login: HMAC-SHA-256 under imap_pool_secret()); it stays in memory
 * only and is compared in constant time. A take with another digest under
 * the same key closes what is kept there: a changed or wrong password
 * never gets a kept connection.
 *
 * Bounded: at most max_key connections under one key and max_total in
 * all (the oldest goes first); each is closed with LOGOUT after
 * idle_secs, or at once if the server drops it meanwhile. No callback of
 * a kept connection reaches its former user.
 */

#include <stdbool.h>
#include <stddef.h>

#include "tls.h"

struct event_base;
struct imap_client;
struct imap_pool;

struct imap_pool *imap_pool_new(struct event_base *base);
/* Closes every connection at once (no LOGOUT) and frees. */
void imap_pool_free(struct imap_pool **pool);

/* The random key of this process's credential digests (TLS_DIGEST_LEN
   octets): a digest is worth nothing outside this process. */
const unsigned char *imap_pool_secret(const struct imap_pool *pool);

/*
 * Keeps c under key for idle_secs: true, and the pool owns c from now on.
 * False (c stays the caller's) when c is not imap_client_idle(), a bound
 * is 0 or memory ran out. May be called from inside c's own callbacks.
 */
bool imap_pool_put(struct imap_pool *pool, const char *key,
		   const unsigned char digest[TLS_DIGEST_LEN], struct imap_client *c,
		   unsigned int idle_secs, unsigned int max_key, unsigned int max_total);

/*
 * A connection kept under key with this digest, still idle and connected:
 * the caller owns it. NULL if none; a kept one under key with another
 * digest is closed (LOGOUT) and counted in *evicted_r (may be NULL).
 */
struct imap_client *imap_pool_take(struct imap_pool *pool, const char *key,
				   const unsigned char digest[TLS_DIGEST_LEN],
				   unsigned int *evicted_r);

/* What logins to each upstream server showed (imap_caps_memo.h), for
   the next cold login's pipelining (imap_client_settings.caps_memo); the
   pool owns it. NULL for pool NULL. */
struct imap_caps_memo;
struct imap_caps_memo *imap_pool_caps_memo(struct imap_pool *pool);

/*
 * Takes c, whatever its state, and ends it for the caller: LOGOUT if it is
 * still connected, then freed once the server answered or the connection
 * ended (within c's own timeout), or at imap_pool_free(). Nothing of c
 * reaches its former user: the caller closes nothing and waits for
 * nothing. False (c stays the caller's) for pool NULL or out of memory.
 * May be called from inside c's own callbacks.
 */
bool imap_pool_logout(struct imap_pool *pool, struct imap_client *c);

/* Closes (LOGOUT) every kept connection, and forgets the capabilities
   seen: after a reload, routes may point elsewhere. */
void imap_pool_flush(struct imap_pool *pool);

/* Connections kept now. */
unsigned int imap_pool_count(const struct imap_pool *pool);

#endif
