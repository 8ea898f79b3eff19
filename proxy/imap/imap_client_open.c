/* The IMAP connection's set-up: connect (TLS at once or not), the
   greeting, STARTTLS and the capabilities, until the connection is ready
   for the owner's commands. imap_client.c, which reads the responses,
   hands the greeting and the end of the STARTTLS handshake back through
   c->opening (so it never calls this file by name). */

#include "imap_client_private.h"

#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>

#include "imap_throttle.h"
#include "sockout.h"
#include "tls.h"

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

static const struct imap_cmd_handlers imap_client_capability_handlers = {
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
	/* Whatever came after the tagged OK was sent in plaintext before
	   the handshake: never read as if it had come over TLS (RFC 3207 5,
	   the STARTTLS command-injection class: CVE-2011-0411). */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		imap_client_fail(c, "upstream sent data after its STARTTLS reply");
		return;
	}
	/* TLS on the same socket, in place (no filter, no copy of the
	   descriptor); the plain bufferevent goes. */
	sockout_detach(&c->out);
	tls_bev = tls_client_upgrade(c->base, c->bev, c->tls_ctx, c->host, true);
	if (tls_bev == NULL) {
		imap_client_fail(c, "cannot start TLS");
		return;
	}
	c->bev = tls_bev;
	c->tls_active = true;
	c->round_trips++;
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
	const char *cmd;

	imap_client_set_state(c, IMAP_CLIENT_PREPARING);
	if (c->tls == IMAP_TLS_STARTTLS && !c->tls_active) {
		if (c->caps_known && (c->caps & IMAP_CAP_STARTTLS) == 0) {
			imap_client_fail(c, "upstream does not offer STARTTLS");
			return;
		}
		c->doing = "sending STARTTLS";
		cmd = "STARTTLS";
		h = &imap_client_starttls_handlers;
	} else if (!c->caps_known) {
		c->doing = "asking for CAPABILITY";
		cmd = "CAPABILITY";
		h = &imap_client_capability_handlers;
	} else {
		c->doing = "ready";
		imap_client_ready(c);
		return;
	}
	if (imap_client_queue_own(c, h, true, cmd) < 0)
		imap_client_fail(c, "out of memory");
}

static void imap_client_greeting(struct imap_client *c, const struct imap_resp *resp)
{
	if (resp->status == IMAP_STATUS_BYE) {
		/* A connection refused in words (a cap per account or
		   address, an overloaded server): throttling, whatever it
		   says. */
		c->bye_throttle = imap_throttle_of(resp->code, resp->code_len, resp->text,
						   resp->text_len);
		if (c->bye_throttle == IMAP_THROTTLE_NONE)
			c->bye_throttle = IMAP_THROTTLE_CONNECTIONS;
	}
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
	imap_client_prepare(c);
}

static const struct imap_client_opening imap_client_opening_steps = {
	.greeting = imap_client_greeting,
	.tls_up = imap_client_prepare,
};

void imap_client_connect(struct imap_client *c, imap_connect_cb *cb, void *ctx)
{
	c->connect_cb = cb;
	c->connect_ctx = ctx;
	c->opening = &imap_client_opening_steps;
	imap_client_set_state(c, IMAP_CLIENT_CONNECTING);
	c->doing = "connecting";
	c->round_trips = c->tls == IMAP_TLS_IMAPS ? 2 : 1;
	c->heard = false;
	if (c->tls == IMAP_TLS_IMAPS) {
		c->bev = tls_client_bufferevent(c->base, c->tls_ctx, c->host, true);
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
