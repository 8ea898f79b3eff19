#ifndef IMAP_LISTING_H
#define IMAP_LISTING_H

/*
 * A mailbox's last listing, kept with a connection between polls
 * (imap_sync.h): the validators SELECT returned and, per message, UID,
 * RFC822.SIZE, flags and (when asked for) INTERNALDATE, 24 octets each,
 * in UID order.
 * Pure: libc only.
 *
 * Changes are made in two phases: updates and insertions (in any order,
 * new UIDs appended after the sorted part) and removals (by UID set, as
 * VANISHED sends it, or of every message not marked since
 * imap_listing_unmark()); imap_listing_finish() then restores UID order
 * and refuses a listing holding a UID twice.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_listing_msg {
	uint32_t uid;
	uint32_t flags;     /* enum imap_flag bits, and IMAP_LISTING_MARK */
	uint64_t size;      /* RFC822.SIZE */
	int64_t internaldate;  /* unix time; 0 unless the listing has_dates */
};

/* A message reported since imap_listing_unmark(). */
#define IMAP_LISTING_MARK 0x80000000u

struct imap_listing {
	uint32_t uidvalidity;
	uint32_t uidnext;        /* above every UID listed */
	bool has_modseq;
	uint64_t highestmodseq;  /* as of the listing's SELECT */
	bool has_dates;          /* every message's INTERNALDATE is there */
	struct imap_listing_msg *msgs;
	size_t count, cap;
	size_t sorted;           /* msgs[0..sorted) are in UID order */
	size_t max;              /* at most this many messages */
};

/* Octets a listing of n messages takes. */
size_t imap_listing_bytes(size_t n);

/* An empty listing of at most max messages; NULL when out of memory. */
struct imap_listing *imap_listing_new(size_t max);
void imap_listing_free(struct imap_listing **l);
/* Empties it (validators and messages), keeping the memory. */
void imap_listing_clear(struct imap_listing *l);

/* The message with this UID, or NULL. Finds appended ones too. */
struct imap_listing_msg *imap_listing_find(struct imap_listing *l, uint32_t uid);

/* Appends a message (no check against existing UIDs: see finish), its
   internaldate 0. -1 when max is reached or memory runs out. */
int imap_listing_append(struct imap_listing *l, uint32_t uid, uint64_t size,
			unsigned int flags);

/* Clears IMAP_LISTING_MARK on every message. */
void imap_listing_unmark(struct imap_listing *l);
/* Removes every message without IMAP_LISTING_MARK; returns how many. */
size_t imap_listing_drop_unmarked(struct imap_listing *l);

/*
 * Removes the messages whose UIDs are in set, a UID set as IMAP sends it
 * ("3", "1:5,9,12:10"; RFC 3501 sequence-set without "*", ranges in
 * either order). 0 and *removed_r, or -1 (nothing removed) when set is
 * malformed, has a UID 0, or has more than IMAP_LISTING_MAX_RANGES ranges.
 */
#define IMAP_LISTING_MAX_RANGES 4096
int imap_listing_vanish(struct imap_listing *l, const char *set, size_t len,
			size_t *removed_r);

/* UID order again after appends; -1 when a UID is there twice. Sets
   uidnext above the highest UID when it was not already. */
int imap_listing_finish(struct imap_listing *l);

#endif
