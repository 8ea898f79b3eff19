"""Process management, [process]: daemon = yes (the launcher exits 0 only
once the port listens, 1 with the error on stderr otherwise), pid_file
(holds the pid of the listening process, refuses a second start naming
that pid, removed on SIGTERM when its directory is the run user's, emptied
otherwise), user/group (the process that bound the port runs as
popgatetest, and so does its managed redis-server), a POP3 login through
the detached daemon, start-up errors (file:line, unknown user, port in
use) reaching the launcher's stderr, and the SIGHUP certificate reload
after the privilege drop (a root-only 0600 key can no longer be read).

The daemon is not the harness's foreground process: it is launched here
with subprocess, found through its pid file, and always killed (cleanup
registered with the harness). Its log (target stderr) goes to the file the
launcher's stderr was redirected to; never a pipe, which the daemon keeps
open.
"""
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import unittest

import harness as h
from harness import popgate_only

ENV = None
LAUNCH_TIMEOUT = 20.0        # the launcher waits for redis-server too
STOP_TIMEOUT = 20.0          # drain grace (10 s) + redis-server stop


def setUpModule():
    global ENV
    ENV = h.Env(fill_users=("alice",), big_mb=0.1)


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


def needs_root(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (switches to %s)" % h.MAIL_USER)
        return fn(*a, **kw)
    return wrapper


# ---------------------------------------------------------------- /proc

def proc_alive(pid):
    """Running and not a zombie (the daemon's parent is init, which may
    not reap it at once)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def proc_status(pid):
    """{'Uid': [real, effective, saved, fs], 'Gid': [...], 'Groups': [...],
    'PPid': [..]} from /proc/<pid>/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups", "PPid"):
                out[k] = [int(x) for x in v.split()]
    return out


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_is_popgate(pid):
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return False
    return os.path.basename(exe).startswith("popgate") and proc_alive(pid)


def listen_inodes(port):
    """Socket inodes listening on 127.0.0.1:port (or *:port)."""
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] in want and fields[3] == "0A":
                out.add(int(fields[9]))
    return out


def listening_pids(port):
    """Pids of the processes holding a listening socket on port."""
    inodes = listen_inodes(port)
    pids = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % d)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%s/fd/%s" % (d, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and int(link[8:-1]) in inodes:
                pids.add(int(d))
                break
    return pids


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if proc_status(int(d)).get("PPid") == [pid]:
                    out.append(int(d))
            except OSError:
                pass
    return out


def read_pid(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    return int(text) if text.strip().isdigit() else None


# ---------------------------------------------------------------- launcher

class Daemon:
    """One `popgate -c CONF` run with daemon = yes: the launcher is our
    child; the daemon it leaves behind is found by its pid file or its
    listening port and killed by cleanup()."""

    def __init__(self, workdir, conf_text, port, pid_file, name="popgate"):
        self.dir = workdir
        self.port = port
        self.pid_file = pid_file
        self.conf = os.path.join(workdir, name + ".conf")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.conf_text = conf_text
        self.launcher = None
        self.returncode = None
        self.pids = set()          # daemon (and redis-server) pids seen
        h.register(self)

    def launch(self, timeout=LAUNCH_TIMEOUT):
        """Runs the launcher to its exit; returns its exit status."""
        with open(self.conf, "w") as f:
            f.write(self.conf_text)
        with open(self.err_path, "ab") as err, open(os.devnull, "rb") as null:
            self.launcher = subprocess.Popen([h.binary_path(), "-c", self.conf],
                                             stdin=null, stdout=err, stderr=err,
                                             start_new_session=True, cwd=self.dir)
        try:
            self.returncode = self.launcher.wait(timeout)
        except subprocess.TimeoutExpired:
            self.returncode = None
        self.remember()
        return self.returncode

    def remember(self):
        """Notes every process that may be ours, for cleanup."""
        pid = read_pid(self.pid_file) if self.pid_file else None
        if pid is not None and proc_is_popgate(pid):
            self.pids.add(pid)
        for p in listening_pids(self.port):
            if proc_is_popgate(p):
                self.pids.add(p)
        for p in list(self.pids):
            self.pids.update(c for c in children(p) if proc_comm(c).startswith("redis"))

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_gone(self, pid, timeout):
        return h.wait_until(lambda: not proc_alive(pid), timeout)

    def stop(self):
        self.remember()
        for pid in sorted(self.pids):
            if proc_alive(pid) and proc_is_popgate(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for pid in sorted(self.pids):
            if not self.wait_gone(pid, STOP_TIMEOUT if proc_is_popgate(pid) else 5):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait_gone(pid, 5)
        self.pids = set()
        if self.launcher is not None:
            h.kill_group(self.launcher, 2)
            self.launcher = None

    def cleanup(self):
        try:
            self.stop()
        finally:
            h.unregister(self)


# ---------------------------------------------------------------- tests

class Base(unittest.TestCase):
    def setUp(self):
        self.dir = h.make_tempdir("pgt-proc-")
        if not os.environ.get("POPGATE_E2E_KEEP"):
            self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = h.free_port()
        if os.geteuid() == 0:
            self.uid, self.gid = h.ensure_mail_user()
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        # Directories of the run user: the pid file's (so that it can be
        # removed after the drop) and the managed redis-server's state_dir
        # (it is started after the drop and must own it).
        self.run_dir = self.user_dir("run", 0o755)
        self.state_dir = self.user_dir("state", 0o700)
        self.pid_file = os.path.join(self.run_dir, "popgate.pid")

    def user_dir(self, name, mode):
        d = os.path.join(self.dir, name)
        os.mkdir(d, mode)
        os.chmod(d, mode)
        os.chown(d, self.uid, self.gid)
        return d

    def process_section(self, daemon=True, pid_file=None, user=h.MAIL_USER,
                        group=None, more=""):
        lines = ["[process]", "daemon = %s" % ("yes" if daemon else "no")]
        if pid_file:
            lines.append("pid_file = %s" % pid_file)
        if user and os.geteuid() == 0:
            lines.append("user = %s" % user)
        if group:
            lines.append("group = %s" % group)
        return "\n".join(lines) + "\n" + more

    def conf_text(self, port=None, state_dir=None, **process):
        # a daemon logs to syslog (the config refuses stderr with daemon =
        # yes); start-up errors must reach the launcher's stderr anyway
        log = {"target": "syslog"} if process.get("daemon", True) else None
        return h.popgate_conf(port or self.port, ENV.dc.imap_port,
                              cache={"url": "auto", "state_dir": state_dir or self.state_dir},
                              log=log, extra=self.process_section(**process))

    def daemon(self, name="popgate", port=None, **process):
        process.setdefault("pid_file", self.pid_file)
        d = Daemon(self.dir, self.conf_text(port=port, **process), port or self.port,
                   process["pid_file"], name)
        self.addCleanup(d.cleanup)
        return d

    def launch_ok(self, d):
        rc = d.launch()
        # checked at once: the launcher may only leave once the port listens
        listening = h.is_listening(d.port)
        self.assertEqual(rc, 0, "launcher exit status %s; stderr:\n%s"
                         % (rc, d.stderr_text()[-3000:]))
        self.assertTrue(listening, "launcher exited 0 before the port listened")
        pid = read_pid(d.pid_file)
        self.assertIsNotNone(pid, "no pid in %s" % d.pid_file)
        return pid

    def assert_login(self, port, user="alice#d1"):
        with h.Pop3(port, timeout=10) as c:
            self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
            r = c.login(user, "secret")
            self.assertTrue(r.startswith("+OK"), r)
            r = c.cmd("STAT")
            self.assertTrue(r.startswith("+OK"), r)
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def assert_runs_as_user(self, pid):
        st = proc_status(pid)
        self.assertEqual(st["Uid"], [self.uid] * 4, "Uid line of %d: %s" % (pid, st["Uid"]))
        self.assertEqual(st["Gid"], [self.gid] * 4, "Gid line of %d: %s" % (pid, st["Gid"]))
        if self.uid != 0:
            self.assertNotIn(0, st["Groups"], "still in group root")


class TestDaemon(Base):
    @popgate_only
    @needs_root
    def test_daemon_pid_file_user_login_and_stop(self):
        d = self.daemon()
        pid = self.launch_ok(d)
        self.assertNotEqual(pid, d.launcher.pid)
        self.assertTrue(proc_alive(pid))
        # the pid file names the process that listens, which runs as the
        # run user though it bound the port as root
        self.assertEqual(listening_pids(self.port), {pid})
        self.assert_runs_as_user(pid)
        self.assertEqual(os.getsid(pid), pid, "not a session leader")
        self.assertEqual(os.readlink("/proc/%d/cwd" % pid), "/")
        for fd in (0, 1):
            self.assertEqual(os.readlink("/proc/%d/fd/%d" % (pid, fd)), "/dev/null")
        st = os.stat(self.pid_file)
        self.assertEqual(st.st_mode & 0o777, 0o644)
        self.assertEqual(st.st_uid, 0, "pid file created before the drop")

        # the managed redis-server runs as the run user as well, and every
        # file in state_dir is the run user's
        redis = [c for c in children(pid) if proc_comm(c).startswith("redis")]
        self.assertEqual(len(redis), 1, "redis-server children: %s" % redis)
        self.assert_runs_as_user(redis[0])
        for dirpath, dirnames, filenames in os.walk(self.state_dir):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                self.assertEqual(os.lstat(p).st_uid, self.uid, p)

        self.assert_login(self.port)

        # a second start with the same configuration is refused, naming the pid
        d2 = self.daemon(name="second")
        rc = d2.launch()
        self.assertNotEqual(rc, 0, "second start succeeded")
        self.assertIsNotNone(rc, "second launcher did not exit")
        self.assertIn("already running (pid %d" % pid, d2.stderr_text())
        self.assertIn(self.pid_file, d2.stderr_text())
        # ... and left the first one alone
        self.assertEqual(read_pid(self.pid_file), pid)
        self.assertTrue(proc_alive(pid))
        self.assert_login(self.port, "alice#d2")

        # SIGTERM: stops, and removes the pid file (its directory is the
        # run user's)
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(d.wait_gone(pid, STOP_TIMEOUT), "still running after SIGTERM")
        self.assertFalse(os.path.exists(self.pid_file), "pid file left after SIGTERM")
        self.assertFalse(h.is_listening(self.port))
        for r in redis:
            self.assertTrue(d.wait_gone(r, 5), "redis-server %d outlived popgate" % r)

    @popgate_only
    @needs_root
    def test_pid_file_in_root_directory_left_empty_then_taken_over(self):
        # /run-like: only root may remove files there
        pid_file = os.path.join(self.dir, "popgate.pid")
        d = self.daemon(pid_file=pid_file)
        pid = self.launch_ok(d)
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(d.wait_gone(pid, STOP_TIMEOUT))
        self.assertTrue(os.path.exists(pid_file))
        with open(pid_file) as f:
            self.assertEqual(f.read(), "", "stale pid left in a file nobody locks")
        # the next start takes the stale file over
        d2 = self.daemon(name="again", pid_file=pid_file)
        pid2 = self.launch_ok(d2)
        self.assertEqual(listening_pids(self.port), {pid2})

    @popgate_only
    def test_daemon_as_starting_user(self):
        # no user =: stays who started it (and so does redis-server, with a
        # state_dir of its own)
        d = self.daemon(user=None, state_dir=os.path.join(self.dir, "own-state"))
        pid = self.launch_ok(d)
        st = proc_status(pid)
        self.assertEqual(st["Uid"][1], os.geteuid())
        self.assertEqual(listening_pids(self.port), {pid})
        self.assert_login(self.port)

    @popgate_only
    def test_invalid_config_fails_in_launcher(self):
        more = "no_such_key = 1\n"
        d = self.daemon(more=more)
        line = d.conf_text.split("\n").index("no_such_key = 1") + 1
        rc = d.launch()
        self.assertIsNotNone(rc, "launcher did not exit")
        self.assertNotEqual(rc, 0)
        self.assertIn("%s:%d:" % (d.conf, line), d.stderr_text())
        self.assertFalse(os.path.exists(self.pid_file))
        self.assertFalse(h.is_listening(self.port))

    @popgate_only
    def test_port_in_use_reported_by_launcher(self):
        # fails after detaching: the message still reaches the launcher's
        # stderr, its exit status is 1, and nothing is left running
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((h.HOST, self.port))
            s.listen(1)
            d = self.daemon()
            rc = d.launch()
            self.assertEqual(rc, 1, "stderr:\n" + d.stderr_text())
            self.assertIn("%s:%d" % (h.HOST, self.port), d.stderr_text())
            self.assertEqual(listening_pids(self.port), {os.getpid()})
        self.assertTrue(h.wait_until(lambda: not os.path.exists(self.pid_file), 5),
                        "pid file of a failed start left behind")

    @popgate_only
    @needs_root
    def test_unknown_user_refused(self):
        d = self.daemon(user="no_such_user_pg")
        rc = d.launch()
        self.assertIsNotNone(rc, "launcher did not exit")
        self.assertNotEqual(rc, 0)
        self.assertIn("no_such_user_pg", d.stderr_text())
        self.assertFalse(h.is_listening(self.port))

    @popgate_only
    @needs_root
    def test_group_option(self):
        gid = grp.getgrnam("nogroup").gr_gid
        d = self.daemon(group="nogroup")
        # the state_dir stays the user's; the group only changes the process
        pid = self.launch_ok(d)
        st = proc_status(pid)
        self.assertEqual(st["Uid"], [self.uid] * 4)
        self.assertEqual(st["Gid"], [gid] * 4)
        self.assertNotIn(0, st["Groups"])
        self.assert_login(self.port)


class TestForegroundUser(Base):
    """user = in the foreground (the harness's own runner)."""

    def wait_dropped(self, pid):
        # the harness returns once the port listens, which is before the drop
        h.wait_until(lambda: proc_status(pid)["Uid"][1] == self.uid, 10)

    def gateway(self, **kw):
        extra = self.process_section(daemon=False)
        g = h.Popgate(ENV.dc.imap_port, extra=extra,
                      cache={"url": "auto", "state_dir": self.state_dir}, **kw)
        self.addCleanup(g.cleanup)
        return g.start(timeout=LAUNCH_TIMEOUT)

    @popgate_only
    @needs_root
    def test_foreground_switches_user(self):
        g = self.gateway()
        self.wait_dropped(g.proc.pid)
        self.assert_runs_as_user(g.proc.pid)
        self.assertEqual(listening_pids(g.port), {g.proc.pid})
        self.assert_login(g.port)

    @popgate_only
    @needs_root
    def test_sighup_reload_needs_key_readable_by_user(self):
        cert, key = h.make_cert(self.dir, "gw")
        os.chmod(key, 0o600)                  # root-only: read at start (as root)
        g = self.gateway(tls={"cert_file": cert, "key_file": key})
        self.wait_dropped(g.proc.pid)
        self.assert_runs_as_user(g.proc.pid)
        start = g.log_size()
        g.signal(signal.SIGHUP)
        m = g.wait_log(r"reload_failed.*", 5, start)
        self.assertTrue(m, "a root-only key reloaded after the drop?\n" + g.log_since(start))
        self.assertIn("key_file", m.group(0))
        self.assertTrue(g.alive())
        # what the README recommends: root:<run group>, 0640
        os.chown(key, 0, self.gid)
        os.chmod(key, 0o640)
        start = g.log_size()
        g.signal(signal.SIGHUP)
        self.assertTrue(g.wait_log(r"event=(tls_)?reloaded", 5, start), g.log_since(start))


if __name__ == "__main__":
    unittest.main()
