#ifndef POP3_WARM_H
#define POP3_WARM_H

/*
 * What a login read of the state store, kept for the next login of the
 * same account and device, so that a warm poll reads two generations
 * (cache_gen.h, with the lock) instead of every message's hides and UIDL
 * again: the listing's UIDs, the device's view of them (the hidden bits,
 * its first UIDNEXT) and the UIDL each message of the drop was given.
 *
 * Kept with the upstream connection ([upstream] keep_idle, keep.h): a
 * session owns its copy until QUIT hands its connection to the pool with
 * the copy attached (imap_client_attach()); the next login of the account
 * takes both. So it lives no longer and no more often than kept
 * connections, and is dropped with them (idle expiry, reload, errors,
 * another password). Its memory is counted in max_listing_memory for as
 * long as it lives; one is made only while everything counted there
 * stays within half of it, so copies never crowd out a login.
 *
 * A copy is used only when all of this holds, else the login reads the
 * store as before (and makes a new copy):
 *  - the same device, and the same UIDVALIDITY;
 *  - the account's and the device's generations the lock read are the
 *    copy's (the account's nonzero): no write to the map's imports,
 *    hidden_all, a remap, the device's hides, reset or forget since, by
 *    any gateway sharing the store;
 *  - the listing holds exactly the copy's UIDs (one expunged, and the
 *    store is read again: it has entries to prune), and every message of
 *    the drop had a UIDL in the copy (a message no longer \Deleted may
 *    have none yet).
 * New mail (the copy's UIDs, then up to CACHE_PEEK_MAX new ones, all else
 * as above): only the new UIDs are read of the store (cache_peek(), with
 * what the login already has: pop3_warm_add()), and only they get UIDLs
 * assigned.
 * With those, the store holds for these UIDs what the copy says (UIDLs
 * are never replaced, cache_gen.h says what else is never bumped), so the
 * login answers what a full read would.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache_gen.h"

struct pop3_maildrop;
struct pop3_warm;

/* Bytes a copy of a drop of n UIDs with pool_len bytes of UIDLs takes. */
size_t pop3_warm_bytes(size_t n, size_t pool_len);

/*
 * A copy of what a full read gave: d is the finished drop before it is
 * narrowed (its exists list, its messages with their UIDLs), hidden the
 * view's bits of exists[i] (NULL: none hidden), first_uidnext the
 * device's, g what the lock read. *budget_used is the server's count of
 * max_listing_memory (bytes of budget): the copy adds its size to it and
 * takes it off when freed, so the counter must outlive it. NULL when it
 * would pass budget, when g's account generation is 0, or when out of
 * memory.
 */
struct pop3_warm *pop3_warm_new(uint64_t *budget_used, uint64_t budget, const char *device,
				const struct cache_gens *g, const struct pop3_maildrop *d,
				const uint8_t *hidden, uint32_t first_uidnext);
void pop3_warm_free(struct pop3_warm **w);
/* The same, for imap_client_attach(). */
void pop3_warm_free_data(void *w);

/* Whether w may stand for the store's answer for this login (see above);
   w may be NULL (false). */
bool pop3_warm_valid(const struct pop3_warm *w, const char *device, const struct cache_gens *g,
		     const struct pop3_maildrop *d);

/*
 * Whether w stands for the store's answer for the listing but for new
 * mail: all of the above but that d->exists holds the copy's UIDs and,
 * after them, 1..CACHE_PEEK_MAX new ones (cache_peek() reads those).
 * Returns how many new ones (0: no).
 */
size_t pop3_warm_new_mail(const struct pop3_warm *w, const char *device,
			  const struct cache_gens *g, const struct pop3_maildrop *d);

/* w (as pop3_warm_new_mail() found it) extended to the whole listing of
   d with what the store says of its new UIDs (p, in their order): then
   it holds the view of every listed UID and the UIDLs stored of them.
   -1: out of memory (w unchanged). */
int pop3_warm_add(struct pop3_warm *w, const struct pop3_maildrop *d,
		  const struct cache_peek *p);

/* Of a copy holding d's whole listing: the stored UIDL of d->exists[i]
   (NULL: none), and whether the account has an import (as last read). */
const char *pop3_warm_stored(const struct pop3_warm *w, size_t i);
bool pop3_warm_legacy(const struct pop3_warm *w);

/*
 * This session's own hide (QUIT) of uids[0..n) (ascending), for this
 * device or all (all_devices), bumped that generation from change->before
 * to change->after: when the copy had change->before, the hides go into
 * it and it takes change->after (nobody else changed that state in
 * between); else it is of no more use: false (free it).
 */
bool pop3_warm_hid(struct pop3_warm *w, bool all_devices, const struct cache_gen_change *change,
		   const uint32_t *uids, size_t n);

/* Of a valid copy: the hidden bits of d->exists[i] (NULL: none hidden),
   and the device's first UIDNEXT. */
const uint8_t *pop3_warm_hidden(const struct pop3_warm *w);
uint32_t pop3_warm_first_uidnext(const struct pop3_warm *w);

/* Every message of d gets its UIDL from a valid copy. -1: out of memory. */
int pop3_warm_apply(const struct pop3_warm *w, struct pop3_maildrop *d);

#endif
