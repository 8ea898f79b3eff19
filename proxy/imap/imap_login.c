/* The IMAP login and what goes with it; contracts in imap_login.h. */

#include "imap_login.h"
#include "imap_client_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_caps_memo.h"
#include "log.h"
#include "tls.h"

static void imap_client_id_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	/* Only the server's logs lose the client's address: log in anyway. */
	if (reply->result == IMAP_REPLY_NO || reply->result == IMAP_REPLY_BAD)
		log_debug("%s event=upstream_id_refused text=\"%s\"", c->log_id,
			  reply->text);
}

/* Servers whose ID "name" says they keep what was sent behind a login
   for after it. Not every server does: Cyrus drops what follows an
   AUTHENTICATE, Courier's login process what follows a LOGIN (it hands
   the connection to another program), and those commands then never get
   an answer. Dovecot's login process passes it on. */
static const char *const imap_keeps_input[] = { "Dovecot", NULL };

/* * ID ("name" "Dovecot" ...): whether the name is one of those (in
   quotes as servers write it; anything else is not). */
static void imap_client_id_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_client *c = ctx;
	char want[64];

	if (!imap_resp_keyword_is(resp, "ID"))
		return;
	for (size_t i = 0; imap_keeps_input[i] != NULL; i++) {
		int n = snprintf(want, sizeof(want), "\"name\" \"%s\"", imap_keeps_input[i]);

		for (size_t at = 0; n > 0 && at + (size_t)n <= resp->rest_len; at++) {
			if (strncasecmp(resp->rest + at, want, (size_t)n) == 0)
				c->keeps_input = true;
		}
	}
}

static bool imap_client_id_claims(void *ctx, const struct imap_resp *resp)
{
	(void)ctx;
	return imap_resp_keyword_is(resp, "ID");
}

static const struct imap_cmd_handlers imap_client_id_handlers = {
	.untagged = imap_client_id_untagged,
	.claims = imap_client_id_claims,
	.done = imap_client_id_done,
};

/* NULL (logged) when it cannot be built: the login goes without it. */
static struct imap_command *imap_client_id_command(struct imap_client *c)
{
	struct imap_command *cmd = imap_client_new_command(c, &imap_client_id_handlers, c);
	const char *error = "out of memory";

	if (cmd == NULL || imap_cmd_id(&cmd->text, cmd->tag, &c->id, &error) < 0) {
		log_warn("%s event=id_not_sent error=\"%s\"", c->log_id, error);
		if (cmd != NULL)
			imap_command_free(cmd);
		return NULL;
	}
	return cmd;
}

static void imap_client_enable_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_client *c = ctx;

	unsigned int enabled;

	if (!imap_resp_keyword_is(resp, "ENABLED"))
		return;
	enabled = imap_caps_parse(resp->rest, resp->rest_len);
	if ((enabled & IMAP_CAP_UTF8_ACCEPT) != 0)
		c->utf8_enabled = true;
	if ((enabled & IMAP_CAP_QRESYNC) != 0)
		c->qresync_enabled = true;
}

static void imap_client_enable_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	/* The messages are still served; only a downgrade may follow. */
	if (reply->result == IMAP_REPLY_NO || reply->result == IMAP_REPLY_BAD)
		log_info("%s event=upstream_enable_refused text=\"%s\"", c->log_id,
			 reply->text);
}

static bool imap_client_enable_claims(void *ctx, const struct imap_resp *resp)
{
	(void)ctx;
	return imap_resp_keyword_is(resp, "ENABLED");
}

static const struct imap_cmd_handlers imap_client_enable_handlers = {
	.untagged = imap_client_enable_untagged,
	.claims = imap_client_enable_claims,
	.done = imap_client_enable_done,
};

/* ENABLE what caps offer of UTF8=ACCEPT and QRESYNC, if anything. */
static void imap_client_queue_enable(struct imap_client *c, unsigned int caps)
{
	/* RFC 6855: without it a server may downgrade or hide
	   internationalised messages; POP3 serves stored bytes. */
	bool utf8 = (caps & IMAP_CAP_UTF8_ACCEPT) != 0;
	/* RFC 7162: what lets a kept listing be brought up to date with
	   only what changed (imap_sync.h). */
	bool qresync = (caps & IMAP_CAP_QRESYNC) != 0;

	if ((caps & IMAP_CAP_ENABLE) == 0 || (!utf8 && !qresync))
		return;
	if (imap_client_queue_own(c, &imap_client_enable_handlers, false,
				  utf8 && qresync ? "ENABLE UTF8=ACCEPT QRESYNC" :
				  utf8 ? "ENABLE UTF8=ACCEPT" : "ENABLE QRESYNC") < 0)
		log_warn("%s event=enable_not_sent error=\"out of memory\"", c->log_id);
	else
		c->enable_sent = true;
}

/* ---- what the logins to this server showed (imap_caps_memo.h) ---- */

/* The server, and what it said before the login (its greeting's or
   CAPABILITY's words, hashed): a server that says otherwise now is
   another one as far as the guess goes. */
static void imap_client_memo_key(const struct imap_client *c, char *key, size_t size)
{
	snprintf(key, size, "%s:%u/%d/%016llx", c->host, c->port, (int)c->tls,
		 (unsigned long long)c->login_sig);
}

static bool imap_client_memo_get(const struct imap_client *c, struct imap_caps_seen *seen)
{
	char key[IMAP_CAPS_MEMO_KEY + 2];

	if (c->caps_memo == NULL)
		return false;
	imap_client_memo_key(c, key, sizeof(key));
	return imap_caps_memo_get(c->caps_memo, key, seen);
}

static void imap_client_memo_put(struct imap_client *c, const struct imap_caps_seen *seen)
{
	char key[IMAP_CAPS_MEMO_KEY + 2];

	if (c->caps_memo == NULL)
		return;
	imap_client_memo_key(c, key, sizeof(key));
	imap_caps_memo_put(c->caps_memo, key, seen);
}

/* The post-login capabilities are known now (with the login's reply or
   from a CAPABILITY after it). */
static void imap_client_memo_note(struct imap_client *c, bool with_login)
{
	struct imap_caps_seen seen = { 0 };

	(void)imap_client_memo_get(c, &seen);
	seen.caps = c->caps;
	seen.with_login = with_login;
	seen.keeps_input = c->keeps_input;
	imap_client_memo_put(c, &seen);
}

void imap_client_note_no_pipelining(struct imap_client *c)
{
	struct imap_caps_seen seen = { .caps = c->caps, .with_login = true };

	(void)imap_client_memo_get(c, &seen);
	seen.no_pipelining = true;
	imap_client_memo_put(c, &seen);
	log_info("%s event=upstream_no_pipelining upstream=%s:%u", c->log_id, c->host, c->port);
}

bool imap_client_login_pipelined(const struct imap_client *c)
{
	return c->login_ahead;
}

/* Hands the login's result to the owner, exactly once. */
/* The kept login answer's texts go. */
static void imap_client_login_forget(struct imap_client *c)
{
	free(c->login_code);
	free(c->login_text);
	c->login_code = c->login_text = NULL;
}

static void imap_client_login_finish(struct imap_client *c,
				     const struct imap_reply *reply)
{
	const struct imap_cmd_handlers *h = c->login_h;
	void *ctx = c->login_ctx;

	c->login_h = NULL;
	c->login_ctx = NULL;
	if (reply->result == IMAP_REPLY_OK) {
		c->doing = "ready";
		/* Not once commands may have followed the login: ENABLE is
		   only valid before a SELECT (RFC 5161). */
		if (!c->login_ahead && !c->enable_sent)
			imap_client_queue_enable(c, c->caps);
	}
	if (h != NULL && h->done != NULL && c->state != IMAP_CLIENT_CLOSED)
		h->done(ctx, reply);
}

/* The login answer kept while CAPABILITY ran, handed on from here: its
   texts are not kept for the connection's life. */
static void imap_client_login_finish_kept(struct imap_client *c)
{
	char code[IMAP_LOGIN_CODE_MAX], text[IMAP_LOGIN_TEXT_MAX];
	struct imap_reply reply = c->login_reply;

	snprintf(code, sizeof(code), "%s", c->login_code != NULL ? c->login_code : "");
	snprintf(text, sizeof(text), "%s", c->login_reply.text != NULL ?
		 c->login_reply.text : "");
	reply.code = c->login_code != NULL ? code : NULL;
	reply.text = text;
	imap_client_login_forget(c);
	c->login_reply.code = NULL;
	c->login_reply.text = NULL;
	imap_client_login_finish(c, &reply);
}

static void imap_client_login_caps_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	/* One sent behind a login that said them itself, or failed. */
	if (!c->login_wait_caps)
		return;
	c->login_wait_caps = false;
	if (reply->result == IMAP_REPLY_FAILED) {
		imap_client_login_finish(c, reply);
		return;
	}
	/* The pre-login ones stay: at worst an extension goes unused. */
	if (reply->result != IMAP_REPLY_OK)
		log_info("%s event=upstream_capability_refused text=\"%s\"",
			 c->log_id, reply->text);
	else
		imap_client_memo_note(c, false);
	imap_client_login_finish_kept(c);
}

static const struct imap_cmd_handlers imap_client_login_caps_handlers = {
	.done = imap_client_login_caps_done,
};

static bool imap_reply_code_is_caps(const struct imap_reply *reply)
{
	return reply->code != NULL && reply->code_len >= 10 &&
		strncasecmp(reply->code, "CAPABILITY", 10) == 0 &&
		(reply->code_len == 10 || reply->code[10] == ' ');
}

static void imap_client_login_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_client *c = ctx;
	const char *args;
	size_t len;

	/* imap_client_line has stored them already. */
	if (imap_resp_keyword_is(resp, "CAPABILITY") ||
	    (resp->status == IMAP_STATUS_OK &&
	     imap_code_is(resp, "CAPABILITY", &args, &len)))
		c->login_caps_seen = true;
	if (c->login_h != NULL && c->login_h->untagged != NULL)
		c->login_h->untagged(c->login_ctx, resp);
}

static void imap_client_login_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	if (reply->result == IMAP_REPLY_OK &&
	    (c->login_caps_seen || imap_reply_code_is_caps(reply)))
		imap_client_memo_note(c, true);
	if (reply->result != IMAP_REPLY_OK || c->login_caps_seen ||
	    imap_reply_code_is_caps(reply)) {
		imap_client_login_finish(c, reply);
		return;
	}
	/* Post-login capabilities differ (SPECIAL-USE, MOVE, ENABLE...)
	   and this server did not say them: ask before anything else. */
	imap_client_login_forget(c);
	if (reply->code != NULL)
		c->login_code = strndup(reply->code, reply->code_len < IMAP_LOGIN_CODE_MAX ?
					reply->code_len : IMAP_LOGIN_CODE_MAX - 1);
	c->login_text = strndup(reply->text != NULL ? reply->text : "",
				IMAP_LOGIN_TEXT_MAX - 1);
	c->login_reply = *reply;
	c->login_reply.code = c->login_code;
	c->login_reply.code_len = c->login_code != NULL ? strlen(c->login_code) : 0;
	c->login_reply.text = c->login_text != NULL ? c->login_text : "";
	c->login_wait_caps = true;
	/* One went behind the login already: its answer finishes it. */
	if (c->caps_pipelined)
		return;
	c->doing = "asking for CAPABILITY after login";
	if (imap_client_queue_own(c, &imap_client_login_caps_handlers, false,
				  "CAPABILITY") < 0) {
		c->login_wait_caps = false;
		imap_client_login_finish_kept(c);
	}
}

static const struct imap_cmd_handlers imap_client_login_handlers = {
	.untagged = imap_client_login_untagged,
	.done = imap_client_login_done,
};

/* When the memo knows the server's post-login capabilities: what must
   precede a SELECT goes right behind the login (CAPABILITY, if its reply
   will not carry them; ENABLE), and the owner may queue more. */
static void imap_client_login_ahead(struct imap_client *c)
{
	struct imap_caps_seen seen;

	if (!imap_client_memo_get(c, &seen) || seen.no_pipelining || !seen.keeps_input)
		return;
	if (!seen.with_login) {
		if (imap_client_queue_own(c, &imap_client_login_caps_handlers, false,
					  "CAPABILITY") < 0)
			return;
		c->caps_pipelined = true;
	}
	imap_client_queue_enable(c, seen.caps);
	c->login_ahead = true;
}

/* AUTHENTICATE PLAIN, or LOGIN: PLAIN when offered, unless it would take
   a round trip more than a LOGIN whose literals go without waiting
   (no SASL-IR, LITERAL+ or LITERAL- that fits) and LOGIN is allowed. */
static bool imap_client_login_by_plain(const struct imap_client *c, size_t user_len,
				       size_t pass_len)
{
	if ((c->caps & IMAP_CAP_AUTH_PLAIN) == 0)
		return false;
	return (c->caps & (IMAP_CAP_SASL_IR | IMAP_CAP_LOGINDISABLED)) != 0 ||
		!imap_cmd_nonsync_ok((c->caps & IMAP_CAP_LITERALPLUS) != 0,
				     (c->caps & IMAP_CAP_LITERALMINUS) != 0, user_len, pass_len);
}

int imap_client_login(struct imap_client *c, const char *user, size_t user_len,
		      const char *pass, size_t pass_len,
		      const struct imap_cmd_handlers *h, void *ctx,
		      const char **error_r)
{
	char sasl[2 * IMAP_CRED_MAX + 2];
	char b64[4 * ((sizeof(sasl) + 2) / 3) + 1];
	struct imap_command *cmd, *id = NULL;
	size_t sasl_len, b64_len;
	int ret;

	if (c->login_h != NULL) {
		*error_r = "a login is already under way";
		return -1;
	}
	if ((c->caps & IMAP_CAP_AUTH_PLAIN) == 0 &&
	    (c->caps & IMAP_CAP_LOGINDISABLED) != 0) {
		*error_r = "upstream refuses plaintext login (LOGINDISABLED)";
		return -1;
	}
	/* Built first for the lower tag; the login need not wait for its
	   reply. */
	if ((c->caps & IMAP_CAP_ID) != 0)
		id = imap_client_id_command(c);
	cmd = imap_client_new_command(c, &imap_client_login_handlers, c);
	if (cmd == NULL) {
		if (id != NULL)
			imap_command_free(id);
		*error_r = "out of memory";
		return -1;
	}
	cmd->sensitive = true;
	if (imap_client_login_by_plain(c, user_len, pass_len)) {
		sasl_len = imap_sasl_plain_message(user, user_len, pass, pass_len,
						   sasl, sizeof(sasl));
		if (sasl_len == 0) {
			*error_r = "credentials cannot be sent";
			ret = -1;
		} else {
			b64_len = tls_base64_encode(sasl, sasl_len, b64);
			ret = imap_cmd_authenticate_plain(&cmd->text, cmd->tag, b64, b64_len,
							  (c->caps & IMAP_CAP_SASL_IR) != 0,
							  error_r);
		}
		explicit_bzero(sasl, sizeof(sasl));
		explicit_bzero(b64, sizeof(b64));
	} else {
		ret = imap_cmd_login(&cmd->text, cmd->tag, user, user_len, pass, pass_len,
				     imap_cmd_nonsync_ok((c->caps & IMAP_CAP_LITERALPLUS) != 0,
							 (c->caps & IMAP_CAP_LITERALMINUS) != 0,
							 user_len, pass_len),
				     error_r);
	}
	if (ret < 0) {
		if (id != NULL)
			imap_command_free(id);
		imap_command_free(cmd);
		return -1;
	}
	c->login_h = h;
	c->login_ctx = ctx;
	c->login_caps_seen = false;
	c->login_sig = c->caps_sig;
	c->doing = "logging in";
	if (id != NULL)
		imap_client_enqueue(c, id, false);
	imap_client_enqueue(c, cmd, false);
	imap_client_login_ahead(c);
	return 0;
}

const char *imap_client_sasl_challenge(const struct imap_client *c)
{
	return c->sasl_challenge != NULL ? c->sasl_challenge : "";
}

int imap_client_login_oauth(struct imap_client *c, enum imap_oauth_mech mech,
			    const char *user, size_t user_len, const char *token,
			    size_t token_len, const char *host, uint16_t port,
			    const struct imap_cmd_handlers *h, void *ctx,
			    const char **error_r)
{
	static char sasl[IMAP_SASL_OAUTH_MAX];
	static char b64[4 * ((IMAP_SASL_OAUTH_MAX + 2) / 3) + 1];
	bool bearer = mech == IMAP_OAUTH_OAUTHBEARER;
	struct imap_command *cmd, *id = NULL;
	size_t sasl_len, b64_len;
	int ret = -1;

	if (c->login_h != NULL) {
		*error_r = "a login is already under way";
		return -1;
	}
	if ((c->caps & (bearer ? IMAP_CAP_AUTH_OAUTHBEARER : IMAP_CAP_AUTH_XOAUTH2)) == 0) {
		*error_r = bearer ? "upstream does not offer AUTH=OAUTHBEARER" :
			"upstream does not offer AUTH=XOAUTH2";
		return -1;
	}
	if (bearer)
		sasl_len = imap_sasl_oauthbearer_message(user, user_len, host, port, token,
							 token_len, sasl, sizeof(sasl), error_r);
	else
		sasl_len = imap_sasl_xoauth2_message(user, user_len, token, token_len, sasl,
						     sizeof(sasl), error_r);
	if (sasl_len == 0)
		return -1;
	if ((c->caps & IMAP_CAP_ID) != 0)
		id = imap_client_id_command(c);
	cmd = imap_client_new_command(c, &imap_client_login_handlers, c);
	if (cmd == NULL) {
		*error_r = "out of memory";
	} else {
		cmd->sensitive = true;
		cmd->sasl_abort = imap_sasl_oauth_abort(bearer);
		b64_len = tls_base64_encode(sasl, sasl_len, b64);
		ret = imap_cmd_authenticate(&cmd->text, cmd->tag, bearer ? "OAUTHBEARER" : "XOAUTH2",
					    b64, b64_len, (c->caps & IMAP_CAP_SASL_IR) != 0,
					    error_r);
	}
	/* Static buffers (a token message is too big for the stack of a
	   callback chain); wiped before anything else runs. */
	explicit_bzero(sasl, sizeof(sasl));
	explicit_bzero(b64, sizeof(b64));
	if (ret < 0) {
		if (id != NULL)
			imap_command_free(id);
		if (cmd != NULL)
			imap_command_free(cmd);
		return -1;
	}
	c->login_h = h;
	c->login_ctx = ctx;
	c->login_caps_seen = false;
	c->login_sig = c->caps_sig;
	free(c->sasl_challenge);
	c->sasl_challenge = NULL;
	c->doing = "logging in";
	if (id != NULL)
		imap_client_enqueue(c, id, false);
	imap_client_enqueue(c, cmd, false);
	return 0;
}
