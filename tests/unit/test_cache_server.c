/*
 * The cache's connection and the managed redis-server: Redis killed,
 * hung and restarted, timeouts, unlocks sent again after an outage,
 * AUTH/SELECT/TCP, bad settings, cache = auto (test_cache_fixture.h).
 */

#include "test_cache_fixture.h"

/* --- Redis going away --- */

START_TEST(redis_down_then_back)
{
	struct res r = { 0 };
	long long t0;

	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	/* A request in flight when the server dies. */
	redis_kill(SIGSTOP);
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tokA", 60,
					 status_cb, &r));
	run_for(100);
	t0 = now_ms();
	redis_kill(SIGKILL);
	WAIT_ONE(r, 1000);
	ck_assert_int_eq(r.st, CACHE_UNAVAILABLE);
	ck_assert_int_lt(now_ms() - t0, 1000);
	ck_assert(!cache_available(cache));
	/* While down: failing fast, from the loop. */
	t0 = now_ms();
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_UNAVAILABLE);
	ck_assert_int_eq(do_view(ACCOUNT, "office", 1, 1).st, CACHE_UNAVAILABLE);
	ck_assert_int_lt(now_ms() - t0, 500);
	run_for(700);
	/* Back on the same socket: the cache finds it by itself. */
	redis_start();
	raw_close();
	wait_available(cache, 6000);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
}
END_TEST

START_TEST(hung_server_times_out)
{
	struct res r = { 0 };
	long long t0;
	char url[PATH_MAX + 16];

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s", sock);
	cache = new_cache(url, NULL, 300);
	wait_available(cache, 2000);
	redis_kill(SIGSTOP);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r));
	WAIT_ONE(r, 2000);
	ck_assert_int_eq(r.st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	ck_assert(!cache_available(cache));
	/* Whether the timed-out SET was applied is unknown (the server may
	   still read it after SIGCONT): a timeout means "outcome unknown". */
	redis_kill(SIGCONT);
	wait_available(cache, 3000);
	ck_assert_int_eq(do_lock("phone", "tokA", 60), CACHE_OK);
}
END_TEST

/* The request that times out takes the connection down with it: those
   sent after it fail at once (not at their own timeout), one cancelled
   meanwhile never calls back. */
START_TEST(timeout_while_sent_fails_the_rest)
{
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct cache_req *cancelled;
	char url[PATH_MAX + 16];
	long long t0;

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s", sock);
	cache = new_cache(url, NULL, 300);
	wait_available(cache, 2000);
	redis_kill(SIGSTOP);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r1));
	run_for(200);
	ck_assert_ptr_nonnull(cache_load_view(cache, ACCOUNT, "office", 1, 1,
					      view_cb, &r2));
	cancelled = cache_lock(cache, ACCOUNT, "tablet", "tokA", 60,
			       status_cb, &r3);
	ck_assert_ptr_nonnull(cancelled);
	run_for(10);
	cache_req_cancel(&cancelled);
	WAIT_ONE(r1, 2000);
	ck_assert_int_eq(r1.st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	ck_assert_msg(run_until(&r2.calls, 1, 500), "view never completed");
	ck_assert_int_lt(now_ms() - t0, 450);
	ck_assert_int_eq(r2.st, CACHE_UNAVAILABLE);
	ck_assert(!cache_available(cache));
	redis_kill(SIGCONT);
	wait_available(cache, 3000);
	ck_assert_int_eq(do_lock("phone", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(r1.calls, 1);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r3.calls, 0);
}
END_TEST

static void set_lock(const char *device, const char *token)
{
	freeReplyObject(raw_cmd("SET popgate:{%s}:lock:%s %s", ACCOUNT, device,
				token));
}

static long long lock_exists(const char *device)
{
	return raw_int("EXISTS popgate:{" ACCOUNT "}:lock:%s", device);
}

/* Unlocks that Redis did not confirm (lost in flight, or made while it
   was away) are sent again once the connection is back, and only until
   confirmed. The fixture's server keeps nothing: the locks as they stood
   before the outage are written again by hand. */
START_TEST(unlocks_replayed_after_reconnect)
{
	char url[PATH_MAX + 16];
	long long end;

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s", sock);
	cache = new_cache(url, NULL, 300);
	wait_available(cache, 2000);
	redis_kill(SIGSTOP);
	cache_unlock(cache, ACCOUNT, "tablet", "tokA");
	run_for(500);
	ck_assert(!cache_available(cache));
	redis_kill(SIGKILL);
	run_for(100);
	cache_unlock(cache, ACCOUNT, "office", "tokA");
	cache_unlock(cache, ACCOUNT, "phone", "tokA");
	run_for(200);

	redis_start();
	raw_close();
	set_lock("tablet", "tokA");
	set_lock("office", "tokA");
	set_lock("phone", "tokB");
	wait_available(cache, 6000);
	for (end = now_ms() + 2000; now_ms() < end &&
	     (lock_exists("tablet") || lock_exists("office"));)
		run_for(20);
	ck_assert_int_eq(lock_exists("tablet"), 0);
	ck_assert_int_eq(lock_exists("office"), 0);
	/* Someone else's token: left alone, and confirmed all the same. */
	ck_assert_int_eq(lock_exists("phone"), 1);

	redis_kill(SIGKILL);
	run_for(100);
	redis_start();
	raw_close();
	set_lock("tablet", "tokA");
	set_lock("office", "tokA");
	wait_available(cache, 6000);
	run_for(300);
	ck_assert_int_eq(lock_exists("tablet"), 1);
	ck_assert_int_eq(lock_exists("office"), 1);
}
END_TEST

START_TEST(nothing_listening_fails_fast)
{
	struct res r = { 0 };
	char url[PATH_MAX + 16];
	long long t0;

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s/nobody.sock", dir);
	cache = new_cache(url, NULL, 5000);
	run_for(50);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "t", 60,
					 status_cb, &r));
	WAIT_ONE(r, 1000);
	ck_assert_int_eq(r.st, CACHE_UNAVAILABLE);
	ck_assert_int_lt(now_ms() - t0, 500);
}
END_TEST

/* --- AUTH, SELECT, TCP --- */

static unsigned int free_tcp_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

START_TEST(auth_select_and_tcp)
{
	char url[PATH_MAX + 64];
	redisReply *r;

	cache_free(&cache);
	redis_kill(SIGKILL);
	redis_pass = "s3cret pass";
	redis_port = free_tcp_port();
	redis_start();

	snprintf(url, sizeof(url), "unix:%s?db=3", sock);
	cache = new_cache(url, "s3cret pass", 2000);
	/* Made while connecting: waits behind AUTH and SELECT. */
	ck_assert(!cache_available(cache));
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 0);
	freeReplyObject(raw_cmd("SELECT 3"));
	ck_assert_int_eq(raw_int("DBSIZE%s", ""), 1);
	cache_free(&cache);

	/* Host name through the resolver, password in the url. */
	snprintf(url, sizeof(url), "redis://:s3cret%%20pass@localhost:%u/5",
		 redis_port);
	cache = new_cache(url, NULL, 2000);
	wait_available(cache, 3000);
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_OK);
	freeReplyObject(raw_cmd("SELECT 5"));
	r = raw_cmd("GET popgate:{%s}:lock:office", ACCOUNT);
	ck_assert_str_eq(r->str, "tokB");
	freeReplyObject(r);
	cache_free(&cache);

	/* A wrong password never gets through. */
	snprintf(url, sizeof(url), "redis://127.0.0.1:%u", redis_port);
	cache = new_cache(url, "wrong", 2000);
	run_for(300);
	ck_assert(!cache_available(cache));
	ck_assert_int_eq(do_lock("office", "tokC", 60), CACHE_UNAVAILABLE);
}
END_TEST

START_TEST(bad_settings)
{
	struct cache_settings set = { .url = "redis://h", .password = "x" };
	char *error = NULL;

	set.url = "redis://:a@h";
	ck_assert_ptr_null(cache_new(base, &set, &error));
	ck_assert_ptr_nonnull(strstr(error, "both"));
	free(error);
	set.url = "memcached://h";
	ck_assert_ptr_null(cache_new(base, &set, &error));
	free(error);
	set.url = "redis://h";
	set.timeout_ms = 600001;
	ck_assert_ptr_null(cache_new(base, &set, &error));
	free(error);
	set.url = "auto";
	set.password = NULL;
	set.timeout_ms = 0;
	set.state_dir = NULL;
	ck_assert_ptr_null(cache_new(base, &set, &error));
	free(error);
}
END_TEST

/* --- managed redis-server (cache = auto) --- */

static long pid_from_file(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return strtol(buf, NULL, 10);
}

static struct cache *new_managed(const char *state, const char *binary,
				 char **error_r)
{
	struct cache_settings set = {
		.url = "auto", .state_dir = state, .redis_server = binary,
		.timeout_ms = 1000,
	};

	*error_r = NULL;
	return cache_new(base, &set, error_r);
}

START_TEST(managed_server_restarts_and_keeps_state)
{
	static const uint32_t uids[] = { 3, 1 };
	char state[PATH_MAX], pidfile[PATH_MAX + 16], *error = NULL;
	struct cache *second;
	struct stat st;
	long pid1, pid2;
	long long end;
	struct res r;

	cache_free(&cache);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", state);
	cache = new_managed(state, REDIS_SERVER, &error);
	ck_assert_msg(cache != NULL, "%s", error);
	ck_assert_int_eq(stat(state, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	wait_available(cache, 3000);
	do_view(ACCOUNT, "office", 100, 50);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(do_hide("office", "tokA", false, 100, uids, NULL, 2),
			 CACHE_OK);

	/* Only one popgate per state directory. */
	second = new_managed(state, REDIS_SERVER, &error);
	ck_assert_ptr_null(second);
	ck_assert_msg(strstr(error, "in use") != NULL, "%s", error);
	free(error);

	pid1 = pid_from_file(pidfile);
	ck_assert_int_gt(pid1, 1);
	ck_assert_int_eq(kill((pid_t)pid1, SIGKILL), 0);
	end = now_ms() + 8000;
	do {
		event_base_loop(base, EVLOOP_ONCE);
		pid2 = pid_from_file(pidfile);
	} while ((pid2 == pid1 || !cache_available(cache)) && now_ms() < end);
	ck_assert_int_ne(pid2, pid1);
	wait_available(cache, 100);
	r = do_view(ACCOUNT, "office", 100, 60);
	ck_assert_uint_eq(r.v.uidvalidity, 100);
	ck_assert(!r.v.new_device);
	ck_assert_uint_eq(r.v.hidden_count, 2);
	ck_assert_uint_eq(r.hidden[0], 1);
	ck_assert_uint_eq(r.hidden[1], 3);
	ck_assert_int_eq(do_lock("office", "tokB", 60), CACHE_IN_USE);

	/* Stopped with the cache; started again, the state is there. */
	cache_free(&cache);
	ck_assert_int_eq(kill((pid_t)pid2, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	cache = new_managed(state, NULL, &error);
	ck_assert_msg(cache != NULL, "%s", error);
	wait_available(cache, 3000);
	r = do_view(ACCOUNT, "office", 100, 60);
	ck_assert_uint_eq(r.v.hidden_count, 2);
}
END_TEST

static bool orphan_is_zombie(long pid)
{
	char path[64], buf[256] = "", *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	p = strrchr(buf, ')');
	return p == NULL || p[2] == 'Z';
}

START_TEST(managed_start_failures)
{
	char state[PATH_MAX], *error = NULL;
	char longdir[200];

	snprintf(state, sizeof(state), "%s/no/such/parent", dir);
	ck_assert_ptr_null(new_managed(state, REDIS_SERVER, &error));
	free(error);

	snprintf(state, sizeof(state), "%s/s1", dir);
	ck_assert_ptr_null(new_managed(state, "/nonexistent/redis-server",
				       &error));
	ck_assert_msg(strstr(error, "cannot find") != NULL, "%s", error);
	free(error);
	ck_assert_ptr_null(new_managed(state, "/bin/false", &error));
	ck_assert_msg(strstr(error, "exited") != NULL, "%s", error);
	free(error);

	snprintf(state, sizeof(state), "%s/s2", dir);
	ck_assert_int_eq(mkdir(state, 0777), 0);
	ck_assert_int_eq(chmod(state, 0777), 0);
	ck_assert_ptr_null(new_managed(state, REDIS_SERVER, &error));
	ck_assert_msg(strstr(error, "not writable") != NULL, "%s", error);
	free(error);

	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	snprintf(state, sizeof(state), "%s/%.*s", dir, 100, longdir);
	ck_assert_ptr_null(new_managed(state, REDIS_SERVER, &error));
	ck_assert_msg(strstr(error, "too long") != NULL, "%s", error);
	free(error);
}
END_TEST

/* A redis-server left by a popgate that died hard is stopped before ours
   starts on the same AOF. */
START_TEST(managed_stops_orphan)
{
	char state[PATH_MAX], conf[PATH_MAX + 16], pidfile[PATH_MAX + 16];
	char *error = NULL;
	long orphan = 0, ours;
	long long end;
	pid_t child;

	cache_free(&cache);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(conf, sizeof(conf), "%s/redis.conf", state);
	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", state);
	cache = new_managed(state, REDIS_SERVER, &error);
	ck_assert_msg(cache != NULL, "%s", error);
	cache_free(&cache);

	/* Double fork: the orphan's parent is init, as it would be. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		if (fork() == 0) {
			int null_fd = open("/dev/null", O_RDWR);

			dup2(null_fd, 1);
			execl(REDIS_SERVER, REDIS_SERVER, conf, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	waitpid(child, NULL, 0);
	for (end = now_ms() + 3000; orphan <= 0 && now_ms() < end;
	     usleep(10000))
		orphan = pid_from_file(pidfile);
	ck_assert_int_gt(orphan, 1);

	cache = new_managed(state, REDIS_SERVER, &error);
	ck_assert_msg(cache != NULL, "%s", error);
	ours = pid_from_file(pidfile);
	ck_assert_int_ne(ours, orphan);
	ck_assert_msg(kill((pid_t)orphan, 0) < 0 || orphan_is_zombie(orphan),
		      "orphan %ld still running", orphan);
	wait_available(cache, 3000);
	cache_free(&cache);
}
END_TEST

static Suite *cache_server_suite(void)
{
	Suite *s = suite_create("cache_server");
	TCase *tc = cache_test_tcase("connection");

	tcase_add_test(tc, redis_down_then_back);
	tcase_add_test(tc, hung_server_times_out);
	tcase_add_test(tc, timeout_while_sent_fails_the_rest);
	tcase_add_test(tc, unlocks_replayed_after_reconnect);
	tcase_add_test(tc, nothing_listening_fails_fast);
	tcase_add_test(tc, auth_select_and_tcp);
	tcase_add_test(tc, bad_settings);
	tcase_add_test(tc, managed_server_restarts_and_keeps_state);
	tcase_add_test(tc, managed_start_failures);
	tcase_add_test(tc, managed_stops_orphan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(cache_server_suite());
}
