/* The IMAP connection: its transport, the command queue and wait list,
   response dispatch and literal streaming. The set-up (connect, greeting,
   STARTTLS, capabilities) lives in imap_client_open.c, reached through
   c->opening.
   The login lives in imap_login.c; operations built on commands in
   imap_mailbox.c, imap_body.c, imap_fp.c and imap_remove.c. */

#include "imap_client_private.h"

#include <errno.h>
#include <stdarg.h>
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

#include "imap_listing.h"
#include "imap_parse.h"
#include "limits_table.h"
#include "log.h"
#include "sockin.h"
#include "text.h"
#include "tls.h"

/* Longest response line we accept (literal contents excluded). */
#define IMAP_CLIENT_MAX_LINE 65536
/* Upstream input is read in bounded amounts: with the consumer's own
   output limit this keeps a session's memory flat for any message size. */
#define IMAP_CLIENT_READ_HIGH (256 * 1024)
#define IMAP_CLIENT_MAX_READ (64 * 1024)
/* What one read callback adds on a plain connection (sockin_fill()):
   with the chain's header within 64 KiB (evbuffer rounds a chain up to a
   power of two), below malloc's mmap threshold, so the input's chains come
   from the heap and are reused; a large message costs a read per 64 KiB. */
#define IMAP_CLIENT_FILL (64 * 1024 - 256)

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

void imap_client_setup_bev(struct imap_client *c);

void imap_client_set_state(struct imap_client *c,
				  enum imap_client_state state)
{
	if (c->state == state)
		return;
	log_debug("%s imap_state=%s->%s", c->log_id,
		  imap_client_state_names[c->state], imap_client_state_names[state]);
	c->state = state;
}

/* No more reading or writing on this connection. */
static void imap_client_stop_io(struct imap_client *c)
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
static void imap_client_read_on(struct imap_client *c)
{
	struct timeval tv = { .tv_sec = c->timeout_secs, .tv_usec = 0 };

	if (c->read_ev != NULL)
		event_add(c->read_ev, imap_client_busy(c) ? &tv : NULL);
	else
		bufferevent_enable(c->bev, EV_READ);
}

static void imap_client_read_off(struct imap_client *c)
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

static void imap_command_finish(struct imap_client *c, struct imap_command *cmd,
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

/* The connection may end now without that being a failure: LOGOUT is the
   oldest command still waiting (everything before it was answered), or
   it was answered itself. */
static bool imap_client_logout_due(const struct imap_client *c)
{
	const struct imap_command *cmd = TAILQ_FIRST(&c->waiting);

	if (!c->logging_out)
		return false;
	return cmd != NULL ? cmd->logout : TAILQ_EMPTY(&c->queue);
}

/* ---- responses ---- */

/* Capabilities, wherever they come: an untagged CAPABILITY response, or a
   [CAPABILITY ...] code of the greeting, an untagged OK or a tagged OK. */
static void imap_client_take_caps(struct imap_client *c, const struct imap_resp *resp)
{
	const char *args;
	size_t len;

	if (resp->kind == IMAP_RESP_UNTAGGED && resp->status == IMAP_STATUS_NONE &&
	    imap_resp_keyword_is(resp, "CAPABILITY")) {
		args = resp->rest;
		len = resp->rest_len;
	} else if ((resp->status == IMAP_STATUS_OK || resp->status == IMAP_STATUS_PREAUTH) &&
		   resp->code != NULL && imap_code_is(resp, "CAPABILITY", &args, &len)) {
		/* args as found */
	} else {
		return;
	}
	c->caps = imap_caps_parse(args, len);
	c->caps_sig = limits_siphash24(0, 0, args, len);
	c->caps_known = true;
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
	/* The server's words go into logs and POP3 replies: made safe. */
	text_escape_quoted(resp->text != NULL ? resp->text : "", resp->text_len, text,
			   sizeof(text));
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

/* A "+" while no command is being sent: the error challenge of an OAuth2
   login (a command with sasl_abort, all of it sent) is answered once and
   kept for imap_client_sasl_challenge(); false when no such command
   waits (a protocol violation). */
static bool imap_client_sasl_continuation(struct imap_client *c, const struct imap_resp *resp)
{
	struct imap_command *cmd;
	int len;

	TAILQ_FOREACH(cmd, &c->waiting, link) {
		if (cmd->sasl_abort != NULL && !cmd->sasl_aborted &&
		    cmd->parts_sent == cmd->text.nparts)
			break;
	}
	if (cmd == NULL)
		return false;
	cmd->sasl_aborted = true;
	if (c->sasl_challenge == NULL)
		c->sasl_challenge = malloc(IMAP_SASL_CHALLENGE_MAX);
	len = c->sasl_challenge == NULL ? -1 :
		tls_base64_decode(resp->text != NULL ? resp->text : "", resp->text_len,
				  c->sasl_challenge, IMAP_SASL_CHALLENGE_MAX - 1);
	if (c->sasl_challenge != NULL) {
		c->sasl_challenge[len > 0 ? len : 0] = '\0';
		/* No NUL inside: the caller reads it as a string. */
		if (len > 0 && memchr(c->sasl_challenge, '\0', (size_t)len) != NULL)
			c->sasl_challenge[0] = '\0';
	}
	log_debug("%s event=upstream_sasl_challenge length=%d", c->log_id, len);
	imap_client_send(c, cmd->sasl_abort, strlen(cmd->sasl_abort));
	return true;
}

/* The oldest waiting command that claims resp, else the oldest one. */
static struct imap_command *imap_client_untagged_owner(struct imap_client *c,
							const struct imap_resp *resp)
{
	struct imap_command *first = TAILQ_FIRST(&c->waiting), *cmd;

	if (first == NULL || TAILQ_NEXT(first, link) == NULL)
		return first;
	TAILQ_FOREACH(cmd, &c->waiting, link) {
		if (cmd->h->claims != NULL && cmd->h->claims(cmd->ctx, resp))
			return cmd;
	}
	return first;
}

static void imap_client_line(struct imap_client *c, const char *line, size_t len)
{
	struct imap_resp resp;
	struct imap_command *cmd, *taker = c->line_cmd;
	const char *error;

	c->line_cmd = NULL;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("%s imap_in=\"%.*s\"", c->log_id, (int)(len > 300 ? 300 : len), line);
	if (imap_resp_parse(line, len, &resp, &error) < 0) {
		char esc[128];

		imap_client_fail(c, "bad response (%s): %s", error,
				 text_escape_quoted(line, len > 100 ? 100 : len, esc, sizeof(esc)));
		return;
	}
	imap_client_take_caps(c, &resp);
	if (c->state == IMAP_CLIENT_GREETING) {
		c->opening->greeting(c, &resp);
		return;
	}
	switch (resp.kind) {
	case IMAP_RESP_CONTINUATION:
		if (c->sending == NULL) {
			if (!imap_client_sasl_continuation(c, &resp))
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
		char esc[180];

		/* The connection ends next; keep the server's reason. */
		c->bye_throttle = imap_throttle_of(resp.code, resp.code_len, resp.text,
						   resp.text_len);
		free(c->bye_reason);
		if (asprintf(&c->bye_reason, "upstream said BYE: %s",
			     text_escape_quoted(resp.text != NULL ? resp.text : "",
						resp.text_len, esc, sizeof(esc))) < 0)
			c->bye_reason = NULL;
		return;
	}
	/* A response whose literal a later command took (it answers that
	   one: RFC 3501 5.5) is that command's; any other, the oldest
	   claimer's, else the oldest's (imap_client.h). */
	cmd = taker != NULL ? taker : imap_client_untagged_owner(c, &resp);
	if (cmd != NULL && cmd->h->untagged != NULL)
		cmd->h->untagged(cmd->ctx, &resp);
}

static void imap_client_literal_begin(struct imap_client *c,
				      const struct imap_parse_event *ev)
{
	struct imap_command *cmd;

	/* Offered to each waiting command, oldest first, until one takes
	   it: with commands pipelined, a server may answer a later one
	   before it ends an earlier one (RFC 3501 5.5), and each command
	   takes only the items it asked for. */
	c->literal_cmd = NULL;
	TAILQ_FOREACH(cmd, &c->waiting, link) {
		if (cmd->h->literal_begin != NULL &&
		    cmd->h->literal_begin(cmd->ctx, ev->line, ev->line_len, ev->literal_size)) {
			c->literal_cmd = cmd;
			c->line_cmd = cmd;
			return;
		}
	}
}

/* An untagged response line ("* ..."): its handler never hands the
   stream over (only a tagged STARTTLS reply does), so the octets before
   it may stay in the input until the chunk is done. */
static bool imap_line_is_untagged(const struct imap_parse_event *ev)
{
	return ev->line_len >= 2 && ev->line[0] == '*' && ev->line[1] == ' ';
}

/* Reads and dispatches what has arrived, until input runs out, the
   consumer of a literal has no room, or the client stops. */
static void imap_client_input(struct imap_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	/* Octets of the peeked chunk consumed but not yet drained: one drain
	   per chunk instead of one per listing line (each drain runs the
	   read watermark's callback). */
	size_t held = 0;
	struct evbuffer_iovec v = { NULL, 0 };

	while (c->state > IMAP_CLIENT_CONNECTING && c->state < IMAP_CLIENT_FAILED) {
		struct imap_parse_event ev;
		enum imap_parse_result res;
		size_t len, consumed;

		if (held == 0 && (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0))
			break;
		if (held == v.iov_len) {
			evbuffer_drain(in, held);
			held = 0;
			continue;
		}
		len = v.iov_len - held;
		if (c->literal_cmd != NULL && c->literal_cmd->h->literal_room != NULL &&
		    imap_parser_literal_left(c->parser) > 0) {
			size_t room = c->literal_cmd->h->literal_room(c->literal_cmd->ctx);

			if (room == 0) {
				evbuffer_drain(in, held);
				c->paused = true;
				imap_client_read_off(c);
				return;
			}
			if (len > room)
				len = room;
		}
		res = imap_parser_feed(c->parser, (const unsigned char *)v.iov_base + held, len,
				       &consumed, &ev);
		if (res == IMAP_PARSE_LINE && imap_line_is_untagged(&ev)) {
			held += consumed;
			imap_client_line(c, ev.line, ev.line_len);
			if (c->state == IMAP_CLIENT_CLOSED)
				return;
			continue;
		}
		/* Only literal data points into the input; everything else is
		   drained before its handler runs, which may hand the stream
		   over (STARTTLS) or close. */
		if (res != IMAP_PARSE_LITERAL_DATA) {
			evbuffer_drain(in, held + consumed);
		} else if (held > 0) {
			/* A partial drain moves no octet: ev.data stays valid. */
			evbuffer_drain(in, held);
		}
		held = 0;
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
	if (held > 0 && c->state != IMAP_CLIENT_CLOSED)
		evbuffer_drain(in, held);
}

/* Room left in the input for one more read, within IMAP_CLIENT_FILL. */
static size_t imap_client_fill_room(const struct imap_client *c)
{
	size_t len = evbuffer_get_length(bufferevent_get_input(c->bev));
	size_t want = len < IMAP_CLIENT_READ_HIGH ? IMAP_CLIENT_READ_HIGH - len : 0;

	return want < IMAP_CLIENT_FILL ? want : IMAP_CLIENT_FILL;
}

static void imap_client_event_cb(struct bufferevent *bev, short what, void *arg);

/* An implicit TLS connection reads ahead (tls.h): what OpenSSL holds is
   taken until it holds nothing, or the consumer has no room; the end of
   the stream met on the way is reported once the octets before it were
   taken. */
static void imap_client_input_tls(struct imap_client *c)
{
	size_t got;
	short end;

	do {
		got = tls_fill(c->bev, imap_client_fill_room(c), &end);
		if (end != 0 && c->tls_end == 0)
			c->tls_end = end;
		imap_client_input(c);
	} while (got > 0 && !c->paused && c->state > IMAP_CLIENT_CONNECTING &&
		 c->state < IMAP_CLIENT_FAILED);
	if (c->tls_end != 0 && !c->paused && c->state < IMAP_CLIENT_FAILED &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		end = c->tls_end;
		c->tls_end = 0;
		imap_client_event_cb(c->bev, end | BEV_EVENT_READING, c);
	}
}

/* The own read event (c->read_ev): one readv of what has arrived, then
   the end of the stream or an error once what came before it has been
   taken, as libevent would tell them. */
static void imap_client_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_client *c = arg;
	bool eof = false;

	if ((what & EV_TIMEOUT) != 0) {
		imap_client_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, c);
		return;
	}
	c->heard = true;
	if (sockin_read(c->bev, imap_client_fill_room(c), &eof) < 0) {
		if (c->read_errno == 0)
			c->read_errno = errno;
		eof = true;
	}
	imap_client_input(c);
	if (eof && c->state > IMAP_CLIENT_CONNECTING && c->state < IMAP_CLIENT_FAILED) {
		event_del(c->read_ev);
		imap_client_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
	}
}

/* From the next readiness on, a ready plain connection is read by its own
   event: libevent's read of 4 KiB at most, each after a FIONREAD ioctl,
   goes. Without the event, libevent goes on reading. */
static void imap_client_own_read(struct imap_client *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (c->read_ev != NULL || fd < 0 ||
	    (c->read_ev = event_new(c->base, fd, EV_READ | EV_PERSIST,
				    imap_client_sock_read_cb, c)) == NULL)
		return;
	bufferevent_disable(c->bev, EV_READ);
	if (!c->paused)
		imap_client_read_on(c);
}

static void imap_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct imap_client *c = arg;

	c->heard = true;
	if (c->tls_active) {
		imap_client_input_tls(c);
		return;
	}
	/* libevent has read 4 KiB at most: on a plain connection more of
	   what has arrived comes in one more read, and once it is ready its
	   own read event takes over (set-up and STARTTLS keep libevent's
	   own reads). An error is told when the next read meets the end,
	   after what came before it has been taken. */
	if (!c->tls_active && c->state == IMAP_CLIENT_READY) {
		if (sockin_fill(bev, imap_client_fill_room(c)) < 0 && c->read_errno == 0)
			c->read_errno = errno;
		imap_client_own_read(c);
	}
	imap_client_input(c);
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
		/* Commands go out from the loop without asking for write
		   interest (two epoll_ctl each otherwise), with SSL_write
		   once TLS is up. */
		(void)sockout_attach(&c->out, c->bev, NULL, NULL);
		if (c->state == IMAP_CLIENT_CONNECTING) {
			if (c->tls_active && c->caps_known == false &&
			    c->tls == IMAP_TLS_STARTTLS) {
				/* STARTTLS handshake done: no new greeting */
				c->opening->tls_up(c);
			} else {
				imap_client_set_state(c, IMAP_CLIENT_GREETING);
				c->doing = "waiting for the greeting";
			}
			imap_client_update_timeout(c);
			/* The greeting may have been read ahead with the end
			   of the handshake. */
			if (c->tls == IMAP_TLS_IMAPS && c->state == IMAP_CLIENT_GREETING)
				imap_client_input_tls(c);
		}
		return;
	}
	if (c->state >= IMAP_CLIENT_FAILED)
		return;
	if ((what & BEV_EVENT_TIMEOUT) != 0) {
		imap_client_fail(c, "timed out after %us", c->timeout_secs);
	} else if (imap_client_logout_due(c)) {
		/* The end we asked for: not worth a warning, also when a TLS
		   server closes without close_notify (GnuTLS). */
		imap_client_set_state(c, IMAP_CLIENT_FAILED);
		free(c->fail_reason);
		c->fail_reason = strdup("logged out");
		imap_client_stop_io(c);
		event_active(c->deferred, EV_TIMEOUT, 0);
	} else if ((what & BEV_EVENT_EOF) != 0) {
		if (c->read_errno != 0) {
			imap_client_fail(c, "%s", evutil_socket_error_to_string(c->read_errno));
		} else if (c->bye_reason != NULL) {
			imap_client_fail(c, "%s", c->bye_reason);
		} else {
			imap_client_fail(c, "connection closed by upstream");
		}
	} else if (c->tls_active && bufferevent_socket_get_dns_error(bev) == 0) {
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

void imap_client_setup_bev(struct imap_client *c)
{
	if (c->read_ev != NULL)
		event_free(c->read_ev);
	c->read_ev = NULL;
	bufferevent_setcb(c->bev, imap_client_read_cb, NULL, imap_client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, IMAP_CLIENT_READ_HIGH);
	/* An OpenSSL bufferevent reads 16 KiB at a time by default: too many
	   syscalls for streaming large messages. (A socket one reads 4 KiB
	   whatever this says: sockin_fill() in the read callback.) */
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

void imap_client_resume(struct imap_client *c)
{
	if (!c->paused || c->state >= IMAP_CLIENT_FAILED)
		return;
	c->paused = false;
	imap_client_read_on(c);
	if (c->tls_active)
		imap_client_input_tls(c);
	else
		imap_client_input(c);
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
