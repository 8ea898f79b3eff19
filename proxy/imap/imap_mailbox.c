/* SELECT, and whether a UID is still there; contracts in imap_mailbox.h. */

#include "imap_mailbox.h"

#include <stdio.h>
#include <string.h>

#include "imap_resp.h"
#include "imap_throttle.h"
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

/* The codes only a SELECT answers. Not EXISTS: a server answers a
   SELECT only after the commands before it (it changes the mailbox, RFC
   3501 5.5), so one that comes before their ends is the old mailbox's
   news, theirs as unsolicited (and the SELECT's own follows). */
static bool imap_select_claims(void *ctx, const struct imap_resp *resp)
{
	uint32_t n;
	uint64_t m;

	(void)ctx;
	return resp->status == IMAP_STATUS_OK &&
	       (imap_code_number(resp, "UIDVALIDITY", &n) == 0 ||
		imap_code_number(resp, "UIDNEXT", &n) == 0 ||
		imap_code_number64(resp, "HIGHESTMODSEQ", INT64_MAX, &m) == 0);
}

/* The answer kept (strings copied: the client's are gone after done). */
static void imap_select_keep(struct imap_select_op *op, const struct imap_reply *reply)
{
	size_t code_len = reply->code_len < sizeof(op->code) - 1 ? reply->code_len :
		sizeof(op->code) - 1;

	op->ended = true;
	op->reply = *reply;
	if (reply->code != NULL)
		memcpy(op->code, reply->code, code_len);
	op->code[reply->code != NULL ? code_len : 0] = '\0';
	op->reply.code = reply->code != NULL ? op->code : NULL;
	op->reply.code_len = reply->code != NULL ? code_len : 0;
	snprintf(op->text, sizeof(op->text), "%s", reply->text != NULL ? reply->text : "");
	op->reply.text = op->text;
}

static const struct imap_cmd_handlers imap_select_handlers;
static int imap_select_send(struct imap_select_op *op, struct imap_client *c,
			    const char *mailbox);

/* A claimed answer to the owner; an early SELECT refused as a server
   refuses a command it was not ready for (BAD, or NO without a code such
   as [NONEXISTENT], and nothing of throttling) goes again alone, once. */
static void imap_select_answer(struct imap_select_op *op, const struct imap_reply *reply)
{
	if (op->early && !op->retried &&
	    (reply->result == IMAP_REPLY_BAD ||
	     (reply->result == IMAP_REPLY_NO && reply->code == NULL)) &&
	    imap_throttle_of(reply->code, reply->code_len, reply->text,
			     reply->text != NULL ? strlen(reply->text) : 0) == IMAP_THROTTLE_NONE) {
		op->retried = true;
		op->ended = false;
		op->info = (struct imap_selected){ 0 };
		if (imap_select_send(op, op->c, op->mailbox) == 0)
			return;
	}
	op->cb(op->ctx, reply, &op->info);
}

static void imap_select_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_select_op *op = ctx;

	if (op->cb == NULL) {
		imap_select_keep(op, reply);
		return;
	}
	imap_select_answer(op, reply);
}

static const struct imap_cmd_handlers imap_select_handlers = {
	.untagged = imap_select_untagged,
	.claims = imap_select_claims,
	.done = imap_select_done,
};

static int imap_select_send(struct imap_select_op *op, struct imap_client *c,
			    const char *mailbox)
{
	/* CONDSTORE without QRESYNC: enabled by the SELECT (RFC 7162), so
	   that it answers HIGHESTMODSEQ for the listing's validation. */
	if ((imap_client_caps(c) & IMAP_CAP_CONDSTORE) != 0 && !imap_client_qresync_enabled(c))
		return imap_client_cmdf(c, &imap_select_handlers, op, "SELECT %s (CONDSTORE)",
					mailbox);
	return imap_client_cmdf(c, &imap_select_handlers, op, "SELECT %s", mailbox);
}

int imap_select(struct imap_select_op *op, struct imap_client *c, const char *mailbox,
		imap_select_cb *cb, void *ctx)
{
	*op = (struct imap_select_op){ .cb = cb, .ctx = ctx };
	return imap_select_send(op, c, mailbox);
}

/* Sent alike whether UTF8=ACCEPT is enabled or not. */
static bool imap_mailbox_plain(const char *mailbox)
{
	for (const char *p = mailbox; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == '&')
			return false;
	}
	return mailbox[0] != '\0';
}

int imap_select_early(struct imap_select_op *op, struct imap_client *c, const char *mailbox)
{
	*op = (struct imap_select_op){ .c = c, .mailbox = mailbox, .early = true };
	if (!imap_mailbox_plain(mailbox) || imap_select_send(op, c, mailbox) < 0) {
		op->early = false;
		return -1;
	}
	return 0;
}

void imap_select_claim(struct imap_select_op *op, imap_select_cb *cb, void *ctx)
{
	op->cb = cb;
	op->ctx = ctx;
	if (op->ended)
		imap_select_answer(op, &op->reply);
}

bool imap_select_retried(const struct imap_select_op *op)
{
	return op->retried;
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

/* "* SEARCH" answers the UID SEARCH, not the NOOP before it. */
static bool imap_search_claims(void *ctx, const struct imap_resp *resp)
{
	(void)ctx;
	return !resp->has_num && imap_resp_keyword_is(resp, "SEARCH");
}

static void imap_search_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_exists_op *op = ctx;

	op->searched = reply->result == IMAP_REPLY_OK;
	imap_exists_end(op, reply);
}

static const struct imap_cmd_handlers imap_search_handlers = {
	.untagged = imap_search_untagged,
	.claims = imap_search_claims,
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
