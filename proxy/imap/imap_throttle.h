#ifndef IMAP_THROTTLE_H
#define IMAP_THROTTLE_H

/*
 * Whether an IMAP status response says the provider is throttling the
 * account, rather than that the command or the password is wrong.
 * Pure: libc only.
 *
 *   THROTTLED      the response code [THROTTLED] (Gmail, Yahoo), or
 *                  Gmail's "Account exceeded command or bandwidth limits"
 *   LIMIT          RFC 5530 [LIMIT]: a limit of the server was reached
 *   UNAVAILABLE    RFC 5530 [UNAVAILABLE]: temporarily not available
 *   CONNECTIONS    a connection cap, said in words: Gmail's "Too many
 *                  simultaneous connections", Dovecot's "Maximum number of
 *                  connections from user+IP exceeded", "too many
 *                  connections"; and any BYE in place of the greeting
 *                  (imap_client: the server refused the connection)
 *
 * The code decides first (the first atom of the text inside "[...]", any
 * case); the words are looked for, in any case, when the code says
 * nothing (none, or [ALERT] as Gmail sends).
 */

#include <stddef.h>

enum imap_throttle {
	IMAP_THROTTLE_NONE,
	IMAP_THROTTLE_THROTTLED,
	IMAP_THROTTLE_LIMIT,
	IMAP_THROTTLE_UNAVAILABLE,
	IMAP_THROTTLE_CONNECTIONS,
	IMAP_THROTTLE_COUNT
};

/* code: inside the brackets, without them (NULL: none); text: the human
   text after it (NULL: none). Any bytes. */
enum imap_throttle imap_throttle_of(const char *code, size_t code_len, const char *text,
				    size_t text_len);

/* "none", "throttled", "limit", "unavailable", "connections" (metrics
   labels, logs); "none" out of range. */
const char *imap_throttle_name(enum imap_throttle t);

#endif
