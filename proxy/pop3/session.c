/* The POP3 client connection; contracts in session.h. */

#include "session.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "device.h"
#include "folders.h"
#include "imap_client.h"
#include "imap_cmd.h"
#include "limits_table.h"
#include "log.h"
#include "maildrop.h"
#include "metrics.h"
#include "settings.h"
#include "sockin.h"
#include "text.h"
#include "tls.h"
#include "warm.h"

/* Octets sent are added to the metrics in batches of this size. */
#define POP3_METRICS_BATCH (1024 * 1024)

static const char *const pop3_state_names[] = {
	[POP3_STATE_AUTHORIZATION] = "AUTHORIZATION",
	[POP3_STATE_TRANSACTION] = "TRANSACTION",
	[POP3_STATE_UPDATE] = "UPDATE",
	[POP3_STATE_CLOSED] = "CLOSED",
};
_Static_assert(sizeof(pop3_state_names) / sizeof(pop3_state_names[0]) ==
	       POP3_STATE_COUNT, "state names must match enum pop3_state");

static void pop3_session_input(struct pop3_session *s);
static void pop3_session_setup_bev(struct pop3_session *s);

static void pop3_session_idle_reset(struct pop3_session *s)
{
	struct timeval idle = { .tv_sec = s->conf->idle_timeout_secs, .tv_usec = 0 };

	event_add(s->idle_timer, &idle);
}

static void pop3_session_unauth_done(struct pop3_session *s)
{
	if (s->unauth_counted) {
		s->unauth_counted = false;
		s->srv->unauthenticated--;
	}
}

void pop3_session_set_state(struct pop3_session *s, enum pop3_state state)
{
	if (s->state == state)
		return;
	log_debug("%s state=%s->%s", s->log_id, pop3_state_names[s->state],
		  pop3_state_names[state]);
	if (s->state == POP3_STATE_AUTHORIZATION) {
		pop3_session_unauth_done(s);
		event_del(s->login_timer);
	}
	s->state = state;
}

uint64_t pop3_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- output ---- */

struct evbuffer *pop3_output(struct pop3_session *s)
{
	return bufferevent_get_output(s->bev);
}

size_t pop3_output_len(struct pop3_session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

static void pop3_metrics_flush(struct pop3_session *s)
{
	metrics_bytes_out(s->route != NULL ? s->route->name : NULL,
			  s->bytes_out - s->bytes_counted);
	s->bytes_counted = s->bytes_out;
}

void pop3_count_out(struct pop3_session *s, size_t n)
{
	s->bytes_out += n;
	if (s->bytes_out - s->bytes_counted >= POP3_METRICS_BATCH)
		pop3_metrics_flush(s);
}

void pop3_write(struct pop3_session *s, const void *data, size_t len)
{
	if (s->state == POP3_STATE_CLOSED || s->client_gone)
		return;
	bufferevent_write(s->bev, data, len);
	pop3_count_out(s, len);
}

void pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	char line[512];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, args);
	va_end(args);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("%s pop3_out=\"%.*s\"", s->log_id, n, line);
	line[n++] = '\r';
	line[n++] = '\n';
	pop3_write(s, line, (size_t)n);
}

/* ---- the running command ---- */

static void pop3_cmd_free(struct pop3_session *s)
{
	const struct pop3_cmd_ops *ops = s->run;
	void *ctx = s->run_ctx;

	s->run = NULL;
	s->run_ctx = NULL;
	if (ops != NULL && ops->free != NULL)
		ops->free(s, ctx);
}

/* The next line's limit; a line read meanwhile keeps its own. */
static void pop3_session_line_max(struct pop3_session *s, size_t max)
{
	s->line_max = max;
	if (s->scanner != NULL)
		pop3_scanner_set_max(s->scanner, max);
}

/* The scanner goes when no line is part read (it may have held
   credentials). */
static void pop3_session_scanner_drop(struct pop3_session *s, bool always)
{
	struct pop3_scanner *sc = s->scanner;

	if (sc == NULL || (!always && !sc->complete && (sc->len > 0 || sc->saw_cr)))
		return;
	explicit_bzero(sc, sizeof(*sc));
	free(sc);
	s->scanner = NULL;
}

/* Reading on or off, for whoever reads the client: the own read event
   on a plain socket, libevent on TLS. */
static void pop3_session_reading(struct pop3_session *s, bool on)
{
	if (s->read_ev == NULL) {
		if (on)
			bufferevent_enable(s->bev, EV_READ);
		else
			bufferevent_disable(s->bev, EV_READ);
	} else if (on) {
		event_add(s->read_ev, NULL);
	} else {
		event_del(s->read_ev);
	}
}

static void pop3_session_own_read_free(struct pop3_session *s)
{
	if (s->read_ev != NULL)
		event_free(s->read_ev);
	s->read_ev = NULL;
}

void pop3_cmd_start(struct pop3_session *s, const struct pop3_cmd_ops *ops, void *ctx)
{
	/* Reading goes on (toggling it costs two epoll_ctl per command);
	   input is simply not processed, and the read high watermark
	   bounds what a pipelining client can queue meanwhile. */
	s->run = ops;
	s->run_ctx = ctx;
	if (ops->max_line != 0)
		pop3_session_line_max(s, ops->max_line);
}

void pop3_cmd_done(struct pop3_session *s)
{
	pop3_cmd_free(s);
	pop3_session_line_max(s, POP3_MAX_CMD_LINE);
	if (s->state == POP3_STATE_CLOSED || s->closing)
		return;
	s->doing = "waiting for a command";
	if (!s->client_eof)
		pop3_session_reading(s, true);
	/* The next pipelined command runs from the loop, never nested in
	   the callback that finished this one. */
	event_active(s->resume_ev, EV_TIMEOUT, 0);
}

void pop3_bad_command(struct pop3_session *s, const char *reply)
{
	s->bad_commands++;
	if (s->bad_commands >= s->conf->max_bad_commands) {
		pop3_reply(s, "-ERR %s (too many bad commands, closing)", reply);
		pop3_session_close_after_flush(s, "bad_commands");
		return;
	}
	pop3_reply(s, "-ERR %s", reply);
}

/* ---- the end ---- */

static void pop3_session_log_end(struct pop3_session *s)
{
	char upstream[300] = "-";
	struct timeval now;
	long long ms;

	gettimeofday(&now, NULL);
	ms = (long long)(now.tv_sec - s->started.tv_sec) * 1000 +
		(now.tv_usec - s->started.tv_usec) / 1000;
	pop3_metrics_flush(s);
	if (s->route != NULL)
		snprintf(upstream, sizeof(upstream), "%s:%u", s->route->host, s->route->port);
	log_info("%s event=session_end user=%s device=%s client=%s route=%s upstream=%s "
		 "state=%s client_tls=%s upstream_tls=%s retr=%u top=%u dele=%u "
		 "bytes_out=%llu duration_ms=%lld reason=%s",
		 s->log_id, s->user_log,
		 s->route != NULL && s->device[0] != '\0' ? s->device : "-", s->client_ip,
		 s->route != NULL ? s->route->name : "-", upstream,
		 pop3_state_names[s->state],
		 s->client_tls ? tls_version(s->bev) : "none",
		 s->upstream_tls, s->retr_count, s->top_count,
		 s->folders != NULL ? pop3_folders_marked(s->folders) : 0,
		 (unsigned long long)s->bytes_out, ms, s->end_reason);
}

static void pop3_server_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	malloc_trim(0);
}

/* One trim a second at most, however many sessions and logins end. */
void pop3_server_trim_soon(struct pop3_server *srv)
{
	struct timeval tv = { 1, 0 };

	if (srv->trim_ev == NULL &&
	    (srv->trim_ev = evtimer_new(srv->base, pop3_server_trim_cb, srv)) == NULL)
		return;
	if (!evtimer_pending(srv->trim_ev, NULL))
		evtimer_add(srv->trim_ev, &tv);
}

void pop3_server_cleanup(struct pop3_server *srv)
{
	if (srv->trim_ev != NULL)
		event_free(srv->trim_ev);
	srv->trim_ev = NULL;
}

static void pop3_session_free(struct pop3_session *s)
{
	struct pop3_server *srv = s->srv;

	LIST_REMOVE(s, link);
	s->srv->sessions--;
	metrics_session_closed();
	if (s->conn_counted)
		limits_conn_close(s->srv->limits, s->addr_key);
	pop3_session_unauth_done(s);
	pop3_session_unreserve(s, s->reserved);
	imap_client_free(&s->imap);
	imap_client_free(&s->retired);
	if (s->ahead_free != NULL)
		s->ahead_free(s);
	free(s->keep_key);
	explicit_bzero(s->keep_digest, sizeof(s->keep_digest));
	pop3_warm_free(&s->warm);
	pop3_folders_free(&s->folders);
	pop3_device_free(&s->dev);
	pop3_maildrop_free(&s->drop);
	pop3_session_set_user(s, NULL, 0);
	pop3_session_scanner_drop(s, true);
	event_free(s->timer);
	event_free(s->life_timer);
	event_free(s->idle_timer);
	event_free(s->login_timer);
	event_free(s->resume_ev);
	event_free(s->free_ev);
	pop3_session_own_read_free(s);
	sockout_free(&s->out);
	bufferevent_free(s->bev);
	settings_unref(&s->set);
	free(s);
	pop3_server_trim_soon(srv);
}

static void pop3_session_free_cb(evutil_socket_t fd, short what, void *arg)
{
	pop3_session_free(arg);
}

void pop3_session_close(struct pop3_session *s, const char *reason)
{
	if (s->state == POP3_STATE_CLOSED)
		return;
	s->end_reason = reason;
	pop3_session_log_end(s);
	pop3_session_set_state(s, POP3_STATE_CLOSED);
	pop3_cmd_free(s);
	/* What this session holds in the state store: the lock goes (the
	   unlock only deletes our own token). */
	if (s->dev != NULL)
		pop3_device_release(s->dev);
	for (unsigned int i = 1; s->folders != NULL && i < s->folders->n; i++) {
		if (s->folders->f[i].dev != NULL)
			pop3_device_release(s->folders->f[i].dev);
	}
	imap_client_close(s->imap);
	sockout_detach(&s->out);
	pop3_session_reading(s, false);
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	event_del(s->timer);
	event_del(s->life_timer);
	event_del(s->idle_timer);
	event_del(s->login_timer);
	event_del(s->resume_ev);
	/* Freed from the loop, never inside one of its own callbacks. */
	event_active(s->free_ev, EV_TIMEOUT, 0);
}

/* Everything queued has been written: end TLS properly, then close. */
static void pop3_session_close_flushed(struct pop3_session *s)
{
	if (s->client_tls)
		tls_close_notify(s->bev);
	pop3_session_close(s, s->end_reason);
}

void pop3_session_close_after_flush(struct pop3_session *s, const char *reason)
{
	if (s->state == POP3_STATE_CLOSED)
		return;
	s->end_reason = reason;
	if (s->client_gone) {
		pop3_session_close(s, "client_gone_during_update");
		return;
	}
	s->closing = true;
	pop3_session_reading(s, false);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (pop3_output_len(s) == 0)
		pop3_session_close_flushed(s);
}

void pop3_session_retire_imap(struct pop3_session *s, struct imap_client **c)
{
	if (*c == NULL)
		return;
	imap_client_close(*c);
	/* An older retired one has no callback running any more. */
	imap_client_free(&s->retired);
	s->retired = *c;
	*c = NULL;
	event_active(s->resume_ev, EV_TIMEOUT, 0);
}

/* ---- input ---- */

static void pop3_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	/* None of its callbacks is running now. */
	imap_client_free(&s->retired);
	if (s->state != POP3_STATE_CLOSED)
		pop3_session_input(s);
}

static void pop3_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;
	void (*cb)(struct pop3_session *) = s->timer_cb;

	s->timer_cb = NULL;
	if (cb != NULL && s->state != POP3_STATE_CLOSED)
		cb(s);
}

void pop3_session_set_timer(struct pop3_session *s, unsigned int msecs,
			    void (*cb)(struct pop3_session *s))
{
	struct timeval tv = { .tv_sec = msecs / 1000, .tv_usec = (msecs % 1000) * 1000 };

	s->timer_cb = cb;
	event_add(s->timer, &tv);
}

/* Reads complete command lines and hands them on, one at a time: while a
   command runs, the rest waits in the input (unless the command itself
   takes lines). */
static void pop3_session_lines(struct pop3_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (s->state != POP3_STATE_CLOSED && !s->closing &&
	       (s->run == NULL || s->run->line != NULL)) {
		struct evbuffer_iovec v;
		enum pop3_parse_status st;
		const char *error;
		size_t consumed;

		/* A client that pipelines without reading gets no more
		   replies queued than the output limit. */
		if (pop3_output_len(s) > POP3_OUT_HIGH) {
			pop3_session_reading(s, false);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
			/* Half-closed client: every complete command it sent
			   has been answered; an unterminated rest is dropped. */
			if (s->client_eof)
				pop3_session_close_after_flush(s, "disconnect");
			return;
		}
		if (s->scanner == NULL) {
			s->scanner = malloc(sizeof(*s->scanner));
			if (s->scanner == NULL) {
				pop3_session_close(s, "out_of_memory");
				return;
			}
			pop3_scanner_init(s->scanner, s->line_max);
		}
		st = pop3_scanner_feed(s->scanner, v.iov_base, v.iov_len, &consumed, &error);
		evbuffer_drain(in, consumed);
		if (st == POP3_PARSE_NEED_MORE)
			continue;
		if (st == POP3_PARSE_ERROR) {
			pop3_reply(s, "-ERR %s", error);
			pop3_session_close_after_flush(s, "bad_input");
			return;
		}
		/* Only a complete line is activity: trickling bytes keeps
		   no slot. */
		pop3_session_idle_reset(s);
		if (s->run != NULL)
			s->run->line(s, s->run_ctx, s->scanner->buf, s->scanner->len);
		else
			s->hooks->line(s, s->scanner->buf, s->scanner->len);
		/* It may have held credentials. */
		if (s->scanner != NULL)
			explicit_bzero(s->scanner->buf, s->scanner->len);
	}
}

static void pop3_session_input(struct pop3_session *s)
{
	pop3_session_lines(s);
	pop3_session_scanner_drop(s, false);
}

static void pop3_read_cb(struct bufferevent *bev, void *arg)
{
	struct pop3_session *s = arg;

	if (s->state != POP3_STATE_CLOSED)
		pop3_session_input(s);
}

static void pop3_write_cb(struct bufferevent *bev, void *arg)
{
	struct pop3_session *s = arg;

	if (s->state == POP3_STATE_CLOSED)
		return;
	if (s->closing) {
		if (pop3_output_len(s) == 0)
			pop3_session_close_flushed(s);
		return;
	}
	if (s->run != NULL) {
		if (s->run->drained != NULL)
			s->run->drained(s, s->run_ctx);
		return;
	}
	/* Reading may have stopped because replies piled up. */
	if (!s->client_eof)
		pop3_session_reading(s, true);
	pop3_session_input(s);
}

static void pop3_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pop3_session *s = arg;

	if (s->state == POP3_STATE_CLOSED)
		return;
	if ((what & BEV_EVENT_CONNECTED) != 0) {
		/* TLS handshake with the client done: replies go out with
		   SSL_write from the loop from now on, as on a plain socket. */
		log_debug("%s event=client_tls version=%s", s->log_id, tls_version(s->bev));
		(void)sockout_attach(&s->out, s->bev, pop3_write_cb, s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) != 0) {
		/* Only writing has a bufferevent timeout (the idle timer
		   watches reading): the client takes nothing of its output. */
		pop3_session_close(s, "write_timeout");
		return;
	}
	if ((what & BEV_EVENT_EOF) != 0 && (what & BEV_EVENT_READING) != 0) {
		/* The client may only have shut down its sending side
		   (printf | nc -N): the commands it sent still get answers. */
		s->client_eof = true;
		if (s->run == NULL || s->run->line != NULL)
			pop3_session_input(s);
		return;
	}
	if (s->closing) {
		/* The last reply could not be delivered: nothing else to do. */
		pop3_session_close(s, s->end_reason);
		return;
	}
	if (s->state == POP3_STATE_UPDATE && s->run != NULL) {
		/* QUIT was accepted: what it applies (Redis, upstream moves)
		   runs to its end rather than stopping half way; there is just
		   nobody left to tell. */
		s->client_gone = true;
		sockout_detach(&s->out);
		pop3_session_reading(s, false);
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		log_info("%s event=client_gone_during_update", s->log_id);
		return;
	}
	if (s->client_tls && (what & BEV_EVENT_ERROR) != 0) {
		char reason[256];

		log_info("%s event=client_tls_error client=%s error=\"%s\"", s->log_id,
			 s->client_ip, tls_error_reason(s->bev, reason, sizeof(reason)));
		pop3_session_close(s, "client_tls_error");
		return;
	}
	pop3_session_close(s, (what & BEV_EVENT_EOF) != 0 ? "disconnect" : "client_error");
}

/* The own read event: one readv of what has arrived, up to what the
   input may hold (libevent reads 4 KiB at most, each after a FIONREAD
   ioctl: a system call per command). The end of the stream and an error
   are told as libevent tells them, after what came before them. A full
   input stops reading until a command takes from it (pop3_cmd_done()
   and the write callback turn reading on again). */
static void pop3_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;
	size_t held = evbuffer_get_length(bufferevent_get_input(s->bev));
	bool eof = false;
	ssize_t got;

	if (s->state == POP3_STATE_CLOSED)
		return;
	if (held >= POP3_IN_HIGH) {
		event_del(s->read_ev);
		return;
	}
	got = sockin_read(s->bev, POP3_IN_HIGH - held, &eof);
	if (got < 0 || eof) {
		event_del(s->read_ev);
		pop3_event_cb(s->bev, BEV_EVENT_READING |
			      (got < 0 ? BEV_EVENT_ERROR : BEV_EVENT_EOF), s);
		return;
	}
	if (got > 0)
		pop3_read_cb(s->bev, s);
}

/* On a plain socket the own read event reads, from now on; without it
   (no socket, out of memory) libevent goes on reading. */
static void pop3_session_own_read(struct pop3_session *s)
{
	evutil_socket_t fd = bufferevent_getfd(s->bev);

	if (s->read_ev != NULL || fd < 0 ||
	    (s->read_ev = event_new(bufferevent_get_base(s->bev), fd, EV_READ | EV_PERSIST,
				    pop3_sock_read_cb, s)) == NULL)
		return;
	bufferevent_disable(s->bev, EV_READ);
	if (!s->client_eof && !s->closing)
		event_add(s->read_ev, NULL);
}

static void pop3_session_setup_bev(struct pop3_session *s)
{
	struct timeval idle = { .tv_sec = s->conf->idle_timeout_secs, .tv_usec = 0 };

	bufferevent_setcb(s->bev, pop3_read_cb, pop3_write_cb, pop3_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, POP3_OUT_LOW, 0);
	bufferevent_setwatermark(s->bev, EV_READ, 0, POP3_IN_HIGH);
	bufferevent_set_max_single_write(s->bev, POP3_OUT_LOW);
	bufferevent_set_timeouts(s->bev, NULL, &idle);
	/* Replies on a plain socket go out from the loop without asking
	   for write interest (two epoll_ctl each otherwise). */
	if (!s->client_tls && sockout_attach(&s->out, s->bev, pop3_write_cb, s) == 0) {
		bufferevent_enable(s->bev, EV_READ);
		pop3_session_own_read(s);
		return;
	}
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- STLS ---- */

static void pop3_stls_switch(struct pop3_session *s)
{
	struct bufferevent *under = s->bev, *tls;
	struct evbuffer *in = bufferevent_get_input(under);
	int fd;

	/* Whatever the client pipelined after STLS was sent in plaintext:
	   it must not run as if it had come over TLS (RFC 2595 and the
	   STARTTLS command-injection class of bugs). */
	evbuffer_drain(in, evbuffer_get_length(in));
	pop3_session_scanner_drop(s, true);
	s->line_max = POP3_MAX_CMD_LINE;
	/* RFC 2595 4: nothing learnt before TLS carries over (a USER sent
	   in plaintext must be sent again). */
	pop3_session_set_user(s, NULL, 0);
	/* A TLS socket bufferevent on the same descriptor, not a filter
	   over the plain one (a filter hands its output on at once, so
	   "output empty" would no longer mean "sent" when closing), nor on a
	   copy of it (the base's epoll changelist must never watch two
	   numbers of one socket: sockout.h). The plain one lets go of it. */
	fd = bufferevent_getfd(under);
	tls = fd >= 0 ? tls_server_bufferevent(s->srv->base, fd, s->set->client_tls) : NULL;
	if (tls == NULL) {
		pop3_session_close(s, "stls_failed");
		return;
	}
	sockout_detach(&s->out);
	pop3_session_own_read_free(s);
	bufferevent_setfd(under, -1);
	bufferevent_free(under);
	s->bev = tls;
	s->client_tls = true;
	pop3_session_setup_bev(s);
	pop3_cmd_done(s);
}

static void pop3_stls_drained(struct pop3_session *s, void *ctx)
{
	if (pop3_output_len(s) == 0)
		pop3_stls_switch(s);
}

static const struct pop3_cmd_ops pop3_stls_ops = {
	.drained = pop3_stls_drained,
};

void pop3_session_stls(struct pop3_session *s)
{
	pop3_cmd_start(s, &pop3_stls_ops, NULL);
	/* The write callback then runs only when the +OK is all out. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}

/* ---- who ---- */

int pop3_session_set_user(struct pop3_session *s, const char *user, size_t len)
{
	free(s->user);
	s->user = NULL;
	s->user_len = 0;
	strcpy(s->user_log, "-");
	if (user == NULL)
		return 0;
	if (len == 0 || len > IMAP_CRED_MAX || memchr(user, '\0', len) != NULL)
		return -1;
	s->user = malloc(len + 1);
	if (s->user == NULL)
		return -1;
	memcpy(s->user, user, len);
	s->user[len] = '\0';
	s->user_len = len;
	/* A user name can hold CR, LF or spaces: never raw in a log line. */
	text_escape(user, len, s->user_log, sizeof(s->user_log));
	return 0;
}

bool pop3_session_reserve(struct pop3_session *s, uint64_t bytes)
{
	uint64_t budget = (uint64_t)s->conf->max_listing_mib << 20;

	if (s->srv->listing_bytes + bytes > budget)
		return false;
	s->srv->listing_bytes += bytes;
	s->reserved += bytes;
	return true;
}

void pop3_session_unreserve(struct pop3_session *s, uint64_t bytes)
{
	if (bytes > s->reserved)
		bytes = s->reserved;
	s->reserved -= bytes;
	s->srv->listing_bytes -= bytes;
}

bool pop3_plaintext_allowed(const struct pop3_session *s)
{
	switch (s->conf->plaintext_auth) {
	case CONF_PLAINTEXT_ALWAYS:
		return true;
	case CONF_PLAINTEXT_LOCAL:
		return s->client_tls || s->client_local;
	case CONF_PLAINTEXT_TLS_ONLY:
		return s->client_tls;
	}
	return false;
}

/* ---- creation ---- */

static void pop3_idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	if (s->state == POP3_STATE_CLOSED || s->closing)
		return;
	if (s->run != NULL && s->run->line == NULL) {
		/* Silence while we work (a long RETR, QUIT's changes) is not
		   idleness; the upstream and write timeouts guard that time. */
		pop3_session_idle_reset(s);
		return;
	}
	pop3_reply(s, "-ERR Disconnected for inactivity");
	pop3_session_close_after_flush(s, "idle_timeout");
	/* The client may not read either: do not wait long. */
	struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
	bufferevent_set_timeouts(s->bev, NULL, &tv);
}

static void pop3_login_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;
	struct timeval again = { .tv_sec = 5, .tv_usec = 0 };

	if (s->state != POP3_STATE_AUTHORIZATION || s->closing)
		return;
	if (s->run != NULL && s->run->line == NULL) {
		/* A login under way has its credentials; the upstream's
		   timeout bounds it. */
		event_add(s->login_timer, &again);
		return;
	}
	log_info("%s event=login_time_limit limit_secs=%u", s->log_id,
		 s->conf->login_timeout_secs);
	pop3_reply(s, "-ERR Login time limit reached, closing");
	pop3_session_close_after_flush(s, "login_timeout");
}

static void pop3_life_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_session *s = arg;

	if (s->state == POP3_STATE_CLOSED)
		return;
	if (s->state == POP3_STATE_UPDATE) {
		/* QUIT's changes are being applied: let them finish. */
		struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };

		event_add(s->life_timer, &tv);
		return;
	}
	log_info("%s event=session_time_limit limit_secs=%u", s->log_id,
		 s->conf->max_session_secs);
	if (s->run != NULL) {
		/* In the middle of a reply: there is no clean way to end it. */
		pop3_session_close(s, "max_session_time");
		return;
	}
	pop3_reply(s, "-ERR [SYS/TEMP] Session time limit reached, closing");
	pop3_session_close_after_flush(s, "max_session_time");
}

struct pop3_session *pop3_session_new(struct pop3_server *srv, struct bufferevent *bev,
				      bool tls, const struct pop3_session_hooks *hooks)
{
	struct pop3_session *s = calloc(1, sizeof(*s));
	struct timeval life;

	if (s == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	s->bev = bev;
	s->free_ev = event_new(srv->base, -1, 0, pop3_session_free_cb, s);
	s->timer = evtimer_new(srv->base, pop3_timer_cb, s);
	s->life_timer = evtimer_new(srv->base, pop3_life_timer_cb, s);
	s->resume_ev = event_new(srv->base, -1, 0, pop3_resume_cb, s);
	s->idle_timer = evtimer_new(srv->base, pop3_idle_timer_cb, s);
	s->login_timer = evtimer_new(srv->base, pop3_login_timer_cb, s);
	if (sockout_init(&s->out, srv->base) < 0 || s->free_ev == NULL || s->timer == NULL ||
	    s->life_timer == NULL || s->resume_ev == NULL || s->idle_timer == NULL ||
	    s->login_timer == NULL) {
		struct event *evs[] = { s->free_ev, s->timer, s->life_timer, s->resume_ev,
					s->idle_timer, s->login_timer };

		for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
			if (evs[i] != NULL)
				event_free(evs[i]);
		}
		sockout_free(&s->out);
		bufferevent_free(bev);
		free(s);
		return NULL;
	}
	s->srv = srv;
	s->set = settings_ref(srv->settings);
	s->conf = s->set->conf;
	s->hooks = hooks;
	s->client_tls = tls;
	srv->sessions++;
	srv->sessions_total++;
	metrics_session_opened();
	LIST_INSERT_HEAD(&srv->list, s, link);
	snprintf(s->id, sizeof(s->id), "%x%05llx", (unsigned int)getpid() & 0xffff,
		 (unsigned long long)srv->sessions_total);
	snprintf(s->log_id, sizeof(s->log_id), "session=%s", s->id);
	s->state = POP3_STATE_AUTHORIZATION;
	s->doing = "waiting for a command";
	s->end_reason = "unknown";
	s->upstream_tls = "none";
	strcpy(s->user_log, "-");
	gettimeofday(&s->started, NULL);
	s->line_max = POP3_MAX_CMD_LINE;
	pop3_session_setup_bev(s);
	life = (struct timeval){ .tv_sec = s->conf->max_session_secs };
	event_add(s->life_timer, &life);
	life = (struct timeval){ .tv_sec = s->conf->login_timeout_secs };
	event_add(s->login_timer, &life);
	pop3_session_idle_reset(s);
	srv->unauthenticated++;
	s->unauth_counted = true;
	return s;
}
