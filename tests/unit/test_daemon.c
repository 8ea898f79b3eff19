/*
 * Process management (daemon.h): the pid file and its lock, dropping root
 * (to "nobody", in a forked child so the test keeps root), detaching (in a
 * forked "launcher" whose exit status is the result). Every wait is
 * bounded; what runs in a child reports through its exit status.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define RUN_USER "nobody"

static char dir[64];
static char path[PATH_MAX];

/* In a child: report the first failed condition through the exit status. */
#define CHILD_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: child check failed: %s\n", __FILE__, \
			__LINE__, #cond); \
		_exit(100); \
	} \
} while (0)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The child's wait status, or -1 (killed) if it did not exit within ms. */
static int wait_exit(pid_t pid, unsigned int ms)
{
	long long deadline = now_ms() + ms;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline)
			break;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/* Exit code of a child, failing the test on a timeout or a signal. */
static int child_code(pid_t pid, unsigned int ms)
{
	int status;

	ck_assert_int_ge(pid, 0);
	status = wait_exit(pid, ms);
	ck_assert_msg(status != -1, "child did not exit within %u ms", ms);
	ck_assert_msg(WIFEXITED(status), "child killed by signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* Whole file into buf (NUL-terminated), -1 if it cannot be read. */
static ssize_t read_file(const char *p, char *buf, size_t size)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void write_file(const char *p, const char *text, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pgt-daemon-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* "nobody" must reach the files of the privilege tests. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/popgate.pid", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static const struct passwd *run_user(void)
{
	const struct passwd *pw = getpwnam(RUN_USER);

	ck_assert_msg(pw != NULL, "no user %s on this system", RUN_USER);
	return pw;
}

/* --- the pid file --- */

/* Whether the descriptor open on p has FD_CLOEXEC; -1 if none is open. */
static int cloexec_of(const char *p)
{
	char link[64], target[PATH_MAX];
	ssize_t n;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, p) == 0)
			return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
	}
	return -1;
}

START_TEST(pidfile_create_write_remove)
{
	struct daemon_pidfile *pf;
	char *error = NULL, buf[64], want[32];
	struct stat st;
	mode_t old = umask(077);

	pf = daemon_pidfile_create(path, &error);
	umask(old);
	ck_assert_msg(pf != NULL, "%s", error);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ck_assert_int_eq(cloexec_of(path), 1);

	ck_assert_int_eq(daemon_pidfile_write(pf, &error), 0);
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);

	daemon_pidfile_remove(&pf);
	ck_assert_ptr_null(pf);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(cloexec_of(path), -1);
	daemon_pidfile_remove(&pf);
}
END_TEST

START_TEST(pidfile_second_instance_refused)
{
	struct daemon_pidfile *pf, *pf2;
	char *error = NULL, want[PATH_MAX + 64];
	pid_t pid;

	pf = daemon_pidfile_create(path, &error);
	ck_assert_msg(pf != NULL, "%s", error);
	snprintf(want, sizeof(want), "popgate already running (pid %ld, %s)",
		 (long)getpid(), path);

	/* Another process. */
	pid = fork();
	if (pid == 0) {
		char *err = NULL;

		CHILD_CHECK(daemon_pidfile_create(path, &err) == NULL);
		CHILD_CHECK(err != NULL && strcmp(err, want) == 0);
		_exit(0);
	}
	ck_assert_int_eq(child_code(pid, 5000), 0);

	/* The lock is the open file's: a second open in this process too. */
	pf2 = daemon_pidfile_create(path, &error);
	ck_assert_ptr_null(pf2);
	ck_assert_str_eq(error, want);
	free(error);

	/* The refused attempts left the file alone. */
	char buf[64];

	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);

	/* Once released, the next one gets it. */
	daemon_pidfile_remove(&pf);
	pf = daemon_pidfile_create(path, &error);
	ck_assert_msg(pf != NULL, "%s", error);
	daemon_pidfile_remove(&pf);
}
END_TEST

START_TEST(pidfile_stale_replaced)
{
	static const char *const stale[] = {
		"1234567890\n", "", "garbage", "99999999999999999999999\n",
	};
	struct daemon_pidfile *pf;
	char *error = NULL, buf[64], want[32];

	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	for (unsigned int i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		/* Left by a process that died: present, not locked. */
		write_file(path, stale[i], 0600);
		pf = daemon_pidfile_create(path, &error);
		ck_assert_msg(pf != NULL, "%s", error);
		ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, want);
		daemon_pidfile_remove(&pf);
	}
}
END_TEST

/* A holder that died without removing the file: unlocked by the kernel. */
START_TEST(pidfile_holder_killed)
{
	struct daemon_pidfile *pf;
	char *error = NULL, buf[64], want[32];
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		char *err = NULL;

		close(fds[0]);
		CHILD_CHECK(daemon_pidfile_create(path, &err) != NULL);
		CHILD_CHECK(write(fds[1], "x", 1) == 1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], buf, 1), 1);
	close(fds[0]);
	ck_assert_ptr_null(daemon_pidfile_create(path, &error));
	snprintf(want, sizeof(want), "(pid %ld, ", (long)pid);
	ck_assert_msg(strstr(error, want) != NULL, "%s", error);
	free(error);
	kill(pid, SIGKILL);
	ck_assert_int_eq(wait_exit(pid, 5000) != -1, 1);

	pf = daemon_pidfile_create(path, &error);
	ck_assert_msg(pf != NULL, "%s", error);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
	daemon_pidfile_remove(&pf);
}
END_TEST

/*
 * Created before a fork, the lock stays with the child after the parent
 * exits (flock locks belong to the open file), and a write puts the
 * child's pid in: what daemon_detach() after daemon_pidfile_create() does.
 */
START_TEST(pidfile_lock_survives_fork)
{
	char *error = NULL, want[PATH_MAX + 64];
	int fds[2];
	long child_pid = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		struct daemon_pidfile *pf;
		char *err = NULL;
		pid_t grandchild;

		close(fds[0]);
		pf = daemon_pidfile_create(path, &err);
		CHILD_CHECK(pf != NULL);
		grandchild = fork();
		CHILD_CHECK(grandchild >= 0);
		if (grandchild > 0)
			_exit(0);       /* the launcher: gone, without unlocking */
		CHILD_CHECK(daemon_pidfile_write(pf, &err) == 0);
		long me = (long)getpid();

		CHILD_CHECK(write(fds[1], &me, sizeof(me)) == sizeof(me));
		close(fds[1]);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(child_code(pid, 5000), 0);
	ck_assert_int_eq(read(fds[0], &child_pid, sizeof(child_pid)), sizeof(child_pid));
	close(fds[0]);

	ck_assert_ptr_null(daemon_pidfile_create(path, &error));
	snprintf(want, sizeof(want), "popgate already running (pid %ld, %s)",
		 child_pid, path);
	ck_assert_str_eq(error, want);
	free(error);
	kill((pid_t)child_pid, SIGKILL);
}
END_TEST

START_TEST(pidfile_bad_paths)
{
	char p[PATH_MAX + 32], *error = NULL;

	snprintf(p, sizeof(p), "%s/no/such/dir/popgate.pid", dir);
	ck_assert_ptr_null(daemon_pidfile_create(p, &error));
	ck_assert_msg(strstr(error, p) != NULL && strstr(error, "No such file") != NULL,
		      "%s", error);
	free(error);

	/* A symbolic link is not followed (nothing else gets truncated). */
	snprintf(p, sizeof(p), "%s/target", dir);
	write_file(p, "precious\n", 0644);
	ck_assert_int_eq(symlink(p, path), 0);
	ck_assert_ptr_null(daemon_pidfile_create(path, &error));
	ck_assert_msg(strstr(error, "symbolic link") != NULL, "%s", error);
	free(error);
	char buf[32];

	ck_assert_int_gt(read_file(p, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "precious\n");
	ck_assert_int_eq(unlink(path), 0);

	/* A directory. */
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_ptr_null(daemon_pidfile_create(path, &error));
	ck_assert_ptr_nonnull(strstr(error, path));
	free(error);
}
END_TEST

/* Someone replaced our file (an administrator, another start after
   removing it): remove() must not delete theirs. */
START_TEST(pidfile_replaced_not_removed)
{
	struct daemon_pidfile *pf;
	char *error = NULL, buf[64];

	pf = daemon_pidfile_create(path, &error);
	ck_assert_msg(pf != NULL, "%s", error);
	ck_assert_int_eq(unlink(path), 0);
	write_file(path, "42\n", 0644);
	daemon_pidfile_remove(&pf);
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "42\n");
}
END_TEST

/* --- dropping root --- */

static int group_list(gid_t *groups, int max)
{
	return getgroups(max, groups);
}

static bool has_group(const gid_t *groups, int n, gid_t g)
{
	for (int i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

START_TEST(drop_to_nobody)
{
	const struct passwd *pw;
	uid_t uid;
	gid_t gid;
	pid_t pid;

	if (geteuid() != 0)
		return;
	pw = run_user();
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	/* Something to lose: a supplementary group the user is not in. */
	gid_t extra = 4242, saved[64];
	int nsaved = getgroups(64, saved);

	ck_assert_int_ge(nsaved, 0);
	ck_assert_int_eq(setgroups(1, &extra), 0);
	pid = fork();
	if (pid == 0) {
		gid_t groups[64], want[64];
		int n, nwant = 64;
		char *err = NULL;
		uid_t r, e, s;
		gid_t rg, eg, sg;

		if (daemon_drop_privileges(RUN_USER, NULL, &err) < 0) {
			fprintf(stderr, "%s\n", err);
			_exit(101);
		}
		CHILD_CHECK(getresuid(&r, &e, &s) == 0 && r == uid && e == uid && s == uid);
		CHILD_CHECK(getresgid(&rg, &eg, &sg) == 0 && rg == gid && eg == gid &&
			    sg == gid);
		n = group_list(groups, 64);
		CHILD_CHECK(n >= 0);
		CHILD_CHECK(!has_group(groups, n, 0));
		CHILD_CHECK(!has_group(groups, n, extra));
		CHILD_CHECK(getgrouplist(RUN_USER, gid, want, &nwant) >= 0);
		for (int i = 0; i < nwant; i++)
			CHILD_CHECK(has_group(groups, n, want[i]));
		/* No way back. */
		CHILD_CHECK(setuid(0) < 0 && errno == EPERM);
		CHILD_CHECK(seteuid(0) < 0);
		CHILD_CHECK(setgid(0) < 0);
		CHILD_CHECK(setgroups(0, NULL) < 0);
		CHILD_CHECK(access("/etc/shadow", R_OK) < 0);
		_exit(0);
	}
	ck_assert_int_eq(setgroups((size_t)nsaved, saved), 0);
	ck_assert_int_eq(child_code(pid, 5000), 0);
	/* The test process itself is still root. */
	ck_assert_int_eq(geteuid(), 0);
}
END_TEST

START_TEST(drop_with_group)
{
	const struct group *gr;
	gid_t gid;
	pid_t pid;

	if (geteuid() != 0)
		return;
	run_user();
	gr = getgrnam("daemon");
	ck_assert_ptr_nonnull(gr);
	gid = gr->gr_gid;
	pid = fork();
	if (pid == 0) {
		gid_t groups[64];
		char *err = NULL;
		int n;

		if (daemon_drop_privileges(RUN_USER, "daemon", &err) < 0) {
			fprintf(stderr, "%s\n", err);
			_exit(101);
		}
		CHILD_CHECK(getgid() == gid && getegid() == gid);
		n = group_list(groups, 64);
		CHILD_CHECK(n >= 1 && has_group(groups, n, gid) && !has_group(groups, n, 0));
		CHILD_CHECK(setgid(0) < 0 && setuid(0) < 0);
		_exit(0);
	}
	ck_assert_int_eq(child_code(pid, 5000), 0);
}
END_TEST

START_TEST(drop_unknown_names)
{
	char *error = NULL;

	ck_assert_int_eq(daemon_drop_privileges("no_such_user_pg", NULL, &error), -1);
	ck_assert_str_eq(error, "cannot switch to user no_such_user_pg: no such user");
	free(error);
	ck_assert_int_eq(daemon_drop_privileges(RUN_USER, "no_such_group_pg", &error), -1);
	ck_assert_str_eq(error, "cannot switch to group no_such_group_pg: no such group");
	free(error);
	/* Nothing changed. */
	if (getuid() == 0)
		ck_assert_int_eq(geteuid(), 0);
}
END_TEST

/* Started unprivileged (systemd User=): only "already that user" works. */
START_TEST(drop_when_not_root)
{
	pid_t pid;

	if (geteuid() != 0)
		return;
	run_user();
	pid = fork();
	if (pid == 0) {
		char *err = NULL;

		CHILD_CHECK(daemon_drop_privileges(RUN_USER, NULL, &err) == 0);
		/* Again, now as nobody: no set*id call needed, none made. */
		CHILD_CHECK(daemon_drop_privileges(RUN_USER, NULL, &err) == 0);
		CHILD_CHECK(daemon_drop_privileges("root", NULL, &err) < 0);
		CHILD_CHECK(strcmp(err, "cannot switch to user root: not running as "
				   "root") == 0);
		free(err);
		CHILD_CHECK(daemon_drop_privileges(RUN_USER, "daemon", &err) < 0);
		CHILD_CHECK(strcmp(err, "cannot switch to group daemon: not running "
				   "as root") == 0);
		free(err);
		_exit(0);
	}
	ck_assert_int_eq(child_code(pid, 5000), 0);
}
END_TEST

/*
 * What a SIGHUP certificate reload meets after the drop: a root-only 0600
 * key cannot be read any more; root:<group of the run user> 0640 can.
 */
START_TEST(root_only_key_unreadable_after_drop)
{
	char key600[PATH_MAX + 16], key640[PATH_MAX + 16];
	const struct passwd *pw;
	pid_t pid;

	if (geteuid() != 0)
		return;
	pw = run_user();
	snprintf(key600, sizeof(key600), "%s/key600.pem", dir);
	snprintf(key640, sizeof(key640), "%s/key640.pem", dir);
	write_file(key600, "key\n", 0600);
	write_file(key640, "key\n", 0640);
	ck_assert_int_eq(chown(key640, 0, pw->pw_gid), 0);
	pid = fork();
	if (pid == 0) {
		char *err = NULL;
		int fd;

		CHILD_CHECK(daemon_drop_privileges(RUN_USER, NULL, &err) == 0);
		fd = open(key600, O_RDONLY | O_CLOEXEC);
		CHILD_CHECK(fd < 0 && errno == EACCES);
		fd = open(key640, O_RDONLY | O_CLOEXEC);
		CHILD_CHECK(fd >= 0);
		close(fd);
		_exit(0);
	}
	ck_assert_int_eq(child_code(pid, 5000), 0);
}
END_TEST

/* After the drop the pid file's directory may not be ours: the file is
   emptied through the descriptor opened as root, and the next start takes
   it over. */
START_TEST(pidfile_remove_after_drop)
{
	char *error = NULL, buf[64];
	struct daemon_pidfile *pf;
	pid_t pid;

	if (geteuid() != 0)
		return;
	run_user();
	pid = fork();
	if (pid == 0) {
		struct daemon_pidfile *p;
		char *err = NULL;

		p = daemon_pidfile_create(path, &err);
		CHILD_CHECK(p != NULL);
		CHILD_CHECK(daemon_drop_privileges(RUN_USER, NULL, &err) == 0);
		daemon_pidfile_remove(&p);
		CHILD_CHECK(p == NULL);
		_exit(0);
	}
	ck_assert_int_eq(child_code(pid, 5000), 0);
	ck_assert_int_eq(read_file(path, buf, sizeof(buf)), 0);
	pf = daemon_pidfile_create(path, &error);
	ck_assert_msg(pf != NULL, "%s", error);
	daemon_pidfile_remove(&pf);

	/* With the directory the run user's, it goes away. */
	ck_assert_int_eq(chown(dir, run_user()->pw_uid, run_user()->pw_gid), 0);
	pid = fork();
	if (pid == 0) {
		struct daemon_pidfile *p;
		char *err = NULL;

		p = daemon_pidfile_create(path, &err);
		CHILD_CHECK(p != NULL);
		CHILD_CHECK(daemon_drop_privileges(RUN_USER, NULL, &err) == 0);
		daemon_pidfile_remove(&p);
		CHILD_CHECK(access(path, F_OK) < 0 && errno == ENOENT);
		_exit(0);
	}
	ck_assert_int_eq(child_code(pid, 5000), 0);
}
END_TEST

START_TEST(prepare_dir)
{
	char sub[PATH_MAX + 16], *error = NULL;
	const struct passwd *pw;
	struct stat st;

	if (geteuid() != 0)
		return;
	pw = run_user();
	snprintf(sub, sizeof(sub), "%s/state", dir);
	ck_assert_int_eq(daemon_prepare_dir(sub, RUN_USER, NULL, &error), 0);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);
	ck_assert_int_eq(st.st_gid, pw->pw_gid);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	/* Existing and the user's: fine, left as it is. */
	ck_assert_int_eq(daemon_prepare_dir(sub, RUN_USER, NULL, &error), 0);
	/* Existing and root's (a run as root before): refused, not chowned. */
	ck_assert_int_eq(daemon_prepare_dir(dir, RUN_USER, NULL, &error), -1);
	ck_assert_msg(strstr(error, "chown -R nobody:") != NULL, "%s", error);
	free(error);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	ck_assert_int_eq(daemon_prepare_dir(path, "no_such_user_pg", NULL, &error), -1);
	free(error);
}
END_TEST

/* --- detaching --- */

enum detach_case {
	DETACH_OK,          /* ready(true) after 300 ms: launcher exits 0 then */
	DETACH_KEEP_STDERR, /* ready(true, keep_stderr) */
	DETACH_FAIL,        /* message, then ready(false) */
	DETACH_DIE,         /* message, exit(3) without ready */
	DETACH_KILLED,      /* SIGKILL before ready */
};

static char errpath[PATH_MAX + 16], reportpath[PATH_MAX + 16];

/* The detached child: checks its surroundings, reports to a file. */
static void detached_child(enum detach_case c)
{
	char link[PATH_MAX], cwd[PATH_MAX], report[128], tmp[PATH_MAX + 32];
	int fd, n;

	CHILD_CHECK(daemon_detaching());
	CHILD_CHECK(getsid(0) == getpid());
	CHILD_CHECK(getpgrp() == getpid());
	CHILD_CHECK(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0);
	for (fd = 0; fd <= 1; fd++) {
		char p[32];
		ssize_t len;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		len = readlink(p, link, sizeof(link) - 1);
		CHILD_CHECK(len > 0);
		link[len] = '\0';
		CHILD_CHECK(strcmp(link, "/dev/null") == 0);
	}
	/* stderr is still the launcher's until ready. */
	fprintf(stderr, "before-ready pid=%ld\n", (long)getpid());
	switch (c) {
	case DETACH_OK:
	case DETACH_KEEP_STDERR:
		sleep_ms(300);
		daemon_ready(true, c == DETACH_KEEP_STDERR);
		break;
	case DETACH_FAIL:
		fprintf(stderr, "popgate: cannot listen: boom\n");
		daemon_ready(false, false);
		_exit(1);
	case DETACH_DIE:
		fprintf(stderr, "popgate: died\n");
		_exit(3);
	case DETACH_KILLED:
		raise(SIGKILL);
		break;
	}
	CHILD_CHECK(!daemon_detaching());
	daemon_ready(true, false);              /* a second call: no-op */
	fprintf(stderr, "after-ready\n");
	n = (int)readlink("/proc/self/fd/2", link, sizeof(link) - 1);
	CHILD_CHECK(n > 0);
	link[n] = '\0';
	n = snprintf(report, sizeof(report), "pid=%ld stderr=%s\n", (long)getpid(),
		     strcmp(link, "/dev/null") == 0 ? "null" : "kept");
	snprintf(tmp, sizeof(tmp), "%s.tmp", reportpath);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHILD_CHECK(fd >= 0 && write(fd, report, (size_t)n) == n);
	close(fd);
	CHILD_CHECK(rename(tmp, reportpath) == 0);
	_exit(0);
}

/* Forks a launcher that detaches; returns its exit code and how long it
   ran. */
static int run_detach(enum detach_case c, long long *ms_r)
{
	long long t0 = now_ms();
	pid_t pid;
	int code;

	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	snprintf(reportpath, sizeof(reportpath), "%s/report", dir);
	pid = fork();
	if (pid == 0) {
		char *err = NULL;
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
			      O_CLOEXEC, 0644);

		CHILD_CHECK(fd >= 0 && dup2(fd, 2) == 2);
		CHILD_CHECK(!daemon_detaching());
		daemon_ready(true, false);      /* not detached: no-op */
		CHILD_CHECK(fcntl(2, F_GETFD) >= 0);
		if (daemon_detach(&err) < 0) {
			fprintf(stderr, "%s\n", err);
			_exit(90);
		}
		detached_child(c);
		_exit(91);
	}
	code = child_code(pid, 5000);
	*ms_r = now_ms() - t0;
	return code;
}

static void wait_report(char *buf, size_t size)
{
	long long deadline = now_ms() + 5000;

	while (read_file(reportpath, buf, size) <= 0) {
		ck_assert_msg(now_ms() < deadline, "no report from the detached child");
		sleep_ms(10);
	}
}

START_TEST(detach_ready)
{
	char report[128], err[512], want[64];
	long long ms;
	long pid;

	ck_assert_int_eq(run_detach(DETACH_OK, &ms), 0);
	/* Exited only once the child said ready. */
	ck_assert_int_ge(ms, 250);
	wait_report(report, sizeof(report));
	ck_assert_int_eq(sscanf(report, "pid=%ld", &pid), 1);
	ck_assert_ptr_nonnull(strstr(report, "stderr=null"));
	ck_assert_int_gt(read_file(errpath, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "before-ready pid=%ld\n", pid);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(detach_ready_keep_stderr)
{
	char report[128], err[512];
	long long ms;

	ck_assert_int_eq(run_detach(DETACH_KEEP_STDERR, &ms), 0);
	wait_report(report, sizeof(report));
	ck_assert_ptr_nonnull(strstr(report, "stderr=kept"));
	ck_assert_int_gt(read_file(errpath, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "before-ready"));
	ck_assert_ptr_nonnull(strstr(err, "after-ready\n"));
}
END_TEST

START_TEST(detach_failure_reported)
{
	char err[512];
	long long ms;

	ck_assert_int_eq(run_detach(DETACH_FAIL, &ms), 1);
	ck_assert_int_gt(read_file(errpath, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "popgate: cannot listen: boom\n"));
}
END_TEST

START_TEST(detach_child_dies)
{
	char err[512];
	long long ms;

	ck_assert_int_eq(run_detach(DETACH_DIE, &ms), 1);
	ck_assert_int_gt(read_file(errpath, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "popgate: died\n"));
	ck_assert_ptr_null(strstr(err, "signal"));

	ck_assert_int_eq(run_detach(DETACH_KILLED, &ms), 1);
	ck_assert_int_gt(read_file(errpath, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "popgate: start-up failed: killed by signal 9\n") != NULL,
		      "%s", err);
}
END_TEST

static Suite *daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("pidfile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pidfile_create_write_remove);
	tcase_add_test(tc, pidfile_second_instance_refused);
	tcase_add_test(tc, pidfile_stale_replaced);
	tcase_add_test(tc, pidfile_holder_killed);
	tcase_add_test(tc, pidfile_lock_survives_fork);
	tcase_add_test(tc, pidfile_bad_paths);
	tcase_add_test(tc, pidfile_replaced_not_removed);
	suite_add_tcase(s, tc);

	tc = tcase_create("privileges");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, drop_to_nobody);
	tcase_add_test(tc, drop_with_group);
	tcase_add_test(tc, drop_unknown_names);
	tcase_add_test(tc, drop_when_not_root);
	tcase_add_test(tc, root_only_key_unreadable_after_drop);
	tcase_add_test(tc, pidfile_remove_after_drop);
	tcase_add_test(tc, prepare_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("detach");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, detach_ready);
	tcase_add_test(tc, detach_ready_keep_stderr);
	tcase_add_test(tc, detach_failure_reported);
	tcase_add_test(tc, detach_child_dies);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
