#ifndef CACHE_REPLY_H
#define CACHE_REPLY_H

/*
 * The request types of the single-request operations (struct
 * cache_req_type of cache_conn.h): what each Redis reply means, and the
 * delivery to the caller's callback; cache_ops.c makes the requests with
 * these, the connection calls them. Also the reply helpers that the
 * operations of their own files (cache_view.c, cache_remap.c) share:
 * error replies that say "not now" are CACHE_UNAVAILABLE, anything
 * unexpected CACHE_ERROR and logged.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache_conn.h"

extern const struct cache_req_type cache_type_lock;
extern const struct cache_req_type cache_type_refresh;
extern const struct cache_req_type cache_type_unlock;
extern const struct cache_req_type cache_type_hide;
/* cache_gen.c: the same with the generation it bumped. */
extern const struct cache_req_type cache_type_hide_gen;
/* A hide's reply (cache_type_hide's parse); its {0, before, after} form
   is read as done (cache_type_hide_gen, cache_gen.c, reads its values). */
enum cache_status cache_parse_hide(struct cache_req *req, const struct redisReply *r);
extern const struct cache_req_type cache_type_barrier;

/* An error reply: CACHE_UNAVAILABLE for those that say "not now"
   (loading, read-only, busy, out of memory...), else CACHE_ERROR; logged
   on req either way. */
enum cache_status cache_reply_error(struct cache_req *req,
				    const struct redisReply *reply);
/* Logs what as an error on req: CACHE_ERROR. */
enum cache_status cache_reply_bad(struct cache_req *req, const char *what);
/* A reply none of the expected ones matched: cache_reply_error() for an
   error reply, else cache_reply_bad(). */
enum cache_status cache_reply_unexpected(struct cache_req *req,
					 const struct redisReply *reply);
/* Decimal, no sign, no leading zero, 0..max. */
bool cache_parse_u64(const char *s, size_t len, uint64_t max,
		     uint64_t *value_r);
/* A string reply holding a decimal 0..UINT32_MAX. */
bool cache_reply_u32(const struct redisReply *reply, uint32_t *value_r);
/* A device entry "<first_uidnext> <first_seen>", first_uidnext > 0. */
bool cache_parse_device(const char *s, size_t len, uint32_t *first_uidnext_r,
			uint64_t *first_seen_r);
/* Runs req->cb.status with req->status. */
void cache_deliver_status(struct cache_req *req);

#endif
