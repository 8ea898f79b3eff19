"""Several gateways behind a real HAProxy (Debian's haproxy), started here
on loopback in front of three popgate instances that share one private
redis-server (shared_limits = yes): PROXY v1 (send-proxy) and v2
(send-proxy-v2), the client's address in popgate's logs, in the limits and
in Dovecot's rip=; failure delays that hold whichever gateway a client
tries next; a header from an address outside proxy_networks refused;
per-device state the same through either gateway; and with the store
down, each gateway's own tables still delaying failures."""
import os
import re
import shutil
import subprocess
import time
import unittest

import harness as h
from test_devices import RedisServer

DC = REDIS = HAP = None
GWS = []
FRONT = {}          # frontend name -> HAProxy port
WORK = None
DELAY_MS = 300      # auth_fail_delay; the n-th failure waits 300 * 2^(n-1)


class HAProxy:
    """haproxy -db (foreground) with a generated config; TCP mode."""

    def __init__(self, directory, frontends):
        """frontends: name -> list of server lines for its backend."""
        self.dir = directory
        self.conf = os.path.join(directory, "haproxy.cfg")
        self.log_path = os.path.join(directory, "haproxy.log")
        self.ports = {name: h.free_port() for name in frontends}
        lines = ["global", "    maxconn 500", "", "defaults", "    mode tcp",
                 "    timeout connect 5s", "    timeout client 120s", "    timeout server 120s",
                 ""]
        for name, servers in frontends.items():
            lines += ["frontend fe_%s" % name, "    bind %s:%d" % (h.HOST, self.ports[name]),
                      "    default_backend be_%s" % name, "",
                      "backend be_%s" % name, "    balance roundrobin"]
            lines += ["    server %s" % s for s in servers] + [""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))
        self.proc = None

    def start(self, timeout=10.0):
        check = subprocess.run(["haproxy", "-c", "-q", "-f", self.conf], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError("haproxy -c: %s %s" % (check.stdout, check.stderr))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, start_new_session=True, cwd=self.dir)
        h.register(self)
        for p in self.ports.values():
            if not h.wait_listening(p, timeout, self.proc):
                self.stop()
                raise RuntimeError("haproxy did not listen on %d" % p)
        return self

    def stop(self):
        if self.proc is not None:
            h.kill_group(self.proc, 5)
            self.proc = None
            self._log.close()
        h.unregister(self)


def setUpModule():
    global DC, REDIS, HAP, WORK
    if h.NATIVE:
        raise unittest.SkipTest("popgate behind a load balancer")
    for tool in ("haproxy", "redis-server"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest("%s not installed (make deps)" % tool)
    WORK = h.make_tempdir("pgt-hap-")
    try:
        DC = h.Dovecot(extra_conf="login_trusted_networks = 127.0.0.0/8\n").start()
        h.fill_mailbox(DC, "alice", big_mb=0.05)
        os.mkdir(os.path.join(WORK, "redis"))
        REDIS = RedisServer(os.path.join(WORK, "redis")).start()
        for _ in range(3):
            GWS.append(h.Popgate(
                DC.imap_port, listen_suffix="proxy_protocol",
                cache={"url": "unix:" + REDIS.sock, "timeout": "1s"},
                server={"proxy_networks": "127.0.0.1/32", "shared_limits": "yes",
                        "auth_fail_delay": "%dms" % DELAY_MS, "auth_fail_delay_max": "5s",
                        "max_bad_commands": "100", "login_delay": "0"},
                log={"level": "debug"}).start())
        a, b, c = ("127.0.0.1:%d" % g.port for g in GWS)
        HAP = HAProxy(WORK, {
            "a_v1": ["a %s send-proxy" % a],
            "a_v2": ["a %s send-proxy-v2" % a],
            "b_v2": ["b %s send-proxy-v2" % b],
            "b_v1": ["b %s send-proxy" % b],
            "c_v2": ["c %s send-proxy-v2" % c],
            "c_v1": ["c %s send-proxy" % c],
            "all": ["a %s send-proxy-v2" % a, "b %s send-proxy-v2" % b,
                    "c %s send-proxy-v2" % c],
            # the same balancer, but seen from an address not in proxy_networks
            "untrusted": ["a %s send-proxy-v2 source 127.0.0.3" % a],
            "untrusted_c": ["c %s send-proxy source 127.0.0.4" % c],
            # health checks (HAProxy sends them a v2 LOCAL header)
            "checked_v2": ["b %s send-proxy-v2 check check-send-proxy inter 300ms" % b],
        }).start()
        FRONT.update(HAP.ports)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global DC, REDIS, HAP
    if HAP is not None:
        HAP.stop()
        HAP = None
    for g in GWS:
        g.cleanup()
    del GWS[:]
    if REDIS is not None:
        REDIS.stop()
        REDIS = None
    if DC is not None:
        DC.stop()
        DC = None
    if WORK and not os.environ.get("POPGATE_E2E_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def client(front, source, timeout=30):
    return h.Pop3(FRONT[front], source=source, timeout=timeout)


def attempt(front, source, password, user="alice"):
    """One login through HAProxy; (reply, seconds USER+PASS took)."""
    with client(front, source) as c:
        c.read_greeting()
        t = time.monotonic()
        r = c.login(user, password)
        took = time.monotonic() - t
        if r.startswith("+OK"):
            c.cmd("QUIT")
        return r, took


def store_count(tag):
    out = REDIS.cli("GET", "popgate:{%s}:authfail" % tag).strip()
    return int(out) if out.isdigit() else 0


def dovecot_logins():
    return re.findall(r"imap-login: (?:Info: )?Login: user=<alice>.*", DC.log_text())


class TestProxyHeaders(unittest.TestCase):
    def check_client_seen(self, front, gw, source):
        before = len(dovecot_logins())
        start = gw.log_size()
        r, _ = attempt(front, source, "secret")
        self.assertTrue(r.startswith("+OK"), r)
        m = gw.wait_log(r"event=session_end .*client=%s:\d+ .*reason=quit" % re.escape(source),
                        start=start, timeout=10)
        self.assertIsNotNone(m, gw.log_since(start)[-3000:])
        self.assertIn("via=127.0.0.1", gw.log_since(start))
        self.assertTrue(h.wait_until(lambda: len(dovecot_logins()) > before, 10))
        self.assertIn(" rip=%s," % source, dovecot_logins()[-1])

    def test_send_proxy_v1(self):
        self.check_client_seen("a_v1", GWS[0], "127.0.0.11")
        self.check_client_seen("b_v1", GWS[1], "127.0.0.12")
        self.check_client_seen("c_v1", GWS[2], "127.0.0.18")

    def test_send_proxy_v2(self):
        self.check_client_seen("a_v2", GWS[0], "127.0.0.13")
        self.check_client_seen("b_v2", GWS[1], "127.0.0.14")
        self.check_client_seen("c_v2", GWS[2], "127.0.0.19")

    def test_header_from_an_untrusted_address_is_refused(self):
        start = GWS[0].log_size()
        with client("untrusted", "127.0.0.15", timeout=10) as c:
            self.assertTrue(c.expect_closed(10), "the connection stayed open")
            self.assertEqual(c.tail, b"", "a greeting came through")
        self.assertIsNotNone(GWS[0].wait_log(r"event=proxy_refused peer=127\.0\.0\.3 "
                                             r"reason=proxy_untrusted", start=start))
        start = GWS[2].log_size()
        with client("untrusted_c", "127.0.0.15", timeout=10) as c:
            self.assertTrue(c.expect_closed(10), "the connection stayed open")
            self.assertEqual(c.tail, b"", "a greeting came through")
        self.assertIsNotNone(GWS[2].wait_log(r"event=proxy_refused peer=127\.0\.0\.4 "
                                             r"reason=proxy_untrusted", start=start))

    def test_health_checks_are_served_quietly(self):
        gw = GWS[1]
        self.assertTrue(h.wait_until(lambda: gw.log_text().count("kind=local") >= 2, 20),
                        gw.log_text()[-3000:])
        self.assertNotIn("proxy_refused peer=127.0.0.1 ", gw.log_text())
        r, _ = attempt("checked_v2", "127.0.0.17", "secret")
        self.assertTrue(r.startswith("+OK"), r)

    def test_round_robin_serves_through_all_three(self):
        starts = [g.log_size() for g in GWS]
        for i in range(6):
            r, _ = attempt("all", "127.0.0.16", "secret")
            self.assertTrue(r.startswith("+OK"), r)
        for g, s in zip(GWS, starts):
            self.assertIn("client=127.0.0.16:", g.log_since(s))


class TestSharedLimits(unittest.TestCase):
    def test_failures_on_two_gateways_delay_the_third(self):
        src = "127.0.0.21"
        for f in ("a_v2", "b_v2", "a_v1"):
            r, took = attempt(f, src, "wrong")
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        # counted under the client's address (from the header), not HAProxy's
        self.assertEqual(store_count("ip:%s" % src), 3)
        self.assertEqual(store_count("ip:127.0.0.1"), 0)
        start = GWS[2].log_size()
        r, took = attempt("c_v2", src, "secret")
        self.assertTrue(r.startswith("+OK"), r)
        # the 4th attempt waits for the 3rd failure's delay: 300 * 2^2 ms
        self.assertGreater(took, 4 * DELAY_MS / 1000.0 * 0.9,
                           "gateway C did not hold the attempt after A's and B's failures")
        self.assertIn("shared_failures=3", GWS[2].log_since(start))
        # the success took alice's failures off the address
        self.assertTrue(h.wait_until(lambda: store_count("ip:%s" % src) == 0, 5))
        self.assertEqual(REDIS.cli("EXISTS", "popgate:{alice@127.0.0.1:%d}:authfail"
                                   % DC.imap_port).strip(), "0")

    def test_failure_reply_delay_grows_across_gateways(self):
        src = "127.0.0.22"
        fronts = ["a_v1", "b_v1", "c_v2", "b_v2"]
        took = []
        start = GWS[1].log_size()
        for f in fronts:
            r, t = attempt(f, src, "wrong")
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
            took.append(t)
        # the 4th failure, on B, was held for the 3rd (1.2 s) and answered
        # after its own delay (2.4 s): only a shared count gives that
        self.assertGreater(took[3], (4 + 8) * DELAY_MS / 1000.0 * 0.9, took)
        self.assertRegex(GWS[1].log_since(start), r"event=login_failed .*client=%s:.* "
                         r"delay_ms=%d" % (re.escape(src), 8 * DELAY_MS))
        self.assertEqual(store_count("ip:%s" % src), 4)
        r, _ = attempt("a_v2", src, "secret")
        self.assertTrue(r.startswith("+OK"), r)

    def test_keys_expire_and_carry_hash_tags(self):
        attempt("b_v2", "127.0.0.23", "wrong")
        ttl = int(REDIS.cli("PTTL", "popgate:{ip:127.0.0.23}:authfail").strip())
        self.assertGreater(ttl, 0)
        self.assertLessEqual(ttl, 15 * 60 * 1000)     # auth_fail_window
        keys = REDIS.cli("KEYS", "popgate:*authfail").split()
        self.assertTrue(keys)
        for k in keys:
            self.assertRegex(k, r"^popgate:\{[^{}]+\}:authfail$")
        attempt("b_v2", "127.0.0.23", "secret")


class TestDeviceStateThroughEither(unittest.TestCase):
    def listing(self, front, source, user):
        with client(front, source) as c:
            c.read_greeting()
            r = c.login(user, "secret")
            self.assertTrue(r.startswith("+OK"), r)
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            uidls = [l.split()[1] for l in c.multi_lines()]
            c.cmd("QUIT")
            return uidls

    def test_dele_through_a_is_seen_through_b(self):
        before = self.listing("b_v2", "127.0.0.31", "alice#happhone")
        self.assertGreaterEqual(len(before), 2)
        with client("a_v1", "127.0.0.31") as c:
            c.read_greeting()
            self.assertTrue(c.login("alice#happhone", "secret").startswith("+OK"))
            self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertEqual(self.listing("b_v2", "127.0.0.32", "alice#happhone"), before[1:])
        self.assertEqual(self.listing("a_v2", "127.0.0.33", "alice#happhone"), before[1:])
        # another device still sees everything, through either gateway
        self.assertEqual(self.listing("b_v1", "127.0.0.34", "alice#haplaptop"), before)

    def test_lock_held_by_one_gateway_refuses_the_other(self):
        with client("a_v2", "127.0.0.35") as c:
            c.read_greeting()
            self.assertTrue(c.login("alice#haplock", "secret").startswith("+OK"))
            with client("b_v2", "127.0.0.36") as d:
                d.read_greeting()
                r = d.login("alice#haplock", "secret")
                self.assertTrue(r.startswith("-ERR [IN-USE]"), r)
            c.cmd("QUIT")


class TestLoginDelayShared(unittest.TestCase):
    """LOGIN-DELAY records in the store: a login name that just logged in
    through one gateway is told to wait by the other."""

    @classmethod
    def setUpClass(cls):
        cls.gws = []
        try:
            for _ in range(2):
                cls.gws.append(h.Popgate(
                    DC.imap_port, cache={"url": "unix:" + REDIS.sock},
                    server={"shared_limits": "yes", "login_delay": "1h"}).start())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for g in cls.gws:
            g.cleanup()

    def login(self, gw, user):
        with gw.pop3() as c:
            c.read_greeting()
            r = c.login(user, "secret")
            if r.startswith("+OK"):
                c.cmd("QUIT")
            return r

    def test_login_delay_across_gateways(self):
        c, d = self.gws
        self.assertTrue(self.login(c, "alice#hapdelay").startswith("+OK"))
        r = self.login(d, "alice#hapdelay")
        self.assertTrue(r.startswith("-ERR [LOGIN-DELAY]"), r)
        wait = int(re.search(r"try again in (\d+) seconds", r).group(1))
        self.assertGreater(wait, 3500)
        self.assertLessEqual(wait, 3600)
        # per login name: another device of the account is not held
        self.assertTrue(self.login(d, "alice#hapdelay2").startswith("+OK"))
        ttl = int(REDIS.cli("PTTL", "popgate:{alice@127.0.0.1:%d}:logindelay:hapdelay"
                            % DC.imap_port).strip())
        self.assertGreater(ttl, 3500 * 1000)


class TestStoreDown(unittest.TestCase):
    """Last (Z): stops the shared redis-server and starts it again."""

    def test_z_local_tables_when_the_store_is_down(self):
        src = "127.0.0.41"
        starts = [g.log_size() for g in GWS]
        REDIS.stop()
        try:
            for g, s in zip(GWS, starts):
                self.assertIsNotNone(g.wait_log(r"event=cache_(down|unreachable)", timeout=15,
                                                start=s), g.log_since(s)[-2000:])
            took = []
            for _ in range(3):
                r, t = attempt("a_v2", src, "wrong")
                self.assertTrue(r.startswith("-ERR [AUTH]"), r)
                took.append(t)
            # A's own table: the 3rd attempt held for the 2nd failure
            # (600 ms) and answered after its own (1.2 s)
            self.assertGreater(took[2], (2 + 4) * DELAY_MS / 1000.0 * 0.9, took)
            self.assertRegex(GWS[0].log_since(starts[0]),
                             r"event=login_held failures=[2-9] shared_failures=0")
        finally:
            starts = [g.log_size() for g in GWS]
            REDIS.start()
        for g, s in zip(GWS, starts):
            self.assertIsNotNone(g.wait_log(r"event=cache_up", timeout=20, start=s))
        self.assertEqual(store_count("ip:%s" % src), 0, "counted in a store that was down")


if __name__ == "__main__":
    unittest.main()
