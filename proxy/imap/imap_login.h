#ifndef IMAP_LOGIN_H
#define IMAP_LOGIN_H

/* Logging in to the IMAP server: the credentials, and what goes with the
   login (ID before it, the post-login capabilities, ENABLE after it). */

#include <stddef.h>

#include "imap_client.h"

/*
 * Queues a login: AUTHENTICATE PLAIN (with SASL-IR when offered) when the
 * server offers AUTH=PLAIN, else LOGIN with both credentials as literals,
 * non-synchronising with LITERAL+ or LITERAL- (RFC 7888). When the server
 * offers ID, an ID command (see the settings) goes first, pipelined; its
 * reply and any failure of it are ignored. Credentials are never logged.
 *
 * Only h->untagged and h->done are used. After a successful login, done
 * runs once the post-login capabilities are known: from the reply's
 * [CAPABILITY] code or an untagged CAPABILITY, else from a CAPABILITY
 * command sent first. If they offer ENABLE and UTF8=ACCEPT (RFC 6855),
 * "ENABLE UTF8=ACCEPT" is queued before done runs, so it precedes any
 * command done queues (it is only valid before a SELECT); its failure is
 * ignored.
 *
 * Returns -1 (nothing queued) when the credentials cannot be sent (NUL,
 * empty, too long), the server forbids plaintext login, or a login is
 * already under way; *error_r then says why.
 */
int imap_client_login(struct imap_client *c, const char *user, size_t user_len,
		      const char *pass, size_t pass_len,
		      const struct imap_cmd_handlers *h, void *ctx,
		      const char **error_r);

#endif
