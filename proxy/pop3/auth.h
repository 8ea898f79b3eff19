#ifndef POP3_AUTH_H
#define POP3_AUTH_H

/*
 * Taking the client's credentials: USER and PASS (RFC 1939) and AUTH
 * PLAIN (RFC 5034, SASL PLAIN of RFC 4616, with or without an initial
 * response), under the plaintext policy (plaintext_auth). What they
 * yield goes to the login flow (login.h); the bare AUTH lists the
 * mechanisms.
 */

struct pop3_session;
struct pop3_cmd;

void pop3_cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd);

#endif
