"""Pipelined upstream commands against a private Dovecot: a QUIT right after
a RETR sends its fingerprint fetch while the RETR's prefetch of the next
message is still out, and Dovecot runs the two side by side, answering the
second before its tagged reply to the first (RFC 3501 5.5). The hide must
still be stored with its fingerprint, so that it follows the message when
the mailbox is numbered anew (the randomized model test found a DELE'd
message back after a renumbering)."""
import select
import time
import unittest

import harness as h

DC = None
PASSWORD = "secret"
USERS = {"q%02d" % i: PASSWORD for i in range(1, 5)}
_next = [0]


def setUpModule():
    global DC
    DC = h.popgate_module(USERS)


def tearDownModule():
    if DC is not None:
        DC.stop()


class BatchingRelay(h.Relay):
    """TCP relay popgate -> Dovecot that holds what popgate sends for
    `hold` seconds from its first octet and passes it on in one write:
    commands popgate sends within that time reach Dovecot pipelined, as
    over a slow link. Replies pass at once."""

    def __init__(self, to_port, hold=0.15):
        self.hold = hold
        super().__init__(to_port)

    def relay(self, d, src, upward, cid):
        if upward:
            end = time.monotonic() + self.hold
            while (left := end - time.monotonic()) > 0:
                if select.select([src], [], [], left)[0]:
                    more = src.recv(65536)
                    if not more:
                        break
                    d += more
        return d


def recreate(user):
    """Dovecot numbers the mailbox anew under a new UIDVALIDITY (its index
    files gone), after an expunge so that every UID moves."""
    with DC.imap(user) as im:
        uv = im.uidvalidity()
        first = im.listing()[0]
        im.store(first, "+FLAGS.SILENT", "\\Deleted")
        im.c.expunge()
    time.sleep(1.1)                      # the UIDVALIDITY is time based
    DC.forget_uids(user)
    with DC.imap(user) as im:
        assert im.uidvalidity() != uv, "no new UIDVALIDITY"


class TestHideBehindPrefetch(unittest.TestCase):
    def setUp(self):
        _next[0] += 1
        self.user = "q%02d" % _next[0]
        self.mids = []
        with DC.imap(self.user) as im:
            if im.messages():
                im.expunge_all()
            for i in range(6):
                mid, data = h.tagged_message("q%d-%d" % (_next[0], i), "pipelined")
                typ, resp = im.c.append("INBOX", None, None, data)
                self.assertEqual(typ, "OK", resp)
                self.mids.append(mid)
        self.relay = BatchingRelay(DC.imap_port)
        self.gw = h.Popgate(self.relay.port).start()

    def tearDown(self):
        self.gw.stop()
        self.gw.cleanup()
        self.relay.close()

    def listed(self, c):
        """The Message-IDs the session lists, in order."""
        r = c.cmd("LIST")
        self.assertTrue(r.startswith("+OK"), r)
        n = len(c.multi_lines())
        out = []
        for i in range(1, n + 1):
            self.assertTrue(c.cmd("TOP %d 0" % i).startswith("+OK"))
            head = c.multi().decode()
            out += [m for m in self.mids if "Message-ID: %s" % m in head]
        return out

    def ctx(self):
        return "\npopgate:\n" + self.gw.log_text()[-3000:]

    def test_hide_stored_behind_a_prefetch_follows_a_renumbering(self):
        c = h.Pop3(self.gw.port)
        self.assertTrue(c.login(self.user + "#office", PASSWORD).startswith("+OK"), self.ctx())
        self.assertEqual(self.listed(c), self.mids)
        c.retr(2)                        # prefetches message 3
        c.retr(3)                        # from the prefetch; prefetches 4
        # DELE and QUIT at once: the fingerprint fetch goes out while the
        # prefetch of message 4 is still unanswered
        self.assertTrue(c.cmd("DELE 5").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"), self.ctx())
        c.close()
        c = h.Pop3(self.gw.port)
        self.assertTrue(c.login(self.user + "#office", PASSWORD).startswith("+OK"), self.ctx())
        want = self.mids[:4] + self.mids[5:]
        self.assertEqual(self.listed(c), want, self.ctx())
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()

        recreate(self.user)
        c = h.Pop3(self.gw.port)
        self.assertTrue(c.login(self.user + "#office", PASSWORD).startswith("+OK"), self.ctx())
        self.assertTrue(self.gw.wait_log(r"event=remapped", 5), self.ctx())
        self.assertEqual(self.listed(c), want[1:],
                         "the DELE'd message is back after the renumbering" + self.ctx())
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()


if __name__ == "__main__":
    unittest.main()
