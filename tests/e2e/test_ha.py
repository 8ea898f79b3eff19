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
    """A Dovecot user of its own with n small messages."""
    _next_user[0] += 1
    user = "u%02d" % _next_user[0]
    with DC.imap(user) as im:
        for i in range(n):
            im.append(("From: a@example.com\r\nTo: %s@example.com\r\n"
                       "Subject: ha %d\r\nMessage-ID: <ha-%s-%d@example.com>\r\n"
                       "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody %d\r\n"
                       % (user, i, user, i, i)).encode())
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

    def gateway(self, cache, server=None):
        g = h.Popgate(DC.imap_port, cache=cache, log={"level": "debug"}, server=server,
                      extra="[metrics]\nlisten = 127.0.0.1:%d\n" % h.free_port())
        self.gws.append(g)
        return g.start()

    def metric(self, gw, name):
        import urllib.request
        port = int(re.search(r"\[metrics\]\nlisten = 127\.0\.0\.1:(\d+)", gw.conf_text).group(1))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            body = r.read().decode()
        m = re.search(r"^popgate_%s (\d+)$" % name, body, re.M)
        return int(m.group(1)) if m else None

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


class TestCheck(unittest.TestCase):
    """popgate --check takes every [cache] url form the daemon takes, and
    refuses (exit 1, the reason on stderr) those it would refuse."""

    def check(self, url, replicas="0"):
        import subprocess
        d = h.make_tempdir("pgt-check-")
        try:
            conf = os.path.join(d, "p.conf")
            with open(conf, "w") as f:
                f.write("[upstream]\nhost = 127.0.0.1\n[cache]\nurl = %s\nreplicas = %s\n"
                        % (url, replicas))
            r = subprocess.run([h.binary_path(), "--check", "-c", conf], capture_output=True,
                               timeout=30, stdin=subprocess.DEVNULL)
            return r.returncode, r.stderr.decode(errors="replace")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_url_forms(self):
        for url in ("redis-sentinel://:pw@127.0.0.1:26379,sentinel-2.example/pgmaster"
                    "?db=2&sentinel_password=s%26p",
                    "redis-cluster://:pw@127.0.0.1:7000,[::1]:7001"):
            rc, err = self.check(url, replicas="1")
            self.assertEqual(rc, 0, err)
        for url, why in (("redis-sentinel://127.0.0.1", "MASTERNAME"),
                         ("redis-sentinel://h/m?db=1&db=2", "at most once"),
                         ("redis-cluster://h/3", "only db 0"),
                         ("redis-cluster://h1,,h2", "missing host")):
            rc, err = self.check(url)
            self.assertEqual(rc, 1, url)
            self.assertIn(why, err)
        rc, err = self.check("auto", replicas="1")
        self.assertEqual(rc, 1)
        self.assertIn("replicas", err)


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


    def run_during(self, gw, users, disrupt, recovered, timeout=90, watch=None):
        """POP3 sessions (login, DELE 1, QUIT) over users in a loop while
        disrupt() runs; goes on until recovered() and then three more
        acknowledged QUITs. Returns (acked [(user, uidl)], replies seen,
        seconds from the disruption to the first login after it, of the
        user watch if given)."""
        acked, replies = [], []
        stop = threading.Event()
        t_disrupt, first_after = [None], [None]

        def loop():
            i = 0
            while not stop.is_set():
                user = users[i % len(users)]
                i += 1
                try:
                    s = self.session(gw, user + "#ha", timeout=15)
                except OSError as e:
                    replies.append("connect: %s" % e)
                    continue
                try:
                    if not s.ok():
                        replies.append(s.login_reply)
                        time.sleep(0.1)
                        continue
                    if t_disrupt[0] is not None and first_after[0] is None and \
                            watch in (None, user):
                        first_after[0] = time.monotonic() - t_disrupt[0]
                    uidls = s.uidls()
                    if not uidls:
                        s.c.cmd("QUIT")
                        continue
                    r = s.c.cmd("DELE 1")
                    q = s.c.cmd("QUIT")
                    replies.append(q)
                    if q.startswith("+OK"):
                        acked.append((user, uidls[0], t_disrupt[0] is not None))
                except (OSError, h.Closed, AssertionError) as e:
                    replies.append("session: %r" % e)
                finally:
                    s.close()

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            self.assertTrue(rh.wait_for(lambda: len(acked) >= 3, 30),
                            "no QUIT before the failover: %r" % replies[-5:])
            t_disrupt[0] = time.monotonic()
            disrupt()
            self.assertTrue(rh.wait_for(recovered, timeout), "no failover")
            n = len(acked)
            ok = rh.wait_for(lambda: len(acked) >= n + 3 and first_after[0] is not None,
                             timeout)
            self.assertTrue(ok, "sessions did not resume: %r\n%s"
                            % (replies[-8:], gw.log_text()[-4000:]))
        finally:
            stop.set()
            t.join(60)
        return acked, replies, first_after[0]

    def check_acked(self, gw, users, acked):
        """Every acknowledged QUIT's DELE holds: the message is hidden."""
        gone = {}
        for user, uidl, _ in acked:
            gone.setdefault(user, set()).add(uidl)
        for user in users:
            s, _ = self.login_within(gw, user + "#ha", 30)
            left = set(s.uidls())
            s.c.cmd("QUIT")
            s.close()
            lost = gone.get(user, set()) & left
            self.assertFalse(lost, "acknowledged QUIT of %s lost: %r" % (user, lost))

    def test_2_sentinel_failover_during_sessions(self):
        """SENTINEL FAILOVER: +switch-master moves popgate to the new
        master; sessions go on, no acknowledged QUIT is lost. The old
        master takes writes until Sentinel demotes it, after a replica was
        promoted, and the other replica still acknowledges them: only
        replicas = all of them (2) makes such a QUIT answer -ERR instead of
        +OK (see README, "Running several gateways")."""
        gw = self.gateway({"url": self.ha.url(), "replicas": "2", "lock_ttl": "5s"})
        users = [new_mailbox(20) for _ in range(4)]
        old = self.ha.master_addr()
        # the sentinel popgate watches goes away first: it watches another
        s, _ = self.login_within(gw, users[0] + "#pc", 30)
        s.close()
        watched = self.ha.sentinels[0]
        mark = gw.log_size()
        watched.kill9()
        self.assertTrue(gw.wait_log(r"event=cache_sentinel_unwatched sentinel=127\.0\.0\.1:%d"
                                    % watched.port, timeout=20, start=mark))
        acked, replies, resumed = self.run_during(
            gw, users,
            lambda: self.ha.sentinel_cli(self.ha.sentinels[1], "SENTINEL", "FAILOVER",
                                         self.ha.name),
            lambda: (self.ha.master_addr() or old) != old)
        watched.start()
        self.check_acked(gw, users, acked)
        self.assertTrue(any(a[2] for a in acked))
        self.assertIn("event=cache_switch_master", gw.log_text())
        self.assertGreaterEqual(self.metric(gw, "redis_failovers_total"), 1)
        print("  sentinel failover: %d QUITs acknowledged, first login %.2fs after "
              "SENTINEL FAILOVER; other replies: %r" % (
                  len(acked), resumed, sorted(set(r[:40] for r in replies
                                                  if not r.startswith("+OK")))))
        self.ha.wait_synced()

    def test_3_master_killed_during_sessions(self):
        """kill -9 of the master: sessions fail with [SYS/TEMP] until the
        sentinels promote a replica, then resume; with replicas = 1 no
        acknowledged QUIT is lost."""
        gw = self.gateway({"url": self.ha.url(), "replicas": "1", "lock_ttl": "5s"})
        users = [new_mailbox(20) for _ in range(4)]
        victim = self.ha.current_master()
        old = self.ha.master_addr()
        acked, replies, resumed = self.run_during(
            gw, users, victim.kill9,
            lambda: (self.ha.master_addr() or old) != old)
        self.check_acked(gw, users, acked)
        bad = [r for r in replies if not r.startswith("+OK")]
        for r in bad:
            self.assertRegex(r, r"^(-ERR \[SYS/TEMP\]|-ERR \[IN-USE\]|session: |connect: )", r)
        self.assertLess(resumed, 60)
        print("  master killed: %d QUITs acknowledged, first login %.2fs after the kill; "
              "%d failed replies" % (len(acked), resumed, len(bad)))
        # the old master comes back as a replica of the new one
        victim.start()
        self.ha.wait_synced(60)


class TestCluster(HABase):
    @classmethod
    def setUpClass(cls):
        cls.cl = rh.ClusterSetup(masters=3, replicas=1, password="clusterpw")
        cls.cl.start()

    @classmethod
    def tearDownClass(cls):
        cls.cl.stop()

    def keys_of(self, user):
        """{master port: [keys]} holding user's keys."""
        out = {}
        for m in self.cl.masters():
            keys = [k for k in m.cli("KEYS", "popgate:{%s*" % user).split() if k]
            if keys:
                out[m.port] = keys
        return out

    def test_1_accounts_spread_over_the_slots(self):
        gw = self.gateway({"url": self.cl.url(count=2), "replicas": "1"},
                          server={"shared_limits": "yes"})
        users = [new_mailbox(3) for _ in range(12)]
        # shared_limits: a failure count per address and per user, in the
        # slots of their own tags
        c = h.Pop3(gw.port, timeout=20)
        c.read_greeting()
        self.assertTrue(c.login(users[0] + "#pc", "wrong").startswith("-ERR [AUTH]"))
        c.close()
        self.assertTrue(rh.wait_for(lambda: any(
            m.cli("KEYS", "popgate:{ip:*").strip() for m in self.cl.masters()), 10))
        for user in users:
            s, _ = self.login_within(gw, user + "#pc", 30)
            uidl, q = self.dele_quit(s)
            self.assertTrue(q.startswith("+OK"), q)
            s = self.session(gw, user + "#pc")
            self.assertTrue(s.ok(), s.login_reply)
            self.assertNotIn(uidl, s.uidls())
            s.c.cmd("QUIT")
            s.close()
        holders = set()
        for user in users:
            where = self.keys_of(user)
            self.assertEqual(len(where), 1, "keys of %s on several masters: %r" % (user, where))
            port, keys = next(iter(where.items()))
            self.assertEqual(len({self.cl.keyslot(k) for k in keys}), 1, keys)
            holders.add(port)
        self.assertGreaterEqual(len(holders), 2, "12 accounts all on one master")
        self.assertIn("event=cache_cluster_map", gw.log_text())
        self.assertNotIn("clusterpw", gw.log_text())

    def migrate_keys(self, src, dst, slot):
        while True:
            keys = src.cli("CLUSTER", "GETKEYSINSLOT", slot, 100).split()
            if not keys:
                return
            out = src.cli("MIGRATE", h.HOST, dst.port, "", 0, 5000, "AUTH", "clusterpw",
                          "KEYS", *keys)
            self.assertIn("OK", out)

    def test_2_slot_migrated_during_sessions(self):
        """A slot holding an account moves to another master during a
        login: while it is MIGRATING the account's requests follow ASK (and
        TRYAGAIN for scripts of several keys, until the move ends), then
        MOVED; the device's state moves with it."""
        gw = self.gateway({"url": self.cl.url(count=1), "timeout": "20s"})
        user = new_mailbox(6)
        s, _ = self.login_within(gw, user + "#pc", 30)
        uidl1, q = self.dele_quit(s)
        self.assertTrue(q.startswith("+OK"), q)
        (port, keys), = self.keys_of(user).items()
        slot = self.cl.keyslot(keys[0])
        src = self.cl.node_of_port(port)
        dst = [m for m in self.cl.masters() if m is not src][0]
        src_id, dst_id = self.cl.node_id(src), self.cl.node_id(dst)
        self.assertEqual(dst.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id), "OK")
        self.assertEqual(src.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id), "OK")
        self.migrate_keys(src, dst, slot)
        # every key is on dst now, the slot still src's: ASK, and TRYAGAIN
        # from dst for the scripts, until the slot is dst's
        mark = gw.log_size()
        result = {}
        t = threading.Thread(target=lambda: result.update(s=self.session(gw, user + "#pc")))
        t.start()
        self.assertTrue(gw.wait_log(r"kind=tryagain ", timeout=20, start=mark),
                        gw.log_since(mark)[-3000:])
        for m in self.cl.masters():
            self.assertEqual(m.cli("CLUSTER", "SETSLOT", slot, "NODE", dst_id), "OK")
        t.join(30)
        s = result["s"]
        self.assertTrue(s.ok(), s.login_reply + gw.log_since(mark)[-3000:])
        self.assertNotIn(uidl1, s.uidls())
        uidl2, q = self.dele_quit(s)
        self.assertTrue(q.startswith("+OK"), q)
        log = gw.log_since(mark)
        self.assertRegex(log, r"event=cache_redirect .*kind=ask slot=%d" % slot)
        s = self.session(gw, user + "#pc")
        self.assertTrue(s.ok(), s.login_reply)
        left = s.uidls()
        self.assertNotIn(uidl1, left)
        self.assertNotIn(uidl2, left)
        s.c.cmd("QUIT")
        s.close()
        self.assertRegex(gw.log_since(mark), r"event=cache_redirect .*kind=moved slot=%d" % slot)
        self.assertGreaterEqual(self.metric(gw, "redis_failovers_total"), 1)
        self.assertEqual(list(self.keys_of(user)), [dst.port])

    def test_3_master_killed(self):
        """kill -9 of a master: its accounts get [SYS/TEMP] (CLUSTERDOWN,
        lost connection) until its replica takes over; then sessions
        resume and no acknowledged QUIT is lost (replicas = 1)."""
        gw = self.gateway({"url": self.cl.url(), "replicas": "1", "lock_ttl": "5s"})
        users = [new_mailbox(20) for _ in range(6)]
        for user in users:
            s, _ = self.login_within(gw, user + "#ha", 30)
            s.c.cmd("QUIT")
            s.close()
        # a master holding one of these accounts
        victim = self.cl.node_of_port(next(iter(self.keys_of(users[0]))))
        before = {m.port for m in self.cl.masters()}
        acked, replies, resumed = self.run_during_cluster(gw, users, victim)
        TestSentinel.check_acked(self, gw, users, acked)
        self.assertLess(resumed, 60)
        print("  cluster master killed: %d QUITs acknowledged, first login of an account "
              "of that master %.2fs after the kill; other replies: %r" % (
                  len(acked), resumed, sorted(set(r[:40] for r in replies
                                                  if not r.startswith("+OK")))))
        victim.start()
        self.cl.wait_ok(60)
        self.assertNotEqual({m.port for m in self.cl.masters()}, before)

    def run_during_cluster(self, gw, users, victim):
        others = [m for m in self.cl.masters() if m is not victim]
        return TestSentinel.run_during(
            self, gw, users, victim.kill9,
            lambda: len([m for m in self.cl.masters()]) >= 3 and
            "cluster_state:ok" in others[0].cli("CLUSTER", "INFO"), watch=users[0])


if __name__ == "__main__":
    unittest.main()
