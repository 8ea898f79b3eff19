#ifndef CACHE_OP_H
#define CACHE_OP_H

/*
 * An operation made of several requests (cache_view.c, cache_remap.c):
 * the caller gets a request of its own that is never sent (cache_conn.h),
 * whose data starts with a struct cache_op; the operation's steps are
 * ordinary requests on the connection, up to CACHE_OP_WINDOW at a time,
 * each with the slot it runs in as its ctx. A step's type->deliver calls
 * cache_op_step_done(), goes on, and ends with cache_op_settle(): the
 * caller's callback then runs at once, in the place of the reply that
 * completed it among the replies of other requests.
 */

#include <stdbool.h>
#include <stddef.h>

#include "cache_conn.h"

#define CACHE_OP_WINDOW 4

struct cache_op;

struct cache_op_step {
	struct cache_op *op;
	struct cache_req *req;     /* NULL: the slot is free */
	size_t from, count;        /* what it asked for, for the operation */
};

struct cache_op {
	struct cache_req *req;     /* the caller's */
	struct cache_conn *conn;
	struct cache_op_step steps[CACHE_OP_WINDOW];
	unsigned int in_flight;
	bool done;
	enum cache_status status;  /* once done */
};

void cache_op_init(struct cache_op *op, struct cache_req *req);
/* A free slot with a new request of type, not submitted yet; NULL when
   out of memory, and then the operation is done (CACHE_UNAVAILABLE).
   Never more than CACHE_OP_WINDOW at a time (abort: a bug). */
struct cache_op_step *cache_op_step(struct cache_op *op,
				    const struct cache_req_type *type);
/* Done with st; the steps still running are cancelled. */
void cache_op_end(struct cache_op *op, enum cache_status st);
/* Cancels the steps still running (for the free_data of the caller's
   request type). */
void cache_op_cancel(struct cache_op *op);
/* First thing in a step's type->deliver: frees its slot, and a step that
   failed makes the operation done with its status. */
struct cache_op *cache_op_step_done(struct cache_req *req);
/* Last thing in a step's type->deliver (in_delivery) or in the function
   that made the caller's request: completes that request once the
   operation is done. May free the operation. */
void cache_op_settle(struct cache_op *op, bool in_delivery);

#endif
