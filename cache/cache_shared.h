#ifndef CACHE_SHARED_H
#define CACHE_SHARED_H

/*
 * The copy of a mailbox's last listing that gateways sharing an account
 * keep (imap_listing_blob.h: opaque octets here), one string per account
 * and upstream mailbox:
 *
 *   popgate:{<account>}:listing:<id>   the blob, with a PX expiry
 *
 * id is 16 lowercase hex digits (imap_listing_blob_id()). A cache, never
 * state: a copy lost, stale or damaged costs its reader the full listing
 * it would have fetched anyway, since the reader validates it against
 * the server before any use.
 *
 * Requests as in cache.h: a handle or NULL (out of memory; no callback),
 * the callback once from the loop unless cancelled.
 */

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

/* A copy expires this long after it was written. */
#define CACHE_SHARED_TTL_MS (86400ull * 1000u * 30u)
/* Octets of the largest copy written or read (a reply longer is
   CACHE_ERROR, nothing delivered). */
#define CACHE_SHARED_MAX (2400036u + 1024u)

/* data: the copy (len octets, valid during the callback), or NULL when
   none is stored; both only with CACHE_OK. */
typedef void cache_blob_cb(void *ctx, enum cache_status st, const uint8_t *data, size_t len);

struct cache_req *cache_shared_listing_get(struct cache *c, const char *account,
					   const char *id, cache_blob_cb *cb, void *ctx);

/* SET ... PX CACHE_SHARED_TTL_MS; data is copied at once. cb may be
   NULL. */
struct cache_req *cache_shared_listing_put(struct cache *c, const char *account,
					   const char *id, const uint8_t *data, size_t len,
					   cache_status_cb *cb, void *ctx);

#endif
