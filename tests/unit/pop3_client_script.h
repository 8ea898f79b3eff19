#ifndef POP3_CLIENT_SCRIPT_H
#define POP3_CLIENT_SCRIPT_H

/*
 * Test-only scripted POP3 client for the dialogue tests (pop3_fixture.h):
 * one connection, driven by the test's event_base, following a script.
 *
 * Client script steps, in order:
 *
 *   SAY("USER a")            send this line (CRLF added)
 *   SAY_RAW("x\r\n")         send these octets
 *   HEAR("+OK")              read one CRLF-terminated line, equal to this
 *   HEAR_PREFIX("-ERR [AUTH]") read one line that starts with this
 *   HEAR_BYTES("1 9\r\n.\r\n") read exactly these octets
 *   HEAR_DATA(buf, len)      the same from a buffer
 *   HEAR_CUT("+OK 9\r\nab")   the connection closes after a beginning of
 *                            these octets (none, some or all of them)
 *   HEAR_SLOWLY(buf, len, k) HEAR_DATA, reading at most k octets a
 *                            millisecond: the rest waits in the socket,
 *                            and popgate has a slow client
 *   WAIT(ms)                 wait; what arrives meanwhile is kept
 *   STOP_READING()           read nothing more until the test calls
 *                            resume_reading(c): a client that stalls
 *   HANG_UP()                close the connection: the script ends
 *   HANG_UP_RESET()          the same with a TCP reset (SO_LINGER 0)
 *   SHUT_WRITE()             shut down the sending side (printf | nc -N)
 *   HEAR_CLOSE()             popgate closes the connection, saying
 *                            nothing more
 *   CLIENT_END               the script ends; anything heard after it
 *                            is an error
 *
 * A mismatch stops the script with c->error saying which step expected
 * what and what came; client_script(c, script) gives a client whose
 * script ended a new one. Scripts are not copied.
 */

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "imap_peer.h"

enum client_op {
	C_END,
	C_SAY,
	C_HEAR,
	C_HEAR_PREFIX,
	C_HEAR_BYTES,
	C_HEAR_CUT,
	C_HEAR_SLOWLY,
	C_WAIT,
	C_STOP_READING,
	C_HANG_UP,
	C_SHUT_WRITE,
	C_HEAR_CLOSE,
};

struct client_step {
	enum client_op op;
	const char *s;
	size_t len;
	unsigned int n;   /* WAIT: ms; HEAR_SLOWLY: octets a millisecond */
};

#define SAY(s)                   { C_SAY, s "\r\n", sizeof(s) + 1, 0 }
#define SAY_RAW(s)               { C_SAY, (s), sizeof(s) - 1, 0 }
#define HEAR(s)                  { C_HEAR, (s), sizeof(s) - 1, 0 }
#define HEAR_PREFIX(s)           { C_HEAR_PREFIX, (s), sizeof(s) - 1, 0 }
#define HEAR_BYTES(s)            { C_HEAR_BYTES, (s), sizeof(s) - 1, 0 }
#define HEAR_DATA(buf, len)      { C_HEAR_BYTES, (buf), (len), 0 }
#define HEAR_CUT(s)              { C_HEAR_CUT, (s), sizeof(s) - 1, 0 }
#define HEAR_SLOWLY(buf, len, k) { C_HEAR_SLOWLY, (buf), (len), (k) }
#define WAIT(ms)                 { C_WAIT, NULL, 0, (ms) }
#define STOP_READING()           { C_STOP_READING, NULL, 0, 0 }
#define HANG_UP()                { C_HANG_UP, NULL, 0, 0 }
#define HANG_UP_RESET()          { C_HANG_UP, NULL, 0, 1 }
#define SHUT_WRITE()             { C_SHUT_WRITE, NULL, 0, 0 }
#define HEAR_CLOSE()             { C_HEAR_CLOSE, NULL, 0, 0 }
#define CLIENT_END               { C_END, NULL, 0, 0 }


static const char *const client_op_names[] = {
	[C_END] = "CLIENT_END", [C_SAY] = "SAY", [C_HEAR] = "HEAR",
	[C_HEAR_PREFIX] = "HEAR_PREFIX", [C_HEAR_BYTES] = "HEAR_BYTES",
	[C_HEAR_CUT] = "HEAR_CUT",
	[C_HEAR_SLOWLY] = "HEAR_SLOWLY", [C_WAIT] = "WAIT",
	[C_STOP_READING] = "STOP_READING", [C_HANG_UP] = "HANG_UP",
	[C_SHUT_WRITE] = "SHUT_WRITE",
	[C_HEAR_CLOSE] = "HEAR_CLOSE",
};

struct pop3_client {
	unsigned int id;
	int fd;
	struct event *rev;         /* reading, except in HEAR_SLOWLY */
	struct event *timer;       /* WAIT, HEAR_SLOWLY */
	struct evbuffer *in;
	const struct client_step *script;
	size_t step;
	size_t matched;            /* of the current HEAR_BYTES/HEAR_SLOWLY */
	uint64_t heard;            /* octets read in all */
	bool waiting, running, eof, reset, finished, hung_up;
	bool stopped;              /* at STOP_READING */
	char error[2048];
};


/* ---- the POP3 clients ---- */

static inline void client_fail(struct pop3_client *c, const char *problem,
			       const void *got, size_t got_len)
{
	const struct client_step *st = &c->script[c->step];
	char want[400], came[400] = "";

	if (c->error[0] != '\0')
		return;
	if (st->s != NULL)
		peer_esc(st->s, st->len, want, sizeof(want));
	else
		snprintf(want, sizeof(want), "%u", st->n);
	if (got != NULL)
		peer_esc(got, got_len, came, sizeof(came));
	snprintf(c->error, sizeof(c->error),
		 "pop3 client %u, script step %zu, %s \"%s\": %s%s%s%s", c->id, c->step,
		 client_op_names[st->op], want, problem, got != NULL ? " \"" : "", came,
		 got != NULL ? "\"" : "");
}

static inline void client_check_unexpected(struct pop3_client *c, const char *when)
{
	char buf[256];
	size_t len = evbuffer_get_length(c->in);

	if (len == 0 || c->error[0] != '\0')
		return;
	len = evbuffer_copyout(c->in, buf, len < sizeof(buf) ? len : sizeof(buf));
	client_fail(c, when, buf, len);
}

static inline void client_say(struct pop3_client *c, const struct client_step *st)
{
	ssize_t n = send(c->fd, st->s, st->len, MSG_NOSIGNAL);

	if (n != (ssize_t)st->len)
		client_fail(c, n < 0 ? strerror(errno) : "short write", NULL, 0);
}

static inline bool client_hear_line(struct pop3_client *c, const struct client_step *st)
{
	struct evbuffer_ptr eol = evbuffer_search_eol(c->in, NULL, NULL, EVBUFFER_EOL_LF);
	size_t len;
	char *line;
	bool ok;

	if (eol.pos < 0) {
		if (c->eof)
			client_check_unexpected(c, "the connection closed after");
		if (c->eof)
			client_fail(c, c->reset ? "the connection was reset" :
				    "the connection closed", NULL, 0);
		return false;
	}
	len = (size_t)eol.pos + 1;
	line = malloc(len);
	ck_assert_ptr_nonnull(line);
	evbuffer_remove(c->in, line, len);
	if (len < 2 || line[len - 2] != '\r') {
		client_fail(c, "got a line without CR", line, len);
	} else {
		len -= 2;
		ok = st->op == C_HEAR_PREFIX ? len >= st->len && memcmp(line, st->s, st->len) == 0 :
			len == st->len && memcmp(line, st->s, len) == 0;
		if (!ok)
			client_fail(c, "got", line, len);
	}
	free(line);
	return c->error[0] == '\0';
}

/* Compares what has come so far: large data need not fit in memory twice. */
static inline bool client_hear_bytes(struct pop3_client *c, const struct client_step *st)
{
	char buf[16384];

	while (c->matched < st->len && evbuffer_get_length(c->in) > 0) {
		size_t want = st->len - c->matched, n;

		n = evbuffer_remove(c->in, buf, want < sizeof(buf) ? want : sizeof(buf));
		for (size_t i = 0; i < n; i++) {
			if (buf[i] != st->s[c->matched + i]) {
				char problem[96];
				size_t from = i > 40 ? i - 40 : 0;

				snprintf(problem, sizeof(problem), "octet %zu differs; from octet %zu got",
					 c->matched + i, c->matched + from);
				client_fail(c, problem, buf + from, n - from > 80 ? 80 : n - from);
				return false;
			}
		}
		c->matched += n;
	}
	if (c->matched == st->len && st->op != C_HEAR_CUT)
		return true;
	if (st->op == C_HEAR_CUT) {
		client_check_unexpected(c, "more than expected before the close:");
		return c->eof && c->error[0] == '\0';
	}
	if (c->eof) {
		char problem[96];

		snprintf(problem, sizeof(problem), "the connection %s after %zu of %zu octets",
			 c->reset ? "was reset" : "closed", c->matched, st->len);
		client_fail(c, problem, NULL, 0);
	}
	return false;
}

static inline void client_start_timer(struct pop3_client *c, unsigned int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	c->waiting = true;
	evtimer_add(c->timer, &tv);
}

/* Reads what is there, at most max octets (-1: all). */
static inline void client_read(struct pop3_client *c, int max)
{
	while (!c->eof && max != 0) {
		int n = evbuffer_read(c->in, c->fd, max > 0 && max < 65536 ? max : 65536);

		if (n > 0) {
			c->heard += (uint64_t)n;
			if (max > 0)
				max -= n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		c->eof = true;
		c->reset = n < 0;
		event_del(c->rev);
	}
}

static inline void client_hang_up(struct pop3_client *c, bool reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->fd < 0)
		return;
	if (reset)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	event_del(c->rev);
	evtimer_del(c->timer);
	close(c->fd);
	c->fd = -1;
	c->hung_up = true;
}

static inline void client_run(struct pop3_client *c)
{
	if (c->running || c->script == NULL)
		return;
	c->running = true;
	while (c->error[0] == '\0' && !c->finished) {
		const struct client_step *st = &c->script[c->step];
		bool done = false;

		switch (st->op) {
		case C_END:
			c->finished = true;
			break;
		case C_SAY:
			client_say(c, st);
			done = true;
			break;
		case C_HEAR:
		case C_HEAR_PREFIX:
			done = client_hear_line(c, st);
			break;
		case C_HEAR_BYTES:
		case C_HEAR_CUT:
			done = client_hear_bytes(c, st);
			break;
		case C_HEAR_SLOWLY:
			done = client_hear_bytes(c, st);
			if (done && !c->eof)
				event_add(c->rev, NULL);
			else if (!done && !c->waiting && !c->eof) {
				event_del(c->rev);
				client_start_timer(c, 1);
			}
			break;
		case C_WAIT:
			if (!c->waiting)
				client_start_timer(c, st->n);
			break;
		case C_STOP_READING:
			if (!c->stopped && !c->eof)
				event_del(c->rev);
			c->stopped = true;
			break;
		case C_HANG_UP:
			client_hang_up(c, st->n != 0);
			c->finished = true;
			break;
		case C_SHUT_WRITE:
			ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
			done = true;
			break;
		case C_HEAR_CLOSE:
			client_check_unexpected(c, "expected the close, got");
			if (c->eof)
				c->finished = true;
			break;
		}
		if (!done)
			break;
		c->step++;
		c->matched = 0;
	}
	if (c->finished && c->script[c->step].op == C_END)
		client_check_unexpected(c, "unexpected reply");
	c->running = false;
}

static inline void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_client *c = arg;

	client_read(c, -1);
	client_run(c);
}

static inline void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_client *c = arg;
	const struct client_step *st = &c->script[c->step];

	c->waiting = false;
	if (st->op == C_WAIT) {
		c->step++;
	} else if (st->op == C_HEAR_SLOWLY) {
		client_read(c, (int)st->n);
	}
	client_run(c);
}

/* A client at STOP_READING reads again, and its script goes on. */
static inline void resume_reading(struct pop3_client *c)
{
	ck_assert_msg(c->stopped && c->script[c->step].op == C_STOP_READING,
		      "pop3 client %u is not at STOP_READING", c->id);
	c->stopped = false;
	c->step++;
	if (!c->eof)
		event_add(c->rev, NULL);
	client_read(c, -1);
	client_run(c);
}

/* A new script for a client whose last one ended (not hung up). */
static inline void client_script(struct pop3_client *c, const struct client_step *script)
{
	ck_assert_msg(c->finished && !c->hung_up && c->error[0] == '\0',
		      "pop3 client %u: its script has not ended", c->id);
	c->script = script;
	c->step = 0;
	c->matched = 0;
	c->finished = false;
	client_run(c);
}

#endif
