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
            # Dovecot's answers held a little, as a provider's across a
            # network: the listing behind the SELECT waits for the gateway's
            # Redis (the shared copy, README), which then answers first
            cls.relay = CountingRelay(cls.dc.imap_port, source=cls.RELAY_SOURCE, lag=0.01)
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
        """A wrong password evicts whatever connection was kept; and the
        listing copy shared in Redis goes, so the next login is as cold as
        a first one (the whole listing behind the SELECT)."""
        c = self.gw.pop3(timeout=30)
        self.assertTrue(c.login("alice", "wrong").startswith("-ERR [AUTH]"))
        c.close()
        h.drop_shared_listings(self.gw)

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


# ---- dialects, against a scripted server

FAKE_MSGS = [h.fake_message("c1"), h.fake_message("c2", body_lines=3),
             h.fake_message("c3", body_lines=40)]
FAKE_STAT = "+OK %d %d" % (len(FAKE_MSGS), sum(len(m) for m in FAKE_MSGS))


class Dialect(unittest.TestCase):
    """A scripted server of its own per test (and a gateway of its own:
    what the gateway learnt of a server stays with it)."""
    CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ID ENABLE IDLE"

    NAME = "Dovecot"       # what its ID says it is

    def setUp(self):
        self.fake = h.FakeImap(FAKE_MSGS, capabilities=self.CAPS).start()
        self.fake.credentials = {(b"alice", b"secret")}
        # across a network, as the relay's Dovecot (RoundTrips)
        self.fake.lag = 0.01

        def ident(server, conn, tag, cmd):
            server.send(conn, '* ID ("name" "%s")\r\n%s OK ID done\r\n' % (self.NAME, tag))
            return True
        self.fake.hooks["ID"] = ident
        self.gw = None
        try:
            self.gw = h.Popgate(self.fake.port, upstream={"timeout": "5s",
                                                          "throttle_backoff": "0"},
                                log={"level": "info"}).start()
        except BaseException:
            self.fake.stop()
            raise

    def tearDown(self):
        if self.gw is not None:
            self.gw.cleanup()
        self.fake.stop()

    def poll(self, password="secret"):
        """A login (STAT and QUIT after a +OK): (its reply, its event=login
        fields or None, the scripted server's connection, the log)."""
        n = len(self.fake.login_conns())
        # every login as cold as the first: no listing copy to start from
        h.drop_shared_listings(self.gw)
        start = self.gw.log_size()
        c = self.gw.pop3(timeout=30)
        try:
            r = c.login("alice", password)
            if r.startswith("+OK"):
                self.assertEqual(c.cmd("STAT"), FAKE_STAT)
                self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        self.assertTrue(h.wait_until(lambda: len(self.fake.login_conns()) > n, 5))
        log = self.gw.log_since(start)
        fields = login_fields(log)
        conn = self.fake.login_conns()[-1]
        self.assertEqual(conn.errors, [])
        return r, fields[0] if fields else None, conn, log

    def names(self, conn):
        return [x["name"] for x in conn.commands]

    def assert_listed_ahead(self, conn, first):
        """From the login on: first, then ENABLE, SELECT and the listing."""
        names = self.names(conn)
        i = names.index("AUTHENTICATE")
        self.assertEqual(names[i:i + len(first) + 2], first + ["SELECT", "UID FETCH"], names)


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestDialects(Dialect):
    def test_greeting_without_capabilities(self):
        self.fake.greeting = b"* OK fake IMAP ready\r\n"
        for _ in range(2):
            r, fields, conn, log = self.poll()
            self.assertTrue(r.startswith("+OK"), r + log)
            # asked before the login; the login's reply says the rest
            self.assertEqual(self.names(conn)[:2], ["CAPABILITY", "ID"])
        # the second one (its UIDLs known: nothing fetched after the
        # listing) pipelined everything behind the login
        self.assert_listed_ahead(conn, ["AUTHENTICATE"])
        self.assertEqual(int(fields["rtt_upstream"]), 3, log)

    def test_capabilities_only_after_login(self):
        post = self.CAPS + " UTF8=ACCEPT MOVE UIDPLUS"

        def auth(server, conn, tag, cmd):
            conn.logins.append(("PLAIN", b"alice", b"secret"))
            conn.authenticated = True
            server.send(conn, "%s OK logged in\r\n" % tag)
            return True

        def capability(server, conn, tag, cmd):
            caps = post if conn.authenticated else self.CAPS
            server.send(conn, "* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
            return True
        self.fake.capabilities = self.CAPS.replace(" ENABLE", "")
        self.CAPS = self.fake.capabilities
        post = self.CAPS + " ENABLE UTF8=ACCEPT MOVE UIDPLUS"
        self.fake.hooks["AUTHENTICATE"] = auth
        self.fake.hooks["CAPABILITY"] = capability
        # first: the login, then CAPABILITY, then ENABLE (ENABLE only after
        # login, UTF8=ACCEPT) with the SELECT and the listing
        r, fields, conn, log = self.poll()
        self.assertTrue(r.startswith("+OK"), r + log)
        self.assertEqual(self.names(conn)[:6],
                         ["ID", "AUTHENTICATE", "CAPABILITY", "ENABLE", "SELECT", "UID FETCH"])
        # then all of it in one flight, as that server showed
        r, fields, conn, log = self.poll()
        self.assertTrue(r.startswith("+OK"), r + log)
        self.assert_listed_ahead(conn, ["AUTHENTICATE", "CAPABILITY", "ENABLE"])
        self.assertIn(b"ENABLE UTF8=ACCEPT\r\n", bytes(conn.raw))
        self.assertEqual(int(fields["rtt_upstream"]), 2, log)

    def test_server_refusing_pipelined_commands(self):
        """BAD for whatever came in behind the login before it was
        answered: the SELECT and the listing go again alone, the login
        succeeds, and the gateway stops pipelining there."""
        def auth(server, conn, tag, cmd):
            conn.refused = {l.split(b" ", 1)[0].decode() for l in conn.buf.split(b"\r\n") if l}
            return False

        def refuse(name):
            def hook(server, conn, tag, cmd):
                if tag in getattr(conn, "refused", ()):
                    server.send(conn, "%s BAD %s not valid in this state\r\n" % (tag, name))
                    return True
                return False
            return hook
        self.fake.hooks["AUTHENTICATE"] = auth
        for name in ("ENABLE", "SELECT", "UID FETCH", "CAPABILITY"):
            self.fake.hooks[name] = refuse(name)
        r, fields, conn, log = self.poll()       # learns the server
        self.assertTrue(r.startswith("+OK"), r + log)
        self.assertFalse(getattr(conn, "refused", None), self.names(conn))
        r, fields, conn, log = self.poll()       # pipelines, is refused
        self.assertTrue(r.startswith("+OK"), r + log)
        self.assertTrue(conn.refused, self.names(conn))
        names = self.names(conn)
        self.assertEqual(names.count("SELECT"), 2, names)
        self.assertEqual(names.count("UID FETCH"), 2, names)
        self.assertIn("event=upstream_no_pipelining ", log)
        r, fields, conn, log = self.poll()       # no longer pipelines
        self.assertTrue(r.startswith("+OK"), r + log)
        self.assertFalse(conn.refused, self.names(conn))
        self.assertEqual(self.names(conn).count("SELECT"), 1)

    def test_server_losing_what_follows_the_login(self):
        """As Cyrus after AUTHENTICATE and Courier after LOGIN: whatever
        came in behind the login is gone. Only a server whose ID names one
        known to keep it gets anything behind the login: this one never."""
        self.NAME = "Cyrus IMAPD"

        def auth(server, conn, tag, cmd):
            if conn.buf:
                conn.lost = True
            conn.buf = b""
            return False
        self.fake.hooks["AUTHENTICATE"] = auth
        for _ in range(3):
            r, fields, conn, log = self.poll()
            self.assertTrue(r.startswith("+OK"), r + log)
            self.assertFalse(getattr(conn, "lost", False), self.names(conn))
        self.assertEqual(int(fields["rtt_upstream"]), 3, log)

    def test_wrong_password_with_select_answered_anyway(self):
        """This server answers the SELECT and the listing behind a refused
        login as if logged in: the answer is still a wrong password."""
        self.assertTrue(self.poll()[0].startswith("+OK"))
        r, fields, conn, log = self.poll("wrong")
        self.assertEqual(r, "-ERR [AUTH] Authentication failed")
        self.assertIsNone(fields)
        names = self.names(conn)
        self.assertEqual(names[names.index("AUTHENTICATE"):],
                         ["AUTHENTICATE", "SELECT", "UID FETCH"], names)
        self.assertIn("step=authenticate reason=auth_failed", log)

    def test_throttled_login_with_commands_behind(self):
        self.assertTrue(self.poll()[0].startswith("+OK"))

        def auth(server, conn, tag, cmd):
            conn.logins.append(("PLAIN", b"alice", b"secret"))
            server.send(conn, "%s NO [THROTTLED] slow down\r\n" % tag)
            return True
        self.fake.hooks["AUTHENTICATE"] = auth
        r, fields, conn, log = self.poll()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP] provider is throttling"), r)
        self.assertIn("step=authenticate reason=upstream_unavailable", log)
        names = self.names(conn)
        self.assertEqual(names[names.index("AUTHENTICATE"):],
                         ["AUTHENTICATE", "SELECT", "UID FETCH"], names)

    def test_quit_does_not_wait_for_logout(self):
        """Everything applied before it, the LOGOUT's answer changes
        nothing: QUIT is answered without it (a round trip less per
        poll), and the LOGOUT still goes."""
        import time

        def logout(server, conn, tag, cmd):
            time.sleep(3)
            server.send(conn, "* BYE bye\r\n%s OK logged out\r\n" % tag)
            server._close(conn)
            return True
        self.fake.hooks["LOGOUT"] = logout
        c = self.gw.pop3(timeout=30)
        try:
            self.assertTrue(c.login("alice", "secret").startswith("+OK"))
            self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
            t = time.monotonic()
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            self.assertLess(time.monotonic() - t, 1.5)
        finally:
            c.close()
        conn = self.fake.login_conns()[-1]
        self.assertTrue(h.wait_until(lambda: "LOGOUT" in self.names(conn), 5))
        # and the DELE was applied (hidden for this device) before it
        c = self.gw.pop3(timeout=30)
        try:
            self.assertTrue(c.login("alice", "secret").startswith("+OK Logged in, 2 messages"))
        finally:
            c.close()
        self.assertTrue(h.wait_until(lambda: "reason=quit" in self.gw.log_text(), 5))
        self.assertNotIn("upstream_error", self.gw.log_text())


if __name__ == "__main__":
    unittest.main()
