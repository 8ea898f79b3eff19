#ifndef POP3_LOGIN_LEGACY_H
#define POP3_LOGIN_LEGACY_H

/*
 * The legacy step of a login on a route with legacy_pop3 (login.c runs it
 * after the device view, before the UIDL step): once per account, the
 * legacy POP3 server's UIDLs for the messages of the mailbox.
 *
 *   claim    the account's import lease in the state store, atomically:
 *            an account imported before goes straight on; one another
 *            login is importing right now fails (-ERR [SYS/TEMP], try
 *            again), so two first logins never both import
 *   read     the legacy server's UIDL, LIST and headers (legacy_pop3.h)
 *   fetch    each IMAP message's header hash (imap_fp.h, IMAP_FP_HEADER_
 *            HASH) and fingerprint: every message of the mailbox (the
 *            drop's exists list), also those this device's profile leaves
 *            out, which match by header alone (their size is not listed)
 *   match    legacy_match.h: size first, then the header hash
 *   store    the matched messages' old UIDLs, the done mark and the
 *            lease's end in one atomic write (cache_legacy_store())
 *
 * Then the UIDL step gives the messages without an old UIDL one by
 * uidl_format. Old messages that match nothing are logged
 * (event=legacy_unmatched) and counted in the done mark. When the legacy
 * server cannot be read, legacy_unreachable decides: refuse fails the
 * login with nothing stored (the lease given back); proceed logs it and
 * stores the done mark alone, so the messages keep the UIDLs they get now.
 */

#include <stddef.h>

struct imap_client;
struct pop3_maildrop;
struct pop3_session;
struct pop3_legacy_import;

/* reply: NULL when the login goes on, else the -ERR line to answer
   (valid during the call). */
typedef void pop3_legacy_done_cb(void *ctx, const char *reply);

/*
 * s: the session logging in (its route has legacy_pop3); account: the
 * state store's; user: the name sent upstream; pass: the client's
 * password (copied). drop: finished, its exists list still there (not
 * narrowed). imap and drop stay the caller's and unchanged until
 * done, which runs once from the loop, not after pop3_legacy_free().
 * NULL when out of memory or past max_listing_memory (logged).
 */
struct pop3_legacy_import *pop3_legacy_start(struct pop3_session *s, const char *account,
					     const char *user, size_t user_len, const char *pass,
					     size_t pass_len, struct imap_client *imap,
					     struct pop3_maildrop *drop, pop3_legacy_done_cb *done,
					     void *ctx);
/* Cancels what runs (a lease taken expires by itself); NULL is fine. */
void pop3_legacy_free(struct pop3_legacy_import **li);

#endif
