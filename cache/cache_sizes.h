#ifndef CACHE_SIZES_H
#define CACHE_SIZES_H

/*
 * Exact message sizes ([upstream] exact_sizes): the octets RETR sends of
 * a message (CRLF line ends, before dot-stuffing), counted once where the
 * server's RFC822.SIZE is not that. One hash per account and UIDVALIDITY:
 *
 *   popgate:{<account>}:sizes:<uidvalidity>   hash uid -> "<rfc822> <octets>"
 *
 * with the server's RFC822.SIZE the count was made for. A UID names one
 * message content for ever within its UIDVALIDITY, so an entry never goes
 * stale (a caller still checks the RFC822.SIZE: a server that reuses a
 * UID breaks IMAP, and must not get another message's count); entries of messages no longer listed are
 * removed by the login that sees them gone, and the hash expires
 * CACHE_SIZES_TTL_MS after its last write (a recreated mailbox's old hash
 * with it). At most one entry per message of the mailbox.
 *
 * Requests as in cache.h: a handle or NULL (out of memory; no callback),
 * the callback once from the loop unless cancelled.
 */

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

#define CACHE_SIZES_TTL_MS (86400u * 1000u * 30u)
/* Entries written or removed by one cache_sizes_store(), at most. */
#define CACHE_SIZES_BATCH 1000

struct cache_sizes {
	const uint32_t *uids;      /* n entries, in no particular order */
	const uint64_t *rfc822;    /* the server's size then */
	const uint64_t *sizes;     /* the octets counted */
	size_t n;
};

/* sz is non-NULL exactly when st == CACHE_OK (n 0: none stored), valid
   during the callback. */
typedef void cache_sizes_cb(void *ctx, enum cache_status st, const struct cache_sizes *sz);

struct cache_req *cache_sizes_load(struct cache *c, const char *account, uint32_t uidvalidity,
				   cache_sizes_cb *cb, void *ctx);

/* Sets uids[i] -> (rfc822[i], sizes[i]) for i < n and removes the entries of
   gone[0..ngone), n + ngone <= CACHE_SIZES_BATCH (else CACHE_ERROR), in
   one atomic script; the expiry moves. cb may be NULL. */
struct cache_req *cache_sizes_store(struct cache *c, const char *account, uint32_t uidvalidity,
				    const uint32_t *uids, const uint64_t *rfc822,
				    const uint64_t *sizes, size_t n,
				    const uint32_t *gone, size_t ngone, cache_count_cb *cb,
				    void *ctx);

#endif
