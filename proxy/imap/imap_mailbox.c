/* SELECT, and whether a UID is still there; contracts in imap_mailbox.h. */

#include "imap_mailbox.h"

#include "imap_resp.h"
#include "num.h"

static void imap_select_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_select_op *op = ctx;
	if (resp->status == IMAP_STATUS_OK) {
		imap_code_number(resp, "UIDVALIDITY", &op->info.uidvalidity);
		imap_code_number(resp, "UIDNEXT", &op->info.uidnext);
		if (imap_code_number64(resp, "HIGHESTMODSEQ", INT64_MAX,
				       &op->info.highestmodseq) == 0)
			op->info.has_modseq = true;
	} else if (resp->has_num && imap_resp_keyword_is(resp, "EXISTS")) {
		op->info.exists = resp->num;
	}
}

static void imap_select_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_select_op *op = ctx;

	op->cb(op->ctx, reply, &op->info);
}

static const struct imap_cmd_handlers imap_select_handlers = {
	.untagged = imap_select_untagged,
	.done = imap_select_done,
};

int imap_select(struct imap_select_op *op, struct imap_client *c, const char *mailbox,
		imap_select_cb *cb, void *ctx)
{
	*op = (struct imap_select_op){ .cb = cb, .ctx = ctx };
	/* CONDSTORE without QRESYNC: enabled by the SELECT (RFC 7162), so
	   that it answers HIGHESTMODSEQ for the listing's validation. */
	if ((imap_client_caps(c) & IMAP_CAP_CONDSTORE) != 0 && !imap_client_qresync_enabled(c))
		return imap_client_cmdf(c, &imap_select_handlers, op, "SELECT %s (CONDSTORE)",
					mailbox);
	return imap_client_cmdf(c, &imap_select_handlers, op, "SELECT %s", mailbox);
}

/* Both commands' ends come here, in any order (a server may answer the
   later tag first): the last one reports. */
static void imap_exists_end(struct imap_exists_op *op, const struct imap_reply *reply)
{
	if (reply->result != IMAP_REPLY_OK)
		op->failed = true;
	if (--op->pending > 0)
		return;
	op->cb(op->ctx, op->failed || !op->searched ? IMAP_EXISTS_FAILED :
	       op->found ? IMAP_EXISTS_YES : IMAP_EXISTS_NO);
}

static void imap_noop_done(void *ctx, const struct imap_reply *reply)
{
	imap_exists_end(ctx, reply);
}

static const struct imap_cmd_handlers imap_noop_handlers = {
	.done = imap_noop_done,
};

/* "* SEARCH 3 5": whether op->uid is among the numbers. */
static void imap_search_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_exists_op *op = ctx;
	size_t pos = 0;

	if (!imap_resp_keyword_is(resp, "SEARCH"))
		return;
	while (pos < resp->rest_len) {
		uint64_t n;

		if (resp->rest[pos] == ' ') {
			pos++;
			continue;
		}
		if (num_scan_u64(resp->rest, resp->rest_len, &pos, UINT32_MAX, &n) != NUM_OK)
			return;
		if (n == op->uid)
			op->found = true;
	}
}

static void imap_search_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_exists_op *op = ctx;

	op->searched = reply->result == IMAP_REPLY_OK;
	imap_exists_end(op, reply);
}

static const struct imap_cmd_handlers imap_search_handlers = {
	.untagged = imap_search_untagged,
	.done = imap_search_done,
};

int imap_uid_exists(struct imap_exists_op *op, struct imap_client *c, uint32_t uid,
		    imap_exists_cb *cb, void *ctx)
{
	*op = (struct imap_exists_op){ .uid = uid, .cb = cb, .ctx = ctx, .pending = 1 };
	if (imap_client_command(c, "NOOP", &imap_noop_handlers, op) < 0)
		return -1;
	/* Pipelined behind the NOOP. Not queued: the NOOP's end reports a
	   failure (searched stays false). */
	if (imap_client_cmdf(c, &imap_search_handlers, op, "UID SEARCH UID %u", uid) == 0)
		op->pending++;
	return 0;
}
