#ifndef IMAP_CAPS_MEMO_H
#define IMAP_CAPS_MEMO_H

/*
 * What the last login to each upstream server showed, so the next cold
 * login there can pipeline what follows the login (imap_login.h): the
 * capabilities after login (which decide ENABLE, RFC 5161, and ENABLE
 * must precede SELECT), whether they came with the login's reply, and
 * whether the server refused commands pipelined behind a login.
 *
 * A guess, never trusted for what it says of the server: the login's own
 * reply is still read, and a wrong guess costs at most a round trip
 * (or an extension unused on that connection). Bounded: at most
 * IMAP_CAPS_MEMO_MAX servers, the one written longest ago goes first.
 * Pure (libc only); one per process, in the event loop's thread.
 */

#include <stdbool.h>

#define IMAP_CAPS_MEMO_MAX 64
/* The longest server key ("host:port/mode") remembered; longer: none. */
#define IMAP_CAPS_MEMO_KEY 300

struct imap_caps_seen {
	unsigned int caps;        /* enum imap_cap bits after login */
	bool with_login;          /* they came with the login's reply */
	bool no_pipelining;       /* commands behind the login were refused */
	bool keeps_input;         /* its ID names a server known to keep what
				     was sent behind a login (imap_login.c) */
};

struct imap_caps_memo;

struct imap_caps_memo *imap_caps_memo_new(void);
void imap_caps_memo_free(struct imap_caps_memo **m);

/* What was last written for server: false (r untouched) if nothing. */
bool imap_caps_memo_get(const struct imap_caps_memo *m, const char *server,
			struct imap_caps_seen *r);

/* Remembers seen for server, replacing what it had. A key longer than
   IMAP_CAPS_MEMO_KEY is not remembered. */
void imap_caps_memo_put(struct imap_caps_memo *m, const char *server,
			const struct imap_caps_seen *seen);

/* Forgets everything (after a reload the routes may point elsewhere). */
void imap_caps_memo_clear(struct imap_caps_memo *m);

#endif
