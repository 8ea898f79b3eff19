/* The IMAP connection: its life, the command queue and wait list, the
   writing, failure. The read side (reading, the connection's events,
   response dispatch and literal streaming) lives in imap_client_input.c.
   The set-up (connect, greeting,
   STARTTLS, capabilities) lives in imap_client_open.c, reached through
   c->opening.
   The login lives in imap_login.c; operations built on commands in
   imap_mailbox.c, imap_body.c, imap_fp.c and imap_remove.c. */

#include "imap_client_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "imap_listing.h"
#include "imap_parse.h"
#include "log.h"

/* Longest response line we accept (literal contents excluded). */
#define IMAP_CLIENT_MAX_LINE 65536

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

void imap_client_set_state(struct imap_client *c,
				  enum imap_client_state state)
{
	if (c->state == state)
		return;
	log_debug("%s imap_state=%s->%s", c->log_id,
		  imap_client_state_names[c->state], imap_client_state_names[state]);
	c->state = state;
}

void imap_client_stop_io(struct imap_client *c)
{
	sockout_detach(&c->out);
	if (c->read_ev != NULL)
		event_del(c->read_ev);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

/* Waiting for the server: reading and writing have the timeout. */
static bool imap_client_busy(const struct imap_client *c)
{
	return c->state < IMAP_CLIENT_READY || !TAILQ_EMPTY(&c->waiting) || c->sending != NULL;
}

/* Reading on, by whoever reads (libevent, or the own read event with the
   bufferevent's read timeout). */
void imap_client_read_on(struct imap_client *c)
{
	struct timeval tv = { .tv_sec = c->timeout_secs, .tv_usec = 0 };

	if (c->read_ev != NULL)
		event_add(c->read_ev, imap_client_busy(c) ? &tv : NULL);
	else
		bufferevent_enable(c->bev, EV_READ);
}

void imap_client_read_off(struct imap_client *c)
{
	if (c->read_ev != NULL)
		event_del(c->read_ev);
	else
		bufferevent_disable(c->bev, EV_READ);
}

void imap_client_update_timeout(struct imap_client *c)
{
	struct timeval tv = { .tv_sec = c->timeout_secs, .tv_usec = 0 };
	bool busy = imap_client_busy(c);

	if (c->bev != NULL)
		bufferevent_set_timeouts(c->bev, busy ? &tv : NULL, busy ? &tv : NULL);
	/* As libevent adjusts a bufferevent's: event_add() without a time
	   would leave the old one running. */
	if (c->read_ev != NULL && event_pending(c->read_ev, EV_READ, NULL)) {
		if (busy)
			event_add(c->read_ev, &tv);
		else
			event_remove_timer(c->read_ev);
	}
}

void imap_command_free(struct imap_command *cmd)
{
	if (cmd->sensitive && cmd->text.buf != NULL)
		explicit_bzero(cmd->text.buf, cmd->text.cap);
	imap_cmd_text_clear(&cmd->text);
	free(cmd);
}

void imap_command_finish(struct imap_client *c, struct imap_command *cmd,
				const struct imap_reply *reply)
{
	if (c->literal_cmd == cmd)
		c->literal_cmd = NULL;
	if (c->line_cmd == cmd)
		c->line_cmd = NULL;
	if (c->state != IMAP_CLIENT_CLOSED && cmd->h->done != NULL)
		cmd->h->done(cmd->ctx, reply);
	imap_command_free(cmd);
}

/* Why it failed ("out of memory" when that could not be kept). */
static const char *imap_client_failure(const struct imap_client *c)
{
	return c->fail_reason != NULL ? c->fail_reason : "out of memory";
}

/* Fails every pending command and the connect callback; the connection is
   unusable afterwards. Callbacks may close the client meanwhile. */
static void imap_client_fail_all(struct imap_client *c)
{
	struct imap_reply reply = {
		.result = IMAP_REPLY_FAILED, .text = imap_client_failure(c),
	};
	struct imap_command_list pending;
	struct imap_command *cmd;

	TAILQ_INIT(&pending);
	TAILQ_CONCAT(&pending, &c->waiting, link);
	TAILQ_CONCAT(&pending, &c->queue, link);
	c->sending = NULL;
	c->literal_cmd = NULL;
	c->line_cmd = NULL;

	if (c->connect_cb != NULL) {
		imap_connect_cb *cb = c->connect_cb;

		c->connect_cb = NULL;
		if (c->state != IMAP_CLIENT_CLOSED)
			cb(c->connect_ctx, false, imap_client_failure(c));
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

void imap_client_fail(struct imap_client *c, const char *fmt, ...)
{
	va_list args;

	if (c->state >= IMAP_CLIENT_FAILED)
		return;
	free(c->fail_reason);
	va_start(args, fmt);
	if (vasprintf(&c->fail_reason, fmt, args) < 0)
		c->fail_reason = NULL;
	va_end(args);
	log_warn("%s event=upstream_error upstream=%s:%u while=\"%s\" error=\"%s\"",
		 c->log_id, c->host, c->port, c->doing, imap_client_failure(c));
	imap_client_set_state(c, IMAP_CLIENT_FAILED);
	imap_client_stop_io(c);
	event_active(c->deferred, EV_TIMEOUT, 0);
}

void imap_client_send(struct imap_client *c, const void *data, size_t len)
{
	if (c->heard)
		c->round_trips++;
	c->heard = false;
	bufferevent_write(c->bev, data, len);
}

void imap_client_write_part(struct imap_client *c, struct imap_command *cmd)
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
	imap_client_send(c, cmd->text.buf + start, end - start);
	cmd->parts_sent++;
}

void imap_client_flush(struct imap_client *c)
{
	struct imap_command *cmd;

	if (c->state != IMAP_CLIENT_READY && c->state != IMAP_CLIENT_PREPARING)
		return;
	while (c->sending == NULL && (cmd = TAILQ_FIRST(&c->queue)) != NULL) {
		/* Before READY only the set-up (STARTTLS, CAPABILITY): the
		   owner's commands must not go out in plaintext before TLS. */
		if (c->state == IMAP_CLIENT_PREPARING && !cmd->setup)
			break;
		TAILQ_REMOVE(&c->queue, cmd, link);
		TAILQ_INSERT_TAIL(&c->waiting, cmd, link);
		imap_client_write_part(c, cmd);
		if (cmd->parts_sent < cmd->text.nparts)
			c->sending = cmd;
	}
	imap_client_update_timeout(c);
}

struct imap_command *imap_client_new_command(struct imap_client *c,
					     const struct imap_cmd_handlers *h, void *ctx)
{
	struct imap_command *cmd = calloc(1, sizeof(*cmd));

	if (cmd == NULL)
		return NULL;
	snprintf(cmd->tag, sizeof(cmd->tag), "p%u", ++c->tag_counter);
	cmd->h = h;
	cmd->ctx = ctx;
	return cmd;
}

void imap_client_enqueue(struct imap_client *c, struct imap_command *cmd, bool front)
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

struct imap_cmd_opts imap_client_opts(const struct imap_client *c)
{
	struct imap_cmd_opts opts = {
		.literal_plus = (c->caps & IMAP_CAP_LITERALPLUS) != 0,
		.literal_minus = (c->caps & IMAP_CAP_LITERALMINUS) != 0,
		.utf8 = c->utf8_enabled,
	};

	return opts;
}

int imap_client_vqueue(struct imap_client *c, const struct imap_cmd_handlers *h,
		       void *ctx, bool front, const char *fmt, va_list args)
{
	struct imap_command *cmd = imap_client_new_command(c, h, ctx);
	struct imap_cmd_opts opts = imap_client_opts(c);
	const char *error = "out of memory";

	if (cmd == NULL ||
	    imap_cmd_vformat(&cmd->text, cmd->tag, &opts, &error, fmt, args) < 0) {
		log_error("%s event=bug building IMAP command \"%s\": %s", c->log_id, fmt, error);
		if (cmd != NULL)
			imap_command_free(cmd);
		return -1;
	}
	cmd->setup = front;
	imap_client_enqueue(c, cmd, front);
	return 0;
}

int imap_client_queue_own(struct imap_client *c, const struct imap_cmd_handlers *h,
			  bool front, const char *fmt, ...)
{
	va_list args;
	int ret;

	va_start(args, fmt);
	ret = imap_client_vqueue(c, h, c, front, fmt, args);
	va_end(args);
	return ret;
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
	c->caps_memo = set->caps_memo;
	c->log_id = strdup(set->log_id != NULL ? set->log_id : "");
	c->id.client_port = set->client_port;
	c->id.local_port = set->local_port;
	c->parser = imap_parser_new(IMAP_CLIENT_MAX_LINE);
	c->deferred = event_new(base, -1, 0, imap_client_deferred_cb, c);
	c->doing = "not connected";
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->waiting);
	if (c->host == NULL || c->log_id == NULL || c->parser == NULL ||
	    c->deferred == NULL || sockout_init(&c->out, base) < 0 ||
	    imap_client_dup(&c->id.client_ip, set->client_ip) < 0 ||
	    imap_client_dup(&c->id.local_ip, set->local_ip) < 0 ||
	    imap_client_dup(&c->id.session_id, set->session_id) < 0 ||
	    imap_client_dup(&c->id.version, set->version) < 0)
		imap_client_free(&c);
	return c;
}

void imap_client_close(struct imap_client *c)
{
	if (c == NULL)
		return;
	imap_client_set_state(c, IMAP_CLIENT_CLOSED);
	c->connect_cb = NULL;
	imap_client_stop_io(c);
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
	sockout_free(&c->out);
	if (c->read_ev != NULL)
		event_free(c->read_ev);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->deferred != NULL)
		event_free(c->deferred);
	imap_parser_free(&c->parser);
	imap_listing_free(&c->listing);
	if (c->attached != NULL && c->attached_free != NULL)
		c->attached_free(c->attached);
	free(c->host);
	free(c->log_id);
	free(c->fail_reason);
	free(c->bye_reason);
	free(c->login_code);
	free(c->login_text);
	free(c->sasl_challenge);
	free((char *)c->id.client_ip);
	free((char *)c->id.local_ip);
	free((char *)c->id.session_id);
	free((char *)c->id.version);
	free(c);
}
