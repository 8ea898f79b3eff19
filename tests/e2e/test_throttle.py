"""Provider throttling against a scripted IMAP server: NO [THROTTLED] at
login, NO [UNAVAILABLE] at SELECT, BYE in place of the greeting. The POP3
client hears -ERR [SYS/TEMP] at once; the next login of the account within
the back-off never reaches the upstream (its connections are counted); the
one after it does, and logs in. With shared_limits two gateways on one
redis-server: the back-off one of them starts holds the other too."""
import itertools
import re
import time
import unittest
import urllib.request

import harness as h
import redis_ha as rh

FAKE = None
GW = None
METRICS_PORT = None
BACKOFF = 2.0
REPLY = "-ERR [SYS/TEMP] provider is throttling this account, retry later"
USERS = itertools.count(1)


def setUpModule():
    global FAKE, GW, METRICS_PORT
    if h.NATIVE:
        raise unittest.SkipTest("fake-server tests need popgate")
    FAKE = h.FakeImap([h.fake_message("t1"), h.fake_message("t2")]).start()
    METRICS_PORT = h.free_port()
    try:
        GW = h.Popgate(FAKE.port, upstream={"timeout": "5s", "throttle_backoff": "2s",
                                            "throttle_backoff_max": "8s"},
                       extra="[metrics]\nlisten = 127.0.0.1:%d\n" % METRICS_PORT).start()
        GW.wait_probed()
    except BaseException:
        FAKE.stop()
        raise


def tearDownModule():
    global FAKE, GW
    if GW is not None:
        GW.cleanup()
        GW = None
    if FAKE is not None:
        FAKE.stop()
        FAKE = None


def throttled_count(code):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^popgate_upstream_throttled_total\{code="%s"\} (\d+)$' % code, text, re.M)
    return int(m.group(1))


class Throttle(unittest.TestCase):
    def setUp(self):
        FAKE.reset()
        FAKE.greeting = None
        FAKE.greeting_default = True
        FAKE.select_reply = None
        FAKE.hooks = {}
        # An account of its own per test: back-offs are per account.
        self.user = "thr%d@example.org" % next(USERS)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        FAKE.greeting = None
        FAKE.select_reply = None
        FAKE.hooks = {}
        self.assertTrue(GW.alive(), "popgate died; log tail:\n" + GW.log_text()[-3000:])

    def login(self, user=None):
        c = GW.pop3()
        self.clients.append(c)
        c.read_greeting()
        t = time.monotonic()
        r = c.login(user or self.user, "secret")
        return r, time.monotonic() - t

    def conns(self):
        return len(FAKE.all_conns())

    def backs_off(self, code, fault, heal):
        """fault() makes the upstream throttle, heal() undoes it."""
        before = throttled_count(code)
        fault()
        r, took = self.login()
        started = time.monotonic()
        self.assertEqual(r, REPLY)
        self.assertLess(took, BACKOFF)
        self.assertEqual(self.conns(), 1)
        self.assertEqual(throttled_count(code), before + 1)
        self.assertTrue(GW.wait_log(r"event=upstream_throttled user=%s .*code=%s"
                                    % (re.escape(self.user), code)))
        # Within the back-off: at once, and nobody connects upstream.
        heal()
        for _ in range(3):
            r, took = self.login()
            self.assertEqual(r, REPLY)
            self.assertLess(took, 1.0)
        self.assertLess(time.monotonic() - started, BACKOFF, "the machine is too slow")
        self.assertEqual(self.conns(), 1)
        # Another account is not held.
        other = "other-" + self.user
        r, _ = self.login(other)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(self.conns(), 2)
        # After it: the upstream is asked again, and the login works.
        time.sleep(max(0.0, BACKOFF + 0.2 - (time.monotonic() - started)))
        r, _ = self.login()
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(self.conns(), 3)

    def test_throttled_at_login(self):
        def fault():
            FAKE.hooks["AUTHENTICATE"] = FAKE.hooks["LOGIN"] = lambda s, conn, tag, cmd: (
                s.send(conn, "%s NO [THROTTLED] Account is being throttled\r\n" % tag)
                or True)

        def heal():
            FAKE.hooks = {}
        self.backs_off("throttled", fault, heal)

    def test_unavailable_at_select(self):
        def fault():
            FAKE.select_reply = b"$TAG NO [UNAVAILABLE] Mailbox temporarily unavailable\r\n"

        def heal():
            FAKE.select_reply = None
        self.backs_off("unavailable", fault, heal)

    def test_bye_at_greeting(self):
        def fault():
            FAKE.greeting = b"* BYE Too many simultaneous connections\r\n"

        def heal():
            FAKE.greeting = None
        self.backs_off("connections", fault, heal)

    def test_wrong_password_is_no_backoff(self):
        FAKE.login_reply = "NO"
        try:
            r, _ = self.login()
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        finally:
            FAKE.login_reply = None
        r, _ = self.login()
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(self.conns(), 2)



class SharedBackoff(unittest.TestCase):
    """Two gateways with shared_limits on one redis-server."""

    @classmethod
    def setUpClass(cls):
        cls.work = h.make_tempdir("pgt-thr-")
        cls.redis = rh.RedisProc(cls.work + "/redis").start()
        cls.gws = []
        try:
            for _ in range(2):
                gw = h.Popgate(FAKE.port, server={"shared_limits": "yes"},
                               upstream={"timeout": "5s", "throttle_backoff": "2s"},
                               cache={"url": "redis://127.0.0.1:%d" % cls.redis.port}).start()
                cls.gws.append(gw)
                gw.wait_probed()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for gw in cls.gws:
            gw.cleanup()
        cls.redis.stop()

    def tearDown(self):
        FAKE.hooks = {}
        for gw in self.gws:
            self.assertTrue(gw.alive(), "popgate died; log tail:\n" + gw.log_text()[-3000:])

    def login(self, gw, user):
        c = gw.pop3()
        c.read_greeting()
        try:
            return c.login(user, "secret")
        finally:
            c.close()

    def test_backoff_holds_every_gateway(self):
        a, b = self.gws
        user = "shared%d@example.org" % next(USERS)
        FAKE.reset()
        FAKE.hooks["AUTHENTICATE"] = FAKE.hooks["LOGIN"] = lambda s, conn, tag, cmd: (
            s.send(conn, "%s NO [THROTTLED] Account is being throttled\r\n" % tag) or True)
        self.assertEqual(self.login(a, user), REPLY)
        started = time.monotonic()
        self.assertEqual(len(FAKE.all_conns()), 1)
        FAKE.hooks = {}
        # The other gateway never asked the provider about this account.
        self.assertEqual(self.login(b, user), REPLY)
        self.assertLess(time.monotonic() - started, BACKOFF, "the machine is too slow")
        self.assertEqual(len(FAKE.all_conns()), 1)
        self.assertIn("popgate:{%s" % user, self.redis.cli("KEYS", "*:throttled"))
        time.sleep(max(0.0, BACKOFF + 0.2 - (time.monotonic() - started)))
        r = self.login(b, user)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(len(FAKE.all_conns()), 2)


if __name__ == "__main__":
    unittest.main()
