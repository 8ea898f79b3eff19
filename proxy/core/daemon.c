/* Background start, pid file, privilege drop (daemon.h). */

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define DAEMON_READY_OK 'R'
#define DAEMON_READY_FAIL 'F'
/* How often a pid file replaced under us is retried. */
#define DAEMON_PIDFILE_TRIES 5
/* How long we wait for a running instance to write its pid. */
#define DAEMON_PIDFILE_READ_MS 200

/*
 * The detached child's end of the channel to the launching process. Process
 * state by nature (a fork has one), set once by daemon_detach() and cleared
 * by daemon_ready(); -1 when not detached.
 */
static int daemon_ready_fd = -1;

static int daemon_fail(char **error_r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int daemon_fail(char **error_r, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	if (vasprintf(error_r, fmt, args) < 0)
		*error_r = NULL;
	va_end(args);
	return -1;
}

static void daemon_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* --- detaching --- */

/* The launching process: wait for the child's word, then leave. */
static __attribute__((noreturn)) void daemon_parent(int fd, pid_t child)
{
	char c = 0;
	ssize_t n;
	int status;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == DAEMON_READY_OK)
		_exit(0);
	if (n == 1)
		_exit(1);
	/* Closed without a word: the child is gone (or going). */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		fprintf(stderr, "popgate: start-up failed: killed by signal %d\n",
			WTERMSIG(status));
	_exit(1);
}

int daemon_detach(char **error_r)
{
	int sv[2], null_fd;
	pid_t pid;

	if (daemon_ready_fd >= 0)
		return daemon_fail(error_r, "daemon: already detached");
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return daemon_fail(error_r, "daemon: cannot open /dev/null: %s",
				   strerror(errno));
	/* A socket, not a pipe: send() with MSG_NOSIGNAL cannot kill the child
	   with SIGPIPE if the launcher is gone. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int err = errno;

		close(null_fd);
		return daemon_fail(error_r, "daemon: socketpair: %s", strerror(err));
	}
	/* Nothing buffered may be written twice. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(null_fd);
		close(sv[0]);
		close(sv[1]);
		return daemon_fail(error_r, "daemon: cannot fork: %s", strerror(err));
	}
	if (pid > 0) {
		close(sv[1]);
		close(null_fd);
		daemon_parent(sv[0], pid);
	}
	close(sv[0]);
	daemon_ready_fd = sv[1];
	if (setsid() < 0 || chdir("/") < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(null_fd, STDOUT_FILENO) < 0) {
		int err = errno;

		close(null_fd);
		return daemon_fail(error_r, "daemon: cannot detach: %s", strerror(err));
	}
	close(null_fd);
	return 0;
}

void daemon_ready(bool ok, bool keep_stderr)
{
	char c = ok ? DAEMON_READY_OK : DAEMON_READY_FAIL;
	int null_fd;

	if (daemon_ready_fd < 0)
		return;
	while (send(daemon_ready_fd, &c, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	close(daemon_ready_fd);
	daemon_ready_fd = -1;
	if (!ok || keep_stderr)
		return;
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd >= 0) {
		(void)dup2(null_fd, STDERR_FILENO);
		close(null_fd);
	}
}

bool daemon_detaching(void)
{
	return daemon_ready_fd >= 0;
}

/* --- the pid file --- */

struct daemon_pidfile {
	int fd;
	char *path;
};

/* The pid a running instance wrote, 0 if none (yet). */
static long daemon_pidfile_read(int fd)
{
	char buf[32];
	unsigned int waited;
	ssize_t n;
	char *end;
	long pid;

	/* It may have locked the file and not yet written to it. */
	for (waited = 0;; waited += 10) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0 || waited >= DAEMON_PIDFILE_READ_MS)
			break;
		daemon_sleep_ms(10);
	}
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return pid;
}

/* Whether path still names the file open as fd. */
static bool daemon_same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
		a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Opens and locks path: 1 on success, 0 to try again (the file was
   replaced between open and lock), -1 with *error_r. */
static int daemon_pidfile_lock(const char *path, int *fd_r, char **error_r)
{
	struct stat st;
	long pid;
	int fd, err;

	/* O_NOFOLLOW: a symbolic link planted in a shared directory must not
	   make root truncate another file. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd < 0)
		return daemon_fail(error_r, "cannot open pid file %s: %s", path,
				   errno == ELOOP ? "is a symbolic link" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return daemon_fail(error_r, "pid file %s: not a regular file", path);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno;
		if (err != EWOULDBLOCK) {
			close(fd);
			return daemon_fail(error_r, "cannot lock pid file %s: %s", path,
					   strerror(err));
		}
		pid = daemon_pidfile_read(fd);
		close(fd);
		if (pid > 0)
			return daemon_fail(error_r, "popgate already running (pid %ld, %s)",
					   pid, path);
		return daemon_fail(error_r, "popgate already running (pid unknown, "
				   "%s is locked)", path);
	}
	/* Its owner removed it between our open and our lock: the lock is on a
	   file nobody else will look at. */
	if (!daemon_same_file(fd, path)) {
		close(fd);
		return 0;
	}
	*fd_r = fd;
	return 1;
}

struct daemon_pidfile *daemon_pidfile_create(const char *path, char **error_r)
{
	struct daemon_pidfile *pf;
	int fd = -1, r = 0;

	for (unsigned int i = 0; i < DAEMON_PIDFILE_TRIES && r == 0; i++)
		r = daemon_pidfile_lock(path, &fd, error_r);
	if (r < 0)
		return NULL;
	if (r == 0) {
		daemon_fail(error_r, "pid file %s keeps being replaced", path);
		return NULL;
	}
	pf = calloc(1, sizeof(*pf));
	if (pf == NULL || (pf->path = strdup(path)) == NULL) {
		free(pf);
		close(fd);
		*error_r = strdup("pid file: out of memory");
		return NULL;
	}
	pf->fd = fd;
	/* Whatever the umask, and for a file taken over. */
	(void)fchmod(fd, 0644);
	if (daemon_pidfile_write(pf, error_r) < 0) {
		daemon_pidfile_remove(&pf);
		return NULL;
	}
	return pf;
}

int daemon_pidfile_write(struct daemon_pidfile *pf, char **error_r)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	errno = 0;
	if (ftruncate(pf->fd, 0) < 0 || pwrite(pf->fd, buf, (size_t)len, 0) != len)
		return daemon_fail(error_r, "cannot write pid file %s: %s", pf->path,
				   strerror(errno != 0 ? errno : ENOSPC));
	return 0;
}

void daemon_pidfile_remove(struct daemon_pidfile **pfp)
{
	struct daemon_pidfile *pf = *pfp;

	*pfp = NULL;
	if (pf == NULL)
		return;
	if (daemon_same_file(pf->fd, pf->path) && unlink(pf->path) < 0 &&
	    errno != ENOENT) {
		int err = errno;

		/* The fd was opened for writing before any privilege drop. */
		if (ftruncate(pf->fd, 0) < 0)
			err = errno;
		log_warn("event=pid_file_left path=%s error=\"%s\" "
			 "hint=\"its directory must be writable by the run user\"",
			 pf->path, strerror(err));
	}
	close(pf->fd);
	free(pf->path);
	free(pf);
}

/* --- users and groups --- */

/* getpwnam_r/getgrnam_r want a buffer of a size only known by trying. */
static char *daemon_grow(char *buf, size_t *size)
{
	char *n;

	*size = *size == 0 ? 1024 : *size * 2;
	if (*size > 1024 * 1024) {
		free(buf);
		return NULL;
	}
	n = realloc(buf, *size);
	if (n == NULL)
		free(buf);
	return n;
}

static int daemon_resolve(const char *user, const char *group, uid_t *uid_r,
			  gid_t *gid_r, char **error_r)
{
	struct passwd pw, *pwr = NULL;
	struct group gr, *grr = NULL;
	char *buf = NULL;
	size_t size = 0;
	int err;

	do {
		if ((buf = daemon_grow(buf, &size)) == NULL)
			return daemon_fail(error_r, "cannot switch to user %s: "
					   "out of memory", user);
		err = getpwnam_r(user, &pw, buf, size, &pwr);
	} while (err == ERANGE);
	if (pwr == NULL) {
		free(buf);
		return daemon_fail(error_r, "cannot switch to user %s: %s", user,
				   err == 0 || err == ENOENT || err == ESRCH ?
				   "no such user" : strerror(err));
	}
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	if (group == NULL) {
		free(buf);
		return 0;
	}
	do {
		if ((buf = daemon_grow(buf, &size)) == NULL)
			return daemon_fail(error_r, "cannot switch to group %s: "
					   "out of memory", group);
		err = getgrnam_r(group, &gr, buf, size, &grr);
	} while (err == ERANGE);
	free(buf);
	if (grr == NULL)
		return daemon_fail(error_r, "cannot switch to group %s: %s", group,
				   err == 0 || err == ENOENT || err == ESRCH ?
				   "no such group" : strerror(err));
	*gid_r = gr.gr_gid;
	return 0;
}

int daemon_check_user(const char *user, const char *group, char **error_r)
{
	uid_t uid;
	gid_t gid;

	return daemon_resolve(user, group, &uid, &gid, error_r);
}

int daemon_drop_privileges(const char *user, const char *group, char **error_r)
{
	uid_t uid;
	gid_t gid;

	if (daemon_resolve(user, group, &uid, &gid, error_r) < 0)
		return -1;
	if (geteuid() != 0) {
		/* Already switched by whoever started us (systemd User=): no
		   set*id call, which a seccomp filter may forbid. */
		if (getuid() != uid || geteuid() != uid)
			return daemon_fail(error_r, "cannot switch to user %s: "
					   "not running as root", user);
		if (getgid() != gid || getegid() != gid)
			return daemon_fail(error_r, "cannot switch to group %s: "
					   "not running as root",
					   group != NULL ? group : "of user");
		return 0;
	}
	if (initgroups(user, gid) < 0)
		return daemon_fail(error_r, "cannot set the groups of user %s: %s",
				   user, strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return daemon_fail(error_r, "cannot switch to group id %ld: %s",
				   (long)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return daemon_fail(error_r, "cannot switch to user %s: %s", user,
				   strerror(errno));
	if (uid == 0)
		return 0;
	/* Belt and braces: a switch that left a way back is no switch. */
	if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != uid ||
	    geteuid() != uid || (gid != 0 && (setegid(0) == 0 || getegid() != gid)))
		return daemon_fail(error_r, "switching to user %s left root "
				   "privileges", user);
	return 0;
}

int daemon_prepare_dir(const char *path, const char *user, const char *group,
		       char **error_r)
{
	struct stat st;
	uid_t uid;
	gid_t gid;
	int fd;

	if (geteuid() != 0)
		return 0;
	if (daemon_resolve(user, group, &uid, &gid, error_r) < 0)
		return -1;
	if (mkdir(path, 0700) == 0) {
		/* New and empty: safe to give away (no symbolic link inside to
		   follow). */
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0) {
			int err = errno;

			if (fd >= 0)
				close(fd);
			return daemon_fail(error_r, "cannot give %s to user %s: %s",
					   path, user, strerror(err));
		}
		close(fd);
		return 0;
	}
	if (errno != EEXIST)
		return daemon_fail(error_r, "cannot create directory %s: %s", path,
				   strerror(errno));
	if (stat(path, &st) < 0)
		return daemon_fail(error_r, "directory %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return daemon_fail(error_r, "%s: not a directory", path);
	if (st.st_uid != uid)
		return daemon_fail(error_r, "directory %s belongs to uid %ld, not to "
				   "user %s (chown -R %s: %s)", path, (long)st.st_uid,
				   user, user, path);
	return 0;
}
