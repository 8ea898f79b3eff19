#ifndef CACHE_RETENTION_H
#define CACHE_RETENTION_H

/*
 * Retention ([retention] when = all-devices-done): which messages every
 * counting POP3 device of an account is done with. Keys (same hash tag
 * as cache.h):
 *
 *   popgate:{<account>}:retr:<device>  hash uid -> unix time: the device
 *                                      RETRieved it (at most
 *                                      CACHE_HIDDEN_MAX entries)
 *   popgate:{<account>}:seen           hash device -> unix time of its
 *                                      last QUIT (none: its first_seen)
 *   popgate:{<account>}:retention      set of uids: a pass's intent,
 *                                      written before anything is
 *                                      removed upstream
 *
 * A message is done when it is in hidden_all, or when, for every
 * counting device, it is in that device's retr or hidden hash, or the
 * device has an age (struct cache_retention_age: its profile's max_age,
 * proxy/pop3/profile.h) and the message's INTERNALDATE is older than
 * that; the store knows no INTERNALDATE, so the decision gives, per uid,
 * the largest such age that the caller has to check upstream (need; 0:
 * done outright). A device without an age given can list the message
 * at any age. A device counts unless it is not the caller and was last
 * seen more than forget_after seconds ago (forget_after 0: every device
 * counts). Requests follow cache.h's rules (callback once, from the
 * loop; NULL only when out of memory).
 */

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

#define CACHE_RETENTION_MAX 10000   /* uids decided or removed per call */

struct cache_retention {
	const uint32_t *uids;       /* the done set, ascending; count entries */
	const uint32_t *need;       /* per uid: done once its INTERNALDATE is
				       more than need seconds ago (0: done) */
	size_t count;
	const char *devices;        /* cache_retention_devices(): the
				       registered devices, space-separated */
	const char *forgotten;      /* devices that stopped counting,
				       space-separated ("" none) */
	const char *busy;           /* CACHE_IN_USE: the device whose lock
				       is held ("" when it is the caller's
				       own lock that is lost) */
};
typedef void cache_retention_cb(void *ctx, enum cache_status st,
				const struct cache_retention *r);

/* A device that can no longer list a message once it is older than
   max_age_secs (> 0). */
struct cache_retention_age {
	const char *device;
	uint32_t max_age_secs;
};

/* The names of the account's registered devices -> CACHE_OK with
   r->devices (the rest empty). */
struct cache_req *cache_retention_devices(struct cache *c, const char *account,
					  cache_retention_cb *cb, void *ctx);

/*
 * One atomic script: if token does not hold lock:<device> -> CACHE_IN_USE
 * (busy ""); stored uidvalidity not uidvalidity -> CACHE_CONFLICT. Else
 * records retrieved[0..n) in retr:<device> (skipped, logged, when the hash
 * would pass CACHE_HIDDEN_MAX) and seen[device] = now; then if any other
 * counting device's lock exists -> CACHE_IN_USE (busy = it), else the
 * done set, at most max uids (1..CACHE_RETENTION_MAX), drawn from the
 * intent's uids first (a pass that was cut off is taken up again), then
 * the caller's retr, hidden and hidden_all entries; those done outright
 * fill it before those with a need -> CACHE_OK. ages[0..n_ages) (at most
 * CACHE_DEVICES_MAX) are the devices with an age; any other device has
 * none. r is valid during the callback only (NULL unless CACHE_OK or
 * CACHE_IN_USE).
 */
struct cache_req *cache_retention_decide(struct cache *c, const char *account,
					 const char *device, const char *token,
					 uint32_t uidvalidity, uint64_t now,
					 uint64_t forget_after, size_t max,
					 const struct cache_retention_age *ages, size_t n_ages,
					 const uint32_t *retrieved, size_t n,
					 cache_retention_cb *cb, void *ctx);

/* The intent: under token's lock (else CACHE_IN_USE), while the stored
   uidvalidity is uidvalidity (else CACHE_CONFLICT: a remap renumbered
   the records since the decision, and uids are of the old numbering)
   and while no other counting device's lock exists (else CACHE_IN_USE),
   the intent set becomes uids -> CACHE_OK. 1 <= n <=
   CACHE_RETENTION_MAX. */
struct cache_req *cache_retention_intent(struct cache *c, const char *account,
					 const char *device, const char *token,
					 uint32_t uidvalidity, uint64_t now,
					 uint64_t forget_after, const uint32_t *uids, size_t n,
					 cache_status_cb *cb, void *ctx);

/* The uids are gone upstream: they leave every device's retr and hidden
   hashes, hidden_all and the intent -> CACHE_OK; unless the stored
   uidvalidity is no longer uidvalidity -> CACHE_CONFLICT, nothing
   touched (the records are of another numbering now). 1 <= n <=
   CACHE_RETENTION_MAX. */
struct cache_req *cache_retention_finish(struct cache *c, const char *account,
					 uint32_t uidvalidity, const uint32_t *uids, size_t n,
					 cache_status_cb *cb, void *ctx);

#endif
