"""Streaming and backpressure: a client that asks for the ~5 MB message and
reads nothing must not make the daemon buffer it (VmRSS growth <= 2 MiB over
the baseline), other sessions keep being served meanwhile, and the message
still arrives intact once the client reads."""
import time
import unittest

import harness as h

ENV = None
GW = None
LIMIT_KB = h.RSS_LIMIT_KB


def setUpModule():
    global ENV, GW
    if h.NATIVE:
        raise unittest.SkipTest("measures popgate's own memory")
    ENV = h.Env(fill_users=("alice", "bob"), big_mb=5)
    GW = ENV.gw


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


def find(names_wanted):
    with ENV.imap() as im:
        ids = im.message_ids()
        listing = im.listing()
        out = {}
        for name in names_wanted:
            uid = next(u for u, mid in ids.items() if mid == h.message_id(name))
            out[name] = (listing.index(uid) + 1, im.body(uid))
        return out


class TestBackpressure(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def session(self, user="alice", rcvbuf=None):
        c = h.Pop3(GW.port, timeout=30, rcvbuf=rcvbuf)
        self.clients.append(c)
        c.read_greeting()
        r = c.login(user, "secret")
        self.assertTrue(r.startswith("+OK"), r)
        return c

    def test_stalled_reader_does_not_grow_rss(self):
        msgs = find(["plain", "big"])
        n_small, small = msgs["plain"]
        n_big, big = msgs["big"]
        self.assertGreater(len(big), 5_000_000)
        c = self.session(rcvbuf=16384)
        # warm up: one complete RETR so per-RETR allocations exist
        self.assertEqual(c.retr(n_small), h.expected_retr(small))
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        c.multi()
        time.sleep(0.3)
        base = GW.status()
        c.send("RETR %d\r\n" % n_big)
        peak = base["VmRSS"]
        samples = 0
        t_end = time.monotonic() + 4.0
        while time.monotonic() < t_end:                    # read nothing for 4 s
            peak = max(peak, GW.rss_kb())
            samples += 1
            time.sleep(0.05)
        after = GW.status()
        self.assertLessEqual(
            peak - base["VmRSS"], LIMIT_KB,
            "VmRSS grew by %d kB (baseline %d kB, peak %d kB, %d samples) while the client "
            "read nothing: the daemon buffers the message instead of applying backpressure"
            % (peak - base["VmRSS"], base["VmRSS"], peak, samples))
        self.assertLessEqual(after["VmHWM"] - base["VmHWM"], LIMIT_KB,
                             "VmHWM grew by %d kB" % (after["VmHWM"] - base["VmHWM"]))

        # meanwhile another session is served promptly (event loop not blocked)
        t0 = time.monotonic()
        other = self.session("bob")
        self.assertTrue(other.cmd("STAT").startswith("+OK"))
        self.assertTrue(other.cmd("QUIT").startswith("+OK"))
        self.assertLess(time.monotonic() - t0, 3)

        # now read: the whole message arrives intact
        status = c.status()
        self.assertTrue(status.startswith("+OK"), status)
        self.assertEqual(c.multi(), h.expected_retr(big))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        final = GW.status()
        self.assertLessEqual(final["VmHWM"] - base["VmHWM"], LIMIT_KB,
                             "VmHWM grew by %d kB over the whole 5 MB RETR"
                             % (final["VmHWM"] - base["VmHWM"]))

    def test_slow_reader_gets_everything(self):
        msgs = find(["big"])
        n_big, big = msgs["big"]
        c = self.session("alice", rcvbuf=8192)
        base = GW.status()["VmRSS"]
        self.assertTrue(c.cmd("RETR %d" % n_big).startswith("+OK"))
        got = bytearray(c.buf[c.pos:])             # what the status read buffered
        c.pos = len(c.buf)
        peak = base
        t_end = time.monotonic() + 60
        # read in small sips with pauses for the first ~1.5 s, then fast
        sips = 0
        while time.monotonic() < t_end:
            if sips < 30:
                time.sleep(0.05)
                d = c.sock.recv(4096)
                sips += 1
            else:
                d = c.sock.recv(1 << 18)
            if not d:
                break
            got += d
            if sips % 5 == 0:
                peak = max(peak, GW.rss_kb())
            if got.endswith(b"\r\n.\r\n"):
                break
        self.assertTrue(got.endswith(b"\r\n.\r\n"), "RETR did not complete")
        lines = bytes(got[:-3]).split(b"\r\n")
        data = b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])
        self.assertEqual(data, h.expected_retr(big))
        self.assertLessEqual(peak - base, LIMIT_KB, "VmRSS grew by %d kB" % (peak - base))

    def test_pipelined_slow_reader_switches_between_direct_and_queued_output(self):
        # Replies are written straight to the socket until one does not fit
        # (the client reads slowly); then libevent writes the rest, and once
        # the output is empty the next reply is written directly again.
        # Pipelined replies cross that switch both ways, twice: every octet
        # arrives in order and memory stays bounded throughout.
        msgs = find(["plain", "big"])
        n_small, small = msgs["plain"]
        n_big, big = msgs["big"]
        c = self.session("alice", rcvbuf=8192)
        base = GW.status()["VmRSS"]
        c.send("RETR %d\r\nRETR %d\r\nNOOP\r\nRETR %d\r\nSTAT\r\n" % (n_big, n_small, n_big))
        peak = base
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:                    # read nothing for 2 s
            peak = max(peak, GW.rss_kb())
            time.sleep(0.05)
        for i in range(40):                                # then in sips
            time.sleep(0.02)
            self.assertTrue(c._recv(4096), "connection closed after %d sips" % i)
            if i % 5 == 0:
                peak = max(peak, GW.rss_kb())
        self.assertLessEqual(peak - base, LIMIT_KB, "VmRSS grew by %d kB" % (peak - base))
        for n, body in ((n_big, big), (n_small, small)):
            r = c.status()
            self.assertTrue(r.startswith("+OK"), "RETR %d -> %s" % (n, r))
            self.assertEqual(c.multi(), h.expected_retr(body))
        self.assertTrue(c.status().startswith("+OK"), "NOOP")
        self.assertTrue(c.status().startswith("+OK"), "second RETR of the big message")
        self.assertEqual(c.multi(), h.expected_retr(big))
        self.assertTrue(c.status().startswith("+OK "), "STAT")
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertLessEqual(GW.rss_kb() - base, LIMIT_KB)

    def test_client_disconnects_mid_retr(self):
        msgs = find(["big"])
        n_big, big = msgs["big"]
        for _ in range(3):
            c = self.session("bob", rcvbuf=8192)
            self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
            c.multi()
            c.send("RETR 1\r\n")                   # and leave without reading it
            c.close()
        # the big one, dropped after a few KB
        c = self.session("alice", rcvbuf=8192)
        c.send("RETR %d\r\n" % n_big)
        c.sock.recv(8192)
        c.close()
        time.sleep(0.5)
        self.assertTrue(GW.alive())
        c = self.session("alice")
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


if __name__ == "__main__":
    unittest.main()
