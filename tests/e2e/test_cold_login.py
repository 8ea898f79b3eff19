"""Round trips of a login. A cold login (a new upstream connection) sends
what the protocol lets it pipeline in one go: ID, the login (AUTHENTICATE
PLAIN with SASL-IR, or LOGIN with LITERAL+ literals), ENABLE, SELECT and
the whole listing's UID FETCH, the capabilities taken from the greeting
and the login's reply. A warm one (a connection kept from the poll
before, [upstream] keep_idle) costs the SELECT.

Counted by a relay between popgate and a real Dovecot (as it comes,
without SASL-IR, without SASL-IR and LITERAL+, with LOGINDISABLED before
STARTTLS), and against what popgate logs as rtt_upstream= on its
event=login line. A wrong password with the SELECT and the FETCH behind
it is a wrong password, never "cannot open the mailbox". Against a
scripted server: a greeting without capabilities, capabilities only
after the login, a server that refuses commands pipelined behind the
login, one that answers the SELECT behind a refused login anyway."""
import threading
import unittest

import harness as h
from test_listing_sync import CountingRelay


def login_fields(text):
    """The key=value fields of every event=login line in a log."""
    return [h.parse_kv(l) for l in text.splitlines() if "event=login " in l]


def commands(lines):
    """Command names of IMAP command lines ("p3 UID FETCH ..." -> "UID FETCH")."""
    out = []
    for l in lines:
        parts = l.split(" ")
        if len(parts) < 2 or not parts[0].startswith("p"):
            continue
        name = parts[1].upper()
        if name == "UID" and len(parts) > 2:
            name += " " + parts[2].upper()
        out.append(name)
    return out


class RoundTrips:
    """The tests; a subclass says which Dovecot and what a login costs."""
    EXTRA_CONF = ""
    SSL = False
    GATEWAY = {}
    COLD = 2               # connect + greeting, then one flight
    LOGIN_CMD = "AUTHENTICATE"
    PLAINTEXT = True       # the relay can read the commands
    RELAY_SOURCE = None

    @classmethod
    def setUpClass(cls):
        cls.dc = cls.relay = cls.gw = None
        try:
            cls.dc = h.Dovecot(extra_conf=cls.EXTRA_CONF, ssl=cls.SSL).start()
            h.fill_mailbox(cls.dc, "alice", big_mb=0.1)
            cls.relay = CountingRelay(cls.dc.imap_port, source=cls.RELAY_SOURCE)
            up = {"keep_idle": "2m"}
            if cls.SSL:
                up.update({"tls": "starttls", "verify": "yes", "ca_file": cls.dc.cert})
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

    def setUp(self):
        # what the gateway learns from the first login to a server (and
        # the UIDLs it assigns then): known before every test
        c, _, _ = self.cold_login()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()

    def login(self, password="secret"):
        """A login: (its reply, the POP3 client, the log it wrote, relay
        round trips of each connection before and after, the command
        lines it sent)."""
        start = self.gw.log_size()
        before = self.relay.connection_turns()
        snap = self.relay.snapshot()
        c = self.gw.pop3(timeout=30)
        r = c.login("alice", password)
        after = self.relay.connection_turns()
        return r, c, self.gw.log_since(start), before, after, self.relay.since(snap)[2]

    def evict(self):
        """A wrong password evicts whatever connection was kept."""
        c = self.gw.pop3(timeout=30)
        self.assertTrue(c.login("alice", "wrong").startswith("-ERR [AUTH]"))
        c.close()

    def cold_login(self):
        self.evict()
        r, c, log, before, after, lines = self.login()
        self.assertTrue(r.startswith("+OK"), r + "\n" + log[-3000:])
        self.assertEqual(len(after), len(before) + 1, "not a new connection")
        return c, log, (after[-1], lines)

    def expected_stat(self):
        with self.dc.imap() as im:
            sizes = [sz for u, fl, sz in im.messages() if "\\Deleted" not in fl]
        return "+OK %d %d" % (len(sizes), sum(sizes))

    def test_cold_login_in_one_flight(self):
        c, log, (turns, lines) = self.cold_login()
        try:
            fields = login_fields(log)
            self.assertEqual(len(fields), 1, log)
            self.assertEqual(int(fields[0]["rtt_upstream"]), self.COLD, log)
            # the relay sees the commands' bursts; the connect and the
            # greeting are one more
            self.assertEqual(turns + 1, self.COLD, lines)
            self.assertIn("ahead=yes", log)
            if self.PLAINTEXT:
                cmds = commands(lines)
                self.assertIn(self.LOGIN_CMD, cmds, lines)
                self.assertEqual(cmds[cmds.index(self.LOGIN_CMD) + 1:],
                                 ["ENABLE", "SELECT", "UID FETCH"], lines)
            self.assertEqual(c.cmd("STAT"), self.expected_stat())
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        print("\n  %s: cold login %d round trips" % (type(self).__name__, self.COLD))

    def test_warm_login_costs_the_select(self):
        c, _, _ = self.cold_login()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assertTrue(h.wait_until(lambda: "event=upstream_kept " in self.gw.log_text(), 10))
        r, c, log, before, after, lines = self.login()
        try:
            self.assertTrue(r.startswith("+OK"), r)
            self.assertIn("event=upstream_reused ", log)
            self.assertEqual(len(after), len(before), "a new connection")
            fields = login_fields(log)
            self.assertEqual(len(fields), 1, log)
            moved = [a - b for a, b in zip(after, before) if a != b]
            self.assertEqual(int(fields[0]["rtt_upstream"]), sum(moved), (log, before, after))
            self.assertEqual(int(fields[0]["rtt_upstream"]), 1, log)
            if self.PLAINTEXT:
                self.assertEqual(commands(lines), ["SELECT"], lines)
            self.assertEqual(c.cmd("STAT"), self.expected_stat())
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()

    def test_wrong_password_with_the_select_behind_it(self):
        self.evict()
        r, c, log, before, after, lines = self.login("wrong")
        c.close()
        self.assertEqual(r, "-ERR [AUTH] Authentication failed")
        self.assertIn("step=authenticate reason=auth_failed", log)
        self.assertNotIn("select_failed", log)
        if self.PLAINTEXT:
            # the SELECT and the listing did go behind the login
            cmds = commands(lines)
            self.assertEqual(cmds[cmds.index(self.LOGIN_CMD) + 1:],
                             ["ENABLE", "SELECT", "UID FETCH"], lines)
        # and the right password still works
        c, _, _ = self.cold_login()
        self.assertEqual(c.cmd("STAT"), self.expected_stat())
        c.close()


NO_SASL_IR = ("IMAP4rev1 LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND "
              "UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 LITERAL+ MOVE "
              "SPECIAL-USE CONDSTORE QRESYNC")


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestRoundTripsDovecot(RoundTrips, unittest.TestCase):
    pass


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestRoundTripsWithoutSaslIr(RoundTrips, unittest.TestCase):
    """AUTH=PLAIN without SASL-IR would wait for a "+": LOGIN with
    non-synchronising literals is one line."""
    EXTRA_CONF = "imap_capability = %s\n" % NO_SASL_IR
    LOGIN_CMD = "LOGIN"


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestRoundTripsWithoutSaslIrOrLiteralPlus(RoundTrips, unittest.TestCase):
    """Neither: AUTHENTICATE PLAIN, then the response after the "+", with
    everything else right behind it."""
    EXTRA_CONF = "imap_capability = %s\n" % NO_SASL_IR.replace(" LITERAL+", "")
    COLD = 3


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestRoundTripsStarttlsLoginDisabled(RoundTrips, unittest.TestCase):
    """LOGINDISABLED (and no AUTH=) before STARTTLS: STARTTLS, the TLS
    handshake, CAPABILITY again (RFC 3501: nothing said in plaintext
    counts), then the login's flight."""
    SSL = True
    EXTRA_CONF = "disable_plaintext_auth = yes\n"
    COLD = 5
    PLAINTEXT = False
    # Dovecot takes a client from its own address for a secure one
    RELAY_SOURCE = "127.0.0.3"

    def test_logindisabled_before_starttls(self):
        import socket
        s = socket.create_connection((h.HOST, self.relay.port), timeout=10)
        try:
            greeting = s.recv(4096).decode()
        finally:
            s.close()
        self.assertIn("LOGINDISABLED", greeting)
        self.assertIn("STARTTLS", greeting)

    def test_cold_login_in_one_flight(self):
        c, log, (turns, lines) = self.cold_login()
        try:
            fields = login_fields(log)
            self.assertEqual(int(fields[0]["rtt_upstream"]), self.COLD, log)
            self.assertIn("ahead=yes", log)
            self.assertEqual(c.cmd("STAT"), self.expected_stat())
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        self.assertTrue(h.wait_until(lambda: "upstream_tls=TLS" in self.gw.log_text(), 10))


if __name__ == "__main__":
    unittest.main()
