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
};

/* SELECT mailbox (any name: the builder quotes it). 0, or -1 when the
   command cannot be built (nothing queued, no callback). */
int imap_select(struct imap_select_op *op, struct imap_client *c, const char *mailbox,
		imap_select_cb *cb, void *ctx);

/* How a listing (imap_sync.h) is delivered. */
struct imap_list_handlers {
	/* One message, in UID order; flags are enum imap_flag bits;
	   internaldate unix time (0 when not asked for). Return false to
	   give up: the listing then ends with ok = false. */
	bool (*message)(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
			int64_t internaldate);
	/* ok: every message was delivered (a listing is complete or it
	   failed). reply is the last tagged reply. */
	void (*done)(void *ctx, bool ok, const struct imap_reply *reply);
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
