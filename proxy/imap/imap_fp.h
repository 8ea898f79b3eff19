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
/* Longest header block kept for IMAP_FP_HEADER_MD5; a longer one has no
   MD5. */
#define IMAP_FP_HEADER_MAX 65536
#define IMAP_FP_GUID_MAX 70

/* What else is fetched with each fingerprint (imap_fp_fetch_more()). */
enum imap_fp_more {
	IMAP_FP_GMID = 1 << 0,         /* X-GM-MSGID (Gmail's X-GM-EXT-1) */
	IMAP_FP_GUID = 1 << 1,         /* X-GUID (Dovecot) */
	IMAP_FP_HEADER_MD5 = 1 << 2,   /* BODY.PEEK[HEADER], digested as
					  Dovecot's mbox header MD5
					  (uidl_md5_input()) */
	IMAP_FP_MESSAGE_ID = 1 << 3,   /* the Message-ID (of the fields
					  fetched anyway) */
	IMAP_FP_HEADER_HASH = 1 << 4,  /* BODY.PEEK[HEADER], digested as the
					  lazy legacy import compares it
					  (header_fp_migration(), SHA-256) */
};
#define IMAP_FP_MESSAGE_ID_MAX 255

struct imap_fp_more_values {
	uint64_t gmid;                 /* 0: none given */
	char guid[IMAP_FP_GUID_MAX + 1];   /* "": none, or longer */
	char md5[33];                  /* 32 hex digits; "": none */
	char message_id[IMAP_FP_MESSAGE_ID_MAX + 1];   /* "": none */
	char hdr_hash[IMAP_FP_HEX + 1];   /* "": none (or too long a header) */
};

struct imap_fp_handlers {
	/* One message of the list, in the server's order (each UID of the
	   list at most once): fp is IMAP_FP_HEX hex digits, or "" when the
	   message has none of the fields; internaldate is unix time, 0 if
	   the server gave none. */
	void (*message)(void *ctx, uint32_t uid, const char *fp, int64_t internaldate);
	/* With imap_fp_fetch_more(): right before message, for the same
	   uid. May be NULL. */
	void (*more)(void *ctx, uint32_t uid, const struct imap_fp_more_values *v);
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
	unsigned int more;         /* enum imap_fp_more */
	char *hdr;                 /* IMAP_FP_HEADER_MD5: the header block */
	size_t hdr_len;
	bool have_hdr, hdr_over;
	bool into_hdr;             /* the literal in progress is the header */
	struct imap_client *client;
	const struct imap_fp_handlers *h;
	void *ctx;
};

/* uids[0..n), ascending, n > 0. 0, or -1 (out of memory, nothing runs). */
int imap_fp_fetch(struct imap_fp_op *op, struct imap_client *c, const uint32_t *uids,
		  size_t n, const struct imap_fp_handlers *h, void *ctx);
/* The same, fetching also what more (enum imap_fp_more bits) says, for
   h->more. */
int imap_fp_fetch_more(struct imap_fp_op *op, struct imap_client *c, const uint32_t *uids,
		       size_t n, unsigned int more, const struct imap_fp_handlers *h,
		       void *ctx);

/* Frees what a running op holds; for an op abandoned with its client. */
void imap_fp_op_clear(struct imap_fp_op *op);

#endif
