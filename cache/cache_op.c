/* Operations made of several requests; see cache_op.h. */

#include "cache_op.h"

#include <stdlib.h>

void cache_op_init(struct cache_op *op, struct cache_req *req)
{
	op->req = req;
	op->conn = req->conn;
}

struct cache_op_step *cache_op_step(struct cache_op *op,
				    const struct cache_req_type *type)
{
	struct cache_op_step *step = NULL;
	size_t i;

	for (i = 0; i < CACHE_OP_WINDOW && step == NULL; i++) {
		if (op->steps[i].req == NULL)
			step = &op->steps[i];
	}
	if (step == NULL)
		abort();
	step->op = op;
	step->req = cache_req_new(op->conn, type,
				  (union cache_req_cb){ .status = NULL }, step);
	if (step->req == NULL) {
		cache_req_log(op->req, CACHE_LOG_ERROR, "cache_error",
			      "error=\"out of memory\"");
		cache_op_end(op, CACHE_UNAVAILABLE);
		return NULL;
	}
	op->in_flight++;
	return step;
}

void cache_op_cancel(struct cache_op *op)
{
	size_t i;

	for (i = 0; i < CACHE_OP_WINDOW; i++)
		cache_req_cancel(&op->steps[i].req);
	op->in_flight = 0;
}

void cache_op_end(struct cache_op *op, enum cache_status st)
{
	cache_op_cancel(op);
	op->done = true;
	op->status = st;
}

struct cache_op *cache_op_step_done(struct cache_req *req)
{
	struct cache_op_step *step = req->ctx;
	struct cache_op *op = step->op;

	step->req = NULL;
	op->in_flight--;
	if (req->status != CACHE_OK)
		cache_op_end(op, req->status);
	return op;
}

void cache_op_settle(struct cache_op *op, bool in_delivery)
{
	if (!op->done)
		return;
	if (in_delivery)
		cache_req_complete_now(op->req, op->status);
	else
		cache_req_complete(op->req, op->status);
}
