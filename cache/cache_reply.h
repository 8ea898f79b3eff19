#ifndef CACHE_REPLY_H
#define CACHE_REPLY_H

/*
 * The request types of the operations (struct cache_req_type of
 * cache_conn.h): what each Redis reply means (error replies that say
 * "not now" are CACHE_UNAVAILABLE, anything unexpected CACHE_ERROR and
 * logged), the decoding of a view with its ownership, and the delivery
 * to the caller's callback. cache_ops.c makes the requests with these;
 * the connection calls them.
 *
 * A view request's data is its struct cache_view and the arrays behind
 * it, valid during the callback only (cache.h).
 */

#include "cache_conn.h"

extern const struct cache_req_type cache_type_lock;
extern const struct cache_req_type cache_type_refresh;
extern const struct cache_req_type cache_type_unlock;
extern const struct cache_req_type cache_type_view;
extern const struct cache_req_type cache_type_hide;
extern const struct cache_req_type cache_type_remap;

#endif
