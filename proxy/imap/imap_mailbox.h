#ifndef IMAP_MAILBOX_H
#define IMAP_MAILBOX_H

/*
 * Opening a mailbox: SELECT (its listing: imap_sync.h), and whether a
 * message is still there.
 *
 * Operations keep their state in a struct the caller owns (usually inside
 * its own flow's state); it must stay alive until the operation's done
 * callback has run, or until the client has been closed
 * (imap_client_close()), after which no callback runs. Callbacks run
 * from the event loop, never inside the call that started the operation.
 */

#include <stdbool.h>
#include <stdint.h>

#include "imap_client.h"

struct imap_selected {
	uint32_t uidvalidity;     /* 0: the server sent none */
	uint32_t uidnext;         /* 0: none sent */
	uint32_t exists;
	bool has_modseq;          /* HIGHESTMODSEQ sent (CONDSTORE) */
	uint64_t highestmodseq;
};

/* reply: the SELECT's tagged reply (FAILED: connection lost); info is
   what the server said before it, valid during the call. */
typedef void imap_select_cb(void *ctx, const struct imap_reply *reply,
			    const struct imap_selected *info);

struct imap_select_op {
	struct imap_selected info;
	imap_select_cb *cb;
	void *ctx;
	/* imap_select_early(): the answer kept until imap_select_claim() */
	struct imap_client *c;
	const char *mailbox;
	bool early, ended, retried;
	struct imap_reply reply;
	char code[64];
	char text[256];
};

/* SELECT mailbox (any name: the builder quotes it). 0, or -1 when the
   command cannot be built (nothing queued, no callback). */
int imap_select(struct imap_select_op *op, struct imap_client *c, const char *mailbox,
		imap_select_cb *cb, void *ctx);

/*
 * SELECT queued now, before the login it follows has been answered
 * (RFC 3501 5.5: a server runs such commands in order), its answer kept
 * in op until imap_select_claim(). mailbox must stay valid until then.
 * Only for a name that is sent the same with or without UTF8=ACCEPT
 * (printable ASCII, no "&"), since an ENABLE ahead of it may change
 * that: -1 otherwise, or when it cannot be built (nothing queued).
 */
int imap_select_early(struct imap_select_op *op, struct imap_client *c, const char *mailbox);

/*
 * The answer of imap_select_early() to cb, once the login succeeded: at
 * once (inside this call) if it came, else when it comes. A BAD, or a NO
 * without a response code (a [NONEXISTENT] is an answer), that says
 * nothing of throttling (imap_throttle.h) is taken for a server that
 * would not run the SELECT behind the login: it is sent again, alone,
 * once, and that answer counts (imap_select_retried() says so).
 */
void imap_select_claim(struct imap_select_op *op, imap_select_cb *cb, void *ctx);
/* Whether the claimed SELECT had to be sent again. */
bool imap_select_retried(const struct imap_select_op *op);

/* How a listing (imap_sync.h) is delivered. */
struct imap_listing;

struct imap_list_handlers {
	/* One message, in UID order; flags are enum imap_flag bits;
	   internaldate unix time (0 when not asked for). Return false to
	   give up: the listing then ends with ok = false. */
	bool (*message)(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
			int64_t internaldate);
	/* ok: every message was delivered (a listing is complete or it
	   failed). reply is the last tagged reply. */
	void (*done)(void *ctx, bool ok, const struct imap_reply *reply);
	/* NULL, or: the complete listing, just before done (ok true) and
	   before it is dropped or kept with the connection; valid during
	   the call only. */
	void (*listed)(void *ctx, const struct imap_listing *l);
};

/*
 * Whether the message with this UID is still in the selected mailbox, as
 * the server sees it now: NOOP (which lets a server such as Courier notice
 * and report another client's expunge), then UID SEARCH UID n, pipelined.
 */
enum imap_exists {
	IMAP_EXISTS_YES,
	IMAP_EXISTS_NO,
	IMAP_EXISTS_FAILED,   /* a command failed or the connection went */
};

typedef void imap_exists_cb(void *ctx, enum imap_exists result);

struct imap_exists_op {
	uint32_t uid;
	bool found, failed, searched;
	unsigned int pending;   /* commands not ended yet */
	imap_exists_cb *cb;
	void *ctx;
};

int imap_uid_exists(struct imap_exists_op *op, struct imap_client *c, uint32_t uid,
		    imap_exists_cb *cb, void *ctx);

#endif
