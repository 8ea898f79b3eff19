/* The listing validated instead of refetched; contracts in imap_sync.h. */

#include "imap_sync.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap_listing.h"
#include "imap_resp.h"
#include "log.h"
#include "num.h"

/* The longest "* SEARCH" answer asked for: below the 64 KB the client
   reads in one line; and at most this many searches at once. */
#define IMAP_SYNC_SEARCH_LINE 60000
#define IMAP_SYNC_SEARCH_CHUNKS 64

static const char *const imap_sync_kind_names[] = {
	[IMAP_SYNC_FULL] = "full",
	[IMAP_SYNC_UNCHANGED] = "unchanged",
	[IMAP_SYNC_CHANGES] = "changes",
	[IMAP_SYNC_CHECKED] = "checked",
};
_Static_assert(sizeof(imap_sync_kind_names) / sizeof(imap_sync_kind_names[0]) ==
	       IMAP_SYNC_KIND_COUNT, "names must match enum imap_sync_kind");

const char *imap_sync_kind_name(enum imap_sync_kind kind)
{
	return kind < IMAP_SYNC_KIND_COUNT ? imap_sync_kind_names[kind] : "?";
}

static void imap_sync_doubt(struct imap_sync_op *op, const char *why)
{
	if (!op->doubt && !op->failed)
		snprintf(op->error, sizeof(op->error), "%s", why);
	op->doubt = true;
}

static void imap_sync_fail(struct imap_sync_op *op, const char *why)
{
	if (!op->failed)
		snprintf(op->error, sizeof(op->error), "%s", why);
	op->failed = true;
}

/* "(EARLIER) 3:5,9" or "3:5,9". */
static void imap_sync_vanished(struct imap_sync_op *op, const struct imap_resp *resp)
{
	const char *set = resp->rest;
	size_t len = resp->rest_len, removed;
	static const char earlier[] = "(EARLIER) ";

	if (len >= sizeof(earlier) - 1 && strncasecmp(set, earlier, sizeof(earlier) - 1) == 0) {
		set += sizeof(earlier) - 1;
		len -= sizeof(earlier) - 1;
	}
	if (imap_listing_vanish(op->l, set, len, &removed) < 0) {
		imap_sync_doubt(op, "malformed VANISHED");
		return;
	}
	op->vanished += removed;
}

static void imap_sync_fetched(struct imap_sync_op *op, const struct imap_fetch *f)
{
	struct imap_listing_msg *m = NULL;

	/* A full listing in UID order (as servers answer) appends; a lookup
	   there is for the out of order, the repeated, and the unsolicited
	   updates that come with UIDs under QRESYNC. */
	if (op->kind != IMAP_SYNC_FULL || !f->has_size ||
	    (op->l->count > 0 && f->uid <= op->l->msgs[op->l->count - 1].uid))
		m = imap_listing_find(op->l, f->uid);
	if (m != NULL) {
		if (f->has_size && f->size != m->size)
			imap_sync_doubt(op, "a message changed its size");
		m->flags = (f->has_flags ? f->flags : m->flags) | IMAP_LISTING_MARK;
		op->fetched++;
		return;
	}
	if (!f->has_size) {
		/* Another session's flag update for a message not listed yet
		   (its own response follows), when FETCH responses carry
		   UIDs unasked (QRESYNC); otherwise the server skipped the
		   size it was asked for. */
		if (op->kind != IMAP_SYNC_FULL)
			imap_sync_doubt(op, "a message not kept, without its size");
		else if (!imap_client_qresync_enabled(op->c))
			imap_sync_fail(op, "FETCH response without RFC822.SIZE");
		return;
	}
	if (op->kind != IMAP_SYNC_FULL && f->uid < op->old_uidnext) {
		imap_sync_doubt(op, "an old message that was not kept");
		return;
	}
	if (op->with_dates && !f->has_internaldate) {
		if (op->kind == IMAP_SYNC_FULL)
			imap_sync_fail(op, "FETCH response without INTERNALDATE");
		else
			imap_sync_doubt(op, "a new message without INTERNALDATE");
		return;
	}
	if (imap_listing_append(op->l, f->uid, f->size,
				(f->has_flags ? f->flags : 0) | IMAP_LISTING_MARK) < 0) {
		imap_sync_fail(op, "too many messages, or out of memory");
		return;
	}
	if (op->with_dates)
		op->l->msgs[op->l->count - 1].internaldate = f->internaldate;
	op->fetched++;
}

/* "* SEARCH 3 5": the kept messages flagged \Deleted now (unseen:
   those without \Seen now). */
static void imap_sync_searched(struct imap_sync_op *op, const struct imap_resp *resp,
			       bool unseen)
{
	size_t pos = 0;

	while (pos < resp->rest_len) {
		struct imap_listing_msg *m;
		uint64_t uid;

		if (resp->rest[pos] == ' ') {
			pos++;
			continue;
		}
		if (num_scan_u64(resp->rest, resp->rest_len, &pos, UINT32_MAX, &uid) != NUM_OK) {
			imap_sync_doubt(op, "malformed SEARCH");
			return;
		}
		if ((m = imap_listing_find(op->l, (uint32_t)uid)) == NULL) {
			imap_sync_doubt(op, "an old message that was not kept");
			return;
		}
		if (unseen)
			m->flags &= ~(unsigned int)IMAP_FLAG_SEEN;
		else
			m->flags |= IMAP_FLAG_DELETED;
		op->fetched++;
	}
}

static void imap_sync_any_untagged(struct imap_sync_op *op, const struct imap_resp *resp,
				   bool unseen)
{
	struct imap_fetch f;
	const char *error;
	int ret;

	if (op->failed)
		return;
	if (resp->status != IMAP_STATUS_NONE)
		return;
	if (!resp->has_num && imap_resp_keyword_is(resp, "VANISHED")) {
		if (op->kind == IMAP_SYNC_FULL)
			return;
		imap_sync_vanished(op, resp);
		return;
	}
	if (!resp->has_num && imap_resp_keyword_is(resp, "SEARCH")) {
		if (op->searched)
			imap_sync_searched(op, resp, unseen);
		return;
	}
	if (resp->has_num && imap_resp_keyword_is(resp, "EXPUNGE")) {
		/* A message number, no UID: the kept ones cannot follow. */
		if (op->kind != IMAP_SYNC_FULL)
			imap_sync_doubt(op, "EXPUNGE while listing");
		return;
	}
	ret = imap_fetch_resp(resp, false, &f, &error);
	if (ret > 0)
		return;
	if (ret < 0) {
		imap_sync_fail(op, error);
		return;
	}
	/* Without UID: an unsolicited flag update from another session. */
	if (!f.has_uid)
		return;
	imap_sync_fetched(op, &f);
}

/* "* SEARCH" says nothing of which command it answers: one search is
   in flight at a time (op->search_unseen says which). */
static void imap_sync_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_sync_op *op = ctx;

	imap_sync_any_untagged(op, resp, op->search_unseen);
}

/* What the listing's commands answer: FETCH responses with a UID and no
   body data (another session's flag change comes so too under QRESYNC:
   the listing's business), VANISHED and EXPUNGE (doubts while it runs),
   and SEARCH while one is in flight. A body or a fingerprint fetched
   meanwhile is not its own. */
static bool imap_sync_claims(void *ctx, const struct imap_resp *resp)
{
	const struct imap_sync_op *op = ctx;
	struct imap_fetch f;
	const char *error;

	if (resp->status != IMAP_STATUS_NONE)
		return false;
	if (!resp->has_num && imap_resp_keyword_is(resp, "VANISHED"))
		return true;
	if (!resp->has_num && imap_resp_keyword_is(resp, "SEARCH"))
		return op->searched;
	if (resp->has_num && imap_resp_keyword_is(resp, "EXPUNGE"))
		return true;
	return imap_fetch_resp(resp, false, &f, &error) == 0 && f.has_uid && f.body_count == 0;
}

static const struct imap_cmd_handlers imap_sync_handlers;
static const struct imap_cmd_handlers imap_sync_search_handlers;
static int imap_sync_search_next(struct imap_sync_op *op);

/* Every message to the consumer, then done; the listing stays with the
   connection when complete (and not too large). */
static void imap_sync_deliver(struct imap_sync_op *op, bool ok,
			      const struct imap_reply *reply)
{
	struct imap_listing *l = op->l;
	const struct imap_list_handlers *h = op->h;
	void *ctx = op->ctx;

	for (size_t i = 0; ok && i < l->count; i++) {
		const struct imap_listing_msg *m = &l->msgs[i];

		if (!h->message(ctx, m->uid, m->size, m->flags & (IMAP_FLAG_SEEN | IMAP_FLAG_DELETED),
				op->dates ? m->internaldate : 0)) {
			imap_sync_fail(op, "listing refused by its consumer");
			ok = false;
		}
	}
	log_info("%s event=listing kind=%s tried=%s ahead=%s messages=%zu fetched=%zu "
		 "vanished=%zu ok=%s%s%s%s", imap_client_log_id(op->c),
		 imap_sync_kind_name(op->kind), imap_sync_kind_name(op->first),
		 op->ahead ? "yes" : "no", l->count, op->fetched, op->vanished,
		 ok ? "yes" : "no", op->error[0] != '\0' ? " why=\"" : "", op->error,
		 op->error[0] != '\0' ? "\"" : "");
	if (ok && h->listed != NULL)
		h->listed(ctx, l);
	if (!ok || !op->keep || l->count > IMAP_SYNC_KEEP_MAX)
		imap_client_set_listing(op->c, NULL);
	op->l = NULL;
	/* Last: the consumer may free op. */
	h->done(ctx, ok, reply);
}

static int imap_sync_full(struct imap_sync_op *op);
static int imap_sync_next(struct imap_sync_op *op);

static void imap_sync_done(void *ctx, const struct imap_reply *reply);

/* An answer to a listing asked for ahead (imap_sync_prefetch()), before
   it was taken over: kept for then. */
static void imap_sync_keep_early(struct imap_sync_op *op, const struct imap_reply *reply)
{
	op->early_ended = true;
	op->early_reply = *reply;
	op->early_reply.code = NULL;
	op->early_reply.code_len = 0;
	snprintf(op->early_text, sizeof(op->early_text), "%s",
		 reply->text != NULL ? reply->text : "");
	op->early_reply.text = op->early_text;
}

/* A refused listing asked for ahead: an empty mailbox's, or asked for
   again. True when that took the answer over. */
static bool imap_sync_refused_ahead(struct imap_sync_op *op, const struct imap_reply *reply)
{
	static const struct imap_reply empty = { .result = IMAP_REPLY_OK, .text = "empty" };

	if (!op->retry_full || op->kind != IMAP_SYNC_FULL ||
	    (reply->result != IMAP_REPLY_NO && reply->result != IMAP_REPLY_BAD))
		return false;
	op->retry_full = false;
	op->pending--;
	op->failed = false;
	op->error[0] = '\0';
	if (op->info.exists == 0) {
		imap_listing_clear(op->l);
		op->pending = 1;
		imap_sync_done(op, &empty);
	} else if (imap_sync_full(op) < 0) {
		imap_sync_fail(op, "the listing could not be asked for again");
		imap_sync_deliver(op, false, reply);
	}
	return true;
}

static void imap_sync_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_sync_op *op = ctx;
	struct imap_listing *l = op->l;

	if (op->early) {
		imap_sync_keep_early(op, reply);
		return;
	}
	if (imap_sync_refused_ahead(op, reply))
		return;
	if (reply->result == IMAP_REPLY_FAILED)
		imap_sync_fail(op, "connection lost");
	else if (reply->result != IMAP_REPLY_OK && op->kind == IMAP_SYNC_FULL)
		imap_sync_fail(op, "listing refused");
	else if (reply->result != IMAP_REPLY_OK)
		imap_sync_doubt(op, "command refused");
	if (--op->pending > 0)
		return;
	if (op->failed) {
		imap_sync_deliver(op, false, reply);
		return;
	}
	if (op->kind == IMAP_SYNC_CHECKED && !op->searched)
		imap_listing_drop_unmarked(l);
	if (imap_listing_finish(l) < 0) {
		if (op->kind == IMAP_SYNC_FULL)
			imap_sync_fail(op, "a UID listed twice");
		else
			imap_sync_doubt(op, "a UID listed twice");
	} else if (op->kind != IMAP_SYNC_FULL && l->count != op->info.exists) {
		op->count_off = !op->doubt;
		imap_sync_doubt(op, "the count is not EXISTS");
	}
	if (op->failed || (op->doubt && op->kind == IMAP_SYNC_FULL)) {
		imap_sync_deliver(op, false, reply);
		return;
	}
	if (op->doubt) {
		if (imap_sync_next(op) < 0)
			imap_sync_deliver(op, false, reply);
		return;
	}
	l->uidvalidity = op->info.uidvalidity;
	if (op->info.uidnext > l->uidnext)
		l->uidnext = op->info.uidnext;
	l->has_modseq = op->info.has_modseq;
	l->highestmodseq = op->info.highestmodseq;
	l->has_dates = op->with_dates;
	imap_sync_deliver(op, true, reply);
}

static const struct imap_cmd_handlers imap_sync_handlers = {
	.untagged = imap_sync_untagged,
	.claims = imap_sync_claims,
	.done = imap_sync_done,
};

/* A search ended: the next one goes out before this one counts as
   done, so the operation is not over in between. */
static void imap_sync_search_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_sync_op *op = ctx;

	if (reply->result == IMAP_REPLY_OK && !op->failed && !op->doubt &&
	    imap_sync_search_next(op) < 0)
		imap_sync_fail(op, "a search could not be queued");
	imap_sync_done(op, reply);
}

static const struct imap_cmd_handlers imap_sync_search_handlers = {
	.untagged = imap_sync_untagged,
	.claims = imap_sync_claims,
	.done = imap_sync_search_done,
};
/* A command of the operation queued (ret 0) or not. */
static int imap_sync_sent(struct imap_sync_op *op, int ret)
{
	if (ret == 0)
		op->pending++;
	return ret;
}

static int imap_sync_full_command(struct imap_sync_op *op)
{
	return imap_sync_sent(op, imap_client_command(op->c, op->with_dates ?
						      "UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)" :
						      "UID FETCH 1:* (UID RFC822.SIZE FLAGS)",
						      &imap_sync_handlers, op));
}

/* Everything anew: UID FETCH 1:* on an emptied listing. */
static int imap_sync_full(struct imap_sync_op *op)
{
	static const struct imap_reply empty = { .result = IMAP_REPLY_OK, .text = "empty" };

	imap_listing_clear(op->l);
	op->kind = IMAP_SYNC_FULL;
	op->with_dates = op->dates;
	op->old_uidnext = 0;
	op->doubt = false;
	if (op->info.exists == 0) {
		/* Nothing to fetch: the count is all there is to know. */
		op->pending = 1;
		imap_sync_done(op, &empty);
		return 0;
	}
	return imap_sync_full_command(op);
}

/* Kept messages per UID SEARCH so that its answer fits a line; 0 when
   that would take more than IMAP_SYNC_SEARCH_CHUNKS commands. */
static size_t imap_sync_search_chunk(const struct imap_sync_op *op)
{
	size_t digits = 1, per;

	for (uint32_t n = op->old_uidnext - 1; n >= 10; n /= 10)
		digits++;
	per = (IMAP_SYNC_SEARCH_LINE - 32) / (digits + 1);
	return (op->l->count + per - 1) / per <= IMAP_SYNC_SEARCH_CHUNKS ? per : 0;
}

/* The next UID SEARCH over the kept UIDs, in chunks of search_per of
   them (no UID below the old UIDNEXT can be new, so at most that many in
   each answer): DELETED, then UNSEEN, for each. 0 also when done. */
static int imap_sync_search_next(struct imap_sync_op *op)
{
	const struct imap_listing *l = op->l;
	size_t i = op->search_at, per = op->search_per;
	bool unseen = !op->search_unseen;
	uint32_t lo, hi;

	/* After a chunk's UNSEEN: the next chunk, if any. */
	if (!op->searched || (!unseen && i >= l->count))
		return 0;
	lo = i == 0 ? 1 : l->msgs[i].uid;
	hi = i + per < l->count ? l->msgs[i + per].uid - 1 : op->old_uidnext - 1;
	op->search_unseen = unseen;
	if (unseen)
		op->search_at += per;
	return imap_sync_sent(op, imap_client_cmdf(op->c, &imap_sync_search_handlers, op,
						   op->search_unseen ? "UID SEARCH UID %u:%u UNSEEN" :
						   "UID SEARCH UID %u:%u DELETED", lo, hi));
}

/*
 * Without QRESYNC. No expunge means the kept UIDs are all still there;
 * then "UID SEARCH UID 1:<old UIDNEXT - 1> DELETED" (in chunks whose
 * answers fit a line) is all the flags a listing needs, and the count
 * says whether that held (EXISTS = kept + new). For more chunks than
 * that: the flags of the kept ones, the missing ones being expunged. And
 * the new ones from the old UIDNEXT on.
 */
static int imap_sync_check(struct imap_sync_op *op)
{
	static const struct imap_reply same = { .result = IMAP_REPLY_OK, .text = "unchanged" };
	struct imap_listing *l = op->l;

	size_t per = l->count > 0 && !op->modseq ? imap_sync_search_chunk(op) : 0;

	op->kind = IMAP_SYNC_CHECKED;
	op->searched = per > 0 || (op->modseq && l->count > 0);
	imap_listing_unmark(l);
	if (op->modseq && l->count > 0) {
		/* CONDSTORE: the kept ones whose flags changed, in one command;
		   the others are as kept, and the count says whether one was
		   expunged (then, as after the searches, the flags of all). */
		if (imap_sync_sent(op, imap_client_cmdf(op->c, &imap_sync_handlers, op,
							"UID FETCH 1:%u (UID FLAGS) (CHANGEDSINCE %U)",
							op->old_uidnext - 1,
							op->kept_modseq)) < 0)
			return -1;
	} else if (op->searched) {
		for (size_t i = 0; i < l->count; i++)
			l->msgs[i].flags = (l->msgs[i].flags & ~(unsigned int)IMAP_FLAG_DELETED) |
					   IMAP_FLAG_SEEN;
		op->search_per = per;
		op->search_at = 0;
		op->search_unseen = true;   /* so that DELETED goes first */
		if (imap_sync_search_next(op) < 0)
			return -1;
	} else if (l->count > 0 &&
		   imap_sync_sent(op, imap_client_cmdf(op->c, &imap_sync_handlers, op,
						       "UID FETCH 1:%u (UID FLAGS)",
						       op->old_uidnext - 1)) < 0) {
		return -1;
	}
	if (op->info.uidnext > op->old_uidnext &&
	    imap_sync_sent(op, imap_client_cmdf(op->c, &imap_sync_handlers, op,
						op->with_dates ?
						"UID FETCH %u:* (UID RFC822.SIZE FLAGS INTERNALDATE)" :
						"UID FETCH %u:* (UID RFC822.SIZE FLAGS)",
						op->old_uidnext)) < 0)
		return -1;
	if (op->pending == 0) {
		/* Empty then, no new UID since: empty now, or a doubt. */
		op->pending = 1;
		imap_sync_done(op, &same);
	}
	return 0;
}

/* The search's count did not hold: something was expunged. The flags of
   every kept one say what (the new ones stay); any other doubt, or this
   one again: the whole listing. */
static int imap_sync_next(struct imap_sync_op *op)
{
	struct imap_listing *l = op->l;

	if (!op->searched || !op->count_off)
		return imap_sync_full(op);
	op->searched = false;
	op->doubt = false;
	op->count_off = false;
	for (size_t i = 0; i < l->count; i++) {
		if (l->msgs[i].uid >= op->old_uidnext)
			l->msgs[i].flags |= IMAP_LISTING_MARK;
		else
			l->msgs[i].flags &= ~IMAP_LISTING_MARK;
	}
	return imap_sync_sent(op, imap_client_cmdf(op->c, &imap_sync_handlers, op,
						   "UID FETCH 1:%u (UID FLAGS)",
						   op->old_uidnext - 1));
}

int imap_sync_listing(struct imap_sync_op *op, struct imap_client *c,
		      const struct imap_selected *info, size_t max, bool dates, bool keep,
		      const struct imap_list_handlers *h, void *ctx)
{
	static const struct imap_reply same = { .result = IMAP_REPLY_OK, .text = "unchanged" };
	struct imap_listing *l = imap_client_listing(c);
	struct imap_listing kept;
	int ret;

	if (op->early && op->c == c) {
		/* Asked for ahead: taken over. */
		if (l != op->l || dates != op->dates)
			return -1;
		op->early = false;
		op->info = *info;
		op->h = h;
		op->ctx = ctx;
		op->keep = keep;
		l->max = op->max = max;
		if (op->early_ended)
			imap_sync_done(op, &op->early_reply);
		return 0;
	}
	*op = (struct imap_sync_op){ .c = c, .h = h, .ctx = ctx, .info = *info, .max = max,
				     .keep = keep, .dates = dates };
	if (l == NULL) {
		if ((l = imap_listing_new(max)) == NULL)
			return -1;
		imap_client_set_listing(c, l);
	}
	l->max = max;
	kept = *l;
	/* Not valid again before it is complete: a listing abandoned half
	   way never validates. */
	l->uidvalidity = 0;
	op->l = l;
	op->old_uidnext = kept.uidnext;
	op->with_dates = dates || kept.has_dates;
	if (kept.uidvalidity == 0 || kept.uidvalidity != info->uidvalidity ||
	    info->uidnext == 0 || kept.uidnext == 0 || info->uidnext < kept.uidnext ||
	    (dates && !kept.has_dates))
		op->kind = IMAP_SYNC_FULL;
	else if (!kept.has_modseq || !info->has_modseq || info->highestmodseq < kept.highestmodseq ||
		 (!imap_client_qresync_enabled(c) &&
		  (imap_client_caps(c) & IMAP_CAP_CONDSTORE) == 0))
		op->kind = IMAP_SYNC_CHECKED;
	else if (!imap_client_qresync_enabled(c) &&
		 (info->highestmodseq != kept.highestmodseq || info->uidnext != kept.uidnext ||
		  info->exists != kept.count)) {
		/* CONDSTORE alone: no VANISHED, so the flags that changed and
		   the count (imap_sync_check()). */
		op->kind = IMAP_SYNC_CHECKED;
		op->modseq = true;
		op->kept_modseq = kept.highestmodseq;
	} else if (info->highestmodseq == kept.highestmodseq && info->uidnext == kept.uidnext &&
		 info->exists == kept.count)
		op->kind = IMAP_SYNC_UNCHANGED;
	else
		op->kind = IMAP_SYNC_CHANGES;
	op->first = op->kind;
	/* From here on op may be gone once a call returns 0: the consumer
	   may have been told already. */
	switch (op->kind) {
	case IMAP_SYNC_FULL:
		ret = imap_sync_full(op);
		break;
	case IMAP_SYNC_CHECKED:
		ret = imap_sync_check(op);
		break;
	case IMAP_SYNC_UNCHANGED:
		op->pending = 1;
		imap_sync_done(op, &same);
		return 0;
	default:
		ret = imap_sync_sent(op, imap_client_cmdf(c, &imap_sync_handlers, op,
							  op->with_dates ?
							  "UID FETCH 1:* (UID RFC822.SIZE FLAGS "
							  "INTERNALDATE) (CHANGEDSINCE %U VANISHED)" :
							  "UID FETCH 1:* (UID RFC822.SIZE FLAGS) "
							  "(CHANGEDSINCE %U VANISHED)",
							  kept.highestmodseq));
		break;
	}
	if (ret < 0)
		imap_client_set_listing(c, NULL);
	return ret;
}

int imap_sync_prefetch(struct imap_sync_op *op, struct imap_client *c, size_t max,
		       bool dates)
{
	struct imap_listing *l;

	if (imap_client_listing(c) != NULL || (l = imap_listing_new(max)) == NULL)
		return -1;
	imap_client_set_listing(c, l);
	*op = (struct imap_sync_op){ .c = c, .l = l, .max = max, .dates = dates,
				     .with_dates = dates, .kind = IMAP_SYNC_FULL,
				     .first = IMAP_SYNC_FULL, .ahead = true, .early = true,
				     .retry_full = true };
	if (imap_sync_full_command(op) < 0) {
		imap_client_set_listing(c, NULL);
		op->early = false;
		return -1;
	}
	return 0;
}
