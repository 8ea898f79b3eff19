#ifndef POP3_QUIT_H
#define POP3_QUIT_H

/*
 * QUIT in TRANSACTION state (RFC 1939 UPDATE): the session's DELE marks
 * are applied per delete_action, one named step after the other, with
 * one failure exit:
 *
 *   fingerprints  hide/hide-all: each DELE'd message's header digest, so
 *                 the hide can follow it if the mailbox is recreated
 *   hide          hide/hide-all: one atomic write to the state store,
 *                 under this session's device lock
 *   remove        trash/expunge: the messages leave the mailbox upstream
 *                 (imap_remove.h)
 *   logout        LOGOUT upstream
 *   unlock        the device lock goes (before the +OK: a client that
 *                 logs in again at once must not find its device in use)
 *
 * then "+OK" and the end of the session. "+OK" is only sent once what
 * was applied is durable; a failure answers -ERR saying what happened,
 * and closes. A client that goes away during UPDATE does not stop it.
 */

struct pop3_session;

/* Runs as the session's command; replies and ends the session. */
void pop3_quit_start(struct pop3_session *s);

#endif
