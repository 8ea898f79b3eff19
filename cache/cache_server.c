/* The managed redis-server of cache = auto: start, supervise, stop; see
   cache_server.h. */

#include "cache_server.h"
#include "cache_backoff.h"
#include "cache_log.h"
#include "cache_url.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>


#define CACHE_SERVER_START_MS 10000  /* cache_new waits this long */
#define CACHE_SERVER_STOP_MS 5000    /* SIGTERM, then SIGKILL */
#define CACHE_SERVER_STABLE_SECS 30  /* up this long: backoff resets */
#define CACHE_SERVER_POLL_MS 200     /* without pidfd */
#define CACHE_SERVER_PING_MS 1000    /* connect and PING, at start-up */

struct cache_server {
	struct event_base *base;
	struct cache_hooks hooks;
	char *dir, *sock, *conf, *log, *pidfile, *binary;
	char *argv[3];
	int lock_fd;
	pid_t pid;              /* 0: not running */
	int pidfd;              /* -1: polled with waitpid() */
	struct event *watch_ev;
	struct event *restart_ev;
	unsigned int backoff_ms;
	uint64_t max_memory;
	time_t started;
	cache_server_restart_cb *restart_cb;
	void *ctx;
};

static int cache_server_fail(char **error_r, const char *what,
			     const char *path, int err)
{
	if (asprintf(error_r, "cache: %s%s%s%s%s", what,
		     path != NULL ? " " : "", path != NULL ? path : "",
		     err != 0 ? ": " : "", err != 0 ? strerror(err) : "") < 0)
		*error_r = NULL;
	return -1;
}

static void cache_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Absolute path of an existing directory that only we can write to. */
static int cache_server_dir(const char *state_dir, char **dir_r,
			    char **error_r)
{
	struct stat st;
	char *dir;

	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return cache_server_fail(error_r, "cannot create state directory",
					 state_dir, errno);
	dir = realpath(state_dir, NULL);
	if (dir == NULL)
		return cache_server_fail(error_r, "state directory", state_dir,
					 errno);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(dir);
		return cache_server_fail(error_r, "not a directory:", state_dir,
					 0);
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		free(dir);
		return cache_server_fail(error_r, "state directory must be owned "
					 "by us and not writable by others:",
					 state_dir, 0);
	}
	/* Its path goes into redis.conf in double quotes. */
	for (const char *p = dir; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			free(dir);
			return cache_server_fail(error_r, "control character in "
						 "state directory", NULL, 0);
		}
	}
	*dir_r = dir;
	return 0;
}

/* binary as given when it holds a '/', else found in PATH. */
static char *cache_server_find_binary(const char *binary)
{
	const char *path = getenv("PATH"), *p, *end;
	char buf[PATH_MAX];

	if (strchr(binary, '/') != NULL)
		return access(binary, X_OK) == 0 ? strdup(binary) : NULL;
	if (path == NULL || path[0] == '\0')
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
			"/sbin:/bin";
	for (p = path; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end == p)
			continue;
		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p,
			     binary) >= (int)sizeof(buf))
			continue;
		if (access(buf, X_OK) == 0)
			return strdup(buf);
	}
	return NULL;
}

/* Running, not a zombie waiting for its parent. */
static bool cache_pid_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool zombie = false;

	if (kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return true;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		zombie = p[1] == ' ' && p[2] == 'Z';
	fclose(f);
	return !zombie;
}

/* The redis-server of an earlier popgate that died hard, if any: its
   working directory is ours. Stopped before ours starts on the same
   AOF. */
static void cache_server_kill_orphan(struct cache_server *s)
{
	char buf[64], link[PATH_MAX + 1], comm[32];
	FILE *f;
	long pid;
	ssize_t len;
	unsigned int waited;

	f = fopen(s->pidfile, "re");
	if (f == NULL)
		return;
	pid = fgets(buf, sizeof(buf), f) != NULL ? strtol(buf, NULL, 10) : 0;
	fclose(f);
	if (pid <= 1 || pid > INT_MAX || !cache_pid_alive((pid_t)pid))
		return;
	snprintf(buf, sizeof(buf), "/proc/%ld/cwd", pid);
	len = readlink(buf, link, sizeof(link) - 1);
	if (len < 0)
		return;
	link[len] = '\0';
	snprintf(buf, sizeof(buf), "/proc/%ld/comm", pid);
	f = fopen(buf, "re");
	if (f == NULL)
		return;
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	if (strcmp(link, s->dir) != 0 || strncmp(comm, "redis", 5) != 0)
		return;
	cache_log(&s->hooks, CACHE_LOG_WARN, "event=cache_server_orphan pid=%ld dir=%s action=stop", pid,
		 s->dir);
	kill((pid_t)pid, SIGTERM);
	for (waited = 0; waited < CACHE_SERVER_STOP_MS; waited += 10) {
		if (!cache_pid_alive((pid_t)pid))
			return;
		cache_sleep_ms(10);
	}
	kill((pid_t)pid, SIGKILL);
	for (waited = 0; waited < 1000 && cache_pid_alive((pid_t)pid);
	     waited += 10)
		cache_sleep_ms(10);
}

static void cache_conf_quoted(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s \"", key);
	for (; *value != '\0'; value++) {
		if (*value == '"' || *value == '\\')
			fputc('\\', f);
		fputc(*value, f);
	}
	fputs("\"\n", f);
}

static int cache_server_write_conf(struct cache_server *s, char **error_r)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", s->conf);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		return cache_server_fail(error_r, "cannot write", tmp, errno);
	}
	fputs("# Written by popgate at every start: edits are lost.\n"
	      "port 0\n", f);
	cache_conf_quoted(f, "unixsocket", s->sock);
	fputs("unixsocketperm 700\n", f);
	cache_conf_quoted(f, "dir", s->dir);
	cache_conf_quoted(f, "logfile", s->log);
	cache_conf_quoted(f, "pidfile", s->pidfile);
	/* Full, it refuses writes (OOM) rather than drop anyone's state. */
	fprintf(f, "maxmemory %llu\n"
		"maxmemory-policy noeviction\n",
		(unsigned long long)s->max_memory);
	fputs("appendonly yes\n"
	      "appendfsync always\n"
	      "save \"\"\n"
	      "daemonize no\n"
	      "supervised no\n"
	      "protected-mode yes\n"
	      "always-show-logo no\n", f);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		int err = errno;

		fclose(f);
		return cache_server_fail(error_r, "cannot write", tmp, err);
	}
	fclose(f);
	if (rename(tmp, s->conf) < 0)
		return cache_server_fail(error_r, "cannot write", s->conf,
					 errno);
	return 0;
}

/* In the child, between fork() and exec: async-signal-safe calls only. */
static void cache_server_child(const struct cache_server *s, pid_t parent,
			       int null_fd, int log_fd)
{
	static const char msg[] = "popgate: cannot execute redis-server\n";
	struct sigaction sa;
	sigset_t none;
	int sig;

	/* Dies with us even if we are killed hard (no orphan on our AOF). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setsid();
	umask(077);
	if (chdir(s->dir) < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 ||
	    dup2(log_fd, 2) < 0)
		_exit(126);
	if (close_range(3, ~0U, 0) < 0) {
		for (int fd = 3; fd < 65536; fd++)
			(void)close(fd);
	}
	execv(s->binary, s->argv);
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(127);
}

static void cache_server_watch_cb(evutil_socket_t fd, short what, void *arg);

static void cache_server_unwatch(struct cache_server *s)
{
	if (s->watch_ev != NULL) {
		event_free(s->watch_ev);
		s->watch_ev = NULL;
	}
	if (s->pidfd >= 0) {
		close(s->pidfd);
		s->pidfd = -1;
	}
}

static int cache_server_spawn(struct cache_server *s, char **error_r)
{
	struct timeval poll_tv = cache_timeval_ms(CACHE_SERVER_POLL_MS);
	int null_fd, log_fd;
	pid_t pid, parent = getpid();

	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	log_fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0) {
		int err = errno;

		if (null_fd >= 0)
			close(null_fd);
		if (log_fd >= 0)
			close(log_fd);
		return cache_server_fail(error_r, "cannot open", s->log, err);
	}
	pid = fork();
	if (pid == 0)
		cache_server_child(s, parent, null_fd, log_fd);
	close(null_fd);
	close(log_fd);
	if (pid < 0)
		return cache_server_fail(error_r, "cannot fork redis-server",
					 NULL, errno);
	s->pid = pid;
	s->started = time(NULL);
	/* A pidfd turns readable when the process exits: no SIGCHLD handler
	   to share with the rest of the process. */
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (s->pidfd >= 0) {
		s->watch_ev = event_new(s->base, s->pidfd, EV_READ | EV_PERSIST,
					cache_server_watch_cb, s);
		if (s->watch_ev != NULL && event_add(s->watch_ev, NULL) == 0)
			return 0;
	} else {
		s->watch_ev = event_new(s->base, -1, EV_PERSIST,
					cache_server_watch_cb, s);
		if (s->watch_ev != NULL && event_add(s->watch_ev, &poll_tv) == 0)
			return 0;
	}
	cache_server_unwatch(s);
	return cache_server_fail(error_r, "cannot watch redis-server", NULL,
				 0);
}

static void cache_server_describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "unknown");
}

static void cache_server_schedule_restart(struct cache_server *s)
{
	struct timeval tv = cache_timeval_ms(s->backoff_ms);

	event_add(s->restart_ev, &tv);
	s->backoff_ms = cache_backoff_next(s->backoff_ms);
}

static void cache_server_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cache_server *s = arg;
	char how[32] = "reaped elsewhere";
	int status = 0;
	pid_t r;

	r = waitpid(s->pid, &status, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return;
	if (r == s->pid)
		cache_server_describe_status(status, how, sizeof(how));
	cache_server_unwatch(s);
	if (time(NULL) - s->started >= CACHE_SERVER_STABLE_SECS)
		s->backoff_ms = CACHE_BACKOFF_MIN_MS;
	cache_log(&s->hooks, CACHE_LOG_WARN, "event=cache_server_exited pid=%ld status=\"%s\" "
		 "restart_ms=%u log=%s", (long)s->pid, how, s->backoff_ms,
		 s->log);
	s->pid = 0;
	cache_server_schedule_restart(s);
}

static void cache_server_restart_event(evutil_socket_t fd, short what, void *arg)
{
	struct cache_server *s = arg;
	char *error = NULL;

	if (cache_server_spawn(s, &error) == 0) {
		cache_log(&s->hooks, CACHE_LOG_INFO, "event=cache_server_restarted pid=%ld", (long)s->pid);
		s->restart_cb(s->ctx);
		return;
	}
	cache_log(&s->hooks, CACHE_LOG_ERROR, "event=cache_server_restart_failed error=\"%s\" retry_ms=%u",
		  error != NULL ? error : "out of memory", s->backoff_ms);
	free(error);
	cache_server_schedule_restart(s);
}

enum cache_server_ping {
	CACHE_SERVER_DOWN,     /* no connection */
	CACHE_SERVER_LOADING,  /* accepts, but still loading its data */
	CACHE_SERVER_UP,       /* PONG */
};

/* Blocking, at start-up only: a redis-server accepts connections while it
   loads its AOF, and answers LOADING to everything until it is done. */
static enum cache_server_ping cache_server_ping(const char *path)
{
	struct timeval tv = cache_timeval_ms(CACHE_SERVER_PING_MS);
	enum cache_server_ping st = CACHE_SERVER_DOWN;
	redisContext *rc = redisConnectUnixWithTimeout(path, tv);
	redisReply *reply;

	if (rc == NULL || rc->err != 0) {
		redisFree(rc);
		return CACHE_SERVER_DOWN;
	}
	(void)redisSetTimeout(rc, tv);
	reply = redisCommand(rc, "PING");
	if (reply != NULL && reply->type == REDIS_REPLY_STATUS &&
	    strcmp(reply->str, "PONG") == 0)
		st = CACHE_SERVER_UP;
	else
		st = CACHE_SERVER_LOADING;   /* LOADING, or slow to answer */
	if (reply != NULL)
		freeReplyObject(reply);
	redisFree(rc);
	return st;
}

/* The last line of the server's log, to say why it did not start. */
static void cache_server_log_tail(const struct cache_server *s, char *buf,
				  size_t size)
{
	char tail[1024];
	ssize_t n = 0;
	char *line;
	int fd = open(s->log, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return;
	if (lseek(fd, -(off_t)(sizeof(tail) - 1), SEEK_END) < 0)
		(void)lseek(fd, 0, SEEK_SET);
	n = read(fd, tail, sizeof(tail) - 1);
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		tail[--n] = '\0';
	line = strrchr(tail, '\n');
	text_escape(line != NULL ? line + 1 : tail,
		   strlen(line != NULL ? line + 1 : tail), buf, size);
}

/* Blocking, at start-up only: until a PING gets PONG. A server still
   loading at the deadline is left to it: requests wait for the load
   (cache.h), the service does not fail to start over a big AOF. */
static int cache_server_wait_ready(struct cache_server *s, char **error_r)
{
	struct timespec t0, t;
	long long waited = 0;
	enum cache_server_ping st = CACHE_SERVER_DOWN;
	int status;
	char how[32], tail[300];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; waited < CACHE_SERVER_START_MS; cache_sleep_ms(10)) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			cache_server_unwatch(s);
			s->pid = 0;
			cache_server_describe_status(status, how, sizeof(how));
			cache_server_log_tail(s, tail, sizeof(tail));
			if (asprintf(error_r, "cache: redis-server exited (%s); "
				     "%s says: %s", how, s->log, tail) < 0)
				*error_r = NULL;
			return -1;
		}
		st = cache_server_ping(s->sock);
		if (st == CACHE_SERVER_UP)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		waited = (t.tv_sec - t0.tv_sec) * 1000LL +
			(t.tv_nsec - t0.tv_nsec) / 1000000;
	}
	if (st == CACHE_SERVER_LOADING) {
		cache_log(&s->hooks, CACHE_LOG_WARN, "event=cache_server_loading "
			  "pid=%ld waited_ms=%lld", (long)s->pid, waited);
		return 0;
	}
	return cache_server_fail(error_r, "redis-server did not open its "
				 "socket within 10 s; see", s->log, 0);
}

static int cache_server_paths(struct cache_server *s, const char *dir,
			      char **error_r)
{
	char *lock = NULL;
	int fail = 0;

	s->dir = strdup(dir);
	fail |= asprintf(&s->sock, "%s/redis.sock", dir) < 0;
	fail |= asprintf(&s->conf, "%s/redis.conf", dir) < 0;
	fail |= asprintf(&s->log, "%s/redis.log", dir) < 0;
	fail |= asprintf(&s->pidfile, "%s/redis.pid", dir) < 0;
	fail |= asprintf(&lock, "%s/popgate.lock", dir) < 0;
	if (fail || s->dir == NULL) {
		free(lock);
		*error_r = strdup("cache: out of memory");
		return -1;
	}
	if (strlen(s->sock) > CACHE_URL_PATH_MAX) {
		free(lock);
		return cache_server_fail(error_r, "state directory path too "
					 "long for a unix socket (max 96 "
					 "bytes):", dir, 0);
	}
	/* One popgate per state directory: two servers on one AOF would
	   corrupt it. The lock goes with our process. */
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		cache_server_fail(error_r, "cannot open", lock, errno);
		free(lock);
		return -1;
	}
	free(lock);
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return cache_server_fail(error_r, "state directory in use by "
					 "another popgate:", dir,
					 errno == EWOULDBLOCK ? 0 : errno);
	return 0;
}

int cache_server_new(struct event_base *base, const struct cache_hooks *hooks,
		     const char *state_dir, const char *binary,
		     uint64_t max_memory, cache_server_restart_cb *restart_cb,
		     void *ctx, struct cache_server **server_r,
		     char **error_r)
{
	struct cache_server *s = calloc(1, sizeof(*s));
	char *dir = NULL;

	*server_r = NULL;
	if (s == NULL) {
		*error_r = strdup("cache: out of memory");
		return -1;
	}
	s->base = base;
	s->hooks = *hooks;
	s->lock_fd = -1;
	s->pidfd = -1;
	s->backoff_ms = CACHE_BACKOFF_MIN_MS;
	s->max_memory = max_memory;
	s->restart_cb = restart_cb;
	s->ctx = ctx;
	s->restart_ev = event_new(base, -1, 0, cache_server_restart_event, s);
	if (s->restart_ev == NULL) {
		*error_r = strdup("cache: cannot create events");
		goto fail;
	}
	if (cache_server_dir(state_dir, &dir, error_r) < 0 ||
	    cache_server_paths(s, dir, error_r) < 0)
		goto fail;
	s->binary = cache_server_find_binary(binary);
	if (s->binary == NULL) {
		cache_server_fail(error_r, "cannot find executable", binary,
				  0);
		goto fail;
	}
	s->argv[0] = s->binary;
	s->argv[1] = s->conf;
	s->argv[2] = NULL;
	cache_server_kill_orphan(s);
	if (cache_server_write_conf(s, error_r) < 0 ||
	    cache_server_spawn(s, error_r) < 0 ||
	    cache_server_wait_ready(s, error_r) < 0)
		goto fail;
	cache_log(&s->hooks, CACHE_LOG_INFO, "event=cache_server_started pid=%ld dir=%s", (long)s->pid,
		 s->dir);
	free(dir);
	*server_r = s;
	return 0;
fail:
	free(dir);
	cache_server_free(&s);
	return -1;
}

const char *cache_server_socket(const struct cache_server *s)
{
	return s->sock;
}

static void cache_server_stop(struct cache_server *s)
{
	unsigned int waited;
	int status;
	pid_t r;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (waited = 0; waited < CACHE_SERVER_STOP_MS; waited += 10) {
		r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid || (r < 0 && errno != EINTR)) {
			cache_log(&s->hooks, CACHE_LOG_INFO, "event=cache_server_stopped pid=%ld",
				 (long)s->pid);
			s->pid = 0;
			return;
		}
		cache_sleep_ms(10);
	}
	cache_log(&s->hooks, CACHE_LOG_WARN, "event=cache_server_kill pid=%ld reason=\"no exit within "
		 "5 s of SIGTERM\"", (long)s->pid);
	kill(s->pid, SIGKILL);
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
}

void cache_server_free(struct cache_server **sp)
{
	struct cache_server *s = *sp;

	*sp = NULL;
	if (s == NULL)
		return;
	cache_server_stop(s);
	cache_server_unwatch(s);
	if (s->restart_ev != NULL)
		event_free(s->restart_ev);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s->sock);
	free(s->conf);
	free(s->log);
	free(s->pidfile);
	free(s->binary);
	free(s);
}

int cache_server_check(const char *state_dir, const char *binary, char **error_r)
{
	char *found = cache_server_find_binary(binary);
	struct stat st;

	if (found == NULL)
		return cache_server_fail(error_r, "cannot find executable", binary, 0);
	free(found);
	if (stat(state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return cache_server_fail(error_r, "not a directory:", state_dir, 0);
	} else if (errno == ENOENT) {
		/* Created at start: its parent must be there. */
		char *copy = strdup(state_dir), *slash;
		int ok;

		if (copy == NULL)
			return cache_server_fail(error_r, "out of memory", NULL, 0);
		slash = strrchr(copy, '/');
		if (slash == copy)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		ok = slash == NULL || (stat(copy, &st) == 0 && S_ISDIR(st.st_mode));
		free(copy);
		if (!ok)
			return cache_server_fail(error_r, "the parent of the state directory "
						 "does not exist:", state_dir, 0);
	} else {
		return cache_server_fail(error_r, "state directory", state_dir, errno);
	}
	for (const char *p = state_dir; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cache_server_fail(error_r, "control character in state directory",
						 NULL, 0);
	}
	return 0;
}
