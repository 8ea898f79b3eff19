"""The shared office gateway: routing by domain to two Dovecots, per-IP and
overall connection limits, the growing auth failure delay, LOGIN-DELAY,
max_session_time, SIGHUP reloads (good and broken), SIGTERM with a RETR in
progress, per-route metrics and --check on broken route configs."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness as h
from harness import popgate_only

A = None   # Dovecot "one": alice (3 messages), ann@full.test (1), big (1 large)
B = None   # Dovecot "two": bob (2 messages), alice (5 messages, other mailbox)

BIG_SIZE = 6 * 1024 * 1024


def msg(subject, body=b"hello\r\n"):
    return (b"From: t@example.org\r\nTo: u@example.org\r\nSubject: " + subject.encode() +
            b"\r\nMessage-ID: <" + subject.encode() + b"@e2e>\r\n\r\n" + body)


def big_message():
    line = b"x" * 998 + b"\r\n"
    return msg("big", line * (BIG_SIZE // len(line)))


def fill(dc, user, subjects, password="secret"):
    with h.Imap(dc.imap_port, user, password) as im:
        for s in subjects:
            im.append(s if isinstance(s, bytes) else msg(s))


def setUpModule():
    global A, B
    if h.NATIVE:
        return
    A = h.Dovecot(users={"alice": "secret", "ann@full.test": "secret", "big": "secret"}).start()
    B = h.Dovecot(users={"bob": "secret", "alice": "secret"}).start()
    fill(A, "alice", ["A-1", "A-2", "A-3"])
    fill(A, "ann@full.test", ["ANN-1"])
    fill(A, "big", [big_message()])
    fill(B, "bob", ["BOB-1", "BOB-2"])
    fill(B, "alice", ["B-1", "B-2", "B-3", "B-4", "B-5"])


def tearDownModule():
    for dc in (A, B):
        if dc is not None:
            dc.stop()


def route(domain, dc, login_name="local-part"):
    return ("[route %s]\nhost = 127.0.0.1\nport = %d\ntls = none\nlogin_name = %s\n"
            % (domain, dc.imap_port, login_name))


def routes_text(one=None):
    return (route("one.test", one or A) + "\n" + route("two.test", B) + "\n" +
            route("full.test", A, "full"))


def stat_count(c):
    r = c.cmd("STAT")
    assert r.startswith("+OK"), r
    return int(r.split()[1])


def login_lines(dc):
    return len([l for l in dc.log_text().splitlines() if "imap-login:" in l])


def scrape(port):
    out = subprocess.run(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/metrics" % port],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


def wait_line(gw, pattern, start=0, timeout=5.0):
    """The log line matching pattern (AssertionError if none in time)."""
    m = gw.wait_log(r"[^\n]*" + pattern + r"[^\n]*", timeout=timeout, start=start)
    if m is None:
        raise AssertionError("no log line matching %r in:\n%s" % (pattern,
                                                                    gw.log_since(start)[-3000:]))
    return m.group(0)


class Base(unittest.TestCase):
    gws = []

    def setUp(self):
        if h.NATIVE:
            self.skipTest("popgate-specific")
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def connect(self, gw, source=None, greet=True):
        c = h.Pop3(gw.port, source=source, timeout=10)
        self.clients.append(c)
        if greet:
            c.read_greeting()
        return c

    def gateway(self, server=None, extra="", upstream=False, policy=None, **kw):
        s = {"auth_fail_delay": "0"}
        s.update(server or {})
        gw = h.Popgate(A.imap_port, server=s, upstream=upstream, extra=extra, policy=policy,
                       **kw)
        gw.start()
        self.addCleanup(gw.cleanup)
        return gw


class TestRouting(Base):
    @classmethod
    def setUpClass(cls):
        if h.NATIVE:
            return
        cls.metrics_port = h.free_port()
        cls.gw = h.Popgate(A.imap_port, upstream=False, server={"auth_fail_delay": "0"},
                           extra=routes_text() + "\n[metrics]\nlisten = 127.0.0.1:%d\n"
                           % cls.metrics_port).start()

    @classmethod
    def tearDownClass(cls):
        if not h.NATIVE:
            cls.gw.cleanup()

    def test_domains_reach_their_servers(self):
        c = self.connect(self.gw)
        self.assertTrue(c.login("alice@one.test", "secret").startswith("+OK"))
        self.assertEqual(stat_count(c), 3)
        self.assertIn(b"Subject: A-1", c.retr(1))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c = self.connect(self.gw)
        self.assertTrue(c.login("bob@two.test", "secret").startswith("+OK"))
        self.assertEqual(stat_count(c), 2)
        self.assertIn(b"Subject: BOB-1", c.retr(1))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        # The same local part on the other route is the other server's user.
        c = self.connect(self.gw)
        self.assertTrue(c.login("alice@two.test", "secret").startswith("+OK"))
        self.assertEqual(stat_count(c), 5)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_domain_any_case_and_device_suffix(self):
        c = self.connect(self.gw)
        self.assertTrue(c.login("alice@ONE.Test#phone", "secret").startswith("+OK"))
        self.assertEqual(stat_count(c), 3)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        end = wait_line(self.gw, r"event=session_end user=alice@ONE\.Test#phone .*reason=quit")
        kv = h.parse_kv(end)
        self.assertEqual(kv["device"], "phone")
        self.assertEqual(kv["route"], "one.test")
        self.assertEqual(kv["upstream"], "127.0.0.1:%d" % A.imap_port)

    def test_login_name_full_keeps_the_domain(self):
        c = self.connect(self.gw)
        self.assertTrue(c.login("ann@full.test", "secret").startswith("+OK"))
        self.assertEqual(stat_count(c), 1)
        self.assertIn(b"Subject: ANN-1", c.retr(1))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertIn("user=<ann@full.test>", A.log_text())

    def test_unknown_domain_refused_without_contacting_anyone(self):
        before = (login_lines(A), login_lines(B))
        c = self.connect(self.gw)
        r = c.login("carol@three.test", "secret")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        self.assertIn("domain", r)
        c2 = self.connect(self.gw)
        r = c2.login("alice", "secret")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        # The session goes on: a routed login on the same connection works.
        self.assertTrue(c.login("alice@one.test#x2", "secret").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        time.sleep(0.3)
        self.assertEqual(login_lines(B), before[1], "a server was contacted for three.test")
        wait_line(self.gw, r"event=login_refused user=carol@three\.test .*reason=no_route "
                         r"domain=three\.test")

    def test_metrics_per_route(self):
        before = scrape(self.metrics_port)
        c = self.connect(self.gw)
        self.assertTrue(c.login("bob@two.test#m", "secret").startswith("+OK"))
        c.retr(2)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c = self.connect(self.gw)
        self.assertTrue(c.login("bob@two.test#m", "wrong").startswith("-ERR [AUTH]"))
        c.close()

        def moved():
            after = scrape(self.metrics_port)
            key = 'popgate_logins_total{route="two.test",result="%s"}'
            return (after.get(key % "ok", 0) == before.get(key % "ok", 0) + 1 and
                    after.get(key % "auth_failed", 0) == before.get(key % "auth_failed", 0) + 1
                    and after.get('popgate_sessions_current') == 0 and after)
        after = h.wait_until(moved, 5)
        self.assertTrue(after, "per-route login counters did not move as expected")
        self.assertGreater(after['popgate_commands_total{route="two.test",command="retr"}'],
                           before.get('popgate_commands_total{route="two.test",command="retr"}',
                                      0))
        self.assertGreater(after['popgate_bytes_out_total{route="two.test"}'],
                           before.get('popgate_bytes_out_total{route="two.test"}', 0))
        self.assertGreater(after['popgate_upstream_connect_seconds_count{route="two.test"}'],
                           before.get('popgate_upstream_connect_seconds_count{route="two.test"}',
                                      0))


class TestConnectionLimits(Base):
    def test_per_ip_limit_hit_and_recovered(self):
        gw = self.gateway(server={"max_connections_per_ip": "2"}, upstream={})
        c1 = self.connect(gw, "127.0.0.1")
        c2 = self.connect(gw, "127.0.0.1")
        self.assertTrue(c1.greeting.startswith("+OK") and c2.greeting.startswith("+OK"))
        c3 = self.connect(gw, "127.0.0.1")
        self.assertTrue(c3.greeting.startswith("-ERR [SYS/TEMP]"), c3.greeting)
        self.assertTrue(c3.expect_closed(5))
        # Another address is not affected.
        other = self.connect(gw, "127.0.0.2")
        self.assertTrue(other.greeting.startswith("+OK"), other.greeting)
        self.assertTrue(other.login().startswith("+OK"))
        # One leaves: its slot is free again.
        self.assertTrue(c1.cmd("QUIT").startswith("+OK"))
        self.assertTrue(c1.expect_closed(5))

        def greeted():
            c = self.connect(gw, "127.0.0.1")
            return c.greeting.startswith("+OK")
        self.assertTrue(h.wait_until(greeted, 5, 0.2), "per-IP slot not given back")
        wait_line(gw, r"event=refused client=127\.0\.0\.1:\d+ reason=max_connections_per_ip")

    def test_overall_limit_hit_and_recovered(self):
        gw = self.gateway(server={"max_connections_per_ip": "2", "max_connections": "3"},
                          upstream={})
        cs = [self.connect(gw, ip) for ip in ("127.0.0.1", "127.0.0.1", "127.0.0.2")]
        self.assertTrue(all(c.greeting.startswith("+OK") for c in cs))
        c4 = self.connect(gw, "127.0.0.3")
        self.assertTrue(c4.greeting.startswith("-ERR [SYS/TEMP] Too many connections"),
                        c4.greeting)
        self.assertTrue(c4.expect_closed(5))
        cs[2].close()

        def greeted():
            c = self.connect(gw, "127.0.0.3")
            return c.greeting.startswith("+OK")
        self.assertTrue(h.wait_until(greeted, 5, 0.2), "overall slot not given back")


class TestAuthDelay(Base):
    @classmethod
    def setUpClass(cls):
        if h.NATIVE:
            return
        cls.gw = h.Popgate(A.imap_port, server={"auth_fail_delay": "200ms",
                                                "auth_fail_delay_max": "800ms",
                                                "max_bad_commands": "50"}).start()

    @classmethod
    def tearDownClass(cls):
        if not h.NATIVE:
            cls.gw.cleanup()

    def fail_time(self, c, user):
        self.assertTrue(c.cmd("USER " + user).startswith("+OK"))
        t0 = time.monotonic()
        r = c.cmd("PASS wrong")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        return time.monotonic() - t0

    def assert_delays(self, got, want, client, posts):
        # What popgate decided is exact in its log: the delay of each
        # failure reply (the wait before asking the upstream is the
        # previous one's). What the client saw is at least the sum, plus
        # whatever a loaded machine adds, so the upper bound there only
        # catches a delay counted twice.
        logged = [int(x) for x in re.findall(
            r"event=login_failed user=\S+ client=%s:\d+ .*?delay_ms=(\d+)" % re.escape(client),
            self.gw.log_text())]
        self.assertEqual(logged, posts, "logged failure delays (ms)")
        for g, w in zip(got, want):
            self.assertGreaterEqual(g, w * 0.9, "delays %r, expected about %r" % (got, want))
            self.assertLess(g, w + 2.5, "delays %r, expected about %r" % (got, want))

    def test_delay_grows_per_address(self):
        c = self.connect(self.gw, "127.0.0.11")
        got = [self.fail_time(c, "ghost%d" % i) for i in range(4)]
        # The n-th attempt waits for the n-1 earlier failures before the
        # upstream is asked, then for its own failure: 0+0.2, 0.2+0.4, ...
        self.assert_delays(got, [0.2, 0.6, 1.2, 1.6], "127.0.0.11", [200, 400, 800, 800])

    def test_delay_grows_per_user_across_addresses(self):
        got = []
        for i in range(3):
            c = self.connect(self.gw, "127.0.0.%d" % (21 + i))
            got.append(self.fail_time(c, "victim"))
        # A fresh address gains nothing: the user's failures count.
        for i, want in enumerate([0.2, 0.6, 1.2]):
            self.assert_delays(got[i:i + 1], [want], "127.0.0.%d" % (21 + i), [[200, 400, 800][i]])

    def test_delay_does_not_block_other_sessions(self):
        # Long delays of its own, so that "served meanwhile" does not
        # depend on how fast a loaded machine runs the other session.
        gw = h.Popgate(A.imap_port, server={"auth_fail_delay": "1s",
                                            "auth_fail_delay_max": "2s"}).start()
        self.addCleanup(gw.cleanup)
        slow = self.connect(gw, "127.0.0.31")
        self.assertTrue(slow.cmd("USER ghost-a").startswith("+OK"))
        self.assertTrue(slow.cmd("PASS wrong").startswith("-ERR [AUTH]"))
        # The second failure waits 1 s before the upstream is asked and
        # 2 s after: meanwhile another client's whole session is served
        # (a loop blocked by the delay would serve it after 3 s).
        self.assertTrue(slow.cmd("USER ghost-b").startswith("+OK"))
        slow.send("PASS wrong\r\n")
        t0 = time.monotonic()
        c = self.connect(gw, "127.0.0.1")
        self.assertTrue(c.login("alice#other", "secret").startswith("+OK"))
        self.assertEqual(stat_count(c), 3)
        c.retr(1)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        other_done = time.monotonic() - t0
        r = slow.status()
        delayed = time.monotonic() - t0
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        self.assertLess(other_done, 2.5, "the other session waited for the delayed one")
        self.assertGreaterEqual(delayed, 3.0 * 0.9)


class TestSessionLimits(Base):
    def test_login_delay(self):
        gw = self.gateway(server={"login_delay": "2s"}, upstream={})
        c = self.connect(gw)
        self.assertIn("LOGIN-DELAY 2", c.capa())
        self.assertTrue(c.login("alice#ld1").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        t0 = time.monotonic()
        c = self.connect(gw)
        r = c.login("alice#ld1")
        self.assertTrue(r.startswith("-ERR [LOGIN-DELAY]"), r)
        # Another device of the same user is another login name.
        c2 = self.connect(gw)
        self.assertTrue(c2.login("alice#ld2").startswith("+OK"))
        time.sleep(max(0, 2.2 - (time.monotonic() - t0)))
        self.assertTrue(c.login("alice#ld1").startswith("+OK"))

    def test_no_login_delay_by_default(self):
        gw = self.gateway(upstream={})
        c = self.connect(gw)
        self.assertFalse([l for l in c.capa() if l.startswith("LOGIN-DELAY")])

    def test_max_session_time_closes_without_applying(self):
        gw = self.gateway(server={"max_session_time": "2s"}, upstream={},
                          policy={"delete_action": "expunge"})
        with h.Imap(A.imap_port, "alice", "secret") as im:
            n = len(im.messages())
        c = self.connect(gw)
        self.assertTrue(c.login("alice#short").startswith("+OK"))
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        c.settimeout(6)
        r = c.status()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP] Session time limit"), r)
        self.assertTrue(c.expect_closed(3))
        with h.Imap(A.imap_port, "alice", "secret") as im:
            self.assertEqual(len(im.messages()), n, "an unQUITted DELE was applied")
        wait_line(gw, r"event=session_end .*reason=max_session_time")


class TestReload(Base):
    def test_sighup_route_change_applies_to_new_sessions_only(self):
        gw = self.gateway(extra=routes_text(one=A))
        old = self.connect(gw)
        self.assertTrue(old.login("alice@one.test#r1").startswith("+OK"))
        self.assertEqual(stat_count(old), 3)
        start = gw.log_size()
        gw.rewrite_conf(gw.conf_text.replace(route("one.test", A), route("one.test", B)))
        gw.signal(signal.SIGHUP)
        wait_line(gw, r"event=reloaded generation=2", start=start)
        new = self.connect(gw)
        self.assertTrue(new.login("alice@one.test#r2").startswith("+OK"))
        self.assertEqual(stat_count(new), 5, "new session not on the new route")
        # The open session still works on its own server.
        self.assertEqual(stat_count(old), 3)
        self.assertIn(b"Subject: A-2", old.retr(2))
        self.assertTrue(old.cmd("QUIT").startswith("+OK"))
        self.assertTrue(new.cmd("QUIT").startswith("+OK"))

    def test_sighup_broken_config_keeps_the_old(self):
        gw = self.gateway(extra=routes_text(one=A))
        good = gw.conf_text
        lines = good.splitlines()
        lines.insert(3, "max_connections = lots")
        start = gw.log_size()
        gw.rewrite_conf("\n".join(lines) + "\n")
        gw.signal(signal.SIGHUP)
        line = wait_line(gw, r"event=reload_failed", start=start)
        self.assertIn("%s:4:" % gw.conf, line)
        self.assertIn("max_connections", line)
        c = self.connect(gw)
        self.assertTrue(c.login("alice@one.test#r3").startswith("+OK"))
        self.assertEqual(stat_count(c), 3)
        # A route that lost its host is refused too.
        start = gw.log_size()
        gw.rewrite_conf(good.replace("host = 127.0.0.1\nport = %d\ntls = none\nlogin_name = "
                                     "local-part\n" % B.imap_port, "tls = none\n"))
        gw.signal(signal.SIGHUP)
        line = wait_line(gw, r"event=reload_failed", start=start)
        self.assertIn("[route two.test] needs host", line)
        c = self.connect(gw)
        self.assertTrue(c.login("bob@two.test").startswith("+OK"))
        self.assertTrue(gw.alive())


class TestStop(Base):
    def test_sigterm_lets_retr_in_progress_complete(self):
        gw = self.gateway(upstream={}, server={"shutdown_grace": "10s"})
        c = h.Pop3(gw.port, timeout=10, rcvbuf=65536)
        self.clients.append(c)
        self.assertTrue(c.login("big").startswith("+OK"))
        with h.Imap(A.imap_port, "big", "secret") as im:
            want = h.expected_retr(im.body(im.listing()[0]))
        c.send("RETR 1\r\n")
        first = c.line()
        self.assertTrue(first.startswith(b"+OK"), first)
        head = c.readline()
        gw.signal(signal.SIGTERM)
        self.assertTrue(h.wait_until(lambda: not h.is_listening(gw.port), 3),
                        "still listening after SIGTERM")
        time.sleep(0.5)
        got = head + c.multi()
        self.assertEqual(len(got), len(want))
        self.assertTrue(got == want, "message changed by the shutdown")
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertEqual(gw.proc.wait(5), 0)

    def test_sigterm_grace_over_applies_nothing(self):
        gw = self.gateway(upstream={}, server={"shutdown_grace": "1s"},
                          policy={"delete_action": "expunge"})
        with h.Imap(A.imap_port, "alice", "secret") as im:
            n = len(im.messages())
        c = self.connect(gw)
        self.assertTrue(c.login("alice#stop").startswith("+OK"))
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        gw.signal(signal.SIGTERM)
        self.assertTrue(c.expect_closed(5), "session not closed after the grace period")
        self.assertEqual(gw.proc.wait(5), 0)
        with h.Imap(A.imap_port, "alice", "secret") as im:
            self.assertEqual(len(im.messages()), n, "an unQUITted DELE was applied")


class TestCheckRoutes(unittest.TestCase):
    def check(self, text):
        d = h.make_tempdir("pgt-chk-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        path = os.path.join(d, "p.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([h.binary_path(), "--check", "-c", path], capture_output=True,
                           timeout=20)
        return path, r.returncode, r.stderr.decode()

    @popgate_only
    def test_broken_route_configs_name_file_and_line(self):
        cases = [
            ("[server]\nlisten = 127.0.0.1:1\n\n[route bad_domain.org]\nhost = h\n", 4,
             "letters, digits"),
            ("[route a.org]\nhost = h\n\n[route b.org]\nport = 143\n", 4,
             "[route b.org] needs host"),
            ("[route a.org]\nhost = h\n[route A.org]\nhost = i\n", 3, "given twice"),
            ("[route a.org]\nhost = h\nlogin_name = nobody\n", 3, "full or local-part"),
            ("[route a.org]\nhost = h\n[process]\ndaemon = yes\n", 4, "target = syslog"),
            ("[route a.org]\nhost = h\n[server]\nmax_connections_per_ip = many\n", 4,
             "max_connections_per_ip"),
        ]
        for text, line, why in cases:
            path, rc, err = self.check(text)
            self.assertEqual(rc, 1, text)
            self.assertIn("%s:%d:" % (path, line), err, text)
            self.assertIn(why, err, text)
        path, rc, err = self.check(routes_text() if A else "[route a.org]\nhost = h\n")
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main()
