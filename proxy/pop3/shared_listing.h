#ifndef POP3_SHARED_LISTING_H
#define POP3_SHARED_LISTING_H

/*
 * The listing gateways sharing an account keep in Redis (cache_shared.h,
 * imap_listing_blob.h): a cold login (no kept connection, so no listing
 * in memory) reads the copy while it connects, and imap_sync.h validates
 * it against the SELECT as it would a listing kept in memory: never
 * served unvalidated. The copy never holds up or fails a login: one not
 * read by the time the upstream accepted the password is given up
 * ("late"), and an absent, unreadable or damaged one is a full listing,
 * as without it. A login whose listing was fetched or changed (its
 * validators moved) writes it back, without waiting for the answer.
 *
 * Log lines: event=listing_shared state=stored|refused|late|unused|
 * unavailable|store_failed, with the session's log id.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct cache_req;
struct conf_upstream;
struct imap_listing;
struct pop3_session;

enum pop3_shared_state {
	POP3_SHARED_OFF,       /* not asked */
	POP3_SHARED_ASKED,     /* the read is under way */
	POP3_SHARED_ANSWERED,  /* read: copy is the listing, or NULL */
	POP3_SHARED_OVER,      /* given up, taken or released */
};

struct pop3_shared {
	enum pop3_shared_state state;
	struct cache_req *req;
	struct imap_listing *copy;
	struct pop3_session *s;
	uint64_t reserved;     /* of max_listing_memory, for the copy */
	char account[600];
	char id[17];
	void (*answered)(void *ctx);
	void *ctx;
};

/* The validators a listing had before a login's sync, to tell whether
   it changed (pop3_shared_encode()). */
struct pop3_shared_mark {
	bool any;
	uint32_t uidvalidity, uidnext;
	uint64_t count, highestmodseq;
};

/*
 * Starts reading the copy of up's mailbox under account from s's store;
 * answered(ctx) runs from the loop once it is read (or found missing, or
 * the store failed), unless the read is given up or released first.
 * Nothing when the store is absent or unavailable (logged
 * "unavailable"): state stays OFF then, answered never runs.
 *
 * The read goes out before the upstream has accepted the password, so
 * a decoded copy counts in max_listing_memory (s's reservation) until it
 * is taken or released, and only within half of it: a copy that would
 * pass that is not decoded ("unused", why="listing memory"), and never
 * fails the login or crowds out the message tables of logins.
 */
void pop3_shared_ask(struct pop3_shared *sh, struct pop3_session *s, const char *account,
		     const struct conf_upstream *up, void (*answered)(void *ctx), void *ctx);

/* The read is under way. */
bool pop3_shared_pending(const struct pop3_shared *sh);
/* A copy was read and decoded, not taken yet. */
bool pop3_shared_has_copy(const struct pop3_shared *sh);

/* The read is given up (the upstream answered first): logged "late",
   answered never runs. Nothing unless pending. */
void pop3_shared_late(struct pop3_shared *sh);

/* The copy, now the caller's (NULL if none). */
struct imap_listing *pop3_shared_take(struct pop3_shared *sh);

/* Ends sh: the read cancelled, an untaken copy freed (logged "unused"). */
void pop3_shared_release(struct pop3_shared *sh);

/* What l (NULL: none) holds now. */
void pop3_shared_mark_of(struct pop3_shared_mark *m, const struct imap_listing *l);

/*
 * l, a complete listing that its SELECT counted exists messages in, as
 * the copy to write (a malloc'd blob, *len_r octets), unless its
 * validators are those of before (no change: NULL, nothing logged).
 * NULL and logged "refused" when l is above IMAP_LISTING_BLOB_MAX
 * messages or cannot be encoded.
 */
uint8_t *pop3_shared_encode(const struct imap_listing *l, uint32_t exists,
			    const struct pop3_shared_mark *before, const char *log_id,
			    size_t *len_r);

/* Writes blob (len octets, of messages messages; copied at once) as the
   copy of up's mailbox under account, without waiting: logged "stored"
   or "store_failed" when Redis answers. c NULL: nothing. */
void pop3_shared_put(struct cache *c, const char *account, const struct conf_upstream *up,
		     const uint8_t *blob, size_t len, size_t messages, const char *log_id);

#endif
