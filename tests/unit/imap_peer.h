#ifndef IMAP_PEER_H
#define IMAP_PEER_H

/*
 * Test-only scripted IMAP server: one connection on a loopback listener
 * (127.0.0.1, an ephemeral port), driven by the test's own event_base and
 * following a script of steps, in order:
 *
 *   SEND("* OK hi\r\n")     write these octets; a "$" that starts a line
 *                           becomes the tag the last "* ..." EXPECT matched
 *   SEND_N(buf, len, k)     write len octets of buf in pieces of k octets,
 *                           1 ms apart (k 0: at once)
 *   EXPECT("p1 NOOP")       read one CRLF-terminated line, which must equal
 *                           this; a leading "* " stands for any tag
 *                           ("* LOGIN {5}" matches "p3 LOGIN {5}")
 *   EXPECT_PREFIX("p1 ID (") read one line, which must start with this
 *   EXPECT_BYTES("alice")   read exactly these octets (literal contents)
 *   PAUSE(ms)               wait; input arriving meanwhile is kept
 *   QUIET(ms)               wait; nothing may arrive meanwhile
 *   CLOSE()                 drop the connection once the output is sent
 *   HOLD()                  stop reading and stay silent: the script ends
 *   END_SCRIPT              the script ends; any further input is an error
 *
 * A mismatch stops the script with p->error saying which step expected
 * what and what came (CR, LF and NUL shown as \r \n \0). PEER_RUN_UNTIL()
 * runs the loop until a condition holds, the peer fails or WAIT_MS pass,
 * and fails the test in the last two cases: a hang fails, it never blocks.
 * The script is not copied: it must outlive the peer. peer_init() and
 * peer_adopt() are peer_start() without its listener, for a test that
 * serves several connections in turn from one listener of its own.
 */

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* The longest any one wait of a test may take. */
#ifndef WAIT_MS
#define WAIT_MS 3000
#endif

enum peer_op {
	PEER_END,
	PEER_SEND,
	PEER_EXPECT,
	PEER_EXPECT_PREFIX,
	PEER_EXPECT_BYTES,
	PEER_PAUSE,
	PEER_QUIET,
	PEER_CLOSE,
	PEER_HOLD,
};

struct peer_step {
	enum peer_op op;
	const char *s;
	size_t len;
	unsigned int n;  /* SEND: piece size; PAUSE, QUIET: ms */
};

#define SEND(s)             { PEER_SEND, (s), sizeof(s) - 1, 0 }
#define SEND_N(buf, len, k) { PEER_SEND, (buf), (len), (k) }
#define EXPECT(s)           { PEER_EXPECT, (s), sizeof(s) - 1, 0 }
#define EXPECT_PREFIX(s)    { PEER_EXPECT_PREFIX, (s), sizeof(s) - 1, 0 }
#define EXPECT_BYTES(s)     { PEER_EXPECT_BYTES, (s), sizeof(s) - 1, 0 }
#define PAUSE(ms)           { PEER_PAUSE, NULL, 0, (ms) }
#define QUIET(ms)           { PEER_QUIET, NULL, 0, (ms) }
#define CLOSE()             { PEER_CLOSE, NULL, 0, 0 }
#define HOLD()              { PEER_HOLD, NULL, 0, 0 }
#define END_SCRIPT          { PEER_END, NULL, 0, 0 }

struct imap_peer {
	struct event_base *base;
	struct evconnlistener *listener;
	struct bufferevent *bev;
	struct event *timer;   /* PAUSE, QUIET, SEND_N pieces */
	struct event *tick;    /* wakes the loop so deadlines are seen */
	uint16_t port;
	const struct peer_step *script;
	size_t step;
	size_t sent;           /* of the current SEND_N */
	bool waiting;          /* the timer runs for the current step */
	bool closing;          /* CLOSE waits for the output to drain */
	bool running;
	bool client_eof;
	bool finished;         /* at END_SCRIPT or HOLD */
	unsigned int connections;
	char last_tag[64];
	char error[2048];
};

static inline long long peer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* s[0..len) with CR, LF, NUL and other controls made visible, cut at
   about 300 octets. */
static inline const char *peer_esc(const void *data, size_t len, char *buf,
				   size_t size)
{
	const unsigned char *s = data;
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < size && o < 300; i++) {
		if (s[i] == '\r')
			o += snprintf(buf + o, size - o, "\\r");
		else if (s[i] == '\n')
			o += snprintf(buf + o, size - o, "\\n");
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			o += snprintf(buf + o, size - o, "\\%o", s[i]);
		else
			buf[o++] = (char)s[i];
	}
	if (i < len)
		o += snprintf(buf + o, size - o, "...");
	buf[o] = '\0';
	return buf;
}

static const char *const peer_op_names[] = {
	[PEER_END] = "END_SCRIPT", [PEER_SEND] = "SEND", [PEER_EXPECT] = "EXPECT",
	[PEER_EXPECT_PREFIX] = "EXPECT_PREFIX", [PEER_EXPECT_BYTES] = "EXPECT_BYTES",
	[PEER_PAUSE] = "PAUSE", [PEER_QUIET] = "QUIET", [PEER_CLOSE] = "CLOSE",
	[PEER_HOLD] = "HOLD",
};

/* "script step 3, EXPECT "p1 NOOP": got "p1 CHECK"", "... QUIET "50": ..." */
static inline void peer_fail(struct imap_peer *p, const char *problem,
			     const void *got, size_t got_len)
{
	const struct peer_step *st = &p->script[p->step];
	char want[400], came[400] = "";

	if (p->error[0] != '\0')
		return;
	if (st->s != NULL)
		peer_esc(st->s, st->len, want, sizeof(want));
	else
		snprintf(want, sizeof(want), "%u", st->n);
	if (got != NULL)
		peer_esc(got, got_len, came, sizeof(came));
	snprintf(p->error, sizeof(p->error), "script step %zu, %s \"%s\": %s%s%s%s",
		 p->step, peer_op_names[st->op], want, problem,
		 got != NULL ? " \"" : "", came, got != NULL ? "\"" : "");
}

static inline void peer_start_timer(struct imap_peer *p, unsigned int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	p->waiting = true;
	evtimer_add(p->timer, &tv);
}

/* Writes a SEND's octets, a "$" that starts a line replaced by the tag
   the last "* ..." EXPECT matched. */
static inline void peer_write(struct imap_peer *p, const char *s, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '$' && (i == 0 || s[i - 1] == '\n')) {
			bufferevent_write(p->bev, s + start, i - start);
			bufferevent_write(p->bev, p->last_tag, strlen(p->last_tag));
			start = i + 1;
		}
	}
	bufferevent_write(p->bev, s + start, len - start);
}

/* True when the step is done; false when it waits for input or time. */
static inline bool peer_send(struct imap_peer *p, const struct peer_step *st)
{
	size_t n;

	if (st->n == 0) {
		peer_write(p, st->s, st->len);
		return true;
	}
	if (p->waiting)
		return false;
	n = st->len - p->sent < st->n ? st->len - p->sent : st->n;
	bufferevent_write(p->bev, st->s + p->sent, n);
	p->sent += n;
	if (p->sent == st->len) {
		p->sent = 0;
		return true;
	}
	peer_start_timer(p, 1);
	return false;
}

static inline bool peer_line_matches(struct imap_peer *p,
				     const struct peer_step *st,
				     const char *line, size_t len)
{
	const char *sp;

	if (st->op == PEER_EXPECT_PREFIX)
		return len >= st->len && memcmp(line, st->s, st->len) == 0;
	if (st->len < 2 || memcmp(st->s, "* ", 2) != 0)
		return len == st->len && memcmp(line, st->s, len) == 0;
	/* "* rest": any tag, then exactly " rest" */
	sp = memchr(line, ' ', len);
	if (sp == NULL || sp == line || (size_t)(sp - line) >= sizeof(p->last_tag) ||
	    line[0] == '*' || line[0] == '+' ||
	    len - (size_t)(sp - line) != st->len - 1 ||
	    memcmp(sp, st->s + 1, st->len - 1) != 0)
		return false;
	snprintf(p->last_tag, sizeof(p->last_tag), "%.*s", (int)(sp - line), line);
	return true;
}

static inline bool peer_expect_line(struct imap_peer *p, const struct peer_step *st)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	size_t len;
	char *line;

	if (eol.pos < 0) {
		if (p->client_eof)
			peer_fail(p, "the client closed the connection", NULL, 0);
		return false;
	}
	len = (size_t)eol.pos + 1;
	line = malloc(len);
	ck_assert_ptr_nonnull(line);
	evbuffer_remove(in, line, len);
	if (len < 2 || line[len - 2] != '\r')
		peer_fail(p, "got a line without CR", line, len);
	else if (!peer_line_matches(p, st, line, len - 2))
		peer_fail(p, "got", line, len - 2);
	free(line);
	return p->error[0] == '\0';
}

static inline bool peer_expect_bytes(struct imap_peer *p, const struct peer_step *st)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);
	size_t have = evbuffer_get_length(in);
	char *got;

	if (have < st->len) {
		if (p->client_eof) {
			got = malloc(have + 1);
			ck_assert_ptr_nonnull(got);
			evbuffer_remove(in, got, have);
			peer_fail(p, "the client closed the connection after", got, have);
			free(got);
		}
		return false;
	}
	got = malloc(st->len + 1);
	ck_assert_ptr_nonnull(got);
	evbuffer_remove(in, got, st->len);
	if (memcmp(got, st->s, st->len) != 0)
		peer_fail(p, "got", got, st->len);
	free(got);
	return p->error[0] == '\0';
}

static inline void peer_drop(struct imap_peer *p)
{
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	p->bev = NULL;
}

/* Anything unread when input is not expected is an error. */
static inline void peer_check_unexpected(struct imap_peer *p, const char *when)
{
	struct evbuffer *in;
	size_t len;
	char buf[256];

	if (p->bev == NULL || p->error[0] != '\0')
		return;
	in = bufferevent_get_input(p->bev);
	len = evbuffer_get_length(in);
	if (len == 0)
		return;
	len = evbuffer_copyout(in, buf, len < sizeof(buf) ? len : sizeof(buf));
	peer_fail(p, when, buf, len);
}

/* CLOSE done: only END_SCRIPT may follow. */
static inline void peer_closed(struct imap_peer *p)
{
	p->closing = false;
	peer_drop(p);
	p->step++;
	p->finished = true;
	if (p->script[p->step].op != PEER_END)
		peer_fail(p, "only END_SCRIPT may follow CLOSE", NULL, 0);
}

/* Runs steps until one has to wait. */
static inline void peer_run(struct imap_peer *p)
{
	if (p->running || p->bev == NULL)
		return;
	p->running = true;
	while (p->error[0] == '\0' && !p->finished && !p->closing) {
		const struct peer_step *st = &p->script[p->step];
		bool done = false;

		switch (st->op) {
		case PEER_END:
			p->finished = true;
			break;
		case PEER_SEND:
			done = peer_send(p, st);
			break;
		case PEER_EXPECT:
		case PEER_EXPECT_PREFIX:
			done = peer_expect_line(p, st);
			break;
		case PEER_EXPECT_BYTES:
			done = peer_expect_bytes(p, st);
			break;
		case PEER_PAUSE:
		case PEER_QUIET:
			if (!p->waiting)
				peer_start_timer(p, st->n);
			break;
		case PEER_CLOSE:
			/* unread input would make close() send a reset */
			peer_check_unexpected(p, "input left unread");
			p->closing = p->error[0] == '\0';
			if (p->closing &&
			    evbuffer_get_length(bufferevent_get_output(p->bev)) == 0)
				peer_closed(p);
			break;
		case PEER_HOLD:
			bufferevent_disable(p->bev, EV_READ);
			p->finished = true;
			break;
		}
		if (!done)
			break;
		p->step++;
	}
	if (p->finished && p->script[p->step].op == PEER_END)
		peer_check_unexpected(p, "unexpected input");
	p->running = false;
}

static inline void peer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_peer *p = arg;

	p->waiting = false;
	if (p->script[p->step].op == PEER_QUIET) {
		peer_check_unexpected(p, "input while quiet");
		if (p->error[0] != '\0')
			return;
	}
	if (p->script[p->step].op == PEER_PAUSE ||
	    p->script[p->step].op == PEER_QUIET)
		p->step++;
	peer_run(p);
}

static inline void peer_read_cb(struct bufferevent *bev, void *arg)
{
	peer_run(arg);
}

static inline void peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct imap_peer *p = arg;

	if (p->closing)
		peer_closed(p);
}

static inline void peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_peer *p = arg;

	p->client_eof = true;
	bufferevent_disable(bev, EV_READ);
	peer_run(p);
}

/* The connection the script runs on (fd taken over). */
static inline void peer_adopt(struct imap_peer *p, evutil_socket_t fd)
{
	if (++p->connections > 1) {
		snprintf(p->error, sizeof(p->error), "a second connection came");
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(p->bev);
	bufferevent_setcb(p->bev, peer_read_cb, peer_write_cb, peer_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	peer_run(p);
}

static inline void peer_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
				  struct sockaddr *sa, int len, void *arg)
{
	peer_adopt(arg, fd);
}

static inline void peer_tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* A peer without a listener of its own: its one connection comes from
   peer_adopt() (a test serving several connections from one listener). */
static inline void peer_init(struct imap_peer *p, struct event_base *base,
			     const struct peer_step *script)
{
	struct timeval tv = { 0, 10000 };

	memset(p, 0, sizeof(*p));
	p->base = base;
	p->script = script;
	p->timer = evtimer_new(base, peer_timer_cb, p);
	p->tick = event_new(base, -1, EV_PERSIST, peer_tick_cb, NULL);
	ck_assert(p->timer != NULL && p->tick != NULL);
	event_add(p->tick, &tv);
}

/* Listens on 127.0.0.1 (p->port); the script starts on the connection. */
static inline void peer_start(struct imap_peer *p, struct event_base *base,
			      const struct peer_step *script)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	peer_init(p, base, script);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listener = evconnlistener_new_bind(base, peer_accept_cb, p,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
					      -1, (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(p->listener);
	ck_assert_int_eq(getsockname(evconnlistener_get_fd(p->listener),
				     (struct sockaddr *)&sin, &len), 0);
	p->port = ntohs(sin.sin_port);
}

static inline void peer_free(struct imap_peer *p)
{
	peer_drop(p);
	if (p->listener != NULL)
		evconnlistener_free(p->listener);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->tick != NULL)
		event_free(p->tick);
	memset(p, 0, sizeof(*p));
}

/* Runs the loop until cond holds; fails the test if the peer failed or
   WAIT_MS passed first. */
#define PEER_RUN_UNTIL(p, cond) do { \
		long long end_ = peer_now_ms() + WAIT_MS; \
		while (!(cond) && (p)->error[0] == '\0' && peer_now_ms() < end_) \
			event_base_loop((p)->base, EVLOOP_ONCE); \
		ck_assert_msg((p)->error[0] == '\0', "peer: %s", (p)->error); \
		ck_assert_msg((cond), "not within %d ms: %s (peer at step %zu)", \
			      WAIT_MS, #cond, (p)->step); \
	} while (0)

/* Runs the loop for ms (at most WAIT_MS; 0: what is ready now), failing
   if the peer fails. */
static inline void peer_run_for(struct imap_peer *p, unsigned int ms)
{
	long long end = peer_now_ms() + (ms < WAIT_MS ? ms : WAIT_MS);
	int i;

	for (i = 0; i < 4; i++)
		event_base_loop(p->base, EVLOOP_NONBLOCK);
	while (p->error[0] == '\0' && peer_now_ms() < end)
		event_base_loop(p->base, EVLOOP_ONCE);
	ck_assert_msg(p->error[0] == '\0', "peer: %s", p->error);
}

/* The whole script has run, and nothing unexpected came. */
#define PEER_FINISH(p) PEER_RUN_UNTIL(p, (p)->finished)

#endif
