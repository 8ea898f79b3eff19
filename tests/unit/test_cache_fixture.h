#ifndef TEST_CACHE_FIXTURE_H
#define TEST_CACHE_FIXTURE_H

/*
 * Test-only fixture shared by test_cache.c and test_cache_server.c: the
 * cache against a real, private redis-server (redis_fixture.h). Each test
 * starts its own on a unix socket in a temporary directory (killed in
 * teardown) and runs its own event loop with a deadline. State is checked
 * through the raw hiredis connection.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "log.h"
#include "redis_fixture.h"

#define ACCOUNT "alice@example.com@imap.example.com:993"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A mailbox with nothing in it. */
static const struct cache_listing empty_listing = { 1, 1, NULL, 0 };

/* 1..n, for listings. */
static inline uint32_t *uids_upto(size_t n)
{
	uint32_t *uids = calloc(n + 1, sizeof(*uids));
	size_t i;

	ck_assert_ptr_nonnull(uids);
	for (i = 0; i < n; i++)
		uids[i] = (uint32_t)(i + 1);
	return uids;
}

/* --- event loop --- */

static struct event_base *base;
static struct event *tick;
static struct cache *cache;

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *flag >= want or ms pass; true if reached. */
static inline bool run_until(const int *flag, int want, unsigned int ms)
{
	long long end = now_ms() + ms;

	while ((flag == NULL || *flag < want) && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	return flag == NULL || *flag >= want;
}

static inline void run_for(unsigned int ms)
{
	run_until(NULL, 0, ms);
}

static inline void wait_available(struct cache *c, unsigned int ms)
{
	long long end = now_ms() + ms;

	while (!cache_available(c) && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_msg(cache_available(c), "cache did not connect in %u ms", ms);
}

struct res {
	int calls;
	enum cache_status st;
	struct cache_view v;
	/* The view: the listing it was asked for, and its uids hidden for
	   the device and for all (the first 64 of each). */
	const uint32_t *uids;
	uint32_t hidden[64], hidden_all[64];
	bool has_hidden;
	struct cache_req **cancel_other;
	bool free_cache;
};

static inline void status_cb(void *ctx, enum cache_status st)
{
	struct res *r = ctx;

	r->calls++;
	r->st = st;
	if (r->cancel_other != NULL)
		cache_req_cancel(r->cancel_other);
	if (r->free_cache)
		cache_free(&cache);
}

static inline void view_cb(void *ctx, enum cache_status st,
		    const struct cache_view *v)
{
	struct res *r = ctx;
	size_t i, nh = 0, na = 0;

	r->calls++;
	r->st = st;
	ck_assert((st == CACHE_OK) == (v != NULL));
	/* Either one waits until the callback returns: v stays valid. */
	if (r->cancel_other != NULL)
		cache_req_cancel(r->cancel_other);
	if (r->free_cache)
		cache_free(&cache);
	if (v == NULL)
		return;
	r->v = *v;
	r->has_hidden = v->hidden != NULL;
	for (i = 0; r->has_hidden && i < v->count; i++) {
		/* Check's asserts are slow: one for the lot. */
		if (v->hidden[i] > (CACHE_HIDDEN_DEVICE | CACHE_HIDDEN_ALL))
			ck_abort_msg("bad hidden bits %u", v->hidden[i]);
		if ((v->hidden[i] & CACHE_HIDDEN_DEVICE) && nh < 64)
			r->hidden[nh++] = r->uids[i];
		if ((v->hidden[i] & CACHE_HIDDEN_ALL) && na < 64)
			r->hidden_all[na++] = r->uids[i];
	}
	r->v.hidden = NULL;
}

/* Each request: the callback never runs inside the call, then exactly
   once from the loop. */
/* A deadline that is only there against a hang, stretched as Check's
   own timeouts are (tests/run-unit.sh sets CK_TIMEOUT_MULTIPLIER for a
   sanitized build, several times slower, on a loaded machine). */
static inline unsigned int hang_ms(unsigned int ms)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	unsigned long k = m != NULL ? strtoul(m, NULL, 10) : 1;

	return k >= 1 && k <= 10 ? ms * (unsigned int)k : ms;
}

#define WAIT_ONE(r, ms) do { \
		ck_assert_int_eq((r).calls, 0); \
		ck_assert_msg(run_until(&(r).calls, 1, hang_ms(ms)), "no callback"); \
		run_for(0); \
		ck_assert_int_eq((r).calls, 1); \
	} while (0)

static inline enum cache_status do_lock(const char *dev, const char *token,
				 unsigned int ttl)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, dev, token, ttl,
					 status_cb, &r));
	WAIT_ONE(r, 3000);
	return r.st;
}

static inline enum cache_status do_refresh(const char *dev, const char *token)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_lock_refresh(cache, ACCOUNT, dev, token, 60,
						 status_cb, &r));
	WAIT_ONE(r, 3000);
	return r.st;
}

/* The view of listing uids[0..n) at uidvalidity, uidnext; a new device
   is registered from first_uidnext. */
static inline struct res do_view_list(const char *account, const char *dev,
				      uint32_t uidvalidity, uint32_t uidnext,
				      const uint32_t *uids, size_t n,
				      uint32_t first_uidnext)
{
	struct cache_listing l = {
		.uidvalidity = uidvalidity, .uidnext = uidnext,
		.uids = uids, .n = n,
	};
	struct res r = { .uids = uids };

	ck_assert_ptr_nonnull(cache_load_view(cache, account, dev, &l,
					      first_uidnext, view_cb, &r));
	/* Only against a hang: a view that prunes 600,000 hides took over
	   10 s on a 2-core machine at load 20 (the tcase limit is 30 s). */
	WAIT_ONE(r, 25000);
	return r;
}

/* The view of a mailbox holding every uid below uidnext (at most
   CACHE_VIEW_MAX), registering a new device from uidnext. */
static inline struct res do_view(const char *account, const char *dev,
			  uint32_t uidvalidity, uint32_t uidnext)
{
	size_t n = uidnext > 1 ? uidnext - 1 : 0;
	uint32_t *uids;
	struct res r;

	if (n > CACHE_VIEW_MAX)
		n = CACHE_VIEW_MAX;
	uids = uids_upto(n);
	r = do_view_list(account, dev, uidvalidity, uidnext, uids, n,
			 uidnext);
	free(uids);
	r.uids = NULL;
	return r;
}

static inline enum cache_status do_hide(const char *dev, const char *token,
				 bool all, uint32_t uidvalidity,
				 const uint32_t *uids, const char *const *fps,
				 size_t n)
{
	struct res r = { 0 };

	ck_assert_ptr_nonnull(cache_hide(cache, ACCOUNT, dev, token, all,
					 uidvalidity, uids, fps, n, status_cb,
					 &r));
	WAIT_ONE(r, 5000);
	return r.st;
}

static inline struct cache *new_cache(const char *url, const char *password,
			       unsigned int timeout_ms)
{
	struct cache_settings set = {
		.url = url, .password = password, .timeout_ms = timeout_ms,
	};
	char *error = NULL;
	struct cache *c = cache_new(base, &set, &error);

	ck_assert_msg(c != NULL, "cache_new: %s", error);
	return c;
}

static inline void setup(void)
{
	struct timeval tv = { 0, 10000 };
	char url[PATH_MAX + 16];

	log_open(LOG_TARGET_STDERR, getenv("TEST_CACHE_VERBOSE") != NULL ?
		 LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, NULL, 0);
	redis_dir_new();
	redis_start();
	base = event_base_new();
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	snprintf(url, sizeof(url), "unix:%s", sock);
	/* The per-request timeout: no test here is about it (those that are
	   make their own cache), so a slow build on a loaded machine gets
	   room too. */
	cache = new_cache(url, NULL, hang_ms(5000));
	wait_available(cache, hang_ms(2000));
}

static inline void teardown(void)
{
	cache_free(&cache);
	raw_close();
	event_free(tick);
	event_base_free(base);
	redis_kill(SIGKILL);
}


/* One test case with the fixture; tests may wait several seconds. */
static inline TCase *cache_test_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, redis_root_setup, redis_root_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

static inline int cache_test_run(Suite *s)
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
