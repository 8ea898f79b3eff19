#ifndef IMAP_SYNC_H
#define IMAP_SYNC_H

/*
 * The listing of the selected mailbox, brought up to date from the one
 * kept with the connection (imap_client_take_listing()) instead of
 * fetched whole when the validators allow it, and kept with it again.
 *
 * After the SELECT, with the kept listing of the same UIDVALIDITY:
 *  - QRESYNC or CONDSTORE enabled and HIGHESTMODSEQ, UIDNEXT and EXISTS unchanged:
 *    nothing is sent, the kept listing is the listing;
 *  - QRESYNC enabled: UID FETCH 1:* (UID RFC822.SIZE FLAGS)
 *    (CHANGEDSINCE <kept modseq> VANISHED): VANISHED removes, the FETCH
 *    responses update flags and add the new messages;
 *  - CONDSTORE without QRESYNC (enabled by SELECT ... (CONDSTORE)):
 *    HIGHESTMODSEQ, UIDNEXT and EXISTS unchanged: nothing is sent (no flag
 *    changed, nothing appended, so nothing expunged either); otherwise UID
 *    FETCH 1:<old UIDNEXT - 1> (UID FLAGS) (CHANGEDSINCE <kept modseq>)
 *    for the flags that changed, the count for whether one was expunged
 *    (if so, the flags of all, as below), the new ones as below;
 *  - otherwise: UID SEARCH UID 1:<old UIDNEXT - 1> DELETED and the same
 *    UNSEEN (one after the other, since an untagged SEARCH does not say
 *    which command it answers; in ranges whose answers fit a line; the
 *    FETCH of the new ones pipelined beside them), which is all
 *    that can have changed of the kept messages if none was expunged (the count then
 *    says whether none was; if not, or for a mailbox that would take
 *    more than 64 searches, UID FETCH 1:<old UIDNEXT - 1>
 *    (UID FLAGS), which gives every kept message still there: the others
 *    were expunged); and UID FETCH <old UIDNEXT>:* (UID RFC822.SIZE
 *    FLAGS) for the new ones when UIDNEXT moved.
 * Any doubt (a message below the old UIDNEXT that was not kept, a size
 * that changed, a count that is not the SELECT's EXISTS, a command
 * refused, a malformed VANISHED, UIDVALIDITY or UIDNEXT missing or
 * changed) makes it the full UID FETCH 1:* (UID RFC822.SIZE FLAGS) on
 * the same connection. A listing is complete or it fails: never a kept
 * listing that was not validated, never one with messages missing.
 *
 * Bounded: a listing of more than max messages fails (the caller's limit
 * for a mailbox); only one of at most IMAP_SYNC_KEEP_MAX messages is kept
 * with the connection (24 octets each), so the pool's bounds bound them.
 * In memory, per connection; the caller may put a listing it trusts no
 * more than this one (a copy another gateway wrote, imap_listing_blob.h)
 * on a connection that has none (imap_client_set_listing()): it is
 * validated the same way, never served as it is.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_client.h"
#include "imap_mailbox.h"

struct imap_listing;

#define IMAP_SYNC_KEEP_MAX 200000

enum imap_sync_kind {
	IMAP_SYNC_FULL,        /* fetched whole */
	IMAP_SYNC_UNCHANGED,   /* nothing sent */
	IMAP_SYNC_CHANGES,     /* CHANGEDSINCE with VANISHED */
	IMAP_SYNC_CHECKED,     /* flags of the kept ones, the new ones */
	IMAP_SYNC_KIND_COUNT
};

/* "full", "unchanged", "changes", "checked". */
const char *imap_sync_kind_name(enum imap_sync_kind kind);

struct imap_sync_op {
	struct imap_client *c;
	const struct imap_list_handlers *h;
	void *ctx;
	struct imap_selected info;
	struct imap_listing *l;       /* being brought up to date */
	enum imap_sync_kind kind;
	enum imap_sync_kind first;    /* what was tried first */
	size_t max;
	bool keep;                    /* kept with the connection after */
	bool dates;                   /* INTERNALDATE delivered */
	bool with_dates;              /* ... and fetched (kept listings that have them) */
	uint32_t old_uidnext;         /* UIDs at or above it are new */
	unsigned int pending;         /* commands not ended yet */
	bool doubt;                   /* the changes cannot be trusted */
	bool searched;                /* checked: by UID SEARCH ... DELETED, or
					 by CHANGEDSINCE (modseq) */
	bool modseq;                  /* ... CONDSTORE without QRESYNC */
	uint64_t kept_modseq;         /* the kept listing's HIGHESTMODSEQ */
	bool count_off;               /* ... and only the count did not hold */
	bool search_unseen;           /* the search in flight is UNSEEN's */
	size_t search_at, search_per; /* the next chunk of kept messages */
	bool failed;
	char error[128];              /* the failure, or else the doubt */
	size_t fetched, vanished;     /* responses applied */
	/* imap_sync_prefetch(): asked for before the SELECT's answer */
	bool ahead;                   /* was asked for ahead */
	bool early;                   /* ... and not taken over yet */
	bool early_ended;             /* ... its answer came: early_reply */
	bool retry_full;              /* a refusal is retried once */
	struct imap_reply early_reply;
	char early_text[128];
};

/*
 * The listing of the mailbox c has just selected (info: what its SELECT
 * said), delivered through h (imap_mailbox.h): every message, with
 * \Seen and \Deleted, and with INTERNALDATE when dates (a kept listing
 * without them is then fetched whole), in UID order, then done (ok false: failed, nothing kept). When nothing
 * needs to be asked (the kept listing is current, or the mailbox is
 * empty) h runs before this returns; otherwise from the event loop.
 * keep false: the listing is not kept with c afterwards (c will not be
 * kept for another login: 24 octets a message saved for the session).
 * op: zeroed (or an earlier listing's), or the one of an
 * imap_sync_prefetch() on c, which is then taken over.
 * Returns 0, or -1 (nothing runs) when a command cannot be queued.
 */
int imap_sync_listing(struct imap_sync_op *op, struct imap_client *c,
		      const struct imap_selected *info, size_t max, bool dates, bool keep,
		      const struct imap_list_handlers *h, void *ctx);

/*
 * For a cold login: the whole listing, UID FETCH 1:* (UID RFC822.SIZE
 * FLAGS [INTERNALDATE]), asked for now, right behind a SELECT whose
 * answer has not come (imap_select_early()), on a connection without a
 * kept listing (-1 otherwise, or when it cannot be queued; nothing
 * queued then). What it answers is collected in op; imap_sync_listing()
 * with the same op, c and dates, once the SELECT's answer is known, takes
 * it over instead of asking anew: what a FULL listing would have done
 * follows from there. A refusal (NO, BAD) is the listing of an empty
 * mailbox when the SELECT said EXISTS 0 (some servers refuse 1:* there),
 * else the full listing is asked for once more, alone (a server that
 * would not run it behind the SELECT). What the server sends for the
 * listing is bounded by max as a listing asked for later is.
 */
int imap_sync_prefetch(struct imap_sync_op *op, struct imap_client *c, size_t max,
		       bool dates);

#endif
