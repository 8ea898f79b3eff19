"""The listing shared in Redis between gateways: two gateways on one
redis-server and one Dovecot (through a counting relay, so both name the
same upstream). Gateway A's login stores its listing; gateway B's cold
login (no kept connection) reads the copy while it connects and validates
it against its SELECT instead of fetching the listing whole (its login
line says listing_source=redis). Between the two, an IMAP client appends,
changes flags, expunges, recreates the mailbox (a new UIDVALIDITY); the
copy is damaged; Redis is slow or down. Every time, B's STAT, LIST and
UIDL equal those of a reference gateway that fetches the listing whole
(its copies deleted before each of its logins), and the login says +OK.

Run against a Dovecot with CONDSTORE/QRESYNC and against one without."""
import threading
import time
import unittest

import harness as h
import redis_ha as rh
from test_listing_sync import CountingRelay, RESTRICTED_CAPS, small_message

EXTRA = 150


class SlowRelay(h.Relay):
    """TCP relay popgate -> redis-server; while slow is set, a chunk
    popgate sends that reads a listing copy waits that long first."""

    def __init__(self, to_port):
        self.slow = 0.0
        super().__init__(to_port)

    def relay(self, d, src, upward, cid):
        if upward and self.slow and b":listing:" in d and b"GET" in d:
            time.sleep(self.slow)
        return d


def login_field(text, key):
    vals = [h.parse_kv(l).get(key) for l in text.splitlines() if "event=login " in l]
    return vals[-1] if vals else None


class SharedListing:
    EXTRA_CONF = ""

    @classmethod
    def setUpClass(cls):
        cls.dc = cls.relay = cls.redis = cls.slow = None
        cls.a = cls.b = cls.c = cls.ref = None
        try:
            cls.dc = h.Dovecot(extra_conf=cls.EXTRA_CONF).start()
            h.fill_mailbox(cls.dc, "alice", big_mb=0.1)
            for i in range(EXTRA):
                cls.dc.deliver_file("alice", small_message(i))
            with cls.dc.imap() as im:
                im.messages()
            # Dovecot's answers held a little, as a provider's across a network
            # are: the store on the gateways' own network answers first
            cls.relay = CountingRelay(cls.dc.imap_port, lag=0.015)
            cls.redis = rh.RedisProc(h.make_tempdir("pgt-sl-redis-"),
                                    lines=["appendfsync everysec"]).start()
            cls.slow = SlowRelay(cls.redis.port)
            cache = {"url": "redis://%s:%d" % (h.HOST, cls.redis.port), "timeout": "10s"}
            cls.a = h.Popgate(cls.relay.port, cache=cache, log={"level": "info"}).start()
            cls.b = h.Popgate(cls.relay.port, cache=cache, log={"level": "info"}).start()
            # C reaches the same store through a relay that can be slow
            cls.c = h.Popgate(cls.relay.port, cache={
                "url": "redis://%s:%d" % (h.HOST, cls.slow.port), "timeout": "10s"},
                log={"level": "info"}).start()
            # the reference: its own store, its copies deleted before each
            # login, so every listing is fetched whole
            cls.ref = h.Popgate(cls.dc.imap_port, log={"level": "info"}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for g in (cls.a, cls.b, cls.c, cls.ref):
            if g is not None:
                g.cleanup()
        for x in (cls.relay, cls.slow):
            if x is not None:
                x.close()
        if cls.redis is not None:
            cls.redis.cleanup()
        if cls.dc is not None:
            cls.dc.stop()

    def setUp(self):
        self.slow.slow = 0.0

    def poll(self, gw):
        """USER, PASS, STAT, LIST, UIDL, QUIT: (STAT, LIST lines, UIDL lines)."""
        return h.listing_poll(self, gw)

    def fresh(self):
        h.drop_shared_listings(self.ref)
        start = self.ref.log_size()
        want = self.poll(self.ref)
        self.assertEqual(login_field(self.ref.log_since(start), "listing_source"), "none")
        return want

    def stored_by(self, gw, start=None):
        if start is None:
            start = self.b_start
        self.assertTrue(h.wait_until(lambda: "event=listing_shared state=stored " in
                                     gw.log_since(start), 10), gw.log_since(start)[-3000:])

    def poll_a(self):
        """A's login, without a copy to start from, and the copy it writes
        after."""
        h.drop_shared_listings(self.a)
        start = self.a.log_size()
        got = self.poll(self.a)
        self.stored_by(self.a, start)
        return got

    def poll_b(self, gw=None):
        """B's cold login: the listing, its log, the upstream's command lines
        and octets sent by Dovecot."""
        gw = gw or self.b
        start = self.b_start = gw.log_size()
        snap = self.relay.snapshot()
        got = self.poll(gw)
        up, down, lines = self.relay.since(snap)
        return got, gw.log_since(start), lines, down

    def full_fetches(self, lines):
        return [l for l in lines if l.endswith("UID FETCH 1:* (UID RFC822.SIZE FLAGS)")]

    def listing_kinds(self, log):
        return [l.split("kind=")[1].split()[0] for l in log.splitlines()
                if "event=listing " in l]

    def assert_used(self, log, lines):
        self.assertEqual(login_field(log, "listing_source"), "redis", log)
        self.assertEqual(self.full_fetches(lines), [], lines)

    def test_unchanged_copy_is_used_not_refetched(self):
        self.poll_a()
        # B without the copy, for comparison: the whole listing
        h.drop_shared_listings(self.b)
        got0, log0, lines0, down0 = self.poll_b()
        self.assertEqual(login_field(log0, "listing_source"), "none", log0)
        self.assertEqual(len(self.full_fetches(lines0)), 1, lines0)
        self.stored_by(self.b)
        start = self.b.log_size()
        got, log, lines, down = self.poll_b()
        self.assert_used(log, lines)
        self.assertEqual(got, got0)
        self.assertEqual(got, self.fresh())
        self.assertLess(down, down0 / 4, (down, down0))
        # an unchanged listing is not written again
        time.sleep(0.3)
        self.assertNotIn("state=stored", self.b.log_since(start))
        print("\n  %s: Dovecot sent %d octets without the copy, %d with it"
              % (type(self).__name__, down0, down))

    def test_appended_flags_changed_expunged(self):
        self.poll_a()
        with self.dc.imap() as im:
            uids = im.listing()
            new = im.append(small_message(1000))
            im.append(small_message(1001))
            im.store(uids[2], "+FLAGS", "\\Seen")
            im.store(uids[3], "+FLAGS", "\\Deleted")
        got, log, lines, _ = self.poll_b()
        self.assert_used(log, lines)
        self.assertEqual(got, self.fresh())
        self.assertNotIn("kind=full", log)
        # B's listing changed: B wrote it; A's next login starts from it
        self.stored_by(self.b)
        with self.dc.imap() as im:
            im.store(uids[3], "-FLAGS", "\\Deleted")
            im.store(new, "+FLAGS", "\\Seen")
            for u in (uids[1], uids[5], uids[-1]):
                im.store(u, "+FLAGS", "\\Deleted")
            im.c.expunge()
        start = self.a.log_size()
        got_a = self.poll(self.a)
        self.assertEqual(login_field(self.a.log_since(start), "listing_source"), "redis")
        self.assertEqual(got_a, self.fresh())
        self.stored_by(self.a, start)
        got, log, lines, _ = self.poll_b()
        self.assert_used(log, lines)
        self.assertEqual(got, self.fresh())
        self.assertNotIn(uids[5], [int(u.split()[1][:8], 16) for u in got[2]])

    def test_uidvalidity_change(self):
        self.poll_a()
        with self.dc.imap() as im:
            before = im.uidvalidity()
        self.dc.forget_uids("alice")
        with self.dc.imap() as im:
            self.assertNotEqual(im.uidvalidity(), before)
        got, log, lines, _ = self.poll_b()
        # the copy is of another UIDVALIDITY: read, and the listing whole
        self.assertEqual(login_field(log, "listing_source"), "redis", log)
        self.assertEqual(self.listing_kinds(log), ["full"], log)
        self.assertEqual(got, self.fresh())
        self.stored_by(self.b)
        got, log, lines, _ = self.poll_b()
        self.assert_used(log, lines)
        self.assertEqual(got, self.fresh())

    def copy_key(self):
        keys = self.redis.cli("--scan", "--pattern", "popgate:*:listing:*").split()
        self.assertEqual(len(keys), 1, keys)
        return keys[0]

    def test_damaged_copy_falls_back_to_full(self):
        self.poll_a()
        key = self.copy_key()
        self.assertTrue(key.startswith("popgate:{alice@127.0.0.1:%d}:listing:" % self.relay.port),
                        key)
        n = int(self.redis.cli("STRLEN", key))
        self.assertGreater(n, 36 + 24 * EXTRA)
        self.assertLess(n, 36 + 24 * (EXTRA + 40))
        self.assertGreater(int(self.redis.cli("PTTL", key)), 29 * 86400 * 1000)
        for damage in (["SETRANGE", key, n - 10, "zz"], ["SETRANGE", key, 0, "\x07"],
                       ["SET", key, "garbage"], ["APPEND", key, "x"]):
            self.poll_a()
            self.redis.cli(*damage)
            got, log, lines, _ = self.poll_b()
            self.assertIn("event=listing_shared state=unused", log)
            self.assertEqual(login_field(log, "listing_source"), "none", log)
            self.assertEqual(len(self.full_fetches(lines)), 1, lines)
            self.assertEqual(got, self.fresh())

    def test_slow_redis_is_not_waited_for(self):
        self.poll_a()
        # C's read of the copy comes after Dovecot accepted the password
        self.slow.slow = 1.5
        got, log, lines, _ = self.poll_b(self.c)
        self.slow.slow = 0.0
        self.assertIn("event=listing_shared state=late", log)
        self.assertEqual(login_field(log, "listing_source"), "none", log)
        self.assertEqual(len(self.full_fetches(lines)), 1, lines)
        self.assertEqual(got, self.fresh())

    def test_redis_down_login_works(self):
        self.poll_a()
        self.redis.stop()
        try:
            time.sleep(0.5)
            start = self.b.log_size()
            res = {}

            def run():
                try:
                    res["got"] = self.poll(self.b)
                except BaseException as e:   # noqa: B036
                    res["error"] = e

            t = threading.Thread(target=run)
            t.start()
            # the device state needs the store; the copy does not hold the login up
            self.assertTrue(h.wait_until(lambda: "event=listing_shared state=unavailable" in
                                         self.b.log_since(start), 10),
                            self.b.log_since(start)[-3000:])
        finally:
            self.redis.start()
        t.join(60)
        self.assertNotIn("error", res, res)
        log = self.b.log_since(start)
        self.assertEqual(login_field(log, "listing_source"), "none", log)
        self.assertEqual(res["got"], self.fresh())


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestSharedListingQresync(SharedListing, unittest.TestCase):
    pass


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestSharedListingWithoutQresync(SharedListing, unittest.TestCase):
    EXTRA_CONF = "imap_capability = %s\n" % RESTRICTED_CAPS
