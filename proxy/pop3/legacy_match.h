#ifndef LEGACY_MATCH_H
#define LEGACY_MATCH_H

/*
 * Which message of the legacy POP3 server is which message of the IMAP
 * mailbox, as Dovecot's pop3-migration plugin decides it: by size first,
 * then by a hash of the header (header_fp_migration(): without the fields
 * old servers add or rewrite). Pure: libc only.
 *
 *   1. pairs with the same hash and the same size, the unchanged messages
 *   2. of those left, pairs with the same hash whatever their size: the old
 *      server counted what it added to the message (Status, X-UIDL, a
 *      Content-Length), the IMAP server does not
 *
 * Messages sharing a hash (the same mail delivered twice) pair in their
 * order on each side, so the same input always gives the same pairs. A
 * message without a hash ("") matches nothing: a size alone does not say
 * it is the same mail.
 */

#include <stddef.h>
#include <stdint.h>

#define LEGACY_MATCH_NONE SIZE_MAX

struct legacy_match_item {
	uint64_t size;
	const char *hash;       /* hex digest, "" for none */
};

/*
 * old[0..n_old) in the legacy server's order, new[0..n_new) in UID order.
 * match[j] (n_new of them) gets the index in old of new[j]'s message, or
 * LEGACY_MATCH_NONE. *by_size_r: how many pairs step 1 made. Returns the
 * number of pairs, or SIZE_MAX when out of memory (match untouched).
 */
size_t legacy_match(const struct legacy_match_item *old, size_t n_old,
		    const struct legacy_match_item *new_items, size_t n_new, size_t *match,
		    size_t *by_size_r);

#endif
