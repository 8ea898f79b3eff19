"""Availability under abuse: descriptor exhaustion pauses accepting instead of
spinning, connections without credentials cannot hold slots (login_timeout,
max_unauthenticated, idle time counted on complete lines only, pre-login
commands counted)."""
import os
import socket
import time
import unittest

import harness as h


ENV = None


def setUpModule():
    global ENV
    ENV = h.Env(fill_users=("alice",), big_mb=0.1)


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


def cpu_secs(pid):
    """User + system CPU time of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway(server=None, nofile=None):
    g = h.Popgate(ENV.dc.imap_port, server=server, nofile=nofile).start()
    ENV.gws.append(g)
    return g



class TestDescriptorExhaustion(unittest.TestCase):
    def test_accepting_pauses_and_resumes(self):
        """With 64 descriptors and 150 connections the daemon neither spins
        nor floods its log, and accepts again once connections close."""
        gw = gateway(server={"max_connections": "1000", "max_unauthenticated": "1000",
                             "max_connections_per_ip": "0"}, nofile=64)
        self.assertIn("event=fd_limit_low", gw.log_text())
        socks = []
        try:
            for _ in range(150):
                s = socket.create_connection((h.HOST, gw.port), timeout=5)
                socks.append(s)
            time.sleep(0.5)
            before = cpu_secs(gw.proc.pid)
            time.sleep(3)
            used = cpu_secs(gw.proc.pid) - before
            self.assertLess(used, 0.5 * (4 if h.SANITIZED else 1),
                            "%.2f CPU seconds in 3 s while out of descriptors" % used)
            log = gw.log_text()
            self.assertIn("event=accept_paused", log)
            self.assertLessEqual(log.count("event=accept_paused"), 2, log[-2000:])
            self.assertNotIn("event=accept_error", log)
        finally:
            for s in socks:
                s.close()
        # The backlog drains; a new client is served again within a few
        # pauses.
        deadline = time.monotonic() + 15
        while True:
            c = gw.pop3(timeout=5)
            try:
                r = c.read_greeting()
                if r.startswith("+OK"):
                    self.assertTrue(c.login("alice", "secret").startswith("+OK"))
                    c.cmd("QUIT")
                    break
            except (OSError, h.Closed):
                pass
            finally:
                c.close()
            self.assertLess(time.monotonic(), deadline, "no greeting after the flood")
            time.sleep(0.5)



class TestSlotsWithoutCredentials(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(server={"login_timeout": "2s", "idle_timeout": "3s",
                                 "max_unauthenticated": "3", "max_bad_commands": "3"})

    def connect(self):
        c = self.gw.pop3(timeout=10)
        self.addCleanup(c.close)
        self.assertTrue(c.read_greeting().startswith("+OK"))
        return c

    def test_login_deadline_despite_commands(self):
        """CAPA every half second does not keep a connection that never
        logs in past login_timeout."""
        c = self.connect()
        start = time.monotonic()
        closed = False
        for _ in range(12):
            try:
                r = c.cmd("CAPA")
                if r.startswith("+OK"):
                    c.multi()
            except (OSError, h.Closed):
                closed = True
                break
            if r.startswith("-ERR Login time limit"):
                closed = c.expect_closed(5)
                break
            time.sleep(0.5)
        self.assertTrue(closed, "still open after login_timeout")
        self.assertLess(time.monotonic() - start, 4.5)
        self.assertIn("event=login_time_limit", self.gw.log_text())

    def test_logged_in_session_outlives_the_login_deadline(self):
        c = self.connect()
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        time.sleep(2.5)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        c.cmd("QUIT")

    def test_trickled_bytes_are_not_activity(self):
        """One byte a second never makes a command: idle_timeout ends it
        (on a gateway whose login deadline is long)."""
        gw = gateway(server={"idle_timeout": "2s", "login_timeout": "1h"})
        c = gw.pop3(timeout=10)
        self.addCleanup(c.close)
        c.read_greeting()
        start = time.monotonic()
        gone = False
        for ch in b"NOOPNOOPNOOP":
            try:
                c.send(bytes([ch]))
            except OSError:
                gone = True
                break
            time.sleep(0.5)
            if time.monotonic() - start > 3.5:
                break
        data = b""
        try:
            c.settimeout(5)
            data = c.sock.recv(4096)
        except OSError:
            pass
        self.assertTrue(gone or b"-ERR Disconnected for inactivity" in data, data)
        self.assertLess(time.monotonic() - start, 6)

    def test_cap_on_connections_not_logged_in(self):
        held = [self.connect() for _ in range(3)]
        extra = self.gw.pop3(timeout=10)
        self.addCleanup(extra.close)
        r = extra.readline()
        self.assertTrue(r.startswith(b"-ERR [SYS/TEMP] Too many connections not logged in"), r)
        # One of them logs in: a slot frees up.
        self.assertTrue(held[0].login("alice", "secret").startswith("+OK"))
        again = self.connect()
        again.cmd("QUIT")
        held[0].cmd("QUIT")
        self.assertIn("reason=max_unauthenticated", self.gw.log_text())

    def test_pre_login_commands_beyond_a_few_count(self):
        """Eight commands before the login are free; after that each one
        counts toward max_bad_commands (3 here)."""
        gw = gateway(server={"max_bad_commands": "3", "login_timeout": "1h"})
        c2 = gw.pop3(timeout=10)
        self.addCleanup(c2.close)
        c2.read_greeting()
        for _ in range(8):
            self.assertTrue(c2.cmd("CAPA").startswith("+OK"))
            c2.multi()
        self.assertTrue(c2.cmd("CAPA").startswith("+OK"))
        c2.multi()
        self.assertTrue(c2.cmd("CAPA").startswith("+OK"))
        c2.multi()
        r = c2.cmd("CAPA")
        self.assertTrue(r.startswith("-ERR Too many commands without logging in"), r)
        self.assertTrue(c2.expect_closed(5))
        # A normal login after a few commands is unaffected.
        c3 = gw.pop3(timeout=10)
        self.addCleanup(c3.close)
        c3.read_greeting()
        c3.cmd("CAPA")
        c3.multi()
        self.assertTrue(c3.login("alice", "secret").startswith("+OK"))
        c3.cmd("QUIT")


if __name__ == "__main__":
    unittest.main()


class TestSuccessClearsFailures(unittest.TestCase):
    def test_correct_login_after_typos_is_not_delayed_again(self):
        """Three wrong passwords from one address, then the right one: the
        logins after that are not held (the address's count lost what that
        user's mistakes added)."""
        gw = gateway(server={"auth_fail_delay": "300ms", "auth_fail_delay_max": "5s",
                             "max_bad_commands": "100"})

        def attempt(password):
            c = gw.pop3(timeout=20)
            try:
                c.read_greeting()
                t = time.monotonic()
                r = c.login("alice", password)
                took = time.monotonic() - t
                if r.startswith("+OK"):
                    c.cmd("QUIT")
                return r, took
            finally:
                c.close()

        for _ in range(3):
            r, _ = attempt("wrong")
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        r, took = attempt("secret")
        self.assertTrue(r.startswith("+OK"), r)
        self.assertGreater(took, 1.0, "the attempt after 3 failures was not held")
        for _ in range(2):
            r, took = attempt("secret")
            self.assertTrue(r.startswith("+OK"), r)
            self.assertLess(took, 0.25 * (4 if h.SANITIZED else 1),
                            "a correct login waited %.2f s" % took)


def metrics_gateway(max_connections, request_timeout, nofile=None):
    """A gateway with [metrics] on a port of its own; (gateway, port)."""
    port = h.free_port()
    g = h.Popgate(ENV.dc.imap_port, nofile=nofile,
                  extra="[metrics]\nlisten = %s:%d\nmax_connections = %d\n"
                        "request_timeout = %s\n" % (h.HOST, port, max_connections,
                                                    request_timeout)).start()
    ENV.gws.append(g)
    if not h.wait_listening(port, 10, g.proc):
        raise AssertionError("metrics not listening; log:\n%s" % g.log_text()[-3000:])
    return g, port


def http_get(port, timeout=5):
    """(status, body) of GET /metrics; status 0 when the connection failed."""
    s = socket.create_connection((h.HOST, port), timeout=timeout)
    try:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = read_to_eof(s, timeout)
    except OSError:
        return 0, ""
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return 0, ""
    return int(parts[1]), body.decode("utf-8", "replace")


def read_to_eof(s, timeout):
    """Everything the peer sends until it closes (or resets); bounded."""
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return data
        except socket.timeout:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError("still open after %.1f s; got %r" % (timeout, data[:200]))


def sample(body, name):
    for line in body.split("\n"):
        if line.startswith(name + " "):
            return float(line.split(" ", 1)[1])
    raise AssertionError("no %s in:\n%s" % (name, body))


class TestMetricsEndpoint(unittest.TestCase):
    """Idle and dribbling connections to the metrics port cannot hold it,
    nor take the descriptors POP3 needs."""

    def pop3_login_works(self, gw):
        c = gw.pop3(timeout=10)
        try:
            self.assertTrue(c.read_greeting().startswith("+OK"))
            self.assertTrue(c.login("alice", "secret").startswith("+OK"))
            self.assertTrue(c.cmd("STAT").startswith("+OK"))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()

    def test_cap_refuses_then_frees(self):
        """max_connections idle connections: the next one is answered 503
        at once, POP3 still logs in; once they close /metrics answers again
        (twice: the count really went down)."""
        slow = 4 if h.SANITIZED else 1
        gw, port = metrics_gateway(4, "1m")
        for round_ in (1, 2):
            idle = [socket.create_connection((h.HOST, port), timeout=5) for _ in range(4)]
            try:
                extra = socket.create_connection((h.HOST, port), timeout=5)
                t = time.monotonic()
                data = read_to_eof(extra, 10)
                took = time.monotonic() - t
                extra.close()
                self.assertTrue(data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), data)
                self.assertLess(took, 2 * slow, "refused after %.2f s" % took)
                self.assertEqual(http_get(port)[0], 503)
                self.pop3_login_works(gw)
            finally:
                for s in idle:
                    s.close()
            got = h.wait_until(lambda: http_get(port), 10, 0.1)
            self.assertEqual(got[0], 200, "no 200 after the idle connections closed")
            self.assertEqual(sample(got[1], "popgate_metrics_refused_total"), 2 * round_)
            self.assertEqual(sample(got[1], "popgate_metrics_connections"), 1)
        log = gw.log_text()
        # four refusals, logged at most once per 10 s
        self.assertIn("event=metrics_refused reason=max_connections max_connections=4", log)
        self.assertLessEqual(log.count("event=metrics_refused"), 2, log[-2000:])

    def test_slowloris_closed_at_request_timeout(self):
        """Three clients sending one header byte a second are closed within
        request_timeout (2 s) plus a margin; a scrape meanwhile works."""
        slow = 4 if h.SANITIZED else 1
        gw, port = metrics_gateway(8, "2s")
        start = time.monotonic()
        socks = []
        for _ in range(3):
            s = socket.create_connection((h.HOST, port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        code, body = http_get(port)
        self.assertEqual(code, 200)
        self.assertGreaterEqual(sample(body, "popgate_metrics_connections"), 4)
        closed_at = [None] * 3
        while None in closed_at and time.monotonic() - start < 2 + 5 * slow:
            for i, s in enumerate(socks):
                if closed_at[i] is not None:
                    continue
                try:
                    s.sendall(b"a")
                    s.settimeout(0.3)
                    if s.recv(1024) == b"":
                        closed_at[i] = time.monotonic() - start
                except socket.timeout:
                    pass
                except OSError:
                    closed_at[i] = time.monotonic() - start
            time.sleep(max(0.0, 1.0 - 0.3 * len(socks)))
        for s in socks:
            s.close()
        self.assertNotIn(None, closed_at, "dribbling clients still open after %.1f s"
                         % (time.monotonic() - start))
        for t in closed_at:
            self.assertGreaterEqual(t, 1.5)
            self.assertLess(t, 2 + 3 * slow)
        code, body = http_get(port)
        self.assertEqual(code, 200)
        self.assertEqual(sample(body, "popgate_metrics_timeouts_total"), 3)
        self.assertIn("event=metrics_request_timeout request_timeout_ms=2000", gw.log_text())
        self.pop3_login_works(gw)

    def test_reload_changes_the_cap(self):
        """max_connections is read again on SIGHUP (listen is not)."""
        import signal
        gw, port = metrics_gateway(4, "1m")
        start = gw.log_size()
        gw.rewrite_conf(gw.conf_text.replace("\nmax_connections = 4\n", "\nmax_connections = 1\n"))
        gw.signal(signal.SIGHUP)
        self.assertTrue(gw.wait_log("event=reloaded", 10, start), gw.log_since(start))
        self.assertNotIn("sections=metrics", gw.log_since(start))
        held = socket.create_connection((h.HOST, port), timeout=5)
        try:
            extra = socket.create_connection((h.HOST, port), timeout=5)
            data = read_to_eof(extra, 10)
            extra.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 503 "), data)
        finally:
            held.close()
        got = h.wait_until(lambda: http_get(port)[0] == 200, 10, 0.1)
        self.assertTrue(got, "no 200 once the held connection closed")

    def test_descriptor_exhaustion_pauses(self):
        """Out of descriptors on the metrics port (a cap above the limit):
        accepting pauses instead of spinning, and resumes."""
        gw, port = metrics_gateway(1000, "1m", nofile=64)
        socks = []
        try:
            for _ in range(100):
                socks.append(socket.create_connection((h.HOST, port), timeout=5))
            time.sleep(0.5)
            before = cpu_secs(gw.proc.pid)
            time.sleep(3)
            used = cpu_secs(gw.proc.pid) - before
            self.assertLess(used, 0.5 * (4 if h.SANITIZED else 1),
                            "%.2f CPU seconds in 3 s while out of descriptors" % used)
            log = gw.log_text()
            self.assertIn("event=metrics_accept_paused", log)
            self.assertLessEqual(log.count("event=metrics_accept_paused"), 2, log[-2000:])
        finally:
            for s in socks:
                s.close()
        got = h.wait_until(lambda: http_get(port)[0] == 200, 15, 0.2)
        self.assertTrue(got, "no 200 after the flood")
