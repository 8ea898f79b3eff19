#ifndef REDIS_FIXTURE_H
#define REDIS_FIXTURE_H

/*
 * Test-only: a real, private redis-server per test, and a raw hiredis
 * connection to look at what is stored, as an operator would with
 * redis-cli. Shared by the cache tests (test_cache_fixture.h) and the POP3
 * dialogue tests (pop3_fixture.h).
 *
 *   redis_root_setup()     once per test binary (an unchecked fixture):
 *                          the temporary root directory
 *   redis_dir_new()        per test: dir = a fresh directory under it,
 *                          sock = dir/redis.sock
 *   redis_start()          starts redis-server on sock (and on
 *                          127.0.0.1:redis_port if nonzero, with
 *                          redis_pass if set, with an append-only file
 *                          fsynced on every write if redis_appendonly),
 *                          and waits until it answers; killed by
 *                          PR_SET_PDEATHSIG if the test process dies first
 *   redis_kill(sig)        SIGKILL/SIGTERM also reap it; SIGSTOP/SIGCONT
 *                          hang and resume it
 *   raw_cmd(fmt, ...)      a command on the raw connection (opened on first
 *                          use); raw_int() for integer replies; raw_close()
 *   redis_root_teardown()  removes the root and everything under it
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define REDIS_SERVER "/usr/bin/redis-server"

static char tmp_root[] = "/tmp/popgate-test-redis.XXXXXX";
static char dir[128], sock[160];
static pid_t redis_pid;
static const char *redis_pass;
static unsigned int redis_port;
static bool redis_appendonly;
/* More redis-server options for the next redis_start(), NULL-ended. */
static const char *redis_extra[8];

static inline void redis_start(void)
{
	char port[16], log[PATH_MAX + 16];
	const char *argv[40];
	int argc = 0, waited;
	pid_t parent = getpid();

	snprintf(port, sizeof(port), "%u", redis_port);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	argv[argc++] = REDIS_SERVER;
	argv[argc++] = "--port";
	argv[argc++] = port;
	argv[argc++] = "--bind";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--unixsocket";
	argv[argc++] = sock;
	argv[argc++] = "--unixsocketperm";
	argv[argc++] = "700";
	argv[argc++] = "--dir";
	argv[argc++] = dir;
	argv[argc++] = "--logfile";
	argv[argc++] = log;
	argv[argc++] = "--save";
	argv[argc++] = "";
	argv[argc++] = "--appendonly";
	argv[argc++] = redis_appendonly ? "yes" : "no";
	if (redis_appendonly) {
		argv[argc++] = "--appendfsync";
		argv[argc++] = "always";
	}
	if (redis_pass != NULL) {
		argv[argc++] = "--requirepass";
		argv[argc++] = redis_pass;
	}
	for (size_t i = 0; redis_extra[i] != NULL; i++)
		argv[argc++] = redis_extra[i];
	argv[argc] = NULL;
	redis_pid = fork();
	ck_assert_int_ge(redis_pid, 0);
	if (redis_pid == 0) {
		int null_fd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		execv(REDIS_SERVER, (char *const *)argv);
		_exit(127);
	}
	for (waited = 0; waited < 5000; waited += 10) {
		redisContext *r = redisConnectUnix(sock);
		bool up = r != NULL && r->err == 0;

		redisFree(r);
		if (up)
			return;
		usleep(10000);
	}
	ck_abort_msg("redis-server did not start (see %s)", log);
}

static inline void redis_kill(int sig)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, sig);
	if (sig == SIGKILL || sig == SIGTERM) {
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
}

static inline int rm_entry(const char *path, const struct stat *st,
			   int flag, struct FTW *ftw)
{
	return remove(path);
}

static redisContext *raw;

/* A command on a plain blocking connection, as redis-cli would. */
static inline redisReply *raw_cmd(const char *fmt, ...)
{
	redisReply *reply;
	va_list args;

	if (raw == NULL) {
		raw = redisConnectUnix(sock);
		ck_assert(raw != NULL && raw->err == 0);
		if (redis_pass != NULL)
			freeReplyObject(redisCommand(raw, "AUTH %s", redis_pass));
	}
	va_start(args, fmt);
	reply = redisvCommand(raw, fmt, args);
	va_end(args);
	ck_assert_ptr_nonnull(reply);
	return reply;
}

static inline long long raw_int(const char *fmt, const char *arg)
{
	redisReply *r = raw_cmd(fmt, arg);
	long long v;

	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static inline void raw_close(void)
{
	redisFree(raw);
	raw = NULL;
}

/* A fresh dir (and sock path) for this test; the server's settings back
   to their defaults. */
static inline void redis_dir_new(void)
{
	static unsigned int seq;

	snprintf(dir, sizeof(dir), "%s/t%u.%ld", tmp_root, seq++, (long)getpid());
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	redis_pass = NULL;
	redis_port = 0;
	redis_appendonly = false;
	memset(redis_extra, 0, sizeof(redis_extra));
}

/* Once per test case (Check runs unchecked fixtures per TCase). */
static inline void redis_root_setup(void)
{
	static bool made;

	if (!made) {
		ck_assert_ptr_nonnull(mkdtemp(tmp_root));
		made = true;
	} else {
		ck_assert(mkdir(tmp_root, 0700) == 0 || errno == EEXIST);
	}
}

static inline void redis_root_teardown(void)
{
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
