"""Round trips of a login: what popgate waits for on the upstream, counted
by a relay between popgate and a real Dovecot (plaintext IMAP), and what
popgate itself logs as rtt_upstream= on its event=login line. A cold login
(a new upstream connection) and a warm one (a connection kept from the
poll before, [upstream] keep_idle) against Dovecot as it comes."""
import unittest

import harness as h
from test_listing_sync import CountingRelay


def login_fields(text):
    """The key=value fields of every event=login line in a log."""
    return [h.parse_kv(l) for l in text.splitlines() if "event=login " in l]


class RoundTrips:
    """The tests; a subclass says which Dovecot."""
    EXTRA_CONF = ""
    GATEWAY = {}

    @classmethod
    def setUpClass(cls):
        cls.dc = cls.relay = cls.gw = None
        try:
            cls.dc = h.Dovecot(extra_conf=cls.EXTRA_CONF).start()
            h.fill_mailbox(cls.dc, "alice", big_mb=0.1)
            cls.relay = CountingRelay(cls.dc.imap_port)
            up = {"keep_idle": "2m"}
            up.update(cls.GATEWAY)
            cls.gw = h.Popgate(cls.relay.port, upstream=up, log={"level": "info"}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.gw is not None:
            cls.gw.cleanup()
        if cls.relay is not None:
            cls.relay.close()
        if cls.dc is not None:
            cls.dc.stop()

    def login(self, password="secret"):
        """A login; (its reply, the POP3 client, the log it wrote, the
        round trips of each relayed connection before and after)."""
        start = self.gw.log_size()
        before = self.relay.connection_turns()
        c = self.gw.pop3(timeout=30)
        r = c.login("alice", password)
        after = self.relay.connection_turns()
        return r, c, self.gw.log_since(start), before, after

    def cold_login(self):
        # a wrong password evicts whatever connection was kept
        c = self.gw.pop3(timeout=30)
        self.assertTrue(c.login("alice", "wrong").startswith("-ERR [AUTH]"))
        c.close()
        r, c, log, before, after = self.login()
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(len(after), len(before) + 1, "not a new connection")
        return c, log, after[-1]

    def test_cold_login_round_trips_as_logged(self):
        c, log, turns = self.cold_login()
        try:
            fields = login_fields(log)
            self.assertEqual(len(fields), 1, log)
            # the relay sees the commands' bursts; the connect and the
            # greeting are one more
            self.assertEqual(int(fields[0]["rtt_upstream"]), turns + 1, log)
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        print("\n  %s: cold login %d round trips" % (type(self).__name__, turns + 1))

    def test_warm_login_round_trips_as_logged(self):
        c, _, _ = self.cold_login()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assertTrue(h.wait_until(lambda: "event=upstream_kept " in self.gw.log_text(), 10))
        r, c, log, before, after = self.login()
        try:
            self.assertTrue(r.startswith("+OK"), r)
            self.assertIn("event=upstream_reused ", log)
            self.assertEqual(len(after), len(before), "a new connection")
            fields = login_fields(log)
            self.assertEqual(len(fields), 1, log)
            moved = [a - b for a, b in zip(after, before) if a != b]
            self.assertEqual(int(fields[0]["rtt_upstream"]), sum(moved), (log, before, after))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        print("\n  %s: warm login %s round trips" % (type(self).__name__,
                                                    fields[0]["rtt_upstream"]))


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestRoundTripsDovecot(RoundTrips, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
