#ifndef DAEMON_H
#define DAEMON_H

/*
 * Process management at start-up: going into the background, the pid file
 * and dropping root. Blocking calls, for start-up and shutdown only; no
 * libevent here.
 *
 * Order in main() (each step needs the one before):
 *   conf_load, --check exits, log_open
 *   daemon_detach          before event_base_new(): an epoll base and
 *                          libevent's signal pipe do not survive a fork
 *   daemon_pidfile_create  as root, before binding: a second instance is
 *                          told "already running (pid N)", not "address in
 *                          use"
 *   bind listeners, metrics socket, read the TLS certificate
 *   daemon_prepare_dir(state_dir) when cache url = auto
 *   daemon_drop_privileges
 *   cache_new              the managed redis-server runs as the run user
 *   daemon_ready(true)     the launching process exits 0
 * On a start-up failure: log the error (stderr still reaches the terminal)
 * and exit 1 (or daemon_ready(false)); the launching process exits 1.
 */

#include <stdbool.h>

/*
 * Detaches into the background: fork, setsid, chdir("/"), stdin and stdout
 * to /dev/null. stderr is kept until daemon_ready() so that start-up errors
 * still reach the terminal. The launching process waits until the child
 * calls daemon_ready(): it exits 0 when that reports success and 1 when it
 * reports failure or the child dies first (it says so itself only when the
 * child is killed by a signal; otherwise the child's own message on stderr
 * is what the administrator sees). It does not return.
 *
 * Returns 0 in the child. Returns -1 with a malloc'd *error_r if nothing
 * was forked, or, in the child, if setsid/chdir/dup2 failed (the caller
 * logs and exits 1 as for any other start-up failure). Call it once.
 */
int daemon_detach(char **error_r);

/*
 * In the detached child: start-up has finished (ok) or failed. Tells the
 * launching process and closes the channel to it; when ok and !keep_stderr
 * (the log goes elsewhere), stderr becomes /dev/null. A no-op when not
 * detached or called a second time.
 */
void daemon_ready(bool ok, bool keep_stderr);

/* Whether daemon_detach() made this the background process and
   daemon_ready() is still to come. */
bool daemon_detaching(void);

/*
 * The pid file: created if missing (mode 0644, O_CLOEXEC), locked with
 * flock(), holding the current pid. While its process lives, another
 * daemon_pidfile_create() on the same path fails with
 * "popgate already running (pid 1234, /run/popgate.pid)". A file left by a
 * process that died (not locked) is taken over.
 *
 * The lock belongs to the open file, not to the process: a pid file
 * created before daemon_detach() stays locked in the child after the parent
 * exits, and daemon_pidfile_write() then puts the child's pid in. Creating
 * it after daemon_detach() (and before daemon_drop_privileges(), so that
 * root-only /run works) needs no second write.
 *
 * Returns NULL with a malloc'd *error_r naming the path on failure.
 */
struct daemon_pidfile;
struct daemon_pidfile *daemon_pidfile_create(const char *path, char **error_r);

/* Rewrites the file with the current pid. Returns 0, or -1 with a malloc'd
   *error_r. */
int daemon_pidfile_write(struct daemon_pidfile *pf, char **error_r);

/*
 * Removes the file (only if it is still the one we created) and releases
 * the lock; sets *pf NULL; NULL is fine. After daemon_drop_privileges() the
 * file can only be removed if its directory is writable by the run user
 * (e.g. /run/popgate owned by it); otherwise it is emptied, a warning is
 * logged, and the file stays: unlocked and without a pid, it is stale and
 * harmless (the next start takes it over).
 */
void daemon_pidfile_remove(struct daemon_pidfile **pf);

/*
 * Switches to user (and group; NULL: the user's primary group) for good:
 * names resolved with getpwnam_r/getgrnam_r, supplementary groups from
 * initgroups(), then gid and uid (real, effective and saved). Checks
 * afterwards that root cannot be regained. user "root" keeps uid 0.
 *
 * Not running as root: succeeds without any change only if already that
 * user and group (e.g. started by systemd with User=), else fails with
 * "cannot switch to user X: not running as root".
 *
 * Returns 0, or -1 with a malloc'd *error_r; after a failure as root the
 * process may be half switched and must exit.
 */
int daemon_drop_privileges(const char *user, const char *group, char **error_r);

/* Whether user (and group) exist, as daemon_drop_privileges() would look
   them up (popgate --check). 0, or -1 with a malloc'd *error_r. */
int daemon_check_user(const char *user, const char *group, char **error_r);

/*
 * A directory for the run user (the managed redis-server's state_dir),
 * called as root before daemon_drop_privileges(): created with mode 0700
 * and owned by user:group if missing. An existing one must already belong
 * to the user, else -1 with an *error_r saying to chown it (nothing inside
 * it is changed: files left by a run as root need "chown -R"). Not root:
 * does nothing and returns 0 (cache_new() checks the directory itself).
 */
int daemon_prepare_dir(const char *path, const char *user, const char *group,
		       char **error_r);

#endif
