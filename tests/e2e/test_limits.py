"""Errors and limits: command line length (RFC 2449: 255 octets), unknown
commands, wrong state, max_bad_commands, idle_timeout, max_connections,
NUL / bare CR in commands, config --check."""
import os
import subprocess
import time
import unittest

import harness as h
from harness import popgate_only

ENV = None
SHORT = None     # idle_timeout = 2s, max_bad_commands = 3, max_connections = 3


def setUpModule():
    global ENV, SHORT
    ENV = h.Env(fill_users=("alice",), big_mb=0.1)
    if not h.NATIVE:
        SHORT = ENV.gateway(server={"idle_timeout": "2s", "max_bad_commands": "3",
                                    "max_connections": "3"})


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def connect(self, gw=None, greet=True):
        c = (gw or ENV.gw).pop3()
        self.clients.append(c)
        if greet:
            c.read_greeting()
        return c

    def session(self, gw=None):
        c = self.connect(gw)
        r = c.login("alice", "secret")
        self.assertTrue(r.startswith("+OK"), r)
        return c


class TestLineLength(Base):
    def test_256_octets_rejected_and_closed(self):
        c = self.connect()
        line = "NOOP " + "x" * (256 - 2 - 5)          # 256 octets with CRLF
        self.assertEqual(len(line) + 2, 256)
        r = c.cmd(line)
        self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(c.expect_closed(5), "connection still open after an overlong line")

    def test_very_long_line_rejected_and_closed(self):
        c = self.connect()
        c.send("USER " + "a" * 100000 + "\r\n")
        try:
            r = c.status()
        except (h.Closed, ConnectionResetError):
            r = None
        if r is not None:
            self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(c.expect_closed(5))

    def test_long_line_without_crlf_is_not_buffered_forever(self):
        c = self.connect()
        try:
            c.send("USER " + "b" * 4096)                  # no line end at all
        except (BrokenPipeError, ConnectionResetError):
            return
        closed = c.expect_closed(5)
        self.assertTrue(closed, "gateway keeps buffering a line longer than 255 octets")
        self.assertTrue(c.tail.startswith(b"-ERR") or c.tail == b"", c.tail)

    def test_255_octets_accepted(self):
        c = self.connect()
        line = "USER " + "a" * (255 - 2 - 5)
        self.assertEqual(len(line) + 2, 255)
        r = c.cmd(line)                                   # +OK or -ERR: both fine
        self.assertTrue(r.startswith("+OK") or r.startswith("-ERR"), r)
        self.assertTrue(c.cmd("CAPA").startswith("+OK"), "closed after a 255-octet line")
        c.multi()
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))

    def test_overlong_line_in_transaction(self):
        c = self.session()
        r = c.cmd("LIST " + "1" * 300)
        self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(c.expect_closed(5))


class TestBadCommands(Base):
    def test_unknown_command(self):
        c = self.connect()
        self.assertTrue(c.cmd("FOOBAR").startswith("-ERR"))
        self.assertTrue(c.cmd("APOP alice 0123456789abcdef0123456789abcdef").startswith("-ERR"))
        self.assertTrue(c.cmd("").startswith("-ERR"))
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        self.assertTrue(c.cmd("XYZZY").startswith("-ERR"))
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_wrong_state_before_login(self):
        c = self.connect()
        for cmd in ("STAT", "LIST", "LIST 1", "RETR 1", "TOP 1 1", "DELE 1", "RSET", "UIDL",
                    "NOOP"):
            with self.subTest(cmd=cmd):
                self.assertTrue(c.cmd(cmd).startswith("-ERR"), cmd)
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_wrong_state_after_login(self):
        c = self.session()
        for cmd in ("USER alice", "PASS secret", "AUTH PLAIN " + h.auth_plain_b64("a", "b")):
            with self.subTest(cmd=cmd.split()[0]):
                self.assertTrue(c.cmd(cmd).startswith("-ERR"), cmd)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_arguments_checked(self):
        c = self.session()
        for cmd in ("STAT 1", "NOOP x", "RSET 1", "QUIT now", "LIST 1 2", "UIDL 1 2",
                    "RETR", "DELE", "TOP 1", "LIST 1x", "RETR +1", "RETR 0x1",
                    "RETR 99999999999999999999"):
            with self.subTest(cmd=cmd):
                self.assertTrue(c.cmd(cmd).startswith("-ERR"), cmd)
                c = self._reopen_if_closed(c)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))

    def _reopen_if_closed(self, c):
        # max_bad_commands (10) may close the connection during this test
        if c.is_open(0.05) is False:
            c.close()
            return self.session()
        return c

    def test_nul_in_command_line(self):
        c = self.connect()
        c.send(b"US\x00ER alice\r\n")
        try:
            r = c.status()
        except (h.Closed, ConnectionResetError):
            return
        self.assertTrue(r.startswith("-ERR"), r)

    def test_bare_cr_in_command_line(self):
        c = self.connect()
        c.send(b"USER al\rice\r\n")
        try:
            r = c.status()
        except (h.Closed, ConnectionResetError):
            return
        self.assertTrue(r.startswith("-ERR"), r)

    @popgate_only
    def test_bare_lf_line_end_accepted(self):
        # many old clients send LF only; accepting it is harmless
        c = self.connect()
        c.send(b"CAPA\n")
        r = c.status()
        if r.startswith("+OK"):
            c.multi()
        else:
            self.assertTrue(r.startswith("-ERR"), r)


class TestMaxBadCommands(Base):
    @popgate_only
    def test_default_ten_bad_commands_close(self):
        c = self.connect()
        for i in range(9):
            self.assertTrue(c.cmd("BAD%d" % i).startswith("-ERR"))
        self.assertTrue(c.is_open(0.3), "closed before max_bad_commands (10) was reached")
        try:
            r = c.cmd("BAD9")
            self.assertTrue(r.startswith("-ERR"), r)
        except h.Closed:
            pass
        self.assertTrue(c.expect_closed(5), "not closed after 10 bad commands")

    @popgate_only
    def test_configured_three_bad_commands_close(self):
        c = self.connect(SHORT)
        self.assertTrue(c.cmd("BAD1").startswith("-ERR"))
        self.assertTrue(c.cmd("STAT").startswith("-ERR"))        # wrong state counts
        self.assertTrue(c.is_open(0.3))
        try:
            self.assertTrue(c.cmd("BAD3").startswith("-ERR"))
        except h.Closed:
            pass
        self.assertTrue(c.expect_closed(5), "not closed after max_bad_commands = 3")

    @popgate_only
    def test_good_commands_do_not_close(self):
        c = self.connect(SHORT)
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        for _ in range(20):
            self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestIdleTimeout(Base):
    @popgate_only
    def test_idle_in_authorization(self):
        c = self.connect(SHORT)
        t0 = time.monotonic()
        c.settimeout(10)
        r = c.status()
        dt = time.monotonic() - t0
        self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(c.expect_closed(3))
        self.assertGreater(dt, 1.5, "closed before idle_timeout (2s)")
        self.assertLess(dt, 6, "idle_timeout 2s took %.1fs" % dt)

    @popgate_only
    def test_idle_in_transaction(self):
        c = self.session(SHORT)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        t0 = time.monotonic()
        c.settimeout(10)
        r = c.status()
        dt = time.monotonic() - t0
        self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(c.expect_closed(3))
        self.assertGreater(dt, 1.5)
        self.assertLess(dt, 6)

    @popgate_only
    def test_activity_resets_idle_timer(self):
        c = self.session(SHORT)
        for _ in range(4):                                 # 4 x 1s > 2s idle_timeout
            time.sleep(1.0)
            self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    @popgate_only
    def test_idle_timeout_logged(self):
        start = SHORT.log_size()
        c = self.connect(SHORT)
        c.settimeout(10)
        c.status()
        m = SHORT.wait_log(r"[^\n]*event=session_end[^\n]*", 5, start)
        self.assertTrue(m, SHORT.log_since(start))
        self.assertIn("reason=", m.group(0))


class TestMaxConnections(Base):
    @popgate_only
    def test_over_limit_refused(self):
        held = [self.connect(SHORT) for _ in range(3)]
        for c in held:
            self.assertTrue(c.greeting.startswith("+OK"))
        extra = self.connect(SHORT, greet=False)
        extra.settimeout(5)
        try:
            r = extra.status()
        except (h.Closed, ConnectionResetError):
            r = ""
        self.assertFalse(r.startswith("+OK"), "4th connection greeted with max_connections = 3")
        self.assertTrue(extra.expect_closed(5))
        held[0].cmd("QUIT")
        held[0].close()
        ok = False
        for _ in range(20):                                  # bounded retry
            c = self.connect(SHORT, greet=False)
            try:
                if c.read_greeting().startswith("+OK"):
                    ok = True
                    break
            except (h.Closed, ConnectionResetError):
                pass
            time.sleep(0.1)
        self.assertTrue(ok, "no new connection accepted after one closed")


class TestListenersAndShutdown(Base):
    @popgate_only
    def test_two_listen_addresses(self):
        gw = ENV.gateway(extra_listen=1)
        try:
            for port in (gw.port, gw.extra_ports[0]):
                c = h.Pop3(port)
                self.clients.append(c)
                self.assertEqual(c.read_greeting(), "+OK popgate ready")
                self.assertTrue(c.login().startswith("+OK"))
                self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            gw.cleanup()

    @popgate_only
    def test_sigterm_stops_accepting_and_lets_session_finish(self):
        gw = ENV.gateway()
        try:
            c = h.Pop3(gw.port, timeout=10)
            self.clients.append(c)
            self.assertTrue(c.login().startswith("+OK"))
            gw.proc.send_signal(15)
            self.assertTrue(h.wait_until(lambda: not h.is_listening(gw.port), 3),
                            "still listening 3 s after SIGTERM")
            self.assertTrue(c.cmd("STAT").startswith("+OK"), "session cut by SIGTERM")
            self.assertTrue(c.retr(1))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            try:
                rc = gw.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.fail("popgate still running 5 s after SIGTERM and its last session's QUIT")
            self.assertEqual(rc, 0, "exit status after SIGTERM")
        finally:
            gw.cleanup()


class TestConfigCheck(unittest.TestCase):
    def setUp(self):
        self.dir = h.make_tempdir("pgt-cf-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, text):
        path = os.path.join(self.dir, "t.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([h.binary_path(), "-c", path, "--check"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        return path, r.returncode, r.stderr.decode("utf-8", "replace")

    def valid(self):
        return h.popgate_conf(1110, 143)

    @popgate_only
    def test_valid_config(self):
        path, rc, err = self.check(self.valid())
        self.assertEqual(rc, 0, err)

    @popgate_only
    def test_valid_durations(self):
        for v in ("30s", "10m", "2h", "45", "1s"):
            with self.subTest(idle_timeout=v):
                path, rc, err = self.check(self.valid().replace("idle_timeout = 10m",
                                                                "idle_timeout = " + v))
                self.assertEqual(rc, 0, err)

    @popgate_only
    def test_sample_config_is_valid(self):
        sample = os.path.join(h.ROOT, "conf", "popgate.conf")
        r = subprocess.run([h.binary_path(), "-c", sample, "--check"], capture_output=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    @popgate_only
    def test_invalid_configs_name_file_and_line(self):
        base = self.valid()
        lines = base.splitlines()

        def line_of(key):
            return next(i + 1 for i, l in enumerate(lines) if l.startswith(key + " "))

        cases = [
            ("idle_timeout = 10m", "idle_timeout = 0s", line_of("idle_timeout")),
            ("idle_timeout = 10m", "idle_timeout = 10 minutes", line_of("idle_timeout")),
            ("idle_timeout = 10m", "idle_timeout = -5", line_of("idle_timeout")),
            ("max_connections = 1000", "max_connections = lots", line_of("max_connections")),
            ("tls = none", "tls = bogus", line_of("tls")),
            ("verify = yes", "verify = perhaps", line_of("verify")),
            ("level = info", "level = chatty", line_of("level")),
            ("greeting = popgate ready", "greeting = popgate ready\nno_such_key = 1",
             line_of("greeting") + 1),
            ("[log]", "[nosuchsection]", next(i + 1 for i, l in enumerate(lines)
                                               if l == "[log]")),
        ]
        listen = next(l for l in lines if l.startswith("listen"))
        cases.append((listen, "listen = 127.0.0.1:99999", line_of("listen")))
        cases.append((listen, "listen = 127.0.0.1", line_of("listen")))
        for old, new, lineno in cases:
            with self.subTest(new=new):
                path, rc, err = self.check(base.replace(old, new, 1))
                self.assertEqual(rc, 1, "exit %d for %r; stderr %r" % (rc, new, err))
                self.assertIn("%s:%d:" % (path, lineno), err,
                              "error for %r does not name %s:%d: %r" % (new, path, lineno, err))

    @popgate_only
    def test_what_start_up_would_refuse(self):
        """--check catches what only start-up used to find: the state
        store's settings, the run user, listen names that do not resolve."""
        cases = [
            ("[cache]\nurl = redis://127.0.0.1:notaport\n", "cache"),
            ("[cache]\nurl = unix:relative/redis.sock\n", "cache"),
            ("[cache]\nurl = redis://u@127.0.0.1\n", "user name without password"),
            ("[cache]\nurl = redis://:pw@127.0.0.1\npassword = other\n",
             "password given both"),
            ("[cache]\nurl = auto\nstate_dir = %s/no/such/dir\n" % self.dir,
             "parent of the state directory"),
            ("[cache]\nredis_server = /nonexistent/redis-server\n", "cannot find executable"),
            ("[process]\nuser = no-such-user-popgate\n", "no-such-user-popgate"),
        ]
        for extra, want in cases:
            with self.subTest(extra=extra):
                path, rc, err = self.check(self.valid() + "\n" + extra)
                self.assertEqual(rc, 1, "exit %d; stderr %r" % (rc, err))
                self.assertIn(want, err)
        path, rc, err = self.check(self.valid().replace("listen = 127.0.0.1:1110",
                                                        "listen = no-such-host.invalid:1110"))
        self.assertEqual(rc, 1, err)
        self.assertIn("no-such-host.invalid", err)

    @popgate_only
    def test_missing_file(self):
        r = subprocess.run([h.binary_path(), "-c", os.path.join(self.dir, "nope.conf"),
                            "--check"], capture_output=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr)


if __name__ == "__main__":
    unittest.main()
