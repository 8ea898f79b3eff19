/*
 * The cache against a scripted Redis (redis_peer.h): replies a real
 * redis-server never gives, each a regression of a fault the reply fuzzer
 * (tests/fuzz/fuzz_cache_replies.c) found. The process must survive every
 * one, the request in question fail alone, and the cache come back.
 */

#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cache.h"
#include "cache_retention.h"
#include "redis_peer.h"

#define ACCOUNT "alice@example.com@imap.example.com:993"

static struct event_base *base;
static struct event *tick;
static struct cache *cache;
static struct redis_peer peer;
static int peer_fd = -1;
static char dir[64];
static char path[PATH_MAX];
static char logged[8192];

/* What the peer does with the n-th command (1-based, over every
   connection); NULL: "+OK". */
static const char *(*script)(const redisReply *cmd, unsigned long n);

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void log_hook(void *ctx, enum cache_log_level level, const char *line)
{
	size_t o = strlen(logged);

	snprintf(logged + o, sizeof(logged) - o, "%s\n", line);
	if (getenv("TEST_CACHE_VERBOSE") != NULL)
		fprintf(stderr, "%s\n", line);
}

static void on_command(struct redis_peer *p, const redisReply *cmd, void *ctx)
{
	const char *reply = script != NULL ? script(cmd, p->commands) : NULL;

	if (reply == NULL)
		reply = redis_peer_is(cmd, "PING") ? "+PONG\r\n" : "+OK\r\n";
	redis_peer_send(p, reply, strlen(reply));
}

static void setup(void)
{
	struct timeval tv = { 0, 10000 };
	struct cache_settings set = { .timeout_ms = 2000, .hooks.log = log_hook };
	char url[PATH_MAX + 8], *error = NULL;

	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/popgate-test-peer.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/peer.sock", dir);
	peer_fd = redis_peer_listen(path);
	ck_assert_int_ge(peer_fd, 0);
	base = event_base_new();
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	redis_peer_start(&peer, base, peer_fd, on_command, NULL);
	logged[0] = '\0';
	script = NULL;
	snprintf(url, sizeof(url), "unix:%s", path);
	set.url = url;
	cache = cache_new(base, &set, &error);
	ck_assert_msg(cache != NULL, "cache_new: %s", error);
}

static void teardown(void)
{
	cache_free(&cache);
	redis_peer_stop(&peer, peer_fd);
	close(peer_fd);
	unlink(path);
	rmdir(dir);
	event_free(tick);
	event_base_free(base);
}

/* Runs the loop until cond() or ms pass. */
static bool run_until(bool (*cond)(void), unsigned int ms)
{
	long long end = now_ms() + ms;

	while (!cond() && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	return cond();
}

static bool available(void)
{
	return cache_available(cache);
}

static bool unavailable(void)
{
	return !cache_available(cache);
}

static int calls;
static enum cache_status got;

static void status_cb(void *ctx, enum cache_status st)
{
	calls++;
	got = st;
}

static bool called(void)
{
	return calls > 0;
}

/* A reply nobody asked for (a server that answers twice, or something
   at the url that is not Redis): hiredis 0.14 aborted the process (an
   assert in redisProcessCallbacks). Now the connection is dropped, with
   the reason in the log, and the next one works. */
START_TEST(reply_to_no_request_drops_the_connection)
{
	ck_assert(run_until(available, 5000));
	ck_assert_uint_eq(peer.connections, 1);
	redis_peer_send(&peer, "+OK\r\n", 5);
	ck_assert(run_until(unavailable, 5000));
	ck_assert_msg(strstr(logged, "a reply to no request") != NULL, "log: %s", logged);
	/* Back after the backoff, on a new connection that works. */
	ck_assert(run_until(available, 5000));
	ck_assert_uint_eq(peer.connections, 2);
	calls = 0;
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tok", 60, status_cb, NULL));
	ck_assert(run_until(called, 5000));
	ck_assert_int_eq(got, CACHE_OK);
}
END_TEST

/* The same with a request out: one reply too many, behind its own. */
static const char *twice(const redisReply *cmd, unsigned long n)
{
	return redis_peer_is(cmd, "SET") && peer.connections == 1 ? "+OK\r\n:1\r\n" : NULL;
}

START_TEST(second_reply_to_one_request)
{
	script = twice;
	ck_assert(run_until(available, 5000));
	calls = 0;
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tok", 60, status_cb, NULL));
	ck_assert(run_until(called, 5000));
	/* Its own reply came first: the lock is taken. */
	ck_assert_int_eq(got, CACHE_OK);
	ck_assert(run_until(available, 5000));
	calls = 0;
	ck_assert_ptr_nonnull(cache_barrier(cache, ACCOUNT, status_cb, NULL));
	ck_assert(run_until(called, 5000));
	ck_assert_int_eq(got, CACHE_OK);
	ck_assert_msg(strstr(logged, "a reply to no request") != NULL, "log: %s", logged);
}
END_TEST

/* An array header longer than any reply popgate asks for: hiredis would
   allocate its element table (13 GB here) before any element came. The
   request fails, the connection is recycled, the next one works. */
static const char *huge_array(const redisReply *cmd, unsigned long n)
{
	return redis_peer_is(cmd, "SET") && peer.connections == 1 ?
		"*1700000000\r\n$3\r\n019\r\n" : NULL;
}

START_TEST(huge_array_header_drops_the_connection)
{
	script = huge_array;
	ck_assert(run_until(available, 5000));
	calls = 0;
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tok", 60, status_cb, NULL));
	ck_assert(run_until(called, 5000));
	ck_assert_int_eq(got, CACHE_UNAVAILABLE);
	ck_assert_msg(strstr(logged, "more than 4000000 elements") != NULL, "log: %s", logged);
	ck_assert(run_until(available, 5000));
	ck_assert_uint_eq(peer.connections, 2);
	calls = 0;
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tok", 60, status_cb, NULL));
	ck_assert(run_until(called, 5000));
	ck_assert_int_eq(got, CACHE_OK);
}
END_TEST

/* Retention's two replies with parsers of their own, as a Redis that
   lies would give them: the decision (EVAL: code, forgotten, skipped,
   uids, needs) and the registered devices (HKEYS). Good ones deliver
   what they say; bad ones fail that request alone with CACHE_ERROR. */
static const struct {
	const char *reply;
	enum cache_status st;
	size_t count;
	uint32_t uid0, need0;
	const char *devices;
} retention_replies[] = {
	/* the decision */
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*2\r\n$1\r\n9\r\n$1\r\n4\r\n"
	  "*2\r\n$5\r\n86400\r\n$1\r\n0\r\n", CACHE_OK, 2, 4, 0, NULL },   /* sorted */
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*0\r\n*0\r\n", CACHE_OK, 0, 0, 0, NULL },
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n*1\r\n$10\r\n4294967295\r\n",
	  CACHE_OK, 1, 4, 4294967295u, NULL },
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n*1\r\n$10\r\n4294967296\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },                                /* need > 32 bits */
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n*0\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },                                /* lists differ */
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n*1\r\n$2\r\n-1\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n*1\r\n:7\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },                                /* need not a string */
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n0\r\n*1\r\n$1\r\n0\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },                                /* uid 0 */
	{ "*5\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n:0\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },                                /* needs not a list */
	{ "*4\r\n:0\r\n$0\r\n\r\n:0\r\n*1\r\n$1\r\n4\r\n",
	  CACHE_ERROR, 0, 0, 0, NULL },                                /* the old answer */
	{ "*6\r\n:0\r\n$0\r\n\r\n:0\r\n*0\r\n*0\r\n*0\r\n", CACHE_ERROR, 0, 0, 0, NULL },
	{ "*2\r\n:3\r\n$5\r\nphone\r\n", CACHE_IN_USE, 0, 0, 0, NULL },
	{ "*2\r\n:9\r\n$0\r\n\r\n", CACHE_ERROR, 0, 0, 0, NULL },
	{ "-ERR no script\r\n", CACHE_ERROR, 0, 0, 0, NULL },
	/* the devices */
	{ "*2\r\n$2\r\npc\r\n$5\r\nphone\r\n", CACHE_OK, 0, 0, 0, "pc phone" },
	{ "*0\r\n", CACHE_OK, 0, 0, 0, "" },
	{ "*1\r\n$5\r\nph on\r\n", CACHE_ERROR, 0, 0, 0, "" },   /* not a device name */
	{ "*1\r\n$0\r\n\r\n", CACHE_ERROR, 0, 0, 0, "" },
	{ "*1\r\n$33\r\n123456789012345678901234567890123\r\n", CACHE_ERROR, 0, 0, 0, "" },
	{ "*1\r\n:5\r\n", CACHE_ERROR, 0, 0, 0, "" },
	{ ":1\r\n", CACHE_ERROR, 0, 0, 0, "" },
	{ "$-1\r\n", CACHE_ERROR, 0, 0, 0, "" },
};

static int retention_row;
static struct {
	enum cache_status st;
	bool with;
	size_t count;
	uint32_t uid0, need0;
	char devices[64];
} ret_got;

static const char *retention_reply(const redisReply *cmd, unsigned long n)
{
	bool devices = retention_replies[retention_row].devices != NULL;

	if (redis_peer_is(cmd, devices ? "HKEYS" : "EVAL"))
		return retention_replies[retention_row].reply;
	return NULL;
}

static void retention_cb(void *ctx, enum cache_status st, const struct cache_retention *r)
{
	calls++;
	ret_got.st = st;
	ret_got.with = r != NULL;
	if (r != NULL) {
		ret_got.count = r->count;
		ret_got.uid0 = r->count > 0 ? r->uids[0] : 0;
		ret_got.need0 = r->count > 0 ? r->need[0] : 0;
		snprintf(ret_got.devices, sizeof(ret_got.devices), "%s",
			 r->devices != NULL ? r->devices : "");
	}
}

START_TEST(retention_reply_table)
{
	const struct cache_retention_age ages[] = { { "phone", 86400 } };
	bool devices = retention_replies[_i].devices != NULL;

	retention_row = _i;
	script = retention_reply;
	ck_assert(run_until(available, 5000));
	calls = 0;
	memset(&ret_got, 0, sizeof(ret_got));
	if (devices)
		ck_assert_ptr_nonnull(cache_retention_devices(cache, ACCOUNT, retention_cb, NULL));
	else
		ck_assert_ptr_nonnull(cache_retention_decide(cache, ACCOUNT, "pc", "tok", 7, 1000, 0,
							     100, ages, 1, NULL, 0, retention_cb,
							     NULL));
	ck_assert(run_until(called, 5000));
	ck_assert_int_eq(calls, 1);
	ck_assert_msg(ret_got.st == retention_replies[_i].st, "row %d: status %d", _i, ret_got.st);
	ck_assert(ret_got.with == (ret_got.st == CACHE_OK || ret_got.st == CACHE_IN_USE));
	if (ret_got.st == CACHE_OK && !devices) {
		ck_assert_uint_eq(ret_got.count, retention_replies[_i].count);
		ck_assert_uint_eq(ret_got.uid0, retention_replies[_i].uid0);
		ck_assert_uint_eq(ret_got.need0, retention_replies[_i].need0);
	}
	if (ret_got.st == CACHE_OK && devices)
		ck_assert_str_eq(ret_got.devices, retention_replies[_i].devices);
	/* the cache goes on */
	script = NULL;
	calls = 0;
	ck_assert_ptr_nonnull(cache_barrier(cache, ACCOUNT, status_cb, NULL));
	ck_assert(run_until(called, 5000));
	ck_assert_int_eq(got, CACHE_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_peer");
	TCase *tc = tcase_create("replies");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, reply_to_no_request_drops_the_connection);
	tcase_add_test(tc, second_reply_to_one_request);
	tcase_add_test(tc, huge_array_header_drops_the_connection);
	tcase_add_loop_test(tc, retention_reply_table, 0,
			    sizeof(retention_replies) / sizeof(retention_replies[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
