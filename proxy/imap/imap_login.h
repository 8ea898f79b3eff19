#ifndef IMAP_LOGIN_H
#define IMAP_LOGIN_H

/* Logging in to the IMAP server: the credentials, and what goes with the
   login (ID before it, the post-login capabilities, ENABLE after it). */

#include <stddef.h>

#include "imap_client.h"

/*
 * Queues a login: AUTHENTICATE PLAIN (with SASL-IR when offered) when the
 * server offers AUTH=PLAIN, else LOGIN with both credentials as literals,
 * non-synchronising with LITERAL+ or LITERAL- (RFC 7888). Without SASL-IR
 * a LOGIN whose literals need not wait (and no LOGINDISABLED) is one line
 * where AUTHENTICATE PLAIN waits for a "+": LOGIN then. When the server
 * offers ID, an ID command (see the settings) goes first, pipelined; its
 * reply and any failure of it are ignored. Credentials are never logged.
 *
 * Only h->untagged and h->done are used. After a successful login, done
 * runs once the post-login capabilities are known: from the reply's
 * [CAPABILITY] code or an untagged CAPABILITY, else from a CAPABILITY
 * command sent first. If they offer ENABLE and UTF8=ACCEPT (RFC 6855)
 * or QRESYNC (RFC 7162), "ENABLE" with those is queued before done runs,
 * so it precedes any command done queues (it is only valid before a
 * SELECT); its failure is ignored.
 *
 * Returns -1 (nothing queued) when the credentials cannot be sent (NUL,
 * empty, too long), the server forbids plaintext login, or a login is
 * already under way; *error_r then says why.
 */
int imap_client_login(struct imap_client *c, const char *user, size_t user_len,
		      const char *pass, size_t pass_len,
		      const struct imap_cmd_handlers *h, void *ctx,
		      const char **error_r);

/*
 * Pipelining (RFC 3501 5.5): with settings.caps_memo knowing what the
 * last login to this server showed (imap_caps_memo.h), its ID reply
 * naming a server known to keep what was sent behind a login (Dovecot:
 * Cyrus and Courier lose it, and it is never answered), imap_client_login()
 * queues right behind the login what must come before a SELECT:
 * CAPABILITY when that server's login reply did not carry them, ENABLE as
 * that server's post-login capabilities offered it. Then this says true,
 * and the owner may queue its SELECT at once (imap_select_early()); the
 * login's done still runs first, and when the login fails, whatever was
 * pipelined behind it fails too (NO/BAD: the owner closes the client).
 * Capabilities that turn out otherwise after login do not start another
 * ENABLE (it would come after the SELECT); the memo learns them for next
 * time. Never after an OAuth2 login: a refused token is answered with a
 * challenge the next line would be read as the response to.
 */
bool imap_client_login_pipelined(const struct imap_client *c);

/* The server would not run commands pipelined behind the login (the
   owner's SELECT had to be sent again): the memo keeps logins to it
   unpipelined from now on. Logged. */
void imap_client_note_no_pipelining(struct imap_client *c);

/* The SASL mechanism of an OAuth2 login. */
enum imap_oauth_mech {
	IMAP_OAUTH_XOAUTH2,
	IMAP_OAUTH_OAUTHBEARER,
};

/*
 * Queues an OAuth2 login: AUTHENTICATE XOAUTH2 or OAUTHBEARER (RFC 7628)
 * with the access token, as an initial response with SASL-IR, else after
 * the server's "+". A server that refuses the token sends an error
 * challenge (base64 JSON, RFC 7628 3.2.2) before its NO: it is answered
 * as the mechanism requires (an empty line; a lone ^A for OAUTHBEARER)
 * and its decoded text is kept for imap_client_sasl_challenge(). ID and
 * the post-login capabilities as imap_client_login(). host and port: the
 * server's, for OAUTHBEARER. The token is never logged.
 *
 * Returns -1 (nothing queued) when the server does not offer the
 * mechanism, the arguments cannot be sent, or a login is under way.
 */
int imap_client_login_oauth(struct imap_client *c, enum imap_oauth_mech mech,
			    const char *user, size_t user_len, const char *token,
			    size_t token_len, const char *host, uint16_t port,
			    const struct imap_cmd_handlers *h, void *ctx,
			    const char **error_r);

/* The decoded error challenge of the last OAuth2 login (JSON such as
   {"status":"401","schemes":"bearer"}), NUL-terminated, cut at 511
   octets; "" when the server sent none or it was not base64. */
const char *imap_client_sasl_challenge(const struct imap_client *c);

#endif
