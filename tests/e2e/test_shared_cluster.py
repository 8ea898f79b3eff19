"""shared_limits on a real Redis Cluster (three masters, redis-cli --cluster
create on loopback ports): two gateways on it, failures from several client
addresses on one gateway hold the next attempt on the other; every counter
key lives, whole, on the master of its hash tag's slot."""
import re
import shutil
import time
import unittest

import harness as h
import redis_ha as rh

DC = CL = None
GWS = []
DELAY_MS = 300
SOURCES = ["127.0.0.%d" % i for i in range(51, 57)]


def setUpModule():
    global DC, CL
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    for b in ("redis-server", "redis-cli"):
        if shutil.which(b) is None:
            raise unittest.SkipTest("%s not installed" % b)
    try:
        DC = h.Dovecot().start()
        h.fill_mailbox(DC, "alice", big_mb=0.05)
        CL = rh.ClusterSetup(masters=3, replicas=0).start()
        for _ in range(2):
            GWS.append(h.Popgate(DC.imap_port, cache={"url": CL.url()},
                                 server={"shared_limits": "yes",
                                         "auth_fail_delay": "%dms" % DELAY_MS,
                                         "auth_fail_delay_max": "1s",
                                         "max_bad_commands": "100"},
                                 log={"level": "debug"}).start())
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global DC, CL
    for g in GWS:
        g.cleanup()
    del GWS[:]
    if CL is not None:
        CL.stop()
        CL = None
    if DC is not None:
        DC.stop()
        DC = None


def attempt(gw, source, password):
    with gw.pop3(source=source, timeout=30) as c:
        c.read_greeting()
        t = time.monotonic()
        r = c.login("alice", password)
        took = time.monotonic() - t
        if r.startswith("+OK"):
            c.cmd("QUIT")
        return r, took


class TestSharedLimitsOnCluster(unittest.TestCase):
    def test_counts_across_gateways_each_key_on_its_slot(self):
        for g in GWS:
            self.assertIsNotNone(g.wait_log(r"event=cache_cluster_map", timeout=20))
        for src in SOURCES:
            r, _ = attempt(GWS[0], src, "wrong")
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        # each address's counter on exactly one master: its slot's
        masters = CL.masters()
        holders = set()
        for src in SOURCES:
            key = "popgate:{ip:%s}:authfail" % src
            where = [m.port for m in masters if m.cli("EXISTS", key).strip() == "1"]
            self.assertEqual(len(where), 1, "%s on %r" % (key, where))
            slot = CL.keyslot(key)
            self.assertEqual(CL.keyslot("{ip:%s}" % src), slot)
            holders.add(where[0])
            node = CL.node_of_port(where[0])
            self.assertEqual(node.cli("GET", key).strip(), "1")
        self.assertGreaterEqual(len(holders), 2, "six addresses all on one master")
        user_key = [k for m in masters for k in m.cli("KEYS", "popgate:{alice@*}:authfail")
                    .split() if k]
        self.assertEqual(len(user_key), 1, user_key)
        # alice failed 6 times: gateway B holds her next attempt, from a
        # fresh address, for the 6th failure's delay (capped at 1 s)
        start = GWS[1].log_size()
        r, took = attempt(GWS[1], "127.0.0.60", "secret")
        self.assertTrue(r.startswith("+OK"), r)
        self.assertGreater(took, 1.0 * 0.9)
        self.assertRegex(GWS[1].log_since(start), r"shared_failures=6 delay_ms=1000")
        self.assertNotIn("CROSSSLOT", GWS[0].log_text() + GWS[1].log_text())
        self.assertFalse(re.search(r"event=cache_error .*op=count", GWS[0].log_text() +
                                   GWS[1].log_text()))


if __name__ == "__main__":
    unittest.main()
