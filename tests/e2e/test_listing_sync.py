"""Listings validated instead of refetched: a login through a kept upstream
session ([upstream] keep_idle) brings the listing kept with it up to date
(QRESYNC: only what changed; without it: the flags of the kept messages and
the new ones) instead of fetching it whole. Between two polls an IMAP client
appends, sets and clears \\Seen and \\Deleted, expunges, and the mailbox is
recreated (a new UIDVALIDITY): every poll's UIDL and LIST equal those of a
fresh login through a second gateway that keeps nothing. A counting relay
between popgate and Dovecot shows what a warm poll asked for.

Run against a Dovecot with CONDSTORE/QRESYNC and against one whose
capabilities leave them out (imap_capability)."""
import random
import threading
import time
import unittest

import harness as h

# What the restricted Dovecot announces after login: its defaults minus
# CONDSTORE and QRESYNC (and the extensions that imply them).
RESTRICTED_CAPS = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES "
                   "MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED "
                   "I18NLEVEL=1 LITERAL+ MOVE SPECIAL-USE")

EXTRA = 200   # small messages besides the usual test set: a listing worth counting


class CountingRelay(h.Relay):
    """TCP relay popgate -> Dovecot that counts the octets each way and keeps
    the command lines popgate sent (plaintext IMAP: tls = none), and per
    connection its round trips: bursts popgate sent after Dovecot had
    spoken since popgate's previous one (relay.py's "turns")."""

    def __init__(self, to_port, source=None, lag=0.0):
        # seconds each chunk from Dovecot is held: a provider across a
        # network, which the gateway's own Redis answers before
        self.lag = lag
        self.lock = threading.Lock()
        self.up = self.down = 0
        self.lines = []
        self.turns = []          # per connection accepted, in order
        self.last_up = []        # ... whether popgate spoke last
        self.pending = []        # ... its command line begun
        super().__init__(to_port, source=source)

    def snapshot(self):
        with self.lock:
            return self.up, self.down, len(self.lines)

    def since(self, snap):
        """(octets up, octets down, command lines) since snapshot()."""
        with self.lock:
            return self.up - snap[0], self.down - snap[1], list(self.lines[snap[2]:])

    def connection_turns(self):
        """The round trips of each connection so far, in accept order."""
        with self.lock:
            return list(self.turns)

    def accepted(self, cid):
        with self.lock:
            self.turns.append(0)
            self.last_up.append(False)
            self.pending.append(b"")

    def relay(self, d, src, upward, cid):
        with self.lock:
            if upward and not self.last_up[cid]:
                self.turns[cid] += 1
            self.last_up[cid] = upward
            if upward:
                self.up += len(d)
                self.pending[cid] += d
                while b"\r\n" in self.pending[cid]:
                    line, self.pending[cid] = self.pending[cid].split(b"\r\n", 1)
                    self.lines.append(line.decode("utf-8", "replace"))
            else:
                self.down += len(d)
        if self.lag and not upward:
            time.sleep(self.lag)
        return d


def small_message(i):
    return ("From: s@example.org\r\nTo: alice@popgate.test\r\nSubject: small %d\r\n"
            "Message-ID: <small.%d@popgate.test>\r\n\r\nline %d\r\n" % (i, i, i)).encode()


class ListingSync:
    """The tests; a subclass says which Dovecot."""
    EXTRA_CONF = ""
    WARM_KIND = None       # the listing kind a warm poll with changes logs

    @classmethod
    def setUpClass(cls):
        cls.dc = cls.relay = cls.gw = cls.ref = None
        try:
            cls.dc = h.Dovecot(extra_conf=cls.EXTRA_CONF).start()
            h.fill_mailbox(cls.dc, "alice", big_mb=0.1)
            for i in range(EXTRA):
                cls.dc.deliver_file("alice", small_message(i))
            with cls.dc.imap() as im:
                im.messages()
            cls.relay = CountingRelay(cls.dc.imap_port)
            cls.gw = h.Popgate(cls.relay.port, upstream={"keep_idle": "2m"},
                               log={"level": "info"}).start()
            # the reference: no kept sessions, every login lists afresh
            cls.ref = h.Popgate(cls.dc.imap_port, log={"level": "info"}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for g in (cls.gw, cls.ref):
            if g is not None:
                g.cleanup()
        if cls.relay is not None:
            cls.relay.close()
        if cls.dc is not None:
            cls.dc.stop()

    def count(self, event, text=None):
        return (text if text is not None else self.gw.log_text()).count("event=%s " % event)

    def listing_kinds(self, text):
        return [l.split("kind=")[1].split()[0] for l in text.splitlines()
                if "event=listing " in l]

    def poll(self, gw):
        """USER, PASS, STAT, LIST, UIDL, QUIT: (STAT, LIST lines, UIDL lines)."""
        return h.listing_poll(self, gw)

    def warm_poll(self):
        """A poll through the kept session: its listing, the log it wrote,
        and what went over the relay."""
        kept = self.count("upstream_kept")
        start = self.gw.log_size()
        snap = self.relay.snapshot()
        got = self.poll(self.gw)
        self.assertTrue(h.wait_until(lambda: self.count("upstream_kept") > kept, 10),
                        "QUIT did not keep the connection:\n" + self.gw.log_text()[-2000:])
        log = self.gw.log_since(start)
        self.assertEqual(self.count("upstream_reused", log), 1, log[-3000:])
        return got, log, self.relay.since(snap)

    def fresh(self):
        """A poll through the reference, its listing fetched whole (the
        copy its last login shared in its Redis deleted first)."""
        h.drop_shared_listings(self.ref)
        return self.poll(self.ref)

    def check_equal(self, got):
        want = self.fresh()
        self.assertEqual(got[0], want[0], "STAT")
        self.assertEqual(got[1], want[1], "LIST")
        self.assertEqual(got[2], want[2], "UIDL")
        # and the reference is what the mailbox holds (UIDLs follow the
        # messages across a new UIDVALIDITY: the sizes say which are there)
        with self.dc.imap() as im:
            self.assertEqual([int(x.split()[1]) for x in want[1]],
                             [sz for u, fl, sz in im.messages() if "\\Deleted" not in fl])

    def setUp(self):
        # a kept session with its listing, whatever the test before did
        self.check_equal(self.poll(self.gw))
        self.assertTrue(h.wait_until(lambda: self.count("upstream_kept") > 0, 10))

    def test_nothing_new_is_not_refetched(self):
        cold_snap = self.relay.snapshot()
        # a cold login for comparison: the kept session is evicted by a
        # wrong password, the next one lists everything (no copy shared
        # in Redis to start from)
        h.drop_shared_listings(self.gw)
        c = self.gw.pop3(timeout=30)
        self.assertTrue(c.login("alice", "wrong").startswith("-ERR"))
        c.close()
        cold = self.poll(self.gw)
        cold_up, cold_down, cold_lines = self.relay.since(cold_snap)
        self.assertTrue(any("UID FETCH 1:* (UID RFC822.SIZE FLAGS)" == l.split(" ", 1)[1]
                            for l in cold_lines if " " in l), cold_lines)
        self.assertTrue(h.wait_until(lambda: self.count("upstream_kept") > 0, 10))
        got, log, (up, down, lines) = self.warm_poll()
        self.assertEqual(got, cold)
        self.check_equal(got)
        cmds = [l.split(" ", 2)[1].upper() for l in lines if " " in l]
        fetches = [l for l in lines if " UID FETCH " in l.upper()]
        # the listing is EXTRA + the test set: its bytes dwarf a SELECT
        self.assertGreater(cold_down, EXTRA * 40)
        if self.WARM_KIND == "changes" or getattr(self, "CONDSTORE", False):
            self.assertEqual(self.listing_kinds(log), ["unchanged"], log)
            self.assertEqual(fetches, [], lines)
            self.assertEqual(cmds, ["SELECT"], lines)
            self.assertLess(down, cold_down / 10, (down, cold_down))
        else:
            # nothing new, nothing expunged: the \\Deleted and \\Seen flags alone
            self.assertEqual(self.listing_kinds(log), ["checked"], log)
            self.assertEqual(fetches, [], lines)
            self.assertEqual(len(lines), 3, lines)
            self.assertRegex(lines[1], r"^\S+ UID SEARCH UID 1:\d+ DELETED$")
            self.assertRegex(lines[2], r"^\S+ UID SEARCH UID 1:\d+ UNSEEN$")
            # every message here is unseen: the UNSEEN answer names each
            self.assertLess(down, cold_down / 4, (down, cold_down))
        print("\n  %s: cold poll %d octets up / %d down, warm %d / %d, commands %s"
              % (type(self).__name__, cold_up, cold_down, up, down, cmds))

    def test_appended_then_seen_then_deleted(self):
        with self.dc.imap() as im:
            new = im.append(small_message(1000))
            im.append(small_message(1001))
        got, log, (up, down, lines) = self.warm_poll()
        self.assertEqual(self.listing_kinds(log), [self.WARM_KIND], log)
        self.check_equal(got)
        # the new ones were fetched from the old UIDNEXT on, not 1:*
        self.assertFalse(any(l.endswith("UID FETCH 1:* (UID RFC822.SIZE FLAGS)")
                             for l in lines), lines)
        with self.dc.imap() as im:
            im.store(new, "+FLAGS", "\\Seen")
            first = im.listing()[0]
            im.store(first, "+FLAGS", "\\Deleted")
        got, log, _ = self.warm_poll()
        self.assertEqual(self.listing_kinds(log), [self.WARM_KIND], log)
        self.check_equal(got)
        self.assertEqual(len(got[2]), len(self.fresh()[2]))
        with self.dc.imap() as im:
            im.store(first, "-FLAGS", "\\Deleted")
        got, log, _ = self.warm_poll()
        self.assertEqual(self.listing_kinds(log), [self.WARM_KIND], log)
        self.check_equal(got)

    def test_expunged_by_an_imap_client(self):
        with self.dc.imap() as im:
            uids = im.listing()
            for u in (uids[1], uids[5], uids[-1]):
                im.store(u, "+FLAGS", "\\Deleted")
            im.c.expunge()
            im.append(small_message(2000))
        got, log, _ = self.warm_poll()
        self.check_equal(got)
        # QRESYNC: VANISHED says which; without: the flags check does
        self.assertEqual(self.listing_kinds(log), [self.WARM_KIND], log)
        self.assertNotIn(uids[5], [int(u.split()[1][:8], 16) for u in got[2]])

    def device_session(self, gw, device, retr, dele):
        c = gw.pop3(timeout=60)
        try:
            r = c.login("alice#" + device, "secret")
            self.assertTrue(r.startswith("+OK"), r)
            self.assertTrue(c.cmd("RETR %d" % retr).startswith("+OK"))
            c.multi_raw()
            self.assertTrue(c.cmd("DELE %d" % dele).startswith("+OK"))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()

    def test_other_devices_retrieve_and_expunge(self):
        # another device through this gateway (on the kept connection):
        # RETR sets \Seen, DELE hides for that device only
        self.device_session(self.gw, "phone", 1, 2)
        got, log, _ = self.warm_poll()
        self.check_equal(got)
        # another device through a gateway that expunges: gone for all
        ex = h.Popgate(self.dc.imap_port, upstream={"keep_idle": "2m"},
                       policy={"delete_action": "expunge"}, log={"level": "info"}).start()
        try:
            before = len(got[2])
            self.device_session(ex, "tablet", 2, 3)
            got, log, _ = self.warm_poll()
            self.check_equal(got)
            self.assertEqual(len(got[2]), before - 1)
            self.assertEqual(self.listing_kinds(log), [self.WARM_KIND], log)
            # and that gateway's own kept connection, which did it
            self.assertTrue(h.wait_until(lambda: "event=upstream_kept " in ex.log_text(), 10))
            start = ex.log_size()
            self.assertEqual(self.poll(ex), self.fresh())
            self.assertIn("event=upstream_reused ", ex.log_since(start))
        finally:
            ex.cleanup()

    def test_random_changes_between_polls(self):
        """A seeded series of IMAP-side changes, several per round, with
        a poll through the kept session after each round."""
        rng = random.Random(1307)
        kinds = []
        for rnd in range(12):
            with self.dc.imap() as im:
                uids = [u for u, _, _ in im.messages()]
                for _ in range(rng.randint(1, 4)):
                    op = rng.choice(("append", "seen", "unseen", "delete", "undelete",
                                     "expunge", "nothing"))
                    if op == "append":
                        im.append(small_message(3000 + rnd * 10 + rng.randint(0, 9)))
                    elif op in ("seen", "unseen", "delete", "undelete") and uids:
                        im.store(rng.choice(uids), "+FLAGS" if op in ("seen", "delete")
                                 else "-FLAGS", "\\Deleted" if "delete" in op else "\\Seen")
                    elif op == "expunge" and len(uids) > 50:
                        for u in rng.sample(uids, 3):
                            im.store(u, "+FLAGS", "\\Deleted")
                        im.c.expunge()
                        uids = [u for u, _, _ in im.messages()]
            got, log, _ = self.warm_poll()
            self.check_equal(got)
            kinds += self.listing_kinds(log)
        # the kept listings were used, not refetched, in most rounds
        self.assertGreaterEqual(kinds.count(self.WARM_KIND) + kinds.count("unchanged"), 10, kinds)

    def test_uidvalidity_change(self):
        with self.dc.imap() as im:
            before = im.uidvalidity()
        self.dc.forget_uids("alice")
        with self.dc.imap() as im:
            self.assertNotEqual(im.uidvalidity(), before)
        # the kept connection may have been dropped by Dovecot meanwhile:
        # either way the listing is a full one under the new UIDVALIDITY
        c_before = self.count("upstream_reused")
        start = self.gw.log_size()
        got = self.poll(self.gw)
        self.check_equal(got)
        log = self.gw.log_since(start)
        self.assertEqual(self.listing_kinds(log)[-1:], ["full"], log)
        self.assertTrue(h.wait_until(lambda: self.count("upstream_kept") > 0, 10))
        self.assertGreaterEqual(self.count("upstream_reused"), c_before)
        got, log, _ = self.warm_poll()
        self.check_equal(got)


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestListingSyncQresync(ListingSync, unittest.TestCase):
    WARM_KIND = "changes"


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestListingSyncWithoutQresync(ListingSync, unittest.TestCase):
    EXTRA_CONF = "imap_capability = %s\n" % RESTRICTED_CAPS
    WARM_KIND = "checked"

    def test_restricted_server_offers_neither(self):
        with self.dc.imap() as im:
            typ, data = im.c.capability()
            caps = data[0].decode().upper().split()
        self.assertNotIn("CONDSTORE", caps)
        self.assertNotIn("QRESYNC", caps)


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestListingSyncCondstore(ListingSync, unittest.TestCase):
    """CONDSTORE without QRESYNC: SELECT ... (CONDSTORE), then the flags that
    changed since the kept HIGHESTMODSEQ and the count."""
    EXTRA_CONF = "imap_capability = %s CONDSTORE\n" % RESTRICTED_CAPS
    WARM_KIND = "checked"
    CONDSTORE = True

    def test_server_offers_condstore_only(self):
        with self.dc.imap() as im:
            typ, data = im.c.capability()
            caps = data[0].decode().upper().split()
        self.assertIn("CONDSTORE", caps)
        self.assertNotIn("QRESYNC", caps)

    def test_flag_change_asks_only_for_changes(self):
        with self.dc.imap() as im:
            uid = im.listing()[2]
            im.store(uid, "+FLAGS", "\\Seen")
        got, log, (up, down, lines) = self.warm_poll()
        self.check_equal(got)
        self.assertEqual(self.listing_kinds(log), ["checked"], log)
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r"^\S+ SELECT \S+ \(CONDSTORE\)$")
        self.assertRegex(lines[1], r"^\S+ UID FETCH 1:\d+ \(UID FLAGS\) \(CHANGEDSINCE \d+\)$")
        with self.dc.imap() as im:
            im.store(uid, "-FLAGS", "\\Seen")


if __name__ == "__main__":
    unittest.main()
