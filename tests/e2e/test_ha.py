"""Redis high availability (issue 14): popgate on a real Sentinel set-up
(a master, two replicas, three redis-sentinel processes, with passwords on
both) and on a real Redis Cluster, all on loopback ports with their own
directories. POP3 sessions run while the master is killed or a failover is
asked for: no acknowledged QUIT is lost (replicas = 1), logins resume within
a bounded time."""
import os
import re
import shutil
import threading
import time
import unittest

import harness as h
import redis_ha as rh

DC = None
PASSWORD = "secret"
USERS = {"u%02d" % i: PASSWORD for i in range(1, 31)}
_next_user = [0]


def setUpModule():
    global DC
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    for b in ("redis-server", "redis-sentinel", "redis-cli"):
        if shutil.which(b) is None:
            raise unittest.SkipTest("%s not installed" % b)
    DC = h.Dovecot(users=USERS).start()


def tearDownModule():
    global DC
    if DC is not None:
        DC.stop()
        DC = None


def new_mailbox(n=6):
    _next_user[0] += 1
    user = "u%02d" % _next_user[0]
    h.fill_mailbox(DC, user, big_mb=0.01, names=("plain",) * 0 + tuple(
        ["plain", "dots", "multipart", "utf8", "lf", "headeronly"][:n]))
    return user


class Session:
    """One POP3 session: login, UIDL, optional DELE, QUIT."""

    def __init__(self, gw, login, timeout=20):
        self.c = h.Pop3(gw.port, timeout=timeout)
        self.c.read_greeting()
        self.login_reply = self.c.login(login, PASSWORD)

    def ok(self):
        return self.login_reply.startswith("+OK")

    def uidls(self):
        r = self.c.cmd("UIDL")
        assert r.startswith("+OK"), r
        return [l.split()[1] for l in self.c.multi_lines()]

    def close(self):
        self.c.close()


class HABase(unittest.TestCase):
    def setUp(self):
        self.gws = []

    def tearDown(self):
        for g in self.gws:
            g.stop()
            if not os.environ.get("POPGATE_E2E_KEEP"):
                g.cleanup()

    def gateway(self, cache):
        g = h.Popgate(DC.imap_port, cache=cache, log={"level": "debug"})
        self.gws.append(g)
        return g.start()

    def session(self, gw, login, timeout=20):
        return Session(gw, login, timeout)

    def login_within(self, gw, login, timeout):
        """A session whose login got +OK, retried (bounded), and how long."""
        t0 = time.monotonic()
        while True:
            s = self.session(gw, login)
            if s.ok():
                return s, time.monotonic() - t0
            s.close()
            if time.monotonic() - t0 > timeout:
                self.fail("no login within %ss: %r\n%s" % (
                    timeout, s.login_reply, gw.log_text()[-3000:]))
            time.sleep(0.2)

    def dele_quit(self, s, n=1):
        """DELE n and QUIT; the uidl deleted and the QUIT reply."""
        uidls = s.uidls()
        r = s.c.cmd("DELE %d" % n)
        self.assertTrue(r.startswith("+OK"), r)
        q = s.c.cmd("QUIT")
        s.close()
        return uidls[n - 1], q


class TestSentinel(HABase):
    @classmethod
    def setUpClass(cls):
        cls.ha = rh.SentinelSetup(replicas=2, password="masterpw", sentinel_password="sentpw")
        cls.ha.start()

    @classmethod
    def tearDownClass(cls):
        cls.ha.stop()

    def test_1_login_and_quit_through_sentinels(self):
        gw = self.gateway({"url": self.ha.url(db=3), "replicas": "1"})
        user = new_mailbox()
        s, _ = self.login_within(gw, user + "#pc", 30)
        uidl, q = self.dele_quit(s)
        self.assertTrue(q.startswith("+OK"), q)
        # the hide is on the master and, before +OK, on a replica
        m = self.ha.current_master()
        keys = m.cli("-n", 3, "KEYS", "popgate:*hidden:pc")
        self.assertIn(user, keys)
        for r in self.ha.live_replicas():
            self.assertTrue(rh.wait_for(lambda: user in r.cli("-n", 3, "KEYS", "*"), 10))
        s = self.session(gw, user + "#pc")
        self.assertTrue(s.ok(), s.login_reply)
        self.assertNotIn(uidl, s.uidls())
        s.close()
        self.assertRegex(gw.log_text(), r"event=cache_up cache=redis-sentinel://"
                         r"127\.0\.0\.1:\d+,.*/pgmaster\?db=3 master=127\.0\.0\.1")
        self.assertNotIn("masterpw", gw.log_text())
        self.assertNotIn("sentpw", gw.log_text())


if __name__ == "__main__":
    unittest.main()
