#ifndef POP3_SIZES_H
#define POP3_SIZES_H

/*
 * Exact sizes ([upstream] exact_sizes): LIST and STAT say the octets RETR
 * sends (CRLF line ends, before dot-stuffing), also from a server whose
 * RFC822.SIZE is not that (it counts LF line ends, or stores bare LFs).
 *
 * A login step, right after the listing: the account's counted sizes are
 * loaded from the state store (cache_sizes.h); under yes, and under auto
 * once the account has any (a RETR of it sent another count than listed:
 * pop3_sizes_mismatch()), every listed message without one is fetched
 * (BODY.PEEK[], one at a time, streamed through the RETR filter into
 * nothing) and counted, and the counts are stored, in batches as they
 * come, so a login that runs out of time keeps what it counted. Entries
 * of messages no longer listed are removed. Under auto with none stored,
 * and under no, the sizes are RFC822.SIZE and nothing is fetched or
 * loaded (no: not even that).
 *
 * The counted size replaces the message's size in the maildrop
 * (pop3_maildrop_set_exact(), which keeps what it differs from
 * RFC822.SIZE: RETR checks the server's RFC822.SIZE against it,
 * pop3_msg_upstream_size()).
 */

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

struct imap_client;
struct pop3_maildrop;
struct pop3_msg;
struct pop3_sizes;
struct pop3_session;

enum pop3_sizes_result {
	POP3_SIZES_OK,        /* the sizes are final (exact or RFC822.SIZE) */
	POP3_SIZES_UPSTREAM,  /* counting failed upstream: the login fails */
	POP3_SIZES_MEMORY,
};

struct pop3_sizes_stats {
	bool exact;            /* the account's sizes are counted ones */
	unsigned int loaded, counted, differ, pruned;
};

typedef void pop3_sizes_cb(void *ctx, enum pop3_sizes_result result,
			   const struct pop3_sizes_stats *stats);

/* Starts the step for the finished maildrop d (the caller keeps d and
   imap alive until cb, or until pop3_sizes_free()); cb runs once, from
   the loop. NULL when out of memory (cb never runs). */
struct pop3_sizes *pop3_sizes_start(struct pop3_session *s, struct imap_client *imap,
				    const char *account, struct pop3_maildrop *d,
				    pop3_sizes_cb *cb, void *ctx);
/* Cancels what runs (cb never runs) and frees; NULL is fine. */
void pop3_sizes_free(struct pop3_sizes **sz);

/* A RETR of m sent octets, not the m->size listed: logged; under auto
   the count is stored, which turns the account's later logins exact. */
void pop3_sizes_mismatch(struct pop3_session *s, const struct pop3_msg *m, uint64_t octets);

#endif
