/* The read side of the IMAP connection: reading (libevent's reads during
   the set-up and on TLS, the own read event on a ready plain connection),
   the connection's events, and response dispatch: each line goes to the
   command it answers (tagged), to the one that claims it or the oldest
   (untagged), or to the opening (greeting); literals stream to the command
   that took them, within its room. The command queue and the writing live
   in imap_client.c. */

#include "imap_client_private.h"

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
#include <event2/event.h>

#include "imap_parse.h"
#include "limits_table.h"
#include "log.h"
#include "sockin.h"
#include "text.h"
#include "tls.h"

/* Upstream input is read in bounded amounts: with the consumer's own
   output limit this keeps a session's memory flat for any message size. */
#define IMAP_CLIENT_READ_HIGH (256 * 1024)
#define IMAP_CLIENT_MAX_READ (64 * 1024)
/* What one read callback adds on a plain connection (sockin_fill()):
   with the chain's header within 64 KiB (evbuffer rounds a chain up to a
   power of two), below malloc's mmap threshold, so the input's chains come
   from the heap and are reused; a large message costs a read per 64 KiB. */
#define IMAP_CLIENT_FILL (64 * 1024 - 256)

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
