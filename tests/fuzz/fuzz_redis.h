#ifndef FUZZ_REDIS_H
#define FUZZ_REDIS_H

/*
 * A harness's own redis-server: started once, on a unix socket in a new
 * temporary directory, no TCP port, nothing saved; killed and its
 * directory removed at exit, also when a sanitizer reports (its death
 * callback), and when the harness dies (PR_SET_PDEATHSIG).
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include <hiredis/hiredis.h>

#define FUZZ_REDIS_SERVER "/usr/bin/redis-server"
/* How long it may take to accept a connection. */
#define FUZZ_REDIS_START_MS 10000

static char fuzz_redis_dir[96];
static char fuzz_redis_sock[160];
static pid_t fuzz_redis_pid;

static int fuzz_redis_rm_entry(const char *path, const struct stat *st, int flag,
			       struct FTW *ftw)
{
	return remove(path);
}

static void fuzz_redis_stop(void)
{
	if (fuzz_redis_pid > 0) {
		kill(fuzz_redis_pid, SIGKILL);
		waitpid(fuzz_redis_pid, NULL, 0);
		fuzz_redis_pid = 0;
	}
	if (fuzz_redis_dir[0] != '\0')
		nftw(fuzz_redis_dir, fuzz_redis_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Starts it in /tmp/popgate-<name>.XXXXXX with databases of them (0:
   redis-server's default) and connects: the connection, or NULL with
   why in error. */
static redisContext *fuzz_redis_start(const char *name, int databases, char *error,
				      size_t error_len)
{
	char log_path[200], dbs[16];
	pid_t parent = getpid();

	snprintf(fuzz_redis_dir, sizeof(fuzz_redis_dir), "/tmp/popgate-%s.XXXXXX", name);
	if (mkdtemp(fuzz_redis_dir) == NULL) {
		snprintf(error, error_len, "mkdtemp: %s", strerror(errno));
		fuzz_redis_dir[0] = '\0';
		return NULL;
	}
	snprintf(fuzz_redis_sock, sizeof(fuzz_redis_sock), "%s/redis.sock", fuzz_redis_dir);
	snprintf(log_path, sizeof(log_path), "%s/redis.log", fuzz_redis_dir);
	snprintf(dbs, sizeof(dbs), "%d", databases > 0 ? databases : 16);
	fuzz_redis_pid = fork();
	if (fuzz_redis_pid < 0) {
		snprintf(error, error_len, "fork: %s", strerror(errno));
		return NULL;
	}
	if (fuzz_redis_pid == 0) {
		int null_fd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		execl(FUZZ_REDIS_SERVER, FUZZ_REDIS_SERVER, "--port", "0",
		      "--unixsocket", fuzz_redis_sock, "--unixsocketperm", "700",
		      "--dir", fuzz_redis_dir, "--logfile", log_path, "--save", "",
		      "--appendonly", "no", "--databases", dbs, (char *)NULL);
		_exit(127);
	}
	atexit(fuzz_redis_stop);
	__sanitizer_set_death_callback(fuzz_redis_stop);
	for (int waited = 0; waited < FUZZ_REDIS_START_MS; waited += 10) {
		redisContext *raw = redisConnectUnix(fuzz_redis_sock);

		if (raw != NULL && raw->err == 0)
			return raw;
		redisFree(raw);
		usleep(10000);
	}
	snprintf(error, error_len, "redis-server did not start (%s)", log_path);
	return NULL;
}

#endif
