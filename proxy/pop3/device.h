#ifndef POP3_DEVICE_H
#define POP3_DEVICE_H

/*
 * One device's state in the state store (cache/): its lock, its view of
 * the account (what it hides), and the changes a QUIT makes. Leaf calls
 * for the login and QUIT flows: each takes a callback that reports the
 * store's status and never talks to the POP3 client.
 *
 * While the lock is held a timer refreshes it (every third of its ttl);
 * a refresh that finds it taken marks it lost (pop3_device_locked()
 * false, logged): a QUIT then applies nothing.
 *
 * At most one request (lock, view, remap, hide) runs at a time; its
 * callback runs from the loop, exactly once, unless the request is
 * cancelled by pop3_device_release()/pop3_device_free().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cache_gen.h"

struct event_base;
struct pop3_device;

/* account: the store's account key (see cache.h), device: the device
   name (cache_device_valid()), both copied; session_id goes into the lock
   token, log_id prefixes log lines.
   NULL when out of memory. */
struct pop3_device *pop3_device_new(struct cache *cache, struct event_base *base,
				    const char *account, const char *device,
				    unsigned int lock_ttl_secs, const char *session_id,
				    const char *log_id);
/* Releases (see below) and frees; NULL is fine. */
void pop3_device_free(struct pop3_device **d);

const char *pop3_device_name(const struct pop3_device *d);
const char *pop3_device_account(const struct pop3_device *d);
bool pop3_device_locked(const struct pop3_device *d);
/* The lock token of this session (for requests of other modules under
   the same lock, e.g. retention). */
const char *pop3_device_token(const struct pop3_device *d);

/* Takes the lock for this session: CACHE_OK, or CACHE_IN_USE when another
   session holds it. -1: out of memory (cb never runs). */
int pop3_device_lock(struct pop3_device *d, cache_status_cb *cb, void *ctx);
/* The same, with the generations read under it (cache_lock_gen()). */
int pop3_device_lock_gen(struct pop3_device *d, cache_lock_gen_cb *cb, void *ctx);

/* Loads the device's view of the listing (cache_load_view()); its uids
   stay valid until cb runs or the device is released. */
int pop3_device_load_view(struct pop3_device *d, const struct cache_listing *listing,
			  uint32_t first_uidnext, cache_view_cb *cb, void *ctx);

/* What the store says of a few new uids (cache_peek()). */
int pop3_device_peek(struct pop3_device *d, uint32_t uidvalidity, const uint32_t *uids, size_t n,
		     cache_peek_cb *cb, void *ctx);

/* Moves the account's state to a recreated mailbox (cache_remap()); msgs
   stay valid until cb runs or the device is released. */
int pop3_device_remap(struct pop3_device *d, uint32_t old_uidvalidity,
		      uint32_t new_uidvalidity, uint32_t new_uidnext,
		      const struct cache_remap_msg *msgs, size_t n,
		      cache_status_cb *cb, void *ctx);

/* The account's stored UIDLs of the listed uids (cache_uidl_load()), and
   new ones stored (cache_uidl_assign()); the arrays stay valid until cb
   runs or the device is released. */
int pop3_device_uidl_load(struct pop3_device *d, const struct cache_listing *listing,
			  cache_uidls_cb *cb, void *ctx);
int pop3_device_uidl_legacy(struct pop3_device *d, const struct cache_uidl_query *queries,
			    size_t n, cache_uidls_cb *cb, void *ctx);
int pop3_device_uidl_assign(struct pop3_device *d, uint32_t uidvalidity,
			    const struct cache_uidl_new *entries, size_t n,
			    cache_uidls_cb *cb, void *ctx);

/* Hides uids for this device, or for all devices (cache_hide()), under
   this session's lock token. */
int pop3_device_hide(struct pop3_device *d, bool all_devices, uint32_t uidvalidity,
		     const uint32_t *uids, const char *const *fingerprints, size_t n,
		     cache_status_cb *cb, void *ctx);

/* After a pop3_device_hide() that gave CACHE_OK: the generation it bumped
   (cache_hide_gen()), false when it bumped none (nothing to hide). */
bool pop3_device_hide_change(const struct pop3_device *d, struct cache_gen_change *change);

/* Cancels any request, stops the refresh, and releases the lock if this
   session holds it or may hold it (a lock request whose outcome is
   unknown): the unlock only deletes this session's own token. */
void pop3_device_release(struct pop3_device *d);

/* The same, and cb once the store has carried the unlock out (or the
   connection went: then the unlock is sent again later, and the lock
   expires at the latest). -1: out of memory, released without waiting. */
int pop3_device_release_wait(struct pop3_device *d, cache_status_cb *cb, void *ctx);

#endif
