#ifndef POP3_LOGIN_H
#define POP3_LOGIN_H

/*
 * The login flow, one named step after the other, with one failure exit:
 *
 *   route         the login name's device suffix and domain: which
 *                 upstream, which name to send it, which account key
 *   delay         the provider throttles the account (throttle.h):
 *                 refuse at once; recent failures of this address or
 *                 user: wait first
 *   connect       the upstream IMAP connection (TLS, capabilities)
 *   authenticate  the credentials, upstream; then LOGIN-DELAY
 *   select        the mailbox, with UIDVALIDITY and UIDNEXT
 *   list          every message's UID and size (the maildrop)
 *   sizes         exact_sizes: sizes counted as RETR sends them (sizes.h)
 *   lock          the device's lock in the state store
 *   view          what the device has hidden, and its starting point
 *   remap         once, if the mailbox was recreated: the state follows
 *                 the messages by fingerprint, then the view again
 *   legacy        with legacy_pop3, once per account: the old POP3
 *                 server's UIDLs (login_legacy.h)
 *   uidl          every message's UIDL (uidl_map.h)
 *
 * then +OK in TRANSACTION state with the session holding the IMAP
 * connection, the device state and the maildrop. Any failure answers
 * -ERR with the step's reason and leaves the session in AUTHORIZATION
 * with nothing of the attempt kept (RFC 1939: the client starts again with
 * USER); a rejected password is answered after the auth failure delay.
 */

#include <stddef.h>

struct pop3_session;

/* Logs in s->user with the password (copied; wiped as soon as it is sent
   upstream). Runs as the session's command; replies when done. */
void pop3_login_start(struct pop3_session *s, const char *pass, size_t pass_len);

#endif
