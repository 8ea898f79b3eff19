"""IMAP extensions popgate uses when the upstream offers them: ID (RFC 2971)
carrying the POP3 client's address, pipelined before the login; LOGIN with
non-synchronising literals under LITERAL+ / LITERAL- (RFC 7888); post-login
capabilities; ENABLE UTF8=ACCEPT (RFC 5161, RFC 6855). Exact bytes against
the scripted fake server; the address Dovecot logs for the login."""
import re
import socket
import subprocess
import unittest

import harness as h

NONLOCAL = "127.0.0.2"
FAKE = None
GW = None

UTF8_MSG = ("From: J\u00f6rg <j\u00f6rg@b\u00fccher.example>\r\n"
            "To: \u00e5sa@example.org\r\n"
            "Subject: Gr\u00fc\u00dfe \u20ac \U0001F600\r\n"
            "Message-ID: <utf8@fake>\r\n"
            "\r\n"
            "K\u00f6rper \u00fc\r\n").encode("utf-8")
MSGS = [h.fake_message("e1"), UTF8_MSG]
BASE_CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ID ENABLE IDLE"


class Fake(h.FakeImap):
    """The harness's fake server, also knowing LITERAL- (RFC 7888: "{n+}" up
    to 4096 octets), and optionally adding an unknown FETCH item holding
    UTF-8 in a quoted string to every FETCH response (utf8_fetch_item)."""

    utf8_fetch_item = None

    def read_command(self, c):
        start = len(c.errors)
        segs = super().read_command(c)
        if "LITERAL-" in self.capabilities.upper().split():
            c.errors[start:] = [e for e in c.errors[start:]
                                if not e.startswith("non-synchronizing literal without")]
        return segs

    def send(self, c, data):
        if isinstance(data, str):
            data = data.encode()
        if self.utf8_fetch_item is not None:
            data = re.sub(rb"(?m)^(\* \d+ FETCH \()", lambda m: m.group(1) + self.utf8_fetch_item
                          + b" ", data)
        super().send(c, data)


def setUpModule():
    global FAKE, GW
    if h.NATIVE:
        raise unittest.SkipTest("popgate's upstream protocol")
    FAKE = Fake(MSGS).start()
    try:
        GW = h.Popgate(FAKE.port, upstream={"timeout": "2s"}).start()
    except BaseException:
        FAKE.stop()
        raise


def tearDownModule():
    global FAKE, GW
    if GW is not None:
        GW.cleanup()
        GW = None
    if FAKE is not None:
        FAKE.stop()
        FAKE = None


def popgate_version():
    out = subprocess.run([h.binary_path(), "--version"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    return out[1]


class Base(unittest.TestCase):
    CAPS = BASE_CAPS

    def setUp(self):
        FAKE.reset()
        FAKE.capabilities = self.CAPS
        FAKE.credentials = None
        FAKE.login_reply = None
        FAKE.select_reply = None
        FAKE.hooks = {}
        FAKE.utf8_fetch_item = None
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.assertTrue(GW.alive(), "popgate died; log tail:\n" + GW.log_text()[-3000:])

    def connect(self, source=None):
        c = GW.pop3(source=source)
        self.clients.append(c)
        c.read_greeting()
        return c

    def session(self, user="alice", password="secret", source=None):
        c = self.connect(source)
        r = c.login(user, password)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("STAT").startswith("+OK %d " % len(MSGS)))
        return c

    def quit(self, c):
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.expect_closed(3)
        h.wait_until(lambda: all(x.closed for x in FAKE.all_conns()), 3)

    def conn(self):
        conns = FAKE.all_conns()
        self.assertEqual(len(conns), 1)
        self.assertEqual(conns[0].errors, [], "malformed IMAP from the gateway:\n%r"
                         % bytes(conns[0].raw))
        return conns[0]

    def names(self, conn):
        return [x["name"] for x in conn.commands]


class TestId(Base):
    def test_exact_id_then_login(self):
        c = self.session(source=NONLOCAL)
        cport = c.sock.getsockname()[1]
        self.quit(c)
        m = GW.wait_log(r"session=(\S+) event=session_end .*client=%s:%d\b"
                        % (re.escape(NONLOCAL), cport))
        self.assertIsNotNone(m, GW.log_text()[-2000:])
        want = (b'p1 ID ("name" "popgate" "version" "%s" "x-originating-ip" "%s" '
                b'"x-originating-port" "%d" "x-connected-ip" "%s" "x-connected-port" "%d" '
                b'"x-session-ext-id" "%s")\r\n'
                b"p2 AUTHENTICATE PLAIN %s\r\n"
                % (popgate_version().encode(), NONLOCAL.encode(), cport, h.HOST.encode(),
                   GW.port, m.group(1).encode(), h.auth_plain_b64("alice", "secret").encode()))
        conn = self.conn()
        self.assertEqual(bytes(conn.raw[:len(want)]), want)
        self.assertEqual(self.names(conn)[:3], ["ID", "AUTHENTICATE", "SELECT"])

    def test_login_pipelined_behind_id(self):
        """The login is on the wire before the ID reply; an ID refused with
        NO, then with BAD, fails nothing."""
        seen = []

        def id_hook(reply):
            def hook(server, conn, tag, cmd):
                conn.sock.settimeout(1.5)
                try:
                    line = server.readline(conn)
                except (socket.timeout, TimeoutError):
                    line = None
                conn.sock.settimeout(30)
                seen.append(line)
                server.send(conn, "* ID NIL\r\n%s %s not today\r\n" % (tag, reply))
                if line is not None:
                    conn.buf = line + b"\r\n" + conn.buf
                return True
            return hook

        for reply in ("NO", "BAD"):
            with self.subTest(reply=reply):
                FAKE.reset()
                del seen[:]
                FAKE.hooks["ID"] = id_hook(reply)
                c = self.session()
                self.quit(c)
                self.assertEqual(len(seen), 1)
                self.assertIsNotNone(seen[0], "the login waited for the ID reply")
                self.assertTrue(seen[0].startswith(b"p2 AUTHENTICATE PLAIN "), seen[0])

    def test_id_reply_with_literal(self):
        def hook(server, conn, tag, cmd):
            server.send(conn, b'* ID ("name" {7}\r\nDovecot "x" "\xc3\xbc")\r\n'
                              b"%s OK ID done\r\n" % tag.encode())
            return True
        FAKE.hooks["ID"] = hook
        self.quit(self.session())
        self.assertEqual(self.names(self.conn())[:2], ["ID", "AUTHENTICATE"])

    def test_no_id_without_capability(self):
        FAKE.capabilities = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ENABLE IDLE"
        self.quit(self.session(source=NONLOCAL))
        conn = self.conn()
        self.assertNotIn("ID", self.names(conn))
        self.assertNotIn(b"x-originating", bytes(conn.raw))
        self.assertTrue(bytes(conn.raw).startswith(b"p1 AUTHENTICATE PLAIN "), bytes(conn.raw))


class TestLiterals(Base):
    def login_bytes(self, caps):
        FAKE.reset()
        FAKE.capabilities = caps
        self.quit(self.session())
        conn = self.conn()
        self.assertEqual(conn.logins, [("LOGIN", b"alice", b"secret")])
        raw = bytes(conn.raw)
        return raw[raw.index(b"p2 LOGIN"):]

    def test_literal_plus_one_round_trip(self):
        # A wait for "+" would hang the fake server (it sends none for
        # "{n+}") into the 2 s upstream timeout.
        for caps in ("IMAP4rev1 LITERAL+ ID", "IMAP4rev1 LITERAL- ID",
                     "IMAP4rev1 LITERAL+ LITERAL- ID"):
            with self.subTest(caps=caps):
                raw = self.login_bytes(caps)
                self.assertTrue(raw.startswith(b"p2 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n"),
                                raw[:80])

    def test_synchronising_without_extension(self):
        raw = self.login_bytes("IMAP4rev1 ID")
        self.assertTrue(raw.startswith(b"p2 LOGIN {5}\r\nalice {6}\r\nsecret\r\n"), raw[:80])
        self.assertNotIn(b"+}", raw)


class TestPostLoginCapabilities(Base):
    CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR ID"
    POST = "IMAP4rev1 ID ENABLE UTF8=ACCEPT MOVE UIDPLUS"

    def script(self, ok_line, untagged=b""):
        """AUTHENTICATE answered by the given tagged line (its "%s" the tag);
        CAPABILITY says POST once logged in. Each test's server greets
        with words of its own: the gateway's guess from an earlier login
        to "the same" server (test_cold_login.py) does not apply."""
        FAKE.capabilities = self.CAPS + " X-CASE-" + self._testMethodName.upper()

        def auth(server, conn, tag, cmd):
            conn.logins.append(("PLAIN", b"alice", b"secret"))
            conn.authenticated = True
            server.send(conn, untagged + ok_line % tag.encode())
            return True

        def capability(server, conn, tag, cmd):
            caps = self.POST if conn.authenticated else FAKE.capabilities
            server.send(conn, "* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
            return True
        FAKE.hooks["AUTHENTICATE"] = auth
        FAKE.hooks["CAPABILITY"] = capability

    def test_asks_when_login_reply_has_none(self):
        self.script(b"%s OK logged in\r\n")
        self.quit(self.session())
        conn = self.conn()
        self.assertEqual(self.names(conn)[:5],
                         ["ID", "AUTHENTICATE", "CAPABILITY", "ENABLE", "SELECT"])

    def test_code_in_login_reply(self):
        self.script(b"%s OK [CAPABILITY " + self.POST.encode() + b"] logged in\r\n")
        self.quit(self.session())
        self.assertEqual(self.names(self.conn())[:4], ["ID", "AUTHENTICATE", "ENABLE", "SELECT"])

    def test_untagged_during_login(self):
        self.script(b"%s OK logged in\r\n",
                    untagged=b"* CAPABILITY " + self.POST.encode() + b"\r\n")
        self.quit(self.session())
        self.assertEqual(self.names(self.conn())[:4], ["ID", "AUTHENTICATE", "ENABLE", "SELECT"])

    def test_post_login_caps_without_enable(self):
        self.POST = "IMAP4rev1 UTF8=ACCEPT"
        self.script(b"%s OK logged in\r\n")
        self.quit(self.session())
        self.assertEqual(self.names(self.conn())[:4],
                         ["ID", "AUTHENTICATE", "CAPABILITY", "SELECT"])

    def test_capability_refused_after_login(self):
        def capability(server, conn, tag, cmd):
            server.send(conn, "%s BAD not now\r\n" % tag)
            return True
        self.script(b"%s OK logged in\r\n")
        FAKE.hooks["CAPABILITY"] = capability
        self.quit(self.session())
        self.assertEqual(self.names(self.conn())[:4],
                         ["ID", "AUTHENTICATE", "CAPABILITY", "SELECT"])


class TestEnable(Base):
    def test_sent_when_both_offered(self):
        FAKE.capabilities = "IMAP4rev1 AUTH=PLAIN SASL-IR ID ENABLE UTF8=ACCEPT"
        self.quit(self.session())
        conn = self.conn()
        self.assertEqual(self.names(conn)[:4], ["ID", "AUTHENTICATE", "ENABLE", "SELECT"])
        self.assertIn(b"\r\np3 ENABLE UTF8=ACCEPT\r\np4 SELECT ", bytes(conn.raw))

    def test_utf8_only_implies_accept(self):
        FAKE.capabilities = "IMAP4rev1 AUTH=PLAIN ENABLE UTF8=ONLY"
        self.quit(self.session())
        self.assertEqual(self.names(self.conn())[:3], ["AUTHENTICATE", "ENABLE", "SELECT"])

    def test_not_sent_unless_both(self):
        for caps in ("IMAP4rev1 AUTH=PLAIN ID ENABLE", "IMAP4rev1 AUTH=PLAIN ID UTF8=ACCEPT"):
            with self.subTest(caps=caps):
                FAKE.reset()
                FAKE.capabilities = caps
                self.quit(self.session())
                self.assertNotIn("ENABLE", self.names(self.conn()))

    def test_failure_is_harmless(self):
        FAKE.capabilities = "IMAP4rev1 AUTH=PLAIN ENABLE UTF8=ACCEPT"
        for reply in ("NO [CANNOT] no", "BAD what", "OK but nothing enabled"):
            with self.subTest(reply=reply):
                FAKE.reset()
                FAKE.hooks["ENABLE"] = lambda s, conn, tag, cmd, r=reply: (
                    s.send(conn, "%s %s\r\n" % (tag, r)) or True)
                c = self.session()
                self.assertEqual(c.retr(1), h.expected_retr(MSGS[0]))
                self.quit(c)
                self.assertIn("ENABLE", self.names(self.conn()))

    def test_utf8_responses_and_stored_bytes(self):
        """After ENABLE UTF8=ACCEPT the server may put UTF-8 in quoted
        strings; RETR still gives the stored octets unchanged."""
        FAKE.capabilities = "IMAP4rev1 AUTH=PLAIN ENABLE UTF8=ACCEPT"

        def enable(server, conn, tag, cmd):
            server.send(conn, "* ENABLED UTF8=ACCEPT\r\n%s OK enabled\r\n" % tag)
            return True
        FAKE.hooks["ENABLE"] = enable
        FAKE.utf8_fetch_item = 'X-UTF8 "Gr\u00fc\u00dfe \\"\u20ac\\" \U0001F600"'.encode()
        c = self.session()
        self.assertTrue(c.cmd("LIST 2").startswith("+OK 2 %d" % len(UTF8_MSG)))
        self.assertEqual(c.retr(2), h.expected_retr(UTF8_MSG))
        self.quit(c)


class TestDovecotSeesClient(unittest.TestCase):
    """Dovecot believes x-originating-ip only from login_trusted_networks;
    with the gateway trusted, it logs the POP3 client's address."""

    @classmethod
    def setUpClass(cls):
        if h.NATIVE:
            raise unittest.SkipTest("popgate's upstream protocol")
        cls.dc = h.Dovecot(extra_conf="login_trusted_networks = 127.0.0.0/8\n").start()
        try:
            cls.gw = h.Popgate(cls.dc.imap_port).start()
        except BaseException:
            cls.dc.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.dc.stop()

    def test_rip_is_the_pop3_client(self):
        with self.gw.pop3(source=NONLOCAL) as c:
            c.read_greeting()
            r = c.login("alice", "secret")
            self.assertTrue(r.startswith("+OK"), r)
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertTrue(h.wait_until(lambda: "user=<alice>" in self.dc.log_text(), 5))
        m = self.gw.wait_log(r"session=(\S+) event=session_end .*client=%s:"
                             % re.escape(NONLOCAL))
        self.assertIsNotNone(m, self.gw.log_text()[-2000:])
        logins = re.findall(r"imap-login: (?:Info: )?Login: user=<alice>.*", self.dc.log_text())
        self.assertEqual(len(logins), 1, self.dc.log_text()[-2000:])
        self.assertIn(" rip=%s," % NONLOCAL, logins[0])
        self.assertIn(" lip=%s," % h.HOST, logins[0])
        # x-session-ext-id: one id for the session in both logs
        self.assertIn(" session=<%s>" % m.group(1), logins[0])


if __name__ == "__main__":
    unittest.main()
