"""Retention racing a remap, against a private Dovecot and a shared
redis-server: a pass that decided by one numbering of the mailbox must not
clear records by those UIDs once another gateway found the mailbox numbered
anew (a new UIDVALIDITY) and renumbered the records. The pass's store
requests go through a relay that holds its last script (the finish) while
the other gateway's session remaps, deletes a message and quits; released,
the stale finish must touch nothing, so the deleted message stays hidden."""
import threading
import time
import unittest

import harness as h
import redis_ha as rh

DC = None
PASSWORD = "secret"
USERS = {"rr%02d" % i: PASSWORD for i in range(1, 4)}
_next = [0]
# Text of retention's finish script only (cache/cache_retention.c).
FINISH_MARK = b"local devs = redis.call('HKEYS', KEYS[2])"


def setUpModule():
    global DC
    DC = h.popgate_module(USERS)


def tearDownModule():
    if DC is not None:
        DC.stop()


class HoldingRelay(h.Relay):
    """TCP relay popgate -> redis-server: passes everything, except that
    once armed, the chunk popgate sends with `mark` in it waits for
    release() (and `held` is set meanwhile)."""

    def __init__(self, to_port, mark):
        self.mark = mark
        self.armed = False
        self.held, self.released = threading.Event(), threading.Event()
        self.tails = {}          # (connection, upward): the end of its last chunk
        super().__init__(to_port, connect_timeout=60)

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        super().close()

    def relay(self, d, src, upward, cid):
        tail = self.tails.get((cid, upward), b"")
        if upward and self.armed and self.mark in tail + d:
            self.armed = False
            self.held.set()
            self.released.wait(60)
        self.tails[(cid, upward)] = d[-len(self.mark):]
        return d


def renumber(user, mid):
    """The message mid expunged, then Dovecot numbers the mailbox anew under
    a new UIDVALIDITY (its index files gone): every later UID moves down."""
    with DC.imap(user) as im:
        uv = im.uidvalidity()
        uid = [u for u, m in im.message_ids().items() if m == mid][0]
        im.store(uid, "+FLAGS.SILENT", "\\Deleted")
        assert im.c.expunge()[0] == "OK"
    DC.forget_uids(user)
    with DC.imap(user) as im:
        assert im.uidvalidity() != uv, "no new UIDVALIDITY"
        return im.message_ids()


class RetentionRacingRemap(unittest.TestCase):
    def setUp(self):
        _next[0] += 1
        self.user = "rr%02d" % _next[0]
        self.redis = rh.RedisProc(h.make_tempdir("pgt-rr-redis-")).start()
        self.addCleanup(self.redis.cleanup)
        self.relay = HoldingRelay(self.redis.port, FINISH_MARK)
        self.addCleanup(self.relay.close)
        extra = "[retention]\nwhen = all-devices-done\naction = expunge\n"
        url = "redis://%s:%%d" % h.HOST
        # pc's gateway reaches the store through the relay, with time to
        # spare for the held request; phone's directly.
        self.gw_pc = self.gateway(extra, {"url": url % self.relay.port, "timeout": "30s"})
        self.gw_phone = self.gateway(extra, {"url": url % self.redis.port})

    def gateway(self, extra, cache):
        gw = h.Popgate(DC.imap_port, extra=extra, cache=cache).start()
        self.addCleanup(gw.cleanup)
        self.addCleanup(gw.stop)
        return gw

    def session(self, gw, device):
        c = h.Pop3(gw.port)
        r = c.login("%s#%s" % (self.user, device), PASSWORD)
        self.assertTrue(r.startswith("+OK"), r)
        return c

    def quit(self, c):
        r = c.cmd("QUIT")
        self.assertTrue(r.startswith("+OK"), r)

    def find(self, c, mid):
        """The message number of mid, by its header (TOP: no RETR)."""
        r = c.cmd("STAT")
        self.assertTrue(r.startswith("+OK"), r)
        for n in range(1, int(r.split()[1]) + 1):
            t = c.cmd("TOP %d 0" % n)
            self.assertTrue(t.startswith("+OK"), t)
            if mid.encode() in c.multi():
                return n
        self.fail("%s not listed" % mid)

    def retr(self, c, mid):
        self.assertIn(mid.encode(), c.retr(self.find(c, mid)))

    def logs(self):
        return "pc's gateway:\n%s\nphone's gateway:\n%s" % (
            self.gw_pc.log_text()[-3000:], self.gw_phone.log_text()[-3000:])

    def test_stale_finish_leaves_the_new_numbering_alone(self):
        """x, a, b, c (UIDs 1-4). pc and phone RETR a; pc's QUIT runs the
        pass: a (UID 2) is expunged, and its finish is held. Meanwhile x goes
        and Dovecot numbers the mailbox anew (b 1, c 2); phone's login
        through the other gateway remaps the records, phone DELEs c (now
        UID 2) and quits: its hide is stored by UID 2. Released, pc's finish
        by the old UID 2 must not clear that hide: phone never sees c
        again."""
        mids = {}
        with DC.imap(self.user) as im:
            for t in ["x", "a", "b", "c"]:
                mids[t], data = h.tagged_message(t, "race")
                typ, resp = im.c.append("INBOX", None, None, data)
                self.assertEqual(typ, "OK", resp)
        created = time.monotonic()
        self.quit(self.session(self.gw_pc, "pc"))           # pc registered
        phone = self.session(self.gw_phone, "phone")
        self.retr(phone, mids["a"])
        self.quit(phone)
        pc = self.session(self.gw_pc, "pc")
        self.retr(pc, mids["a"])
        self.relay.armed = True
        answer = []
        quitter = threading.Thread(target=lambda: answer.append(pc.cmd("QUIT")), daemon=True)
        quitter.start()
        self.assertTrue(self.relay.held.wait(20), "no finish held:\n" + self.logs())
        with DC.imap(self.user) as im:
            self.assertNotIn(mids["a"], im.message_ids().values(), "a not removed")
        time.sleep(max(0.0, created + 1.1 - time.monotonic()))  # UIDVALIDITY: time based
        now = renumber(self.user, mids["x"])
        self.assertEqual(sorted(now.items()), [(1, mids["b"]), (2, mids["c"])])
        phone = self.session(self.gw_phone, "phone")
        self.assertEqual(phone.cmd("STAT").split()[:2], ["+OK", "2"])
        n = self.find(phone, mids["c"])
        self.assertTrue(phone.cmd("DELE %d" % n).startswith("+OK"))
        self.quit(phone)
        self.relay.release()
        quitter.join(40)
        self.assertFalse(quitter.is_alive(), "pc's QUIT did not end:\n" + self.logs())
        self.assertTrue(answer and answer[0].startswith("+OK"), answer)
        phone = self.session(self.gw_phone, "phone")
        r = phone.cmd("STAT")
        self.assertTrue(r.startswith("+OK 1 "), "c is back for phone: %s\n%s" % (r, self.logs()))
        self.quit(phone)
        self.assertRegex(self.gw_pc.log_text(),
                         r"event=retention_unrecorded reason=uidvalidity_changed")


if __name__ == "__main__":
    unittest.main()
