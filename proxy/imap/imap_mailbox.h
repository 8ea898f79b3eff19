#ifndef IMAP_MAILBOX_H
#define IMAP_MAILBOX_H

/*
 * Opening a mailbox and listing its messages: SELECT, then one
 * UID FETCH 1:* (UID RFC822.SIZE FLAGS), with INTERNALDATE when asked.
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

struct imap_list_handlers {
	/* One message, in the order the server answers (normally UID
	   order); flags are enum imap_flag bits; internaldate unix time
	   (0 when not asked for). Return false to give up: the listing
	   then ends with ok = false once the reply is in. */
	bool (*message)(void *ctx, uint32_t uid, uint64_t size, unsigned int flags,
			int64_t internaldate);
	/* ok: every message was delivered (a FETCH response that does not
	   parse, or one with a UID but no RFC822.SIZE, or no INTERNALDATE
	   when asked for, makes it false: a
	   listing is complete or it failed; FETCH responses without UID are
	   other sessions' flag updates and skipped). reply is the tagged
	   reply. */
	void (*done)(void *ctx, bool ok, const struct imap_reply *reply);
};

struct imap_list_op {
	const struct imap_list_handlers *h;
	void *ctx;
	bool internaldate;        /* asked for */
	bool failed;
	char error[128];          /* why, when failed */
};

/* UID FETCH 1:* (UID RFC822.SIZE FLAGS) on the selected mailbox, with
   INTERNALDATE when internaldate. */
int imap_list_messages(struct imap_list_op *op, struct imap_client *c, bool internaldate,
		       const struct imap_list_handlers *h, void *ctx);

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
