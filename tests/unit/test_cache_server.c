/*
 * The cache's connection and the managed redis-server: Redis killed,
 * hung and restarted, timeouts, unlocks sent again after an outage,
 * AUTH/SELECT/TCP, bad settings, cache = auto (test_cache_fixture.h).
 */

#include "test_cache_fixture.h"

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

/* --- Redis going away --- */

static void reconnect_short(unsigned int timeout_ms)
{
	char url[PATH_MAX + 16];

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s", sock);
	cache = new_cache(url, NULL, timeout_ms);
	wait_available(cache, 2000);
}

START_TEST(redis_down_then_back)
{
	struct res r = { 0 };
	long long t0;

	reconnect_short(300);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
	/* A request in flight when the server dies: outcome unknown, at
	   once (not at its timeout). */
	redis_kill(SIGSTOP);
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tokA", 60,
					 status_cb, &r));
	run_for(100);
	t0 = now_ms();
	redis_kill(SIGKILL);
	WAIT_ONE(r, 1000);
	ck_assert_int_eq(r.st, CACHE_UNAVAILABLE);
	ck_assert_int_lt(now_ms() - t0, 250);
	ck_assert(!cache_available(cache));
	/* While down: each request waits for the connection, for its
	   timeout. */
	t0 = now_ms();
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	t0 = now_ms();
	ck_assert_int_eq(do_view(ACCOUNT, "office", 1, 1).st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	ck_assert_int_lt(now_ms() - t0, 1000);
	/* Back on the same socket: the cache finds it by itself. */
	redis_start();
	raw_close();
	wait_available(cache, 6000);
	ck_assert_int_eq(do_lock("office", "tokA", 60), CACHE_OK);
}
END_TEST

/* A request made while the connection is down or being set up again is
   not refused: it goes out once the server is back, within its own
   timeout. */
START_TEST(request_waits_for_reconnect)
{
	struct res r = { 0 }, v = { 0 };

	reconnect_short(3000);
	redis_kill(SIGKILL);
	run_for(50);
	ck_assert(!cache_available(cache));
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r));
	run_for(400);
	ck_assert_ptr_nonnull(cache_load_view(cache, ACCOUNT, "office",
					      &empty_listing, 1, view_cb, &v));
	ck_assert_int_eq(r.calls, 0);
	redis_start();
	raw_close();
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert(run_until(&v.calls, 1, 3000));
	ck_assert_int_eq(v.st, CACHE_OK);
	ck_assert(v.v.new_device);
}
END_TEST

/* 2000 keys in an RDB that loads at 0.5 ms a key: the server accepts
   connections and answers LOADING for about a second. */
static void restart_loading(const char *delay_us)
{
	freeReplyObject(raw_cmd("EVAL %s 0", "for i = 1, 2000 do "
				"redis.call('SET', 'filler:' .. i, 'x') end"));
	freeReplyObject(raw_cmd("SAVE"));
	raw_close();
	redis_kill(SIGKILL);
	redis_extra[0] = "--key-load-delay";
	redis_extra[1] = delay_us;
	redis_extra[2] = "--loading-process-events-interval-bytes";
	redis_extra[3] = "1024";
	redis_start();
}

START_TEST(loading_server_holds_requests)
{
	struct res r = { 0 };
	redisContext *rc;
	redisReply *reply;
	long long t0;

	restart_loading("500");
	rc = redisConnectUnix(sock);
	reply = redisCommand(rc, "PING");
	ck_assert_int_eq(reply->type, REDIS_REPLY_ERROR);
	ck_assert_msg(strncmp(reply->str, "LOADING", 7) == 0, "%s", reply->str);
	freeReplyObject(reply);
	redisFree(rc);
	/* The cache notices the old server is gone (a request sent on a
	   connection that has just died fails: outcome unknown). */
	run_for(50);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r));
	run_for(300);
	ck_assert_msg(r.calls == 0, "status %s", cache_status_name(r.st));
	ck_assert(!cache_available(cache));
	WAIT_ONE(r, 5000);
	ck_assert_int_eq(r.st, CACHE_OK);
	ck_assert_int_ge(now_ms() - t0, 300);
	ck_assert(cache_available(cache));
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:lock:office", ACCOUNT), 1);
}
END_TEST

/* A server that starts loading under a live connection (a replica
   taking a full resync) answers LOADING to a request already sent: the
   request goes again once it is done, rather than fail. */
START_TEST(loading_reply_is_retried)
{
	char rsock[200], rdir[160], rlog[200], mport[16];
	struct res r = { 0 };
	redisContext *rc;
	redisReply *reply;
	pid_t replica;
	long long end;
	bool loading = false;

	/* The fixture's server, on TCP, is the primary with the data. */
	raw_close();
	redis_kill(SIGKILL);
	redis_port = free_tcp_port();
	/* The full resync at once, not after the default 5 s. */
	redis_extra[0] = "--repl-diskless-sync-delay";
	redis_extra[1] = "0";
	redis_start();
	freeReplyObject(raw_cmd("EVAL %s 0", "for i = 1, 2000 do "
				"redis.call('SET', 'filler:' .. i, 'x') end"));
	snprintf(rdir, sizeof(rdir), "%s/replica", dir);
	ck_assert_int_eq(mkdir(rdir, 0700), 0);
	snprintf(rsock, sizeof(rsock), "%s/redis.sock", rdir);
	snprintf(rlog, sizeof(rlog), "%s/redis.log", rdir);
	snprintf(mport, sizeof(mport), "%u", redis_port);
	replica = fork();
	ck_assert_int_ge(replica, 0);
	if (replica == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(REDIS_SERVER, REDIS_SERVER, "--port", "0", "--unixsocket",
		      rsock, "--dir", rdir, "--logfile", rlog, "--save", "",
		      "--key-load-delay", "500",
		      "--loading-process-events-interval-bytes", "1024",
		      (char *)NULL);
		_exit(127);
	}
	for (end = now_ms() + 5000; now_ms() < end; usleep(10000)) {
		rc = redisConnectUnix(rsock);
		if (rc != NULL && rc->err == 0)
			break;
		redisFree(rc);
		rc = NULL;
	}
	ck_assert_ptr_nonnull(rc);
	cache_free(&cache);
	{
		char url[300];

		snprintf(url, sizeof(url), "unix:%s", rsock);
		cache = new_cache(url, NULL, 5000);
	}
	wait_available(cache, 2000);
	reply = redisCommand(rc, "REPLICAOF 127.0.0.1 %s", mport);
	freeReplyObject(reply);
	for (end = now_ms() + 5000; !loading && now_ms() < end;) {
		reply = redisCommand(rc, "INFO persistence");
		loading = reply != NULL && strstr(reply->str, "loading:1") != NULL;
		freeReplyObject(reply);
		if (!loading)
			usleep(2000);
	}
	ck_assert_msg(loading, "the replica never started loading");
	/* Only reads on a replica: a refresh of a lock nobody holds. */
	ck_assert_ptr_nonnull(cache_lock_refresh(cache, ACCOUNT, "office", "t",
						 60, status_cb, &r));
	WAIT_ONE(r, 5000);
	ck_assert_int_eq(r.st, CACHE_IN_USE);
	reply = redisCommand(rc, "INFO persistence");
	ck_assert_ptr_nonnull(strstr(reply->str, "loading:0"));
	freeReplyObject(reply);
	redisFree(rc);
	cache_free(&cache);
	kill(replica, SIGKILL);
	waitpid(replica, NULL, 0);
}
END_TEST

START_TEST(hung_server_times_out)
{
	struct res r = { 0 };
	long long t0;

	reconnect_short(300);
	redis_kill(SIGSTOP);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r));
	WAIT_ONE(r, 2000);
	ck_assert_int_eq(r.st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	/* The PING sent then gets no answer either: the connection is
	   recycled. */
	ck_assert(cache_available(cache));
	while (cache_available(cache) && now_ms() - t0 < 2000)
		run_for(10);
	ck_assert(!cache_available(cache));
	ck_assert_int_ge(now_ms() - t0, 550);
	/* Whether the timed-out SET was applied is unknown (the server may
	   still read it after SIGCONT): a timeout means "outcome unknown". */
	redis_kill(SIGCONT);
	wait_available(cache, 3000);
	ck_assert_int_eq(do_lock("phone", "tokA", 60), CACHE_OK);
}
END_TEST

/* On a hung server each request fails at its own timeout, not before;
   the connection goes once the PING after the first timeout is overdue;
   one cancelled meanwhile never calls back. */
START_TEST(hung_server_requests_time_out_each)
{
	struct res r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct cache_req *cancelled;
	long long t0;

	reconnect_short(300);
	redis_kill(SIGSTOP);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r1));
	run_for(200);
	ck_assert_ptr_nonnull(cache_load_view(cache, ACCOUNT, "office",
					      &empty_listing, 1, view_cb, &r2));
	cancelled = cache_lock(cache, ACCOUNT, "tablet", "tokA", 60,
			       status_cb, &r3);
	ck_assert_ptr_nonnull(cancelled);
	run_for(10);
	cache_req_cancel(&cancelled);
	WAIT_ONE(r1, 2000);
	ck_assert_int_eq(r1.st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	ck_assert_int_eq(r2.calls, 0);
	ck_assert_msg(run_until(&r2.calls, 1, 1000), "view never completed");
	ck_assert_int_ge(now_ms() - t0, 450);
	ck_assert_int_eq(r2.st, CACHE_UNAVAILABLE);
	while (cache_available(cache) && now_ms() - t0 < 2000)
		run_for(10);
	ck_assert(!cache_available(cache));
	redis_kill(SIGCONT);
	wait_available(cache, 3000);
	ck_assert_int_eq(do_lock("phone", "tokA", 60), CACHE_OK);
	ck_assert_int_eq(r1.calls, 1);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r3.calls, 0);
}
END_TEST

/* Sends a script that keeps the server busy for ms, without waiting for
   its reply (read it with redisGetReply()). */
static redisContext *busy_server(unsigned int ms)
{
	redisContext *rc = redisConnectUnix(sock);
	char script[300];
	int done = 0;

	ck_assert(rc != NULL && rc->err == 0);
	snprintf(script, sizeof(script),
		 "local t = redis.call('TIME')\n"
		 "local t0 = t[1] * 1000000 + t[2]\n"
		 "repeat t = redis.call('TIME')\n"
		 "until t[1] * 1000000 + t[2] - t0 >= %u\n"
		 "return 1\n", ms * 1000);
	ck_assert_int_eq(redisAppendCommand(rc, "EVAL %s 0", script),
			 REDIS_OK);
	while (!done)
		ck_assert_int_eq(redisBufferWrite(rc, &done), REDIS_OK);
	return rc;
}

/* One slow request does not take the others down with it: it reports
   CACHE_UNAVAILABLE at its timeout, the connection stays, the requests
   behind it complete, its late reply is dropped. */
START_TEST(slow_request_times_out_alone)
{
	struct res slow = { 0 }, next = { 0 }, after = { 0 };
	redisContext *busy;
	redisReply *reply;
	long long t0;

	reconnect_short(1000);
	busy = busy_server(1500);
	usleep(50000);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &slow));
	run_for(850);
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "phone", "tokA", 60,
					 status_cb, &next));
	WAIT_ONE(slow, 1000);
	ck_assert_int_eq(slow.st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 950);
	ck_assert(cache_available(cache));
	ck_assert_int_eq(next.calls, 0);
	WAIT_ONE(next, 1500);
	ck_assert_int_eq(next.st, CACHE_OK);
	ck_assert(cache_available(cache));
	ck_assert_int_eq(redisGetReply(busy, (void **)&reply), REDIS_OK);
	freeReplyObject(reply);
	redisFree(busy);
	/* The slow one did run: "outcome unknown" was the truth. */
	ck_assert_int_eq(raw_int("EXISTS popgate:{%s}:lock:office", ACCOUNT), 1);
	run_for(1200);
	ck_assert(cache_available(cache));
	ck_assert_int_eq(slow.calls, 1);
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "tablet", "tokA", 60,
					 status_cb, &after));
	WAIT_ONE(after, 1000);
	ck_assert_int_eq(after.st, CACHE_OK);
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
	/* Its timeout, then the PING's. */
	run_for(900);
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

START_TEST(nothing_listening_times_out)
{
	struct res r = { 0 };
	char url[PATH_MAX + 16];
	long long t0;

	cache_free(&cache);
	snprintf(url, sizeof(url), "unix:%s/nobody.sock", dir);
	cache = new_cache(url, NULL, 300);
	run_for(50);
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "t", 60,
					 status_cb, &r));
	WAIT_ONE(r, 1000);
	ck_assert_int_eq(r.st, CACHE_UNAVAILABLE);
	ck_assert_int_ge(now_ms() - t0, 250);
	ck_assert_int_lt(now_ms() - t0, 800);
}
END_TEST

/* --- AUTH, SELECT, TCP --- */

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

/* A redis-server that loads its AOF slowly: the real one, with a load
   delay per key. */
static void slow_loading_binary(char *path, size_t size, const char *us)
{
	FILE *f;

	snprintf(path, size, "%s/slow-redis-server", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\nexec %s \"$@\" --key-load-delay %s "
		"--loading-process-events-interval-bytes 1024\n",
		REDIS_SERVER, us);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0700), 0);
}

static struct cache *new_managed_ms(const char *state, const char *binary,
				    unsigned int timeout_ms)
{
	struct cache_settings set = {
		.url = "auto", .state_dir = state, .redis_server = binary,
		.timeout_ms = timeout_ms,
	};
	char *error = NULL;
	struct cache *c = cache_new(base, &set, &error);

	ck_assert_msg(c != NULL, "%s", error);
	return c;
}

/* The managed server accepts connections while it loads its AOF: neither
   a (re)started gateway nor one whose server was restarted under it
   refuses what is asked meanwhile. */
START_TEST(managed_server_loading_holds_requests)
{
	char state[PATH_MAX], pidfile[PATH_MAX + 16], sockpath[PATH_MAX + 16];
	char slow[PATH_MAX];
	struct res r = { 0 };
	redisContext *rc;
	redisReply *reply;
	long pid1;
	long long t0;

	cache_free(&cache);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", state);
	snprintf(sockpath, sizeof(sockpath), "%s/redis.sock", state);
	slow_loading_binary(slow, sizeof(slow), "300");
	cache = new_managed_ms(state, REDIS_SERVER, 3000);
	/* 2000 keys into the AOF's RDB base, where the load delay counts. */
	rc = redisConnectUnix(sockpath);
	ck_assert(rc != NULL && rc->err == 0);
	freeReplyObject(redisCommand(rc, "EVAL %s 0", "for i = 1, 2000 do "
				     "redis.call('SET', 'filler:' .. i, 'x') end"));
	freeReplyObject(redisCommand(rc, "BGREWRITEAOF"));
	for (t0 = now_ms(); now_ms() - t0 < 5000; usleep(20000)) {
		reply = redisCommand(rc, "INFO persistence");
		if (strstr(reply->str, "aof_rewrite_in_progress:0") != NULL &&
		    strstr(reply->str, "aof_rewrite_scheduled:0") != NULL) {
			freeReplyObject(reply);
			break;
		}
		freeReplyObject(reply);
	}
	redisFree(rc);
	cache_free(&cache);

	/* Started again: cache_new() returns once the server is loaded. */
	t0 = now_ms();
	cache = new_managed_ms(state, slow, 3000);
	ck_assert_int_ge(now_ms() - t0, 300);
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokA", 60,
					 status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_OK);

	/* Killed: supervision starts it again, it loads; a request made at
	   once waits for all that. */
	pid1 = pid_from_file(pidfile);
	ck_assert_int_gt(pid1, 1);
	ck_assert_int_eq(kill((pid_t)pid1, SIGKILL), 0);
	run_for(20);
	memset(&r, 0, sizeof(r));
	t0 = now_ms();
	ck_assert_ptr_nonnull(cache_lock(cache, ACCOUNT, "office", "tokB", 60,
					 status_cb, &r));
	WAIT_ONE(r, 3000);
	ck_assert_int_eq(r.st, CACHE_IN_USE);
	ck_assert_int_ge(now_ms() - t0, 300);
	ck_assert_int_ne(pid_from_file(pidfile), pid1);
}
END_TEST

static void expect_config(struct cache *c, const char *state,
			  const char *key, const char *want)
{
	char sockpath[PATH_MAX + 16];
	redisContext *rc;
	redisReply *reply;

	snprintf(sockpath, sizeof(sockpath), "%s/redis.sock", state);
	rc = redisConnectUnix(sockpath);
	ck_assert(rc != NULL && rc->err == 0);
	reply = redisCommand(rc, "CONFIG GET %s", key);
	ck_assert_int_eq(reply->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(reply->elements, 2);
	ck_assert_str_eq(reply->element[1]->str, want);
	freeReplyObject(reply);
	redisFree(rc);
}

/* The managed server has a memory bound, and refuses writes when full
   rather than evict anyone's state. */
START_TEST(managed_server_memory_bounded)
{
	struct cache_settings set = {
		.url = "auto", .redis_server = REDIS_SERVER,
		.max_memory = 64ULL << 20,
	};
	char state[PATH_MAX], *error = NULL;

	cache_free(&cache);
	snprintf(state, sizeof(state), "%s/state", dir);
	cache = new_managed_ms(state, REDIS_SERVER, 1000);
	expect_config(cache, state, "maxmemory", "268435456");
	expect_config(cache, state, "maxmemory-policy", "noeviction");
	cache_free(&cache);
	set.state_dir = state;
	cache = cache_new(base, &set, &error);
	ck_assert_msg(cache != NULL, "%s", error);
	expect_config(cache, state, "maxmemory", "67108864");
	cache_free(&cache);
	set.max_memory = 1000;
	ck_assert_ptr_null(cache_new(base, &set, &error));
	ck_assert_msg(strstr(error, "1 MB") != NULL, "%s", error);
	free(error);
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
	tcase_add_test(tc, request_waits_for_reconnect);
	tcase_add_test(tc, loading_server_holds_requests);
	tcase_add_test(tc, loading_reply_is_retried);
	tcase_add_test(tc, hung_server_times_out);
	tcase_add_test(tc, hung_server_requests_time_out_each);
	tcase_add_test(tc, slow_request_times_out_alone);
	tcase_add_test(tc, unlocks_replayed_after_reconnect);
	tcase_add_test(tc, nothing_listening_times_out);
	tcase_add_test(tc, auth_select_and_tcp);
	tcase_add_test(tc, bad_settings);
	tcase_add_test(tc, managed_server_restarts_and_keeps_state);
	tcase_add_test(tc, managed_server_loading_holds_requests);
	tcase_add_test(tc, managed_server_memory_bounded);
	tcase_add_test(tc, managed_start_failures);
	tcase_add_test(tc, managed_stops_orphan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cache_test_run(cache_server_suite());
}
