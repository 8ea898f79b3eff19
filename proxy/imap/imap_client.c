#include "imap_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "imap_cmd.h"
#include "imap_parse.h"
#include "log.h"
#include "tls.h"

/* Longest response line we accept (literal contents excluded). */
#define IMAP_CLIENT_MAX_LINE 65536
/* Upstream input is read in bounded amounts: with the consumer's own
   output limit this keeps a session's memory flat for any message size. */
#define IMAP_CLIENT_READ_HIGH (256 * 1024)
#define IMAP_CLIENT_MAX_READ (64 * 1024)

enum imap_client_state {
	IMAP_CLIENT_NEW,
	IMAP_CLIENT_CONNECTING,   /* TCP (and implicit TLS) handshake */
	IMAP_CLIENT_GREETING,     /* waiting for the server greeting */
	IMAP_CLIENT_PREPARING,    /* CAPABILITY / STARTTLS before ready */
	IMAP_CLIENT_READY,
	IMAP_CLIENT_FAILED,       /* connection gone; commands fail */
	IMAP_CLIENT_CLOSED,       /* closed by the owner; silent */
};

static const char *const imap_client_state_names[] = {
	[IMAP_CLIENT_NEW] = "new",
	[IMAP_CLIENT_CONNECTING] = "connecting",
	[IMAP_CLIENT_GREETING] = "greeting",
	[IMAP_CLIENT_PREPARING] = "preparing",
	[IMAP_CLIENT_READY] = "ready",
	[IMAP_CLIENT_FAILED] = "failed",
	[IMAP_CLIENT_CLOSED] = "closed",
};
_Static_assert(sizeof(imap_client_state_names) / sizeof(imap_client_state_names[0]) ==
	       IMAP_CLIENT_CLOSED + 1, "state names must match the enum");

struct imap_command {
	TAILQ_ENTRY(imap_command) link;
	char tag[IMAP_TAG_MAX + 1];
	struct imap_cmd_text text;
	unsigned int parts_sent;
	bool sensitive;            /* holds credentials: never logged */
	const struct imap_cmd_handlers *h;
	void *ctx;
};
TAILQ_HEAD(imap_command_list, imap_command);

struct imap_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct bufferevent *bev;
	struct imap_parser *parser;
	struct event *deferred;       /* reports failures from the loop */

	char *host;
	uint16_t port;
	enum imap_tls_mode tls;
	struct tls_client_ctx *tls_ctx;
	unsigned int timeout_secs;
	char *log_id;
	struct imap_id_params id;     /* strings owned */

	enum imap_client_state state;
	const char *doing;            /* for error messages */
	char fail_reason[256];
	char bye_reason[200];        /* text of an untagged BYE */
	bool logging_out;            /* LOGOUT sent: EOF is expected */
	unsigned int caps;
	bool caps_known;
	bool utf8_enabled;            /* server said ENABLED UTF8=ACCEPT */
	bool tls_active;
	unsigned int tag_counter;

	struct imap_command_list queue;   /* not sent yet */
	struct imap_command_list waiting; /* sent, waiting for tagged reply */
	struct imap_command *sending;     /* waiting for "+" to go on */

	/* the literal being streamed, and to which command */
	struct imap_command *literal_cmd;
	bool paused;

	imap_connect_cb *connect_cb;
	void *connect_ctx;

	/* The owner's login, whose done waits for post-login capabilities;
	   login_h is NULL when none is under way. */
	const struct imap_cmd_handlers *login_h;
	void *login_ctx;
	bool login_caps_seen;         /* capabilities came with the login */
	struct imap_reply login_reply; /* kept while CAPABILITY runs */
	char login_code[128];
	char login_text[256];
};

static void imap_client_setup_bev(struct imap_client *c);

static void imap_client_set_state(struct imap_client *c,
				  enum imap_client_state state)
{
	if (c->state == state)
		return;
	log_debug("%s imap_state=%s->%s", c->log_id,
		  imap_client_state_names[c->state], imap_client_state_names[state]);
	c->state = state;
}

static void imap_client_update_timeout(struct imap_client *c)
{
	struct timeval tv = { .tv_sec = c->timeout_secs, .tv_usec = 0 };
	bool busy = c->state < IMAP_CLIENT_READY ||
		!TAILQ_EMPTY(&c->waiting) || c->sending != NULL;

	if (c->bev != NULL)
		bufferevent_set_timeouts(c->bev, busy ? &tv : NULL, busy ? &tv : NULL);
}

static void imap_command_free(struct imap_command *cmd)
{
	if (cmd->sensitive && cmd->text.buf != NULL)
		explicit_bzero(cmd->text.buf, cmd->text.cap);
	imap_cmd_text_clear(&cmd->text);
	free(cmd);
}

static void imap_command_finish(struct imap_client *c, struct imap_command *cmd,
				const struct imap_reply *reply)
{
	if (c->literal_cmd == cmd)
		c->literal_cmd = NULL;
	if (c->state != IMAP_CLIENT_CLOSED && cmd->h->done != NULL)
		cmd->h->done(cmd->ctx, reply);
	imap_command_free(cmd);
}

/* Fails every pending command and the connect callback; the connection is
   unusable afterwards. Callbacks may close the client meanwhile. */
static void imap_client_fail_all(struct imap_client *c)
{
	struct imap_reply reply = {
		.result = IMAP_REPLY_FAILED, .text = c->fail_reason,
	};
	struct imap_command_list pending;
	struct imap_command *cmd;

	TAILQ_INIT(&pending);
	TAILQ_CONCAT(&pending, &c->waiting, link);
	TAILQ_CONCAT(&pending, &c->queue, link);
	c->sending = NULL;
	c->literal_cmd = NULL;

	if (c->connect_cb != NULL) {
		imap_connect_cb *cb = c->connect_cb;

		c->connect_cb = NULL;
		if (c->state != IMAP_CLIENT_CLOSED)
			cb(c->connect_ctx, false, c->fail_reason);
	}
	while ((cmd = TAILQ_FIRST(&pending)) != NULL) {
		TAILQ_REMOVE(&pending, cmd, link);
		imap_command_finish(c, cmd, &reply);
	}
}

static void imap_client_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_client *c = arg;

	if (c->state == IMAP_CLIENT_FAILED)
		imap_client_fail_all(c);
}

static void imap_client_fail(struct imap_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void imap_client_fail(struct imap_client *c, const char *fmt, ...)
{
	va_list args;

	if (c->state >= IMAP_CLIENT_FAILED)
		return;
	va_start(args, fmt);
	vsnprintf(c->fail_reason, sizeof(c->fail_reason), fmt, args);
	va_end(args);
	log_warn("%s event=upstream_error upstream=%s:%u while=\"%s\" error=\"%s\"",
		 c->log_id, c->host, c->port, c->doing, c->fail_reason);
	imap_client_set_state(c, IMAP_CLIENT_FAILED);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(c->deferred, EV_TIMEOUT, 0);
}

static void imap_client_write_part(struct imap_client *c, struct imap_command *cmd)
{
	size_t start = cmd->parts_sent == 0 ? 0 : cmd->text.part_end[cmd->parts_sent - 1];
	size_t end = cmd->text.part_end[cmd->parts_sent];

	if (log_enabled(LOG_LEVEL_DEBUG)) {
		if (cmd->sensitive)
			log_debug("%s imap_out=\"%s <credentials hidden>\"", c->log_id, cmd->tag);
		else
			log_debug("%s imap_out=\"%.*s\"", c->log_id,
				  (int)(end - start > 2 ? end - start - 2 : 0),
				  cmd->text.buf + start);
	}
	bufferevent_write(c->bev, cmd->text.buf + start, end - start);
	cmd->parts_sent++;
}

static void imap_client_flush(struct imap_client *c)
{
	struct imap_command *cmd;

	if (c->state != IMAP_CLIENT_READY && c->state != IMAP_CLIENT_PREPARING)
		return;
	while (c->sending == NULL && (cmd = TAILQ_FIRST(&c->queue)) != NULL) {
		TAILQ_REMOVE(&c->queue, cmd, link);
		TAILQ_INSERT_TAIL(&c->waiting, cmd, link);
		imap_client_write_part(c, cmd);
		if (cmd->parts_sent < cmd->text.nparts)
			c->sending = cmd;
	}
	imap_client_update_timeout(c);
}

static struct imap_command *imap_client_new_command(struct imap_client *c,
						    const struct imap_cmd_handlers *h,
						    void *ctx)
{
	struct imap_command *cmd = calloc(1, sizeof(*cmd));

	if (cmd == NULL)
		return NULL;
	snprintf(cmd->tag, sizeof(cmd->tag), "p%u", ++c->tag_counter);
	cmd->h = h;
	cmd->ctx = ctx;
	return cmd;
}

static void imap_client_enqueue(struct imap_client *c, struct imap_command *cmd,
				bool front)
{
	if (front)
		TAILQ_INSERT_HEAD(&c->queue, cmd, link);
	else
		TAILQ_INSERT_TAIL(&c->queue, cmd, link);
	if (c->state == IMAP_CLIENT_FAILED)
		event_active(c->deferred, EV_TIMEOUT, 0);
	else
		imap_client_flush(c);
}

/* A command of the client's own, with itself as the handlers' ctx. */
static int imap_client_queue_own(struct imap_client *c, const char *args,
				 const struct imap_cmd_handlers *h, bool front)
{
	struct imap_command *cmd = imap_client_new_command(c, h, c);
	const char *error;

	if (cmd == NULL)
		return -1;
	if (imap_cmd_simple(&cmd->text, cmd->tag, args, &error) < 0) {
		imap_command_free(cmd);
		return -1;
	}
	imap_client_enqueue(c, cmd, front);
	return 0;
}

int imap_client_command(struct imap_client *c, const char *args,
			const struct imap_cmd_handlers *h, void *ctx)
{
	struct imap_command *cmd = imap_client_new_command(c, h, ctx);
	const char *error;

	if (cmd == NULL)
		return -1;
	if (imap_cmd_simple(&cmd->text, cmd->tag, args, &error) < 0) {
		log_error("%s event=bug building IMAP command: %s", c->log_id, error);
		imap_command_free(cmd);
		return -1;
	}
	if (strcasecmp(args, "LOGOUT") == 0)
		c->logging_out = true;
	imap_client_enqueue(c, cmd, false);
	return 0;
}

/* ---- login, and what goes with it ---- */

static void imap_client_id_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	/* Only the server's logs lose the client's address: log in anyway. */
	if (reply->result == IMAP_REPLY_NO || reply->result == IMAP_REPLY_BAD)
		log_debug("%s event=upstream_id_refused text=\"%s\"", c->log_id,
			  reply->text);
}

static const struct imap_cmd_handlers imap_client_id_handlers = {
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

	if (imap_resp_keyword_is(resp, "ENABLED") &&
	    (imap_caps_parse(resp->rest, resp->rest_len) & IMAP_CAP_UTF8_ACCEPT) != 0)
		c->utf8_enabled = true;
}

static void imap_client_enable_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	/* The messages are still served; only a downgrade may follow. */
	if (reply->result == IMAP_REPLY_NO || reply->result == IMAP_REPLY_BAD)
		log_info("%s event=upstream_enable_refused text=\"%s\"", c->log_id,
			 reply->text);
}

static const struct imap_cmd_handlers imap_client_enable_handlers = {
	.untagged = imap_client_enable_untagged,
	.done = imap_client_enable_done,
};

/* Hands the login's result to the owner, exactly once. */
static void imap_client_login_finish(struct imap_client *c,
				     const struct imap_reply *reply)
{
	const struct imap_cmd_handlers *h = c->login_h;
	void *ctx = c->login_ctx;

	c->login_h = NULL;
	c->login_ctx = NULL;
	if (reply->result == IMAP_REPLY_OK) {
		c->doing = "ready";
		/* RFC 6855: without it a server may downgrade or hide
		   internationalised messages; POP3 serves stored bytes. */
		if ((c->caps & IMAP_CAP_ENABLE) != 0 &&
		    (c->caps & IMAP_CAP_UTF8_ACCEPT) != 0 &&
		    imap_client_queue_own(c, "ENABLE UTF8=ACCEPT",
					  &imap_client_enable_handlers, false) < 0)
			log_warn("%s event=enable_not_sent error=\"out of memory\"",
				 c->log_id);
	}
	if (h != NULL && h->done != NULL && c->state != IMAP_CLIENT_CLOSED)
		h->done(ctx, reply);
}

static void imap_client_login_caps_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	if (reply->result == IMAP_REPLY_FAILED) {
		imap_client_login_finish(c, reply);
		return;
	}
	/* The pre-login ones stay: at worst an extension goes unused. */
	if (reply->result != IMAP_REPLY_OK)
		log_info("%s event=upstream_capability_refused text=\"%s\"",
			 c->log_id, reply->text);
	imap_client_login_finish(c, &c->login_reply);
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

	if (reply->result != IMAP_REPLY_OK || c->login_caps_seen ||
	    imap_reply_code_is_caps(reply)) {
		imap_client_login_finish(c, reply);
		return;
	}
	/* Post-login capabilities differ (SPECIAL-USE, MOVE, ENABLE...)
	   and this server did not say them: ask before anything else. */
	snprintf(c->login_code, sizeof(c->login_code), "%.*s",
		 reply->code != NULL ? (int)reply->code_len : 0,
		 reply->code != NULL ? reply->code : "");
	snprintf(c->login_text, sizeof(c->login_text), "%s", reply->text);
	c->login_reply = *reply;
	c->login_reply.code = reply->code != NULL ? c->login_code : NULL;
	c->login_reply.code_len = reply->code != NULL ? strlen(c->login_code) : 0;
	c->login_reply.text = c->login_text;
	c->doing = "asking for CAPABILITY after login";
	if (imap_client_queue_own(c, "CAPABILITY", &imap_client_login_caps_handlers,
				  false) < 0)
		imap_client_login_finish(c, &c->login_reply);
}

static const struct imap_cmd_handlers imap_client_login_handlers = {
	.untagged = imap_client_login_untagged,
	.done = imap_client_login_done,
};

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
	if ((c->caps & IMAP_CAP_AUTH_PLAIN) != 0) {
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
	c->doing = "logging in";
	if (id != NULL)
		imap_client_enqueue(c, id, false);
	imap_client_enqueue(c, cmd, false);
	return 0;
}

/* ---- responses ---- */

static void imap_client_caps_from_code(struct imap_client *c,
				       const struct imap_resp *resp)
{
	const char *args;
	size_t len;

	if (resp->code != NULL && imap_code_is(resp, "CAPABILITY", &args, &len)) {
		c->caps = imap_caps_parse(args, len);
		c->caps_known = true;
	}
}

static void imap_client_ready(struct imap_client *c)
{
	imap_connect_cb *cb = c->connect_cb;

	imap_client_set_state(c, IMAP_CLIENT_READY);
	c->connect_cb = NULL;
	imap_client_flush(c);
	if (cb != NULL)
		cb(c->connect_ctx, true, NULL);
}

static void imap_client_prepare(struct imap_client *c);

static void imap_client_capability_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;

	if (reply->result == IMAP_REPLY_FAILED)
		return;
	if (reply->result != IMAP_REPLY_OK || !c->caps_known) {
		imap_client_fail(c, "CAPABILITY failed: %s", reply->text);
		return;
	}
	imap_client_prepare(c);
}

static void imap_client_capability_untagged(void *ctx, const struct imap_resp *resp)
{
	struct imap_client *c = ctx;

	if (imap_resp_keyword_is(resp, "CAPABILITY")) {
		c->caps = imap_caps_parse(resp->rest, resp->rest_len);
		c->caps_known = true;
	}
}

static const struct imap_cmd_handlers imap_client_capability_handlers = {
	.untagged = imap_client_capability_untagged,
	.done = imap_client_capability_done,
};

static void imap_client_starttls_done(void *ctx, const struct imap_reply *reply)
{
	struct imap_client *c = ctx;
	struct bufferevent *tls_bev;

	if (reply->result == IMAP_REPLY_FAILED)
		return;
	if (reply->result != IMAP_REPLY_OK) {
		imap_client_fail(c, "STARTTLS refused: %s", reply->text);
		return;
	}
	/* The filter takes over timeouts; the socket under it must not keep
	   the one armed for this command, or an idle session times out. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	tls_bev = tls_client_filter(c->base, c->bev, c->tls_ctx, c->host);
	if (tls_bev == NULL) {
		imap_client_fail(c, "cannot start TLS");
		return;
	}
	c->bev = tls_bev;
	c->tls_active = true;
	/* RFC 3501: forget what was said in plaintext. */
	c->caps = 0;
	c->caps_known = false;
	imap_client_set_state(c, IMAP_CLIENT_CONNECTING);
	c->doing = "TLS handshake after STARTTLS";
	/* callbacks and watermarks are set again on the new bufferevent */
	imap_client_setup_bev(c);
}

static const struct imap_cmd_handlers imap_client_starttls_handlers = {
	.done = imap_client_starttls_done,
};

/* After the greeting (and after STARTTLS): get what we still need, then
   declare the connection ready. */
static void imap_client_prepare(struct imap_client *c)
{
	const struct imap_cmd_handlers *h;
	const char *args;

	imap_client_set_state(c, IMAP_CLIENT_PREPARING);
	if (c->tls == IMAP_TLS_STARTTLS && !c->tls_active) {
		if (c->caps_known && (c->caps & IMAP_CAP_STARTTLS) == 0) {
			imap_client_fail(c, "upstream does not offer STARTTLS");
			return;
		}
		c->doing = "sending STARTTLS";
		args = "STARTTLS";
		h = &imap_client_starttls_handlers;
	} else if (!c->caps_known) {
		c->doing = "asking for CAPABILITY";
		args = "CAPABILITY";
		h = &imap_client_capability_handlers;
	} else {
		c->doing = "ready";
		imap_client_ready(c);
		return;
	}
	if (imap_client_queue_own(c, args, h, true) < 0)
		imap_client_fail(c, "out of memory");
}

static void imap_client_greeting(struct imap_client *c, const struct imap_resp *resp)
{
	if (resp->kind != IMAP_RESP_UNTAGGED ||
	    (resp->status != IMAP_STATUS_OK && resp->status != IMAP_STATUS_PREAUTH)) {
		imap_client_fail(c, "bad greeting: %.*s", (int)resp->text_len,
				 resp->text != NULL ? resp->text : "");
		return;
	}
	if (resp->status == IMAP_STATUS_PREAUTH) {
		/* We must log in as the POP3 user ourselves. */
		imap_client_fail(c, "upstream greeted with PREAUTH");
		return;
	}
	imap_client_caps_from_code(c, resp);
	imap_client_prepare(c);
}

static struct imap_command *imap_client_find_tag(struct imap_client *c,
						 const char *tag, size_t len)
{
	struct imap_command *cmd;

	TAILQ_FOREACH(cmd, &c->waiting, link) {
		if (strlen(cmd->tag) == len && memcmp(cmd->tag, tag, len) == 0)
			return cmd;
	}
	return NULL;
}

static void imap_client_tagged(struct imap_client *c, const struct imap_resp *resp)
{
	struct imap_command *cmd = imap_client_find_tag(c, resp->tag, resp->tag_len);
	char text[512];
	struct imap_reply reply;

	if (cmd == NULL) {
		imap_client_fail(c, "reply with unknown tag %.*s", (int)resp->tag_len, resp->tag);
		return;
	}
	TAILQ_REMOVE(&c->waiting, cmd, link);
	if (c->sending == cmd)
		c->sending = NULL;
	imap_client_caps_from_code(c, resp);

	snprintf(text, sizeof(text), "%.*s", (int)resp->text_len,
		 resp->text != NULL ? resp->text : "");
	memset(&reply, 0, sizeof(reply));
	reply.result = resp->status == IMAP_STATUS_OK ? IMAP_REPLY_OK :
		resp->status == IMAP_STATUS_NO ? IMAP_REPLY_NO : IMAP_REPLY_BAD;
	reply.code = resp->code;
	reply.code_len = resp->code_len;
	reply.text = text;
	imap_command_finish(c, cmd, &reply);
	if (c->state == IMAP_CLIENT_READY || c->state == IMAP_CLIENT_PREPARING)
		imap_client_flush(c);
}

static void imap_client_line(struct imap_client *c, const char *line, size_t len)
{
	struct imap_resp resp;
	struct imap_command *cmd;
	const char *error;

	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("%s imap_in=\"%.*s\"", c->log_id, (int)(len > 300 ? 300 : len), line);
	if (imap_resp_parse(line, len, &resp, &error) < 0) {
		imap_client_fail(c, "bad response (%s): %.*s", error,
				 (int)(len > 100 ? 100 : len), line);
		return;
	}
	if (c->state == IMAP_CLIENT_GREETING) {
		imap_client_greeting(c, &resp);
		return;
	}
	switch (resp.kind) {
	case IMAP_RESP_CONTINUATION:
		if (c->sending == NULL) {
			imap_client_fail(c, "unexpected continuation");
			return;
		}
		cmd = c->sending;
		imap_client_write_part(c, cmd);
		if (cmd->parts_sent == cmd->text.nparts) {
			c->sending = NULL;
			imap_client_flush(c);
		}
		return;
	case IMAP_RESP_TAGGED:
		imap_client_tagged(c, &resp);
		return;
	case IMAP_RESP_UNTAGGED:
		break;
	}
	if (resp.status == IMAP_STATUS_BYE) {
		/* The connection ends next; keep the server's reason. */
		snprintf(c->bye_reason, sizeof(c->bye_reason), "upstream said BYE: %.*s",
			 (int)resp.text_len, resp.text != NULL ? resp.text : "");
		return;
	}
	if (resp.status == IMAP_STATUS_OK)
		imap_client_caps_from_code(c, &resp);
	if (imap_resp_keyword_is(&resp, "CAPABILITY")) {
		c->caps = imap_caps_parse(resp.rest, resp.rest_len);
		c->caps_known = true;
	}
	cmd = TAILQ_FIRST(&c->waiting);
	if (cmd != NULL && cmd->h->untagged != NULL)
		cmd->h->untagged(cmd->ctx, &resp);
}

static void imap_client_literal_begin(struct imap_client *c,
				      const struct imap_parse_event *ev)
{
	struct imap_command *cmd = TAILQ_FIRST(&c->waiting);

	c->literal_cmd = NULL;
	if (cmd != NULL && cmd->h->literal_begin != NULL &&
	    cmd->h->literal_begin(cmd->ctx, ev->line, ev->line_len, ev->literal_size))
		c->literal_cmd = cmd;
}

/* Reads and dispatches what has arrived, until input runs out, the
   consumer of a literal has no room, or the client stops. */
static void imap_client_input(struct imap_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state > IMAP_CLIENT_CONNECTING && c->state < IMAP_CLIENT_FAILED) {
		struct evbuffer_iovec v;
		struct imap_parse_event ev;
		enum imap_parse_result res;
		size_t len, consumed;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		len = v.iov_len;
		if (c->literal_cmd != NULL && c->literal_cmd->h->literal_room != NULL &&
		    imap_parser_literal_left(c->parser) > 0) {
			size_t room = c->literal_cmd->h->literal_room(c->literal_cmd->ctx);

			if (room == 0) {
				c->paused = true;
				bufferevent_disable(c->bev, EV_READ);
				return;
			}
			if (len > room)
				len = room;
		}
		res = imap_parser_feed(c->parser, v.iov_base, len, &consumed, &ev);
		/* Only literal data points into the input; everything else is
		   drained before its handler runs, which may hand the stream
		   over (STARTTLS) or close. */
		if (res != IMAP_PARSE_LITERAL_DATA)
			evbuffer_drain(in, consumed);
		switch (res) {
		case IMAP_PARSE_NEED_MORE:
			break;
		case IMAP_PARSE_LINE:
			imap_client_line(c, ev.line, ev.line_len);
			break;
		case IMAP_PARSE_LITERAL_BEGIN:
			imap_client_literal_begin(c, &ev);
			break;
		case IMAP_PARSE_LITERAL_DATA:
			if (c->literal_cmd != NULL)
				c->literal_cmd->h->literal_data(c->literal_cmd->ctx,
								ev.data, ev.data_len);
			break;
		case IMAP_PARSE_LITERAL_END:
			if (c->literal_cmd != NULL) {
				struct imap_command *cmd = c->literal_cmd;

				c->literal_cmd = NULL;
				if (cmd->h->literal_end != NULL)
					cmd->h->literal_end(cmd->ctx);
			}
			break;
		case IMAP_PARSE_ERROR:
			imap_client_fail(c, "protocol error: %s", ev.error);
			break;
		}
		if (c->state == IMAP_CLIENT_CLOSED)
			return;
		if (res == IMAP_PARSE_LITERAL_DATA)
			evbuffer_drain(in, consumed);
		if (res == IMAP_PARSE_NEED_MORE && consumed == 0)
			break;
	}
}

static void imap_client_read_cb(struct bufferevent *bev, void *arg)
{
	imap_client_input(arg);
}

static void imap_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_client *c = arg;
	char reason[256];

	if ((what & BEV_EVENT_CONNECTED) != 0) {
		evutil_socket_t fd = bufferevent_getfd(bev);

		/* Commands are small and each waits for its reply. */
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (c->state == IMAP_CLIENT_CONNECTING) {
			if (c->tls_active && c->caps_known == false &&
			    c->tls == IMAP_TLS_STARTTLS) {
				/* STARTTLS handshake done: no new greeting */
				imap_client_prepare(c);
			} else {
				imap_client_set_state(c, IMAP_CLIENT_GREETING);
				c->doing = "waiting for the greeting";
			}
			imap_client_update_timeout(c);
		}
		return;
	}
	if (c->state >= IMAP_CLIENT_FAILED)
		return;
	if ((what & BEV_EVENT_TIMEOUT) != 0) {
		imap_client_fail(c, "timed out after %us", c->timeout_secs);
	} else if ((what & BEV_EVENT_EOF) != 0) {
		if (c->logging_out) {
			/* The end we asked for: not worth a warning. */
			imap_client_set_state(c, IMAP_CLIENT_FAILED);
			snprintf(c->fail_reason, sizeof(c->fail_reason), "logged out");
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
			event_active(c->deferred, EV_TIMEOUT, 0);
		} else if (c->bye_reason[0] != '\0') {
			imap_client_fail(c, "%s", c->bye_reason);
		} else {
			imap_client_fail(c, "connection closed by upstream");
		}
	} else if (c->tls_active) {
		imap_client_fail(c, "%s", tls_error_reason(bev, reason, sizeof(reason)));
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		int dns_err = bufferevent_socket_get_dns_error(bev);

		if (dns_err != 0)
			imap_client_fail(c, "cannot resolve %s: %s", c->host,
					 evutil_gai_strerror(dns_err));
		else
			imap_client_fail(c, "%s", evutil_socket_error_to_string(err));
	}
}

static void imap_client_setup_bev(struct imap_client *c)
{
	bufferevent_setcb(c->bev, imap_client_read_cb, NULL, imap_client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, IMAP_CLIENT_READ_HIGH);
	/* libevent reads 4 KiB at a time by default: too many syscalls for
	   streaming large messages. */
	bufferevent_set_max_single_read(c->bev, IMAP_CLIENT_MAX_READ);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	imap_client_update_timeout(c);
}

/* Copies an optional string into a const slot the client owns. */
static int imap_client_dup(const char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst == NULL ? -1 : 0;
}

struct imap_client *imap_client_new(struct event_base *base,
				    struct evdns_base *dns,
				    const struct imap_client_settings *set)
{
	struct imap_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->base = base;
	c->dns = dns;
	c->host = strdup(set->host);
	c->port = set->port;
	c->tls = set->tls;
	c->tls_ctx = set->tls_ctx;
	c->timeout_secs = set->timeout_secs;
	c->log_id = strdup(set->log_id != NULL ? set->log_id : "");
	c->id.client_port = set->client_port;
	c->id.local_port = set->local_port;
	c->parser = imap_parser_new(IMAP_CLIENT_MAX_LINE);
	c->deferred = event_new(base, -1, 0, imap_client_deferred_cb, c);
	c->doing = "not connected";
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->waiting);
	if (c->host == NULL || c->log_id == NULL || c->parser == NULL ||
	    c->deferred == NULL ||
	    imap_client_dup(&c->id.client_ip, set->client_ip) < 0 ||
	    imap_client_dup(&c->id.local_ip, set->local_ip) < 0 ||
	    imap_client_dup(&c->id.session_id, set->session_id) < 0 ||
	    imap_client_dup(&c->id.version, set->version) < 0)
		imap_client_free(&c);
	return c;
}

void imap_client_connect(struct imap_client *c, imap_connect_cb *cb, void *ctx)
{
	c->connect_cb = cb;
	c->connect_ctx = ctx;
	imap_client_set_state(c, IMAP_CLIENT_CONNECTING);
	c->doing = "connecting";
	if (c->tls == IMAP_TLS_IMAPS) {
		c->bev = tls_client_bufferevent(c->base, c->tls_ctx, c->host);
		c->tls_active = true;
	} else {
		c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (c->bev == NULL) {
		imap_client_fail(c, "cannot create connection");
		return;
	}
	imap_client_setup_bev(c);
	if (bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC,
						c->host, c->port) < 0)
		imap_client_fail(c, "cannot connect to %s:%u", c->host, c->port);
}

unsigned int imap_client_caps(const struct imap_client *c)
{
	return c->caps;
}

bool imap_client_utf8_enabled(const struct imap_client *c)
{
	return c->utf8_enabled;
}

bool imap_client_is_connected(const struct imap_client *c)
{
	return c->state == IMAP_CLIENT_READY;
}

const char *imap_client_tls_version(const struct imap_client *c)
{
	return c->tls_active ? tls_version(c->bev) : "none";
}

void imap_client_resume(struct imap_client *c)
{
	if (!c->paused || c->state >= IMAP_CLIENT_FAILED)
		return;
	c->paused = false;
	bufferevent_enable(c->bev, EV_READ);
	imap_client_input(c);
}

void imap_client_close(struct imap_client *c)
{
	if (c == NULL)
		return;
	imap_client_set_state(c, IMAP_CLIENT_CLOSED);
	c->connect_cb = NULL;
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

void imap_client_free(struct imap_client **cp)
{
	struct imap_client *c = *cp;
	struct imap_command *cmd;

	if (c == NULL)
		return;
	*cp = NULL;
	while ((cmd = TAILQ_FIRST(&c->waiting)) != NULL) {
		TAILQ_REMOVE(&c->waiting, cmd, link);
		imap_command_free(cmd);
	}
	while ((cmd = TAILQ_FIRST(&c->queue)) != NULL) {
		TAILQ_REMOVE(&c->queue, cmd, link);
		imap_command_free(cmd);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->deferred != NULL)
		event_free(c->deferred);
	imap_parser_free(&c->parser);
	free(c->host);
	free(c->log_id);
	free((char *)c->id.client_ip);
	free((char *)c->id.local_ip);
	free((char *)c->id.session_id);
	free((char *)c->id.version);
	free(c);
}
