#ifndef IMAP_REMOVE_H
#define IMAP_REMOVE_H

/*
 * Making messages leave the selected mailbox: moved to the Trash, or
 * expunged. Only the given UIDs are touched, never what other clients
 * flagged \Deleted: with MOVE (RFC 6851) a UID MOVE; otherwise, with
 * UIDPLUS (RFC 4315), UID COPY to the Trash, UID STORE +FLAGS.SILENT
 * (\Deleted), UID EXPUNGE, each step only after the previous one's OK (a
 * failed COPY is never followed by the expunge of its originals; a failed
 * EXPUNGE takes the \Deleted flags off again). Neither: refused.
 *
 * The Trash: the name given, else the mailbox the server marks \Trash
 * (SPECIAL-USE, RFC 6154), else "Trash" under the personal namespace's
 * prefix (NAMESPACE, RFC 2342: "INBOX.Trash" on Courier and Cyrus), else
 * "Trash". A [TRYCREATE] answer creates it once and tries again.
 *
 * Work goes in chunks of at most IMAP_UID_SET_MAX octets of UID set: when
 * a later chunk fails, the earlier ones stay applied (the result says how
 * many UIDs were done).
 *
 * The op struct is the caller's, as for imap_mailbox.h: alive until cb has
 * run or the client was closed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_client.h"
#include "imap_cmd.h"

struct imap_remove_result {
	bool ok;
	/* Not ok: retrying will not help (no MOVE/UIDPLUS, the Trash cannot
	   be created or named, the server refused for good), as against a
	   temporary failure (connection lost, [UNAVAILABLE], [INUSE], ...). */
	bool permanent;
	size_t done;        /* UIDs removed (the first `done` of the list) */
	const char *error;  /* why, for logs (escaped server text) */
	const char *trash;  /* the Trash used, or NULL */
};

typedef void imap_remove_cb(void *ctx, const struct imap_remove_result *result);

struct imap_remove_op {
	struct imap_client *client;
	const uint32_t *uids;     /* ascending; the caller's until cb */
	size_t count, next, chunk_end;
	char set[IMAP_UID_SET_MAX + 32];
	bool to_trash, trash_created;
	char trash[256];
	unsigned int step, first_step;
	bool permanent;
	char error[256];
	imap_remove_cb *cb;
	void *ctx;
};

/* trash: the configured Trash name, or NULL to find it as above (only
   with to_trash). n > 0. 0 when under way; -1 when nothing was sent (no
   MOVE or UIDPLUS, out of memory): then cb never runs, op->error says why
   and op->permanent whether retrying could help. */
int imap_remove(struct imap_remove_op *op, struct imap_client *c, const uint32_t *uids,
		size_t n, bool to_trash, const char *trash, imap_remove_cb *cb, void *ctx);

#endif
