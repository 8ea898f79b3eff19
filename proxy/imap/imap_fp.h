#ifndef IMAP_FP_H
#define IMAP_FP_H

/*
 * Message fingerprints: for each message of a UID list, a digest of its
 * identifying header fields (header_fp.h: Message-ID, Date, From,
 * Subject, normalised; SHA-256 in hex) and its INTERNALDATE, fetched in
 * commands of at most IMAP_UID_SET_MAX octets of UID set. Per-device
 * state keeps them, so it can follow the messages when the mailbox is
 * recreated with new UIDs.
 *
 * The op struct is the caller's, as for imap_mailbox.h: alive until done
 * has run or the client was closed; imap_fp_op_clear() then frees what it
 * holds (done does that itself before it is called).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_client.h"

#define IMAP_FP_HEX 64

struct imap_fp_handlers {
	/* One message of the list, in the server's order (each UID of the
	   list at most once): fp is IMAP_FP_HEX hex digits, or "" when the
	   message has none of the fields; internaldate is unix time, 0 if
	   the server gave none. */
	void (*message)(void *ctx, uint32_t uid, const char *fp, int64_t internaldate);
	/* ok: every command succeeded (messages the server did not return,
	   e.g. expunged meanwhile, are simply not reported). */
	void (*done)(void *ctx, bool ok);
};

struct imap_fp_op {
	const uint32_t *uids;      /* ascending; the caller's until done */
	size_t count, next;
	uint8_t *seen;             /* one bit per uid: reported already */
	char *raw;                 /* header octets of the literal in progress */
	size_t raw_len;
	bool have_raw;
	struct imap_client *client;
	const struct imap_fp_handlers *h;
	void *ctx;
};

/* uids[0..n), ascending, n > 0. 0, or -1 (out of memory, nothing runs). */
int imap_fp_fetch(struct imap_fp_op *op, struct imap_client *c, const uint32_t *uids,
		  size_t n, const struct imap_fp_handlers *h, void *ctx);

/* Frees what a running op holds; for an op abandoned with its client. */
void imap_fp_op_clear(struct imap_fp_op *op);

#endif
