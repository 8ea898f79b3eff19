#ifndef IMAP_LISTING_BLOB_H
#define IMAP_LISTING_BLOB_H

/*
 * A kept listing (imap_listing.h) as a compact binary value, the copy
 * gateways sharing an account keep in Redis (the login's shared listing,
 * README "Validated listings"). Untrusted on the way back: anyone who can
 * write the key writes these bytes, so a blob is decoded whole or refused.
 * Pure: libc only.
 *
 * Layout, integers big-endian:
 *
 *   0   u8   version (IMAP_LISTING_BLOB_VERSION)
 *   1   u8   bits: 1 HIGHESTMODSEQ known, 2 INTERNALDATE of every message
 *   2   u16  0
 *   4   u32  UIDVALIDITY (not 0)
 *   8   u32  UIDNEXT (above every UID listed)
 *   12  u32  EXISTS
 *   16  u32  count of records (= EXISTS: a listing that differs from its
 *            SELECT's count is not stored)
 *   20  u64  HIGHESTMODSEQ (0 without bit 1)
 *   28  u64  checksum: FNV-1a 64 of the header (this field as 0) and the
 *            records
 *   36       count records of 24 octets: u32 UID (ascending, not 0),
 *            u32 flags (\Seen 1, \Deleted 2, nothing else), u64
 *            RFC822.SIZE (below 2^63), i64 INTERNALDATE (0 without bit 2)
 *
 * Nothing else: no credential, no message content beyond UID, size,
 * flags and date.
 */

#include <stddef.h>
#include <stdint.h>

struct imap_listing;

#define IMAP_LISTING_BLOB_VERSION 1
#define IMAP_LISTING_BLOB_HEADER 36
#define IMAP_LISTING_BLOB_RECORD 24
/* Messages of the largest listing encoded or decoded. */
#define IMAP_LISTING_BLOB_MAX 100000

/* Octets of a blob of n messages. */
size_t imap_listing_blob_size(size_t n);

/*
 * l (complete, validated: UID order, no mark) as a blob in a malloc'd
 * buffer, *len_r its length; exists is its SELECT's EXISTS. NULL with
 * *error_r (static text) when l has more than max messages ("too
 * large", max at most IMAP_LISTING_BLOB_MAX), no UIDVALIDITY, a count
 * other than exists, UIDs out of order, or memory ran out.
 */
uint8_t *imap_listing_blob_encode(const struct imap_listing *l, uint32_t exists, size_t max,
				  size_t *len_r, const char **error_r);

/*
 * The listing a blob holds, new (imap_listing_new(max)), complete and in
 * UID order, flags as imap_flag bits. NULL with *error_r (static text,
 * for a log line) when the blob is anything but a valid encoding of a
 * listing of at most max messages (max at most IMAP_LISTING_BLOB_MAX), or
 * memory ran out.
 */
struct imap_listing *imap_listing_blob_decode(const uint8_t *blob, size_t len, size_t max,
					      const char **error_r);

/* 16 lowercase hex digits and a NUL into out: a hash (FNV-1a 64) of the
   upstream server and mailbox a listing is of, which names its key. */
void imap_listing_blob_id(const char *host, uint16_t port, const char *mailbox,
			  char out[17]);

#endif
