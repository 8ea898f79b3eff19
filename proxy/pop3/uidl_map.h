#ifndef POP3_UIDL_MAP_H
#define POP3_UIDL_MAP_H

/*
 * The maildrop's UIDLs, a step of the login (login.h), once the device
 * view is loaded (the stored UIDVALIDITY is the listing's):
 *
 *   load      the stored UIDLs of every listed message (pop3_device_
 *             uidl_load(), which also prunes those of expunged ones)
 *   fetch     the fingerprints (imap_fp.h) of the messages that have none,
 *             only those: a login costs in proportion to new mail
 *   match     when the account has an import (popgate uidl import): their
 *             Message-IDs and sizes against it (pop3_device_uidl_legacy());
 *             a match takes the legacy server's UIDL
 *   assign    their UIDLs by the route's form (uidl.h), made unique in the
 *             maildrop (uidl_unique()), stored (pop3_device_uidl_
 *             assign(): never over one stored meanwhile, which is used
 *             instead)
 *
 * Then every message of the drop gets its UIDL (pop3_maildrop_set_uidl()).
 * Messages flagged \Deleted upstream keep a stored UIDL but get none.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "uidl.h"

struct event_base;
struct imap_client;
struct pop3_device;
struct pop3_maildrop;
struct pop3_uidl_map;

enum pop3_uidl_map_result {
	POP3_UIDL_MAP_OK,
	POP3_UIDL_MAP_UPSTREAM,     /* what the form needs could not be fetched */
	POP3_UIDL_MAP_NO_INPUT,     /* the form cannot be applied to a message
				       (e.g. gmail without X-GM-MSGID) */
	POP3_UIDL_MAP_STORE_TEMP,   /* unavailable, or the UIDVALIDITY moved */
	POP3_UIDL_MAP_STORE_PERM,   /* damaged, or past its limit */
	POP3_UIDL_MAP_MEMORY,
};

struct pop3_uidl_map_stats {
	size_t stored, assigned, imported, renamed, pruned;
};

typedef void pop3_uidl_map_cb(void *ctx, enum pop3_uidl_map_result result,
			      enum cache_status st, const struct pop3_uidl_map_stats *stats);

/* Memory the step takes for a listing of n messages, at most. */
size_t pop3_uidl_map_bytes(size_t n, const struct uidl_format *fmt);

/*
 * d: a finished maildrop whose exists list is still there (not narrowed);
 * it and fmt stay the caller's and unchanged until cb. cb runs once from
 * the loop, unless the step is freed first (after closing the IMAP client
 * or releasing the device). NULL when out of memory.
 */
struct pop3_uidl_map *pop3_uidl_map_start(struct imap_client *imap, struct pop3_device *dev,
					  struct pop3_maildrop *d,
					  const struct uidl_format *fmt, const char *log_id,
					  pop3_uidl_map_cb *cb, void *ctx);
/* The same, with the stored UIDLs known already (warm.h: stored[i] for
   d->exists[i], NULL: none; legacy: the account has an import) instead of
   loaded: stored is read from the loop (base), so it stays unchanged until
   cb or the free. */
struct pop3_uidl_map *pop3_uidl_map_start_known(struct imap_client *imap, struct pop3_device *dev,
						struct pop3_maildrop *d,
						const struct uidl_format *fmt, const char *log_id,
						struct event_base *base,
						const char *const *stored, bool legacy,
						pop3_uidl_map_cb *cb, void *ctx);
void pop3_uidl_map_free(struct pop3_uidl_map **m);
/* Octets its tables hold now: a slot per listed message from the start,
   the rest only once the load has found messages without a UIDL, for
   those (tests). */
size_t pop3_uidl_map_held(const struct pop3_uidl_map *m);

#endif
