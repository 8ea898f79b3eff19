/* USER, PASS and AUTH PLAIN; contracts in auth.h. */

#include "auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "login.h"
#include "pop3_parse.h"
#include "session.h"
#include "settings.h"
#include "tls.h"

/* Refuses plaintext credentials where the policy says so; true if the
   command was refused. */
static bool pop3_refuse_plaintext(struct pop3_session *s)
{
	if (pop3_plaintext_allowed(s))
		return false;
	pop3_bad_command(s, s->set->client_tls != NULL ?
			 "[AUTH] Plaintext authentication needs TLS here: use STLS" :
			 "[AUTH] Plaintext authentication needs TLS here: use the POP3S port");
	return true;
}

void pop3_cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (pop3_refuse_plaintext(s))
		return;
	if (pop3_session_set_user(s, cmd->argv[0], strlen(cmd->argv[0])) < 0) {
		pop3_bad_command(s, "Invalid user name");
		return;
	}
	pop3_reply(s, "+OK");
}

void pop3_cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (pop3_refuse_plaintext(s))
		return;
	if (s->user == NULL) {
		pop3_bad_command(s, "USER first");
		return;
	}
	pop3_login_start(s, cmd->rest, strlen(cmd->rest));
}

/* RFC 4616 message: [authzid] NUL authcid NUL passwd */
static void pop3_auth_plain(struct pop3_session *s, const char *b64, size_t len)
{
	unsigned char buf[POP3_MAX_AUTH_LINE];
	const unsigned char *authcid, *passwd, *end;
	int n;

	if (len == 1 && b64[0] == '=') {
		n = 0;
	} else {
		n = tls_base64_decode(b64, len, buf, sizeof(buf));
		if (n < 0) {
			pop3_bad_command(s, "Invalid base64 data");
			return;
		}
	}
	end = buf + n;
	authcid = memchr(buf, '\0', (size_t)n);
	passwd = authcid != NULL ? memchr(authcid + 1, '\0', (size_t)(end - authcid - 1)) : NULL;
	if (passwd == NULL) {
		explicit_bzero(buf, sizeof(buf));
		pop3_reply(s, "-ERR [AUTH] Invalid SASL PLAIN message");
		return;
	}
	authcid++;
	passwd++;
	/* We cannot act for another user: an authzid must be the user. */
	if (authcid - 1 != buf &&
	    ((size_t)(authcid - 1 - buf) != (size_t)(passwd - 1 - authcid) ||
	     memcmp(buf, authcid, (size_t)(passwd - 1 - authcid)) != 0)) {
		explicit_bzero(buf, sizeof(buf));
		pop3_reply(s, "-ERR [AUTH] Authorization identity not allowed");
		return;
	}
	if (pop3_session_set_user(s, (const char *)authcid, (size_t)(passwd - 1 - authcid)) < 0) {
		explicit_bzero(buf, sizeof(buf));
		pop3_reply(s, "-ERR [AUTH] Authentication failed");
		return;
	}
	pop3_login_start(s, (const char *)passwd, (size_t)(end - passwd));
	explicit_bzero(buf, sizeof(buf));
}

/* "AUTH PLAIN" without an initial response: "+ ", then the next line is
   the SASL message (or "*" to cancel). */
static void pop3_auth_line(struct pop3_session *s, void *ctx, const char *line, size_t len)
{
	pop3_cmd_done(s);
	if (len == 1 && line[0] == '*') {
		pop3_reply(s, "-ERR Authentication cancelled");
		return;
	}
	pop3_auth_plain(s, line, len);
}

static const struct pop3_cmd_ops pop3_auth_continuation = {
	.line = pop3_auth_line,
	.max_line = POP3_MAX_AUTH_LINE,
};

void pop3_cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->argc == 0) {
		/* Mechanism list, as clients probing with a bare AUTH expect. */
		pop3_reply(s, "+OK Supported mechanisms follow");
		if (pop3_plaintext_allowed(s))
			pop3_reply(s, "PLAIN");
		pop3_reply(s, ".");
		return;
	}
	if (pop3_refuse_plaintext(s))
		return;
	if (strcasecmp(cmd->argv[0], "PLAIN") != 0) {
		pop3_bad_command(s, "Unsupported authentication mechanism");
		return;
	}
	if (cmd->argc > 2) {
		pop3_bad_command(s, "Too many arguments");
		return;
	}
	if (cmd->argc == 2) {
		pop3_auth_plain(s, cmd->argv[1], strlen(cmd->argv[1]));
		return;
	}
	pop3_reply(s, "+ ");
	pop3_cmd_start(s, &pop3_auth_continuation, NULL);
}
