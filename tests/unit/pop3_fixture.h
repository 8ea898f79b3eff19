#ifndef POP3_FIXTURE_H
#define POP3_FIXTURE_H

/*
 * Test-only fixture for the POP3 dialogue tests: popgate's POP3 server
 * (a struct pop3_server wired as main.c does) on a fresh event_base per
 * test, with
 *
 *   - a real private redis-server (redis_fixture.h) behind its cache;
 *   - an upstream listener on 127.0.0.1 whose connections are served, in
 *     the order they come, by scripted IMAP peers (imap_peer.h):
 *     upstream(script) is the script of the next one;
 *   - POP3 clients on loopback TCP, each following a script of its own:
 *     pop3_connect(script) hands the server end to pop3_session_create().
 *
 * The configuration is conf_new_defaults() with [upstream] host
 * 127.0.0.1, the listener's port, tls = none; plaintext_auth = always;
 * auth failure delays of FX_AUTH_DELAY_MS. A test may change fx_conf()
 * before its first pop3_connect(), which builds the settings generation.
 *
 * The clients' scripts are those of pop3_client_script.h (SAY, HEAR...),
 * the peers' those of imap_peer.h (SEND, EXPECT...); building blocks for
 * both are below (UP_SESSION_THREE, USER_PASS...). The state store is
 * checked as redis-cli would: fx_key(), lock_held(), hidden_uids().
 *
 * RUN_UNTIL(cond) runs the loop until cond holds and fails the test when a
 * peer or client went off its script or FX_WAIT_MS passed first;
 * DIALOGUE_DONE() waits for every script to end. Failure messages carry
 * each script's position and the log (POP3_TEST_VERBOSE=1: debug level,
 * printed after each test).
 */

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#define FX_WAIT_MS 8000
#define WAIT_MS FX_WAIT_MS
#include "imap_listing_blob.h"
#include "imap_peer.h"
#include "pop3_client_script.h"
#include "redis_fixture.h"

#include "cache.h"
#include "conf.h"
#include "limits_table.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "settings.h"

#define FX_MAX_PEERS 6
#define FX_MAX_CLIENTS 4
#define FX_AUTH_DELAY_MS 30

#define ALICE "alice@example.com"
/* base64 of "\0alice@example.com\0secret" */
#define ALICE_B64 "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA=="

/*
 * Building blocks. The upstream: greeting with SASL-IR, the login of
 * alice@example.com/secret, INBOX with UIDVALIDITY 7 and UIDNEXT 20, the
 * listing (the FETCH lines given), LOGOUT. The POP3 side: the greeting,
 * and USER/PASS of that user.
 */
#define UP_GREETING SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n")
#define UP_LOGIN \
	EXPECT("* AUTHENTICATE PLAIN " ALICE_B64), \
	SEND("$ OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE SPECIAL-USE] Logged in\r\n")
#define UP_SELECT(exists) \
	EXPECT("* SELECT \"INBOX\""), \
	SEND("* " exists " EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n" \
	     "* OK [UIDNEXT 20] Predicted next UID\r\n$ OK [READ-WRITE] Selected\r\n")
#define UP_LIST(fetches) \
	EXPECT("* UID FETCH 1:* (UID RFC822.SIZE FLAGS)"), \
	SEND(fetches "$ OK Fetch completed\r\n")
/* The fingerprints of messages the UIDL map does not know yet (uidl_map.h),
   answered with none. */
#define UP_FPS(set) \
	EXPECT("* UID FETCH " set " (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID " \
	       "DATE FROM SUBJECT)])"), \
	SEND("$ OK Fetch completed\r\n")
#define UP_LOGOUT EXPECT("* LOGOUT"), SEND("* BYE Logging out\r\n$ OK Logout completed\r\n")
/* Three messages: UIDs 3, 5, 9 of 120, 250 and 1000 octets; new to the
   UIDL map, or (KNOWN) in it from an earlier login. */
#define UP_THREE_KNOWN \
	UP_SELECT("3"), \
	UP_LIST("* 1 FETCH (UID 3 RFC822.SIZE 120 FLAGS (\\Seen))\r\n" \
		"* 2 FETCH (UID 5 RFC822.SIZE 250 FLAGS ())\r\n" \
		"* 3 FETCH (UID 9 RFC822.SIZE 1000 FLAGS (\\Answered))\r\n")
#define UP_THREE UP_THREE_KNOWN, UP_FPS("3,5,9")
#define UP_SESSION_THREE UP_GREETING, UP_LOGIN, UP_THREE

#define GREETING HEAR("+OK popgate ready")
#define USER_PASS SAY("USER " ALICE), HEAR("+OK"), SAY("PASS secret")
#define LOGGED_IN_THREE HEAR("+OK Logged in, 3 messages (1370 octets)")
#define BYE HEAR("+OK popgate signing off"), HEAR_CLOSE()
/* The upstream refuses the password, and what the POP3 client hears. */
#define UP_REJECTS \
	EXPECT("* AUTHENTICATE PLAIN " ALICE_B64), \
	SEND("$ NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
#define AUTH_FAILED HEAR("-ERR [AUTH] Authentication failed")
/* [server] login_delay_secs = 60 refuses a second login. */
#define LOGIN_DELAYED \
	HEAR_PREFIX("-ERR [LOGIN-DELAY] Logged in less than 60 seconds ago: try again in ")

/* The scripts most dialogues start with. */
static const struct peer_step up_three[] = {
	UP_SESSION_THREE,
	END_SCRIPT,
};
static const struct peer_step up_three_logout[] = {
	UP_SESSION_THREE,
	UP_LOGOUT,
	END_SCRIPT,
};
/* The same three again: their UIDLs are stored, nothing is fetched. */
static const struct peer_step up_three_known[] = {
	UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
	END_SCRIPT,
};
static const struct peer_step up_three_known_logout[] = {
	UP_GREETING, UP_LOGIN, UP_THREE_KNOWN,
	UP_LOGOUT,
	END_SCRIPT,
};
/* A password refused; a login refused once it is known good (LOGIN-DELAY). */
static const struct peer_step up_rejects[] = {
	UP_GREETING,
	UP_REJECTS,
	END_SCRIPT,
};
static const struct peer_step up_login_only[] = {
	UP_GREETING,
	UP_LOGIN,
	END_SCRIPT,
};
static const struct client_step fails_auth[] = {
	GREETING,
	USER_PASS,
	AUTH_FAILED,
	CLIENT_END,
};
static const struct client_step logs_in_quits[] = {
	GREETING,
	USER_PASS,
	LOGGED_IN_THREE,
	SAY("QUIT"),
	BYE,
	CLIENT_END,
};
static const struct client_step logs_in_three[] = {
	GREETING,
	USER_PASS,
	LOGGED_IN_THREE,
	CLIENT_END,
};
static const struct client_step quits[] = {
	SAY("QUIT"),
	BYE,
	CLIENT_END,
};

static struct {
	struct event_base *base;
	struct event *tick;
	struct conf *conf;         /* until the settings are built */
	struct pop3_server srv;
	struct evconnlistener *up_listener;
	uint16_t up_port;
	int up_sndbuf;             /* SO_SNDBUF of upstream connections; 0: default */
	struct imap_peer peers[FX_MAX_PEERS];
	unsigned int up_scripts, up_conns;
	struct pop3_client clients[FX_MAX_CLIENTS];
	unsigned int nclients;
	size_t out_peak;           /* largest POP3 output buffer watched */
	char error[512];
	FILE *log;
	int saved_stderr;
} fx;

/* ---- the log ---- */

/* What popgate logged so far (the last MiB of it). */
static inline const char *fx_log(void)
{
	static char buf[1024 * 1024];
	long size;
	size_t n;

	if (fx.log == NULL)
		return "";
	fflush(stderr);
	fseek(fx.log, 0, SEEK_END);
	size = ftell(fx.log);
	fseek(fx.log, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, fx.log);
	buf[n] = '\0';
	fseek(fx.log, 0, SEEK_END);
	return buf;
}

/* ---- the upstream ---- */

static inline void fx_upstream_accept(struct evconnlistener *l, evutil_socket_t fd,
				      struct sockaddr *sa, int len, void *arg)
{
	unsigned int i = fx.up_conns++;

	if (i >= fx.up_scripts) {
		snprintf(fx.error, sizeof(fx.error),
			 "upstream connection %u came, with no script for it", i + 1);
		evutil_closesocket(fd);
		return;
	}
	if (fx.up_sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &fx.up_sndbuf, sizeof(fx.up_sndbuf));
	peer_adopt(&fx.peers[i], fd);
}

static inline void fx_drop_shared_listing(void);

/* The script of the next upstream connection; its peer. A script is a
   server no gateway has listed: upstream() deletes the listing copy an
   earlier login shared (shared_listing.h), so a cold login fetches the
   listing whole; upstream_with_copy() keeps it. */
static inline struct imap_peer *upstream_with_copy(const struct peer_step *script)
{
	struct imap_peer *p;

	ck_assert_uint_lt(fx.up_scripts, FX_MAX_PEERS);
	p = &fx.peers[fx.up_scripts++];
	peer_init(p, fx.base, script);
	p->port = fx.up_port;
	return p;
}

static inline struct imap_peer *upstream(const struct peer_step *script)
{
	fx_drop_shared_listing();
	return upstream_with_copy(script);
}

/* Octets the peer has queued that popgate has not taken yet. */
static inline size_t peer_unsent(const struct imap_peer *p)
{
	return p->bev != NULL ? evbuffer_get_length(bufferevent_get_output(p->bev)) : 0;
}

/* Octets between the peer and popgate in the kernel: the peer's send
   queue and popgate's receive queue (its end of the connection found
   among this process's descriptors by its address). */
static inline size_t peer_in_kernel(const struct imap_peer *p)
{
	struct sockaddr_in mine, theirs, sa;
	socklen_t len = sizeof(mine);
	int pfd, outq = 0, inq = 0;

	ck_assert_ptr_nonnull(p->bev);
	pfd = bufferevent_getfd(p->bev);
	ck_assert_int_eq(getsockname(pfd, (struct sockaddr *)&mine, &len), 0);
	len = sizeof(theirs);
	ck_assert_int_eq(getpeername(pfd, (struct sockaddr *)&theirs, &len), 0);
	ck_assert_int_eq(ioctl(pfd, SIOCOUTQ, &outq), 0);
	for (int fd = 0; fd < 4096; fd++) {
		len = sizeof(sa);
		if (fd == pfd || getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
		    sa.sin_family != AF_INET || sa.sin_port != theirs.sin_port)
			continue;
		len = sizeof(sa);
		if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0 ||
		    sa.sin_port != mine.sin_port)
			continue;
		ck_assert_int_eq(ioctl(fd, FIONREAD, &inq), 0);
		return (size_t)outq + (size_t)inq;
	}
	ck_abort_msg("popgate's end of the upstream connection not found");
	return 0;
}

/* ---- the server ---- */

/* The configuration, until the first pop3_connect() freezes it. */
static inline struct conf *fx_conf(void)
{
	ck_assert_msg(fx.conf != NULL, "the configuration is in use already");
	return fx.conf;
}

static inline void fx_freeze_conf(void)
{
	char *error = NULL;

	if (fx.srv.settings != NULL)
		return;
	fx.srv.settings = settings_new(fx.conf, 1, &error);
	fx.conf = NULL;
	ck_assert_msg(fx.srv.settings != NULL, "settings_new: %s", error);
}

/* A new POP3 connection following script: the server end goes to
   pop3_session_create() as from the listener. */
static inline struct pop3_client *pop3_connect(const struct client_step *script)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_storage peer_sa;
	socklen_t len = sizeof(sin), peer_len = sizeof(peer_sa);
	struct pop3_client *c;
	int lfd, sfd, small = 4096;

	fx_freeze_conf();
	ck_assert_uint_lt(fx.nclients, FX_MAX_CLIENTS);
	c = &fx.clients[fx.nclients];
	memset(c, 0, sizeof(*c));
	c->id = ++fx.nclients;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(lfd >= 0 && c->fd >= 0);
	/* Small socket buffers: a client that does not read is felt soon. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sfd = accept4(lfd, (struct sockaddr *)&peer_sa, &peer_len, SOCK_CLOEXEC);
	ck_assert_int_ge(sfd, 0);
	close(lfd);
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	ck_assert_int_eq(evutil_make_socket_nonblocking(sfd), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(c->fd), 0);
	c->in = evbuffer_new();
	c->rev = event_new(fx.base, c->fd, EV_READ | EV_PERSIST, client_read_cb, c);
	c->timer = evtimer_new(fx.base, client_timer_cb, c);
	ck_assert(c->in != NULL && c->rev != NULL && c->timer != NULL);
	event_add(c->rev, NULL);
	pop3_session_create(&fx.srv, sfd, (struct sockaddr *)&peer_sa, peer_len, false);
	c->script = script;
	client_run(c);
	return c;
}

/* The newest open session. */
static inline struct pop3_session *fx_session(void)
{
	struct pop3_session *s = LIST_FIRST(&fx.srv.list);

	ck_assert_ptr_nonnull(s);
	return s;
}

static inline void fx_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
			     void *arg)
{
	size_t now = info->orig_size + info->n_added - info->n_deleted;

	if (now > fx.out_peak)
		fx.out_peak = now;
}

/* From now on fx.out_peak is the largest s's output buffer gets. */
static inline void fx_watch_output(struct pop3_session *s)
{
	fx.out_peak = pop3_output_len(s);
	ck_assert_ptr_nonnull(evbuffer_add_cb(pop3_output(s), fx_out_cb, NULL));
}

/* ---- running ---- */

static inline bool fx_failed(void)
{
	if (fx.error[0] != '\0')
		return true;
	for (unsigned int i = 0; i < fx.up_scripts; i++) {
		if (fx.peers[i].error[0] != '\0')
			return true;
	}
	for (unsigned int i = 0; i < fx.nclients; i++) {
		if (fx.clients[i].error[0] != '\0')
			return true;
	}
	return false;
}

static inline bool fx_all_finished(void)
{
	for (unsigned int i = 0; i < fx.up_scripts; i++) {
		if (!fx.peers[i].finished)
			return false;
	}
	for (unsigned int i = 0; i < fx.nclients; i++) {
		if (!fx.clients[i].finished)
			return false;
	}
	return true;
}

/* Where every script stands, the first error, and the log. */
static inline const char *fx_state(void)
{
	static char buf[64 * 1024];
	const char *log;
	size_t o = 0, len;

	if (fx.error[0] != '\0')
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\n", fx.error);
	for (unsigned int i = 0; i < fx.up_scripts; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "upstream %u: step %zu%s%s%s\n",
				      i + 1, fx.peers[i].step,
				      fx.peers[i].finished ? " (finished)" : "",
				      fx.peers[i].error[0] != '\0' ? ": " : "", fx.peers[i].error);
	for (unsigned int i = 0; i < fx.nclients; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "pop3 client %u: step %zu%s%s%s\n",
				      i + 1, fx.clients[i].step,
				      fx.clients[i].finished ? " (finished)" : "",
				      fx.clients[i].error[0] != '\0' ? ": " : "",
				      fx.clients[i].error);
	log = fx_log();
	len = strlen(log);
	snprintf(buf + o, sizeof(buf) - o, "log%s:\n%s", len > 16384 ? " (its end)" : "",
		 log + (len > 16384 ? len - 16384 : 0));
	return buf;
}

#define FX_CHECK() ck_assert_msg(!fx_failed(), "%s", fx_state())

#define RUN_UNTIL(cond) do { \
		long long end_ = peer_now_ms() + FX_WAIT_MS; \
		while (!(cond) && !fx_failed() && peer_now_ms() < end_) \
			event_base_loop(fx.base, EVLOOP_ONCE); \
		FX_CHECK(); \
		ck_assert_msg((cond), "not within %d ms: %s\n%s", FX_WAIT_MS, #cond, \
			      fx_state()); \
	} while (0)

/* Runs the loop for ms (what is ready now, for 0), failing on an error. */
static inline void fx_run_for(unsigned int ms)
{
	long long end = peer_now_ms() + ms;

	for (int i = 0; i < 8; i++)
		event_base_loop(fx.base, EVLOOP_NONBLOCK);
	while (!fx_failed() && peer_now_ms() < end)
		event_base_loop(fx.base, EVLOOP_ONCE);
	FX_CHECK();
}

/* Every script has ended, and nothing unexpected came just after. */
#define DIALOGUE_DONE() do { \
		RUN_UNTIL(fx_all_finished()); \
		fx_run_for(0); \
	} while (0)

/* ---- the state store, as redis-cli sees it ---- */

/* "popgate:{alice@example.com@127.0.0.1:<port>}:<rest>" */
static inline const char *fx_key(const char *rest)
{
	static char buf[4][256];
	static unsigned int next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "popgate:{" ALICE "@127.0.0.1:%u}:%s", fx.up_port, rest);
	return b;
}

/* The key of the listing copy logins share (shared_listing.h). */
static inline const char *fx_shared_listing_key(void)
{
	char rest[64], id[17];

	imap_listing_blob_id("127.0.0.1", (uint16_t)fx.up_port, "INBOX", id);
	snprintf(rest, sizeof(rest), "listing:%s", id);
	return fx_key(rest);
}

/* The listing copy the last login shared deleted. */
static inline void fx_drop_shared_listing(void)
{
	freeReplyObject(raw_cmd("DEL %s", fx_shared_listing_key()));
}

static inline bool lock_held(const char *device)
{
	char rest[64];

	snprintf(rest, sizeof(rest), "lock:%s", device);
	return raw_int("EXISTS %s", fx_key(rest)) == 1;
}

static inline int fx_uid_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* The UIDs of a hidden hash ("hidden:default", "hidden_all"), ascending,
   as "1 3" ("" when none); *fps_r (if not NULL): how many of them have a
   64-hex-digit fingerprint. */
static inline const char *hidden_uids(const char *hash, unsigned int *fps_r)
{
	static char buf[512];
	unsigned long uids[64];
	size_t n = 0, o = 0;
	redisReply *r = raw_cmd("HGETALL %s", fx_key(hash));

	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	if (fps_r != NULL)
		*fps_r = 0;
	for (size_t i = 0; i + 1 < r->elements && n < 64; i += 2) {
		const char *fp = r->element[i + 1]->str;

		uids[n++] = strtoul(r->element[i]->str, NULL, 10);
		if (fps_r != NULL && strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64)
			(*fps_r)++;
	}
	freeReplyObject(r);
	qsort(uids, n, sizeof(uids[0]), fx_uid_cmp);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%lu", i > 0 ? " " : "", uids[i]);
	return buf;
}

/* ---- set-up ---- */

static inline void fx_tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static inline void fx_setup(void)
{
	bool verbose = getenv("POP3_TEST_VERBOSE") != NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct timeval tv = { 0, 10000 };
	struct cache_settings cs = { .timeout_ms = 2000 };
	struct conf_upstream *up;
	char url[PATH_MAX + 16], *error = NULL;
	long long end;

	memset(&fx, 0, sizeof(fx));
	log_open(LOG_TARGET_STDERR, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, NULL, 0);
	fflush(stderr);
	fx.saved_stderr = dup(2);
	fx.log = tmpfile();
	ck_assert_ptr_nonnull(fx.log);
	dup2(fileno(fx.log), 2);

	redis_dir_new();
	redis_start();
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	fx.tick = event_new(fx.base, -1, EV_PERSIST, fx_tick_cb, NULL);
	event_add(fx.tick, &tv);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fx.up_listener = evconnlistener_new_bind(fx.base, fx_upstream_accept, NULL,
						 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
						 (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(fx.up_listener);
	ck_assert_int_eq(getsockname(evconnlistener_get_fd(fx.up_listener),
				     (struct sockaddr *)&sin, &len), 0);
	fx.up_port = ntohs(sin.sin_port);

	fx.conf = conf_new_defaults();
	ck_assert_ptr_nonnull(fx.conf);
	up = calloc(1, sizeof(*up));
	ck_assert_ptr_nonnull(up);
	up->name = "default";
	up->host = strdup("127.0.0.1");
	up->mailbox = strdup("INBOX");
	up->uidl_format = strdup("dovecot");
	ck_assert(up->host != NULL && up->mailbox != NULL);
	up->port = fx.up_port;
	up->port_set = true;
	up->tls = CONF_TLS_NONE;
	up->timeout_secs = 5;
	fx.conf->upstream = up;
	fx.conf->plaintext_auth = CONF_PLAINTEXT_ALWAYS;
	fx.conf->auth_fail_delay_ms = FX_AUTH_DELAY_MS;
	fx.conf->auth_fail_delay_max_ms = FX_AUTH_DELAY_MS;

	snprintf(url, sizeof(url), "unix:%s", sock);
	cs.url = url;
	/* A Redis of its own, as gateways share: [cache] share_listings =
	   auto shares the listing there. */
	free(fx.conf->cache_url);
	fx.conf->cache_url = strdup(url);
	ck_assert_ptr_nonnull(fx.conf->cache_url);
	fx.srv.base = fx.base;
	LIST_INIT(&fx.srv.list);
	fx.srv.limits = limits_new(1024);
	fx.srv.cache = cache_new(fx.base, &cs, &error);
	ck_assert_msg(fx.srv.cache != NULL, "cache_new: %s", error);
	ck_assert_ptr_nonnull(fx.srv.limits);
	end = peer_now_ms() + 3000;
	while (!cache_available(fx.srv.cache) && peer_now_ms() < end)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_msg(cache_available(fx.srv.cache), "the cache did not connect");
}

static inline void fx_teardown(void)
{
	const char *text;

	/* Scripts may live on the test's stack: nothing follows them from
	   here on. */
	for (unsigned int i = 0; i < fx.nclients; i++) {
		struct pop3_client *c = &fx.clients[i];

		client_hang_up(c, false);
		event_free(c->rev);
		event_free(c->timer);
		evbuffer_free(c->in);
	}
	for (unsigned int i = 0; i < fx.up_scripts; i++)
		peer_free(&fx.peers[i]);
	evconnlistener_free(fx.up_listener);
	pop3_server_close_all(&fx.srv, "test_end");
	for (int i = 0; i < 8; i++)
		event_base_loop(fx.base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(fx.srv.sessions, 0);
	cache_free(&fx.srv.cache);
	settings_unref(&fx.srv.settings);
	conf_free(&fx.conf);
	pop3_server_cleanup(&fx.srv);
	limits_free(&fx.srv.limits);
	event_free(fx.tick);
	event_base_free(fx.base);
	raw_close();
	redis_kill(SIGKILL);
	text = getenv("POP3_TEST_VERBOSE") != NULL ? fx_log() : "";
	fflush(stderr);
	dup2(fx.saved_stderr, 2);
	close(fx.saved_stderr);
	fputs(text, stderr);
	fclose(fx.log);
	fx.log = NULL;
}

/* One test case with the fixture. */
static inline TCase *fx_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, redis_root_setup, redis_root_teardown);
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

static inline int fx_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* hiredis writes with write(2), as the daemon does. */
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
