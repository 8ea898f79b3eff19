/*
 * libFuzzer harness: one whole POP3 session (the real pop3_server,
 * imap_client, cache against a real redis-server) driven by a fixed POP3
 * client, against an upstream whose responses are the fuzz input.
 *
 * Input framing:
 *   byte 0     flags: bits 0-1 delete_action (hide, hide-all, trash,
 *              expunge), bit 2 mark_seen_on_retr off, bit 3 the state
 *              store already holds this account under UIDVALIDITY 1 with
 *              UID 1 hidden (a SELECT with another UIDVALIDITY re-maps)
 *   the rest   upstream chunks separated by NUL octets. Chunk 0 is the
 *              greeting, sent on connect; chunk k is sent when popgate has
 *              sent its k-th line (a command, a literal's rest, a SASL
 *              response), or when everything is quiet (popgate waits for
 *              more than the last chunk gave). The upstream closes right
 *              after the last chunk. A "$" that starts a line becomes the
 *              tag of popgate's last command.
 *
 * "Quiet" is found without waiting on the clock, so that a run depends on
 * its input only: QUIET_ROUNDS turns of the loop that change nothing seen
 * (what either end has received or has queued, the sessions, popgate's
 * POP3 output, the octets queued on the cache's Redis socket, active
 * events), then a PING on a connection of our own (Redis has answered
 * every request sent before it) and as many turns again. Only when nothing
 * can happen but a timer does the loop wait, TIMER_WAIT_MS at a time.
 *
 * The POP3 client (fuzz_pop3_replies.h) sends, one at a time, each after
 * the whole reply to the one before: USER, PASS, STAT, LIST, UIDL, RETR 1,
 * TOP 1 0, DELE 1, QUIT, and checks:
 *   - every status line is "+OK" or "-ERR" (then SP or its end), at most
 *     512 octets with its CRLF, without CR, LF or NUL inside; nothing comes
 *     unasked;
 *   - every line ends in CRLF (only a message, RETR or TOP, may break off
 *     without one, when the connection closes); a multi-line reply ends
 *     with ".\r\n" or the close, never another status line in its place;
 *     in a message a line that starts with "." is stuffed; LIST lines are
 *     "n size", UIDL lines "n uidl" with a unique 1-70 octet UIDL;
 *   - STAT, LIST and UIDL agree on the count and octets, RETR 1's "+OK"
 *     on LIST's size of message 1;
 *   - the session ends within DEADLINE_MS; afterwards the device lock is
 *     not held, and the hidden set is empty unless QUIT said "+OK" (or
 *     that the outcome is unknown); after "+OK" with DELE 1 accepted under
 *     hide or hide-all, it holds message 1's UID.
 * ASan and UBSan (the build) catch the rest, leaks included.
 *
 * redis-server is started once, in LLVMFuzzerInitialize (a unix socket in
 * a temporary directory; killed at exit); every input starts from an
 * empty store, a fresh event_base and cache. POPGATE_FUZZ_VERBOSE=1 logs
 * popgate's debug traces to stderr.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "conf.h"
#include "fuzz_pop3_replies.h"
#include "fuzz_redis.h"
#include "limits_table.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "settings.h"

#define QUIET_ROUNDS 4
#define TIMER_WAIT_MS 10
#define DEADLINE_MS 5000
#define MAX_CHUNKS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- set up once ---- */

static redisContext *raw;
static int imap_listen_fd = -1, pop3_listen_fd = -1;
static uint16_t imap_port;
static struct sockaddr_in pop3_addr;
static struct settings *settings_by_flags[8];
static char key_prefix[128];

static void start_redis(void)
{
	char error[256];

	raw = fuzz_redis_start("fuzz", 0, error, sizeof(error));
	if (raw == NULL)
		violated("%s", error);
}

static int listen_loopback(uint16_t *port_r, struct sockaddr_in *sin_r)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 16) < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		violated("listen: %s", strerror(errno));
	evutil_make_socket_nonblocking(fd);
	if (port_r != NULL)
		*port_r = ntohs(sin.sin_port);
	if (sin_r != NULL)
		*sin_r = sin;
	return fd;
}

static struct settings *build_settings(unsigned int flags)
{
	struct conf *conf = conf_new_defaults();
	struct conf_upstream *up = calloc(1, sizeof(*up));
	struct settings *set;
	char *error = NULL;

	if (conf == NULL || up == NULL)
		violated("out of memory");
	up->name = "default";
	up->host = strdup("127.0.0.1");
	up->mailbox = strdup("INBOX");
	up->uidl_format = strdup("dovecot");
	up->port = imap_port;
	up->port_set = true;
	up->tls = CONF_TLS_NONE;
	up->timeout_secs = 2;
	conf->upstream = up;
	conf->plaintext_auth = CONF_PLAINTEXT_ALWAYS;
	conf->auth_fail_delay_ms = 0;
	conf->auth_fail_delay_max_ms = 0;
	conf->delete_action = (enum conf_delete_action)(flags & 3);
	conf->mark_seen_on_retr = (flags & 4) == 0;
	/* A device none of the (absent) [device] sections matches: the
	   [policy] profile, which a loaded config fills from [policy]. */
	conf->policy_profile.delete_action = conf->delete_action;
	conf->policy_profile.mark_seen_on_retr = conf->mark_seen_on_retr;
	conf->policy_profile.new_device_sees = conf->new_device_sees;
	set = settings_new(conf, 1, &error);
	if (set == NULL)
		violated("settings_new: %s", error);
	return set;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);
	log_open(LOG_TARGET_STDERR, getenv("POPGATE_FUZZ_VERBOSE") != NULL ?
		 LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, NULL, 0);
	start_redis();
	imap_listen_fd = listen_loopback(&imap_port, NULL);
	pop3_listen_fd = listen_loopback(NULL, &pop3_addr);
	snprintf(key_prefix, sizeof(key_prefix), "popgate:{%s@127.0.0.1:%u}:", USER, imap_port);
	for (unsigned int i = 0; i < 8; i++)
		settings_by_flags[i] = build_settings(i);
	return 0;
}

static redisReply *raw_cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list args;

	va_start(args, fmt);
	r = redisvCommand(raw, fmt, args);
	va_end(args);
	if (r == NULL)
		violated("redis: %s", raw->errstr);
	return r;
}

/* ---- one input ---- */

static struct run {
	struct event_base *base;
	struct pop3_server srv;
	struct evconnlistener *listener;
	struct event *guard;
	int cache_fd;               /* the cache's connection to Redis */
	uint64_t peer_in, client_in; /* octets each end has taken in */
	/* the upstream */
	const uint8_t *chunk[MAX_CHUNKS];
	size_t chunk_len[MAX_CHUNKS];
	unsigned int chunks, next_chunk;
	struct bufferevent *peer;
	bool peer_closing, peer_seen;
	char tag[32];
	/* the POP3 client */
	int fd;
	struct event *rev;
	struct evbuffer *in;
	bool eof;
	struct replies k;
} r;

/* -- the upstream -- */

static void peer_free(void)
{
	if (r.peer != NULL)
		bufferevent_free(r.peer);
	r.peer = NULL;
}

static void peer_close(void)
{
	if (r.peer == NULL || r.peer_closing)
		return;
	r.peer_closing = true;
	bufferevent_disable(r.peer, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(r.peer)) == 0)
		peer_free();
}

/* The next chunk, a "$" at a line start made the last tag; or the end. */
static void peer_send_next(void)
{
	const uint8_t *c;
	size_t len, start = 0;

	if (r.peer == NULL || r.peer_closing)
		return;
	if (r.next_chunk >= r.chunks) {
		peer_close();
		return;
	}
	c = r.chunk[r.next_chunk];
	len = r.chunk_len[r.next_chunk++];
	for (size_t i = 0; i < len; i++) {
		if (c[i] == '$' && (i == 0 || c[i - 1] == '\n')) {
			bufferevent_write(r.peer, c + start, i - start);
			bufferevent_write(r.peer, r.tag, strlen(r.tag));
			start = i + 1;
		}
	}
	bufferevent_write(r.peer, c + start, len - start);
	/* Nothing more will be said: the close follows at once. */
	if (r.next_chunk == r.chunks)
		peer_close();
}

static void peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[256];

	for (;;) {
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		size_t n;

		if (eol.pos < 0)
			break;
		n = evbuffer_copyout(in, line, sizeof(line) - 1);
		line[n] = '\0';
		/* A command's tag; literal rests and SASL lines keep the last. */
		if (n > 0 && line[0] == 'p' && strchr(line, ' ') != NULL)
			snprintf(r.tag, sizeof(r.tag), "%.*s", (int)(strchr(line, ' ') - line), line);
		evbuffer_drain(in, (size_t)eol.pos + 1);
		r.peer_in += (uint64_t)eol.pos + 1;
		peer_send_next();
	}
}

static void peer_write_cb(struct bufferevent *bev, void *arg)
{
	if (r.peer_closing)
		peer_free();
}

static void peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	peer_free();
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int len, void *arg)
{
	if (r.peer_seen) {
		/* The script logs in once. */
		violated("a second upstream connection");
	}
	r.peer_seen = true;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	r.peer = bufferevent_socket_new(r.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (r.peer == NULL)
		violated("out of memory");
	bufferevent_setcb(r.peer, peer_read_cb, peer_write_cb, peer_event_cb, NULL);
	bufferevent_enable(r.peer, EV_READ | EV_WRITE);
	snprintf(r.tag, sizeof(r.tag), "*");
	peer_send_next();
}

/* -- the POP3 client -- */

static void client_send_next(void)
{
	const char *cmd = replies_next(&r.k);
	char line[64];
	int n;

	if (cmd == NULL)
		return;
	n = snprintf(line, sizeof(line), "%s\r\n", cmd);
	if (send(r.fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		r.eof = true;  /* popgate closed: nothing more to say */
}

static void client_lines(void)
{
	static char line[70000];

	for (;;) {
		struct evbuffer_ptr eol = evbuffer_search_eol(r.in, NULL, NULL, EVBUFFER_EOL_LF);
		size_t len;

		if (eol.pos < 0)
			break;
		len = (size_t)eol.pos + 1;
		if (len > sizeof(line)) {
			/* Long message lines: only their start and end matter. */
			CHECK(replies_in_message(&r.k), "a line of %zu octets", len);
			evbuffer_copyout(r.in, line, 2);
			CHECK(line[0] != '.' || line[1] == '.', "an unstuffed dot line");
			evbuffer_drain(r.in, len - 2);
			evbuffer_remove(r.in, line, 2);
			CHECK(line[0] == '\r', "a line without CRLF");
			continue;
		}
		evbuffer_remove(r.in, line, len);
		CHECK(len >= 2 && line[len - 2] == '\r', "a line without CRLF (to %s)",
		      replies_cmd_name(&r.k));
		len -= 2;
		line[len] = '\0';
		if (replies_line(&r.k, line, len))
			client_send_next();
	}
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	for (;;) {
		int n = evbuffer_read(r.in, r.fd, 65536);

		if (n > 0) {
			r.client_in += (uint64_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		r.eof = true;
		event_del(r.rev);
		break;
	}
	client_lines();
	if (r.eof) {
		/* An unterminated rest: only inside a message may it break off. */
		size_t rest = evbuffer_get_length(r.in);

		CHECK(rest == 0 || replies_in_message(&r.k),
		      "%zu octets without CRLF before the close", rest);
	}
}

/* -- the loop -- */

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Quiet: popgate waits for the upstream to say more than it did. False if
   there is nothing more to say. */
static bool on_quiet(void)
{
	if (r.peer == NULL || r.peer_closing)
		return false;
	peer_send_next();
	return true;
}

/* The descriptor of the cache's connection: the unix socket connected to
   redis-server that is not ours. */
static int find_cache_fd(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);

		if (fd != raw->fd && getpeername(fd, (struct sockaddr *)&sa, &len) == 0 &&
		    sa.sun_family == AF_UNIX && strcmp(sa.sun_path, fuzz_redis_sock) == 0)
			return fd;
	}
	return -1;
}

struct sig {
	uint64_t v[12];
};

/* What can be seen to move. */
static void signature(struct sig *g)
{
	struct pop3_session *s = LIST_FIRST(&r.srv.list);
	int inq = 0, outq = 0;

	memset(g, 0, sizeof(*g));
	if (r.cache_fd >= 0 && (ioctl(r.cache_fd, FIONREAD, &inq) < 0 ||
				ioctl(r.cache_fd, SIOCOUTQ, &outq) < 0))
		r.cache_fd = find_cache_fd();
	g->v[0] = r.peer_in;
	g->v[1] = r.peer != NULL ? evbuffer_get_length(bufferevent_get_input(r.peer)) : 0;
	g->v[2] = r.client_in;
	g->v[3] = r.srv.sessions;
	g->v[4] = r.next_chunk;
	g->v[5] = (uint64_t)event_base_get_num_events(r.base, EVENT_BASE_COUNT_ACTIVE);
	g->v[6] = r.peer != NULL ? evbuffer_get_length(bufferevent_get_output(r.peer)) : 0;
	g->v[7] = s != NULL ? pop3_output_len(s) : 0;
	g->v[8] = s != NULL ? (uint64_t)s->state : 99;
	g->v[9] = (uint64_t)inq;
	g->v[10] = (uint64_t)outq;
	g->v[11] = r.eof;
}

static void split_chunks(const uint8_t *data, size_t size)
{
	size_t start = 0;

	for (size_t i = 0; i <= size && r.chunks < MAX_CHUNKS; i++) {
		if (i == size || data[i] == '\0') {
			r.chunk[r.chunks] = data + start;
			r.chunk_len[r.chunks++] = i - start;
			start = i + 1;
		}
	}
}

static void seed_store(void)
{
	freeReplyObject(raw_cmd("SET %suidvalidity 1", key_prefix));
	freeReplyObject(raw_cmd("HSET %sdevices default %s", key_prefix, "1 1700000000"));
	freeReplyObject(raw_cmd("HSET %shidden:default 1 %s", key_prefix,
				"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
}

static unsigned int redis_clients(void)
{
	redisReply *rep = raw_cmd("INFO clients");
	const char *p = rep->str != NULL ? strstr(rep->str, "connected_clients:") : NULL;
	unsigned int n = p != NULL ? (unsigned int)strtoul(p + 18, NULL, 10) : 0;

	freeReplyObject(rep);
	return n;
}

static bool lock_held(void)
{
	redisReply *rep = raw_cmd("EXISTS %slock:default", key_prefix);
	bool held = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;

	freeReplyObject(rep);
	return held;
}

/* A hidden set ("hidden:default", "hidden_all") as " uid uid ... " (the
   first few); *n_r: how many. */
static void hidden_set(const char *hash, char *buf, size_t size, unsigned int *n_r)
{
	redisReply *rep = raw_cmd("HKEYS %s%s", key_prefix, hash);
	size_t o = 1;

	snprintf(buf, size, " ");
	*n_r = rep->type == REDIS_REPLY_ARRAY ? (unsigned int)rep->elements : 0;
	for (size_t i = 0; i < *n_r && o + 12 < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s ", rep->element[i]->str);
	freeReplyObject(rep);
}

static void redis_ping(void)
{
	freeReplyObject(raw_cmd("PING"));
}

static void run_loop(void)
{
	long long deadline = now_ms() + DEADLINE_MS;
	struct timeval wait = { 0, TIMER_WAIT_MS * 1000 };
	struct sig last, now;
	unsigned int quiet = 0;
	bool pinged = false;

	signature(&last);
	while (!r.eof || r.srv.sessions > 0) {
		CHECK(now_ms() < deadline, "the session did not end within %d ms (at %s, "
		      "upstream chunk %u of %u)", DEADLINE_MS, replies_cmd_name(&r.k),
		      r.next_chunk, r.chunks);
		event_base_loop(r.base, EVLOOP_NONBLOCK);
		signature(&now);
		if (memcmp(&now, &last, sizeof(now)) != 0) {
			last = now;
			quiet = 0;
			pinged = false;
			continue;
		}
		if (++quiet < QUIET_ROUNDS)
			continue;
		quiet = 0;
		if (!pinged) {
			redis_ping();
			pinged = true;
			continue;
		}
		pinged = false;
		if (!on_quiet()) {
			/* Only a timer can move things now. */
			evtimer_add(r.guard, &wait);
			event_base_loop(r.base, EVLOOP_ONCE);
		}
	}
}

/* After the session: its lock is gone; a hide is there if and only if
   QUIT said it was (the store was empty before, unless seeded). */
static void check_after(bool seeded)
{
	enum conf_delete_action action = r.srv.settings->conf->delete_action;
	const char *hash = action == CONF_DELETE_HIDE_ALL ? "hidden_all" : "hidden:default";
	char hidden[256], uid[24], hex[9];
	unsigned int n;

	/* The unlock is sent without waiting for its reply: once it has
	   left (a few turns of the loop) and Redis answered a PING, it is
	   done. */
	for (int i = 0; i < QUIET_ROUNDS; i++)
		event_base_loop(r.base, EVLOOP_NONBLOCK);
	redis_ping();
	CHECK(!lock_held(), "the device lock outlived the session");
	hidden_set(hash, hidden, sizeof(hidden), &n);
	if (!seeded && !r.k.quit_ok && !r.k.quit_unknown)
		CHECK(n == 0, "%s changed without QUIT +OK:%s", hash, hidden);
	if ((action == CONF_DELETE_HIDE || action == CONF_DELETE_HIDE_ALL) && r.k.quit_ok &&
	    r.k.dele_ok && strlen(r.k.uidl1) == 16) {
		memcpy(hex, r.k.uidl1, 8);
		hex[8] = '\0';
		snprintf(uid, sizeof(uid), " %lu ", strtoul(hex, NULL, 16));
		CHECK(strstr(hidden, uid) != NULL, "QUIT said +OK, message 1 (UID%s) is not "
		      "in %s:%s", uid, hash, hidden);
	}
}

/* Connections popgate made but nobody took (the session went first). */
static void drain_backlog(void)
{
	int fd;

	while ((fd = accept4(imap_listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_settings cs = { .timeout_ms = 2000 };
	char url[200], *error = NULL;
	unsigned int flags;
	bool seeded;
	long long end;
	int sv;

	if (size < 1)
		return 0;
	flags = data[0];
	memset(&r, 0, sizeof(r));
	replies_init(&r.k);
	split_chunks(data + 1, size - 1);
	freeReplyObject(raw_cmd("FLUSHALL"));
	seeded = (flags & 8) != 0;
	if (seeded)
		seed_store();

	r.base = event_base_new();
	snprintf(url, sizeof(url), "unix:%s", fuzz_redis_sock);
	cs.url = url;
	r.srv.base = r.base;
	r.srv.settings = settings_by_flags[flags & 7];
	LIST_INIT(&r.srv.list);
	r.srv.limits = limits_new(64);
	r.srv.cache = cache_new(r.base, &cs, &error);
	if (r.base == NULL || r.srv.limits == NULL || r.srv.cache == NULL)
		violated("set-up: %s", error != NULL ? error : "out of memory");
	end = now_ms() + 2000;
	while (!cache_available(r.srv.cache)) {
		CHECK(now_ms() < end, "the cache did not connect");
		event_base_loop(r.base, EVLOOP_ONCE);
	}
	r.cache_fd = find_cache_fd();
	CHECK(r.cache_fd >= 0, "the cache's connection not found");
	r.listener = evconnlistener_new(r.base, accept_cb, NULL, 0, 0, imap_listen_fd);
	r.guard = evtimer_new(r.base, guard_cb, NULL);
	r.in = evbuffer_new();
	r.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r.listener == NULL || r.guard == NULL || r.in == NULL || r.fd < 0 ||
	    connect(r.fd, (struct sockaddr *)&pop3_addr, sizeof(pop3_addr)) < 0)
		violated("set-up: %s", strerror(errno));
	{
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);

		while ((sv = accept4(pop3_listen_fd, (struct sockaddr *)&sa, &salen,
				     SOCK_CLOEXEC)) < 0 && errno == EAGAIN)
			usleep(10);
		if (sv < 0)
			violated("accept: %s", strerror(errno));
		evutil_make_socket_nonblocking(sv);
		evutil_make_socket_nonblocking(r.fd);
		r.rev = event_new(r.base, r.fd, EV_READ | EV_PERSIST, client_read_cb, NULL);
		event_add(r.rev, NULL);
		pop3_session_create(&r.srv, sv, (struct sockaddr *)&sa, salen, false);
	}

	run_loop();
	check_after(seeded);
	replies_end(&r.k);

	/* Everything goes, and the store is left with no client but ours. */
	event_free(r.rev);
	close(r.fd);
	evbuffer_free(r.in);
	peer_free();
	pop3_server_close_all(&r.srv, "fuzz_end");
	for (int i = 0; i < 4; i++)
		event_base_loop(r.base, EVLOOP_NONBLOCK);
	CHECK(r.srv.sessions == 0, "a session outlived its close");
	cache_free(&r.srv.cache);
	pop3_server_cleanup(&r.srv);
	limits_free(&r.srv.limits);
	evconnlistener_free(r.listener);
	event_free(r.guard);
	event_base_free(r.base);
	drain_backlog();
	end = now_ms() + 2000;
	while (redis_clients() > 1) {
		CHECK(now_ms() < end, "redis kept the cache's connection");
		usleep(100);
	}
	return 0;
}
