#ifndef POP3_MAILDROP_H
#define POP3_MAILDROP_H

/*
 * The maildrop of a logged-in session: its messages in UID order, fixed
 * at login (numbered 1..count), with the DELE marks of the session.
 * Pure: libc only. Built from the upstream listing (in any order, even
 * with repeats), then narrowed to what the device may see. Until then it
 * also holds every UID of the listing, \Deleted ones included: the state
 * store keeps hides only of messages that exist.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds the message table (a listing beyond it fails the login). */
#define POP3_MAX_MESSAGES 2000000

/* Longest UIDL (RFC 1939). */
#define POP3_UIDL_MAX 70

enum pop3_msg_flag {
	POP3_MSG_DELETED = 1u << 0,  /* DELE'd in this session */
	POP3_MSG_VANISHED = 1u << 1, /* found expunged upstream since login */
	POP3_MSG_RETRIEVED = 1u << 2, /* RETR sent it whole in this session */
};
#define POP3_MSG_FLAG_COUNT 3

/*
 * A message: 8 octets, what a logged-in session keeps per message. Its
 * marks (enum pop3_msg_flag) are bitmaps of the drop, pop3_msg_flags();
 * what is rare lives in side tables of the drop, keyed by UID: a LIST
 * size of 4 GiB - 1 or more, a counted size's difference from
 * RFC822.SIZE (exact sizes), a UIDL other than the default form.
 */
struct pop3_msg {
	uint32_t uid;
	uint32_t size32;           /* pop3_msg_size() reads it */
};

/* size32 of a message whose size is in the drop's big-size table. */
#define POP3_MSG_SIZE_BIG UINT32_MAX

/* uid -> value, ascending by uid (the drop's side tables). */
struct pop3_side {
	uint32_t *uids;
	uint64_t *vals;
	unsigned int count, cap;
};

struct pop3_maildrop {
	uint32_t uidvalidity;
	uint32_t uidnext;
	struct pop3_msg *msgs;
	unsigned int count, cap;
	/* Every UID listed; ascending once finished, NULL once narrowed. */
	uint32_t *exists;
	unsigned int exists_count, exists_cap;
	/* A bitmap per kind of mark (enum pop3_msg_flag, bit k: marks[k]),
	   one bit per message by index, made with its first mark. */
	uint64_t *marks[POP3_MSG_FLAG_COUNT];
	unsigned int mark_words[POP3_MSG_FLAG_COUNT];
	struct pop3_side big;      /* LIST size, where POP3_MSG_SIZE_BIG */
	struct pop3_side delta;    /* LIST size - RFC822.SIZE, where not 0 */
	struct pop3_side uidls;    /* offset in the pool, where not default */
	/* The UIDLs set that are not the default form, each NUL-terminated. */
	char *pool;
	size_t pool_len, pool_cap;
};

/* What LIST says: RFC822.SIZE, or the counted size (exact sizes). */
uint64_t pop3_msg_size(const struct pop3_maildrop *d, const struct pop3_msg *m);
/* The message's size as the server gives it (RFC822.SIZE). */
uint64_t pop3_msg_upstream_size(const struct pop3_maildrop *d, const struct pop3_msg *m);
/* The counted size becomes what LIST says; RFC822.SIZE stays known. -1
   (nothing changed) when it differs from RFC822.SIZE by more than 2^31
   octets either way, or out of memory. */
int pop3_maildrop_set_exact(struct pop3_maildrop *d, struct pop3_msg *m, uint64_t exact);

/* The message's marks (enum pop3_msg_flag bits). */
unsigned int pop3_msg_flags(const struct pop3_maildrop *d, const struct pop3_msg *m);
/* Sets / clears marks of m, of a finished drop. Setting a kind of mark
   for the first time takes its bitmap (count / 8 octets): -1, nothing
   set, when out of memory. */
int pop3_msg_mark(struct pop3_maildrop *d, const struct pop3_msg *m, unsigned int flags);
void pop3_msg_unmark(struct pop3_maildrop *d, const struct pop3_msg *m, unsigned int flags);
/* Clears marks of every message (RSET). */
void pop3_maildrop_unmark_all(struct pop3_maildrop *d, unsigned int flags);

/* An empty maildrop, room for expect messages (EXISTS); NULL when out of
   memory or expect > POP3_MAX_MESSAGES. */
struct pop3_maildrop *pop3_maildrop_new(uint32_t uidvalidity, uint32_t uidnext,
					unsigned int expect);
void pop3_maildrop_free(struct pop3_maildrop **d);

/* One message of the listing (any size up to 2^64 - 1); -1 when the table
   is full (more than POP3_MAX_MESSAGES) or out of memory. */
int pop3_maildrop_add(struct pop3_maildrop *d, uint32_t uid, uint64_t size);
/* One flagged \Deleted upstream: it exists, but is not part of the drop.
   -1 as above. */
int pop3_maildrop_add_gone(struct pop3_maildrop *d, uint32_t uid);

/* The listing is complete: UID order, each UID once (of the messages and
   of exists), and uidnext above every UID (for servers that sent no
   UIDNEXT). */
void pop3_maildrop_finish(struct pop3_maildrop *d);

/*
 * Keeps only what a device may see: not hidden (hidden[i] nonzero for
 * exists[i], i < exists_count, as the state store answered for the
 * finished listing; NULL: none), and, when first_uid > 0, not below it.
 * Frees exists; side tables keep only the messages left.
 * Returns how many were taken out.
 */
unsigned int pop3_maildrop_narrow(struct pop3_maildrop *d, const uint8_t *hidden,
				  uint32_t first_uid);

/* Octets the drop holds besides the message table and exists: marks,
   side tables, UIDL strings. */
size_t pop3_maildrop_extra_bytes(const struct pop3_maildrop *d);

/* Messages not DELE'd, and their octets. */
void pop3_maildrop_visible(const struct pop3_maildrop *d, unsigned int *count_r,
			   uint64_t *size_r);
/* Messages DELE'd. */
unsigned int pop3_maildrop_marked(const struct pop3_maildrop *d);
/* The UIDs DELE'd, ascending, into a malloc'd array (NULL if none or out
   of memory; *n_r tells which). */
uint32_t *pop3_maildrop_marked_uids(const struct pop3_maildrop *d, size_t *n_r);

/* Message number n (1-based) of the session, or NULL. */
struct pop3_msg *pop3_maildrop_get(struct pop3_maildrop *d, unsigned int n);
unsigned int pop3_maildrop_number(const struct pop3_maildrop *d, const struct pop3_msg *m);
/* The message with this UID (of a finished drop), or NULL. */
const struct pop3_msg *pop3_maildrop_by_uid(const struct pop3_maildrop *d, uint32_t uid);

/* Gives message m the UIDL uidl[0..len) (1..POP3_UIDL_MAX octets of
   0x21..0x7e, else -1), in place of one it had. -1 also when out of
   memory. The default form (below) takes no memory. */
int pop3_maildrop_set_uidl(struct pop3_maildrop *d, struct pop3_msg *m, const char *uidl,
			   size_t len);

/* The message's UIDL into buf (POP3_UIDL_MAX + 1): the one set, or else
   Dovecot's default form, UID and UIDVALIDITY as 8 hex digits each.
   Returns its length. */
size_t pop3_maildrop_uidl(const struct pop3_maildrop *d, const struct pop3_msg *m,
			  char *buf);

#endif
