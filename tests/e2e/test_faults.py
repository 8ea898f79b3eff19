"""popgate against a scripted fake IMAP server: credential injection checked
on the bytes the upstream receives, upstream faults (NO, BYE, garbage, hang,
drop in the middle of a BODY[] literal, absurd literal sizes), odd but valid
responses, NUL credentials refused without contacting the upstream."""
import itertools
import poplib
import time
import unittest

import harness as h

FAKE = None
GW = None
ENVDIR = None

poplib._MAXLINE = 1 << 20

MSGS = [
    h.fake_message("f1"),
    h.fake_message("f2", body_lines=3),
    h.fake_message("f3big", size=200_000),
    h.fake_message("f4", body_lines=40),
]
DEFAULT_CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ID ENABLE IDLE"

# Commands a POP3 gateway has any business sending.
ALLOWED = {"CAPABILITY", "ID", "ENABLE", "LOGIN", "AUTHENTICATE", "SELECT", "EXAMINE",
           "UID FETCH", "FETCH", "UID STORE", "STORE", "NOOP", "CHECK", "LOGOUT", "CLOSE",
           "UNSELECT", "STATUS", "IDLE", "UID SEARCH", "SEARCH"}


def setUpModule():
    global FAKE, GW
    if h.NATIVE:
        raise unittest.SkipTest("fake-server tests need popgate")
    FAKE = h.FakeImap(MSGS).start()
    try:
        # No provider back-off: the faults of one test would hold the
        # account (alice) for the next ones (test_throttle.py has it).
        GW = h.Popgate(FAKE.port, upstream={"timeout": "2s", "throttle_backoff": "0"}).start()
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


def reset_fake():
    FAKE.reset()
    FAKE.capabilities = DEFAULT_CAPS
    FAKE.credentials = None
    FAKE.greeting = None
    FAKE.greeting_default = True
    FAKE.login_reply = None
    FAKE.select_reply = None
    FAKE.drop_body = {}
    FAKE.header_fields = True
    FAKE.hooks = {}
    FAKE.messages = [h.FakeImapMessage(i + 1, m) for i, m in enumerate(MSGS)]


DEVICE_SEQ = itertools.count(1)


class Base(unittest.TestCase):
    def setUp(self):
        reset_fake()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.assertTrue(GW.alive(), "popgate died; log tail:\n" + GW.log_text()[-3000:])

    def connect(self):
        c = GW.pop3()
        self.clients.append(c)
        c.read_greeting()
        return c

    def login(self, user=None, password="secret"):
        # A device of its own per session: DELE+QUIT in one test hides mail
        # for that device only (per-device state), never for the next test.
        if user is None:
            user = "alice#t%d" % next(DEVICE_SEQ)
        c = self.connect()
        return c, c.login(user, password)

    def session(self):
        c, r = self.login()
        self.assertTrue(r.startswith("+OK"), r)
        return c

    def commands(self):
        return [cmd for conn in FAKE.all_conns() for cmd in conn.commands]

    def errors(self):
        return [e for conn in FAKE.all_conns() for e in conn.errors]

    def logins(self):
        return [l for conn in FAKE.all_conns() for l in conn.logins]

    def assert_still_serving(self):
        reset_fake()
        c, r = self.login()
        self.assertTrue(r.startswith("+OK"), "after the fault a new session fails: %r" % r)
        self.assertTrue(c.cmd("STAT").startswith("+OK %d " % len(MSGS)))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


def _b(x):
    return x.encode("utf-8") if isinstance(x, str) else x


class InjectionMixin:
    """Log in through the gateway with hostile credentials; the fake server
    accepts exactly those credentials. The IMAP byte stream it received must
    parse into well-formed commands, with the credentials intact inside one
    LOGIN (literals / quoted strings) or AUTHENTICATE (base64), and no other
    command."""

    CAPS = DEFAULT_CAPS
    PAYLOADS = [
        ("userpass", "alice", 'pa"ss'),
        ("userpass", "alice", "back\\slash\\"),
        ("userpass", "alice", "{5}"),
        ("userpass", "alice", "x {5}"),
        ("userpass", "alice", "{5+}"),
        ("userpass", "alice", ") INJ1 LOGOUT"),
        ("userpass", "alice", '" INJ1 LOGOUT "'),
        ("userpass", 'al"ice{5}', "s"),
        ("userpass", "alice", "a b  c"),
        ("userpass", "alice", "pässwörd€"),
        ("userpass", "alice", "%*()[]\\"),
        ("plain", "alice", "{5}\r\nINJ1 LOGOUT"),
        ("plain", "alice", 'x"\r\nINJ1 LOGOUT\r\n'),
        ("plain", "alice", "x\r\nINJ1 LOGIN bob secret\r\nINJ2 NOOP"),
        ("plain", "alice\r\nINJ1 LOGOUT", "secret"),
        ("plain", 'alice"\r\nINJ1 LOGOUT\r\nINJ2 LOGIN "x', "secret"),
        ("plain", "alice", "x\ry\nz"),
        ("plain", "alice", "p w \"q\" \\ {12}"),
    ]

    def test_credentials_reach_upstream_intact(self):
        for via, user, password in self.PAYLOADS:
            with self.subTest(via=via, user=user, password=password):
                self.one(via, user, password)

    def one(self, via, user, password):
        reset_fake()
        FAKE.capabilities = self.CAPS
        FAKE.credentials = {(_b(user), _b(password))}
        c = self.connect()
        if via == "plain":
            r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(user, password))
        else:
            r = c.cmd("USER " + user)
            if r.startswith("+OK"):
                r = c.cmd("PASS " + password)
            else:
                self.assertTrue(r.startswith("-ERR"), r)
        if r.startswith("+OK"):
            self.assertTrue(c.cmd("STAT").startswith("+OK %d " % len(MSGS)))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            c.expect_closed(3)
        c.close()
        h.wait_until(lambda: all(x.closed for x in FAKE.all_conns()), 3)
        cmds = self.commands()
        dialogue = "\n".join(repr(x["text"]) for x in cmds)
        self.assertEqual(self.errors(), [], "malformed IMAP from the gateway:\n" + dialogue)
        for x in cmds:
            self.assertIn(x["name"], ALLOWED, "unexpected command %r; dialogue:\n%s"
                          % (x["text"], dialogue))
            self.assertFalse(x["tag"].upper().startswith("INJ"),
                             "injected command %r; dialogue:\n%s" % (x["text"], dialogue))
        logins = self.logins()
        if r.startswith("+OK"):
            self.assertEqual(len(logins), 1, dialogue)
            self.assertEqual(logins[0][1:], (_b(user), _b(password)), dialogue)
        else:
            self.assertTrue(r.startswith("-ERR"), r)
            self.assertEqual(logins, [], "credentials altered on the way: %r -> %r\n%s"
                             % ((user, password), logins, dialogue))
            # refusing is only acceptable for what IMAP cannot carry in a
            # quoted string, i.e. CR/LF, and only with [AUTH] or at USER
            self.assertTrue(any(ch in user + password for ch in "\r\n") or
                            (via == "userpass" and " " in user),
                            "gateway refused legitimate credentials %r/%r: %r"
                            % (user, password, r))
        names = [x["name"] for x in cmds]
        if "LOGOUT" in names:
            self.assertEqual(names.index("LOGOUT"), len(names) - 1, dialogue)


class TestInjectionSaslIr(InjectionMixin, Base):
    CAPS = "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+"


class TestInjectionPlainNoIr(InjectionMixin, Base):
    CAPS = "IMAP4rev1 AUTH=PLAIN"


class TestInjectionLoginOnly(InjectionMixin, Base):
    CAPS = "IMAP4rev1"


class TestInjectionLoginLiteralPlus(InjectionMixin, Base):
    CAPS = "IMAP4rev1 LITERAL+"


class TestNulCredentials(Base):
    def test_auth_plain_with_extra_nul(self):
        import base64
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0sec\0ret").decode())
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        time.sleep(0.3)
        self.assertEqual(self.logins(), [])
        self.assertNotIn("AUTHENTICATE", [x["name"] for x in self.commands()])
        self.assertNotIn("LOGIN", [x["name"] for x in self.commands()])

    def test_auth_plain_nul_in_user(self):
        import base64
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0al\0ice\0secret").decode())
        self.assertTrue(r.startswith("-ERR"), r)
        time.sleep(0.3)
        self.assertEqual(self.logins(), [])

    def test_pass_with_nul(self):
        c = self.connect()
        self.assertTrue(c.cmd("USER alice").startswith("+OK"))
        try:
            r = c.cmd(b"PASS sec\x00ret")
            self.assertTrue(r.startswith("-ERR"), r)
        except h.Closed:
            pass
        time.sleep(0.3)
        self.assertEqual(self.logins(), [])

    def test_empty_credentials(self):
        import base64
        for raw in (b"\0\0secret", b"\0alice\0", b"\0\0"):
            with self.subTest(raw=raw):
                c = self.connect()
                r = c.cmd("AUTH PLAIN " + base64.b64encode(raw).decode())
                self.assertTrue(r.startswith("-ERR"), r)
        time.sleep(0.3)
        self.assertEqual(self.logins(), [])


class TestUpstreamRefuses(Base):
    def test_login_no(self):
        FAKE.login_reply = "NO"
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)

    def test_login_no_unavailable(self):
        FAKE.hooks["AUTHENTICATE"] = FAKE.hooks["LOGIN"] = lambda s, conn, tag, cmd: (
            s.send(conn, "%s NO [UNAVAILABLE] backend down\r\n" % tag) or True)
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)

    def test_login_bad(self):
        FAKE.login_reply = "BAD"
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR"), r)
        self.assert_still_serving()

    def test_greeting_bye(self):
        FAKE.greeting = b"* BYE too many connections\r\n"
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)

    def test_greeting_garbage(self):
        FAKE.greeting = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)

    def test_greeting_binary_noise(self):
        FAKE.greeting = bytes(range(1, 256)) * 20 + b"\r\n"
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)

    def test_no_greeting_times_out(self):
        FAKE.greeting_default = False
        c = self.connect()
        c.settimeout(15)
        t0 = time.monotonic()
        r = c.login()
        dt = time.monotonic() - t0
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertLess(dt, 8, "upstream timeout = 2s, took %.1fs" % dt)

    def test_login_never_answered_times_out(self):
        FAKE.hooks["AUTHENTICATE"] = FAKE.hooks["LOGIN"] = lambda *a: True
        c = self.connect()
        c.settimeout(15)
        t0 = time.monotonic()
        r = c.login()
        dt = time.monotonic() - t0
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertLess(dt, 8, "upstream timeout = 2s, took %.1fs" % dt)

    def test_select_no(self):
        FAKE.select_reply = b"$TAG NO [NONEXISTENT] Mailbox doesn't exist\r\n"
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [SYS/"), r)

    def test_close_right_after_login(self):
        def hook(s, conn, tag, cmd):
            s.send(conn, "%s OK logged in\r\n" % tag)
            s._close(conn)
            raise EOFError
        FAKE.hooks["AUTHENTICATE"] = FAKE.hooks["LOGIN"] = hook
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)

    def test_garbage_listing(self):
        def hook(s, conn, tag, cmd):
            s.send(conn, "* 1 FETCH (UID one RFC822.SIZE ??? FLAGS (\r\n"
                         "\x01\x02\x03 nonsense\r\n%s OK done\r\n" % tag)
            return True
        FAKE.hooks["UID FETCH"] = FAKE.hooks["FETCH"] = hook
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR"), r)
        self.assert_still_serving()

    def test_listing_literal_absurd_size(self):
        def hook(s, conn, tag, cmd):
            s.send(conn, b"* 1 FETCH (UID 1 RFC822.SIZE 10 FLAGS () X-JUNK {99999999999999999999}\r\n"
                         b"abc)\r\n")
            s._close(conn)
            raise EOFError
        FAKE.hooks["UID FETCH"] = FAKE.hooks["FETCH"] = hook
        c, r = self.login()
        self.assertTrue(r.startswith("-ERR"), r)
        self.assert_still_serving()

    def test_unsolicited_bye_then_close_in_transaction(self):
        c = self.session()
        for conn in FAKE.all_conns():
            try:
                FAKE.send(conn, b"* BYE server shutting down\r\n")
            except OSError:
                pass
            FAKE._close(conn)
        time.sleep(0.3)
        try:
            r = c.cmd("RETR 1")
        except h.Closed:
            r = None
        if r is not None:
            self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assert_still_serving()


class TestOddButValid(Base):
    def test_noise_and_reordered_items(self):
        def listing(s, conn, tag, cmd):
            out = [b"* OK [ALERT] just so you know\r\n", b"* 4 EXISTS\r\n", b"* 0 RECENT\r\n"]
            for i, m in enumerate(s.messages):
                out.append(b"* %d FETCH (FLAGS (\\Recent) RFC822.SIZE %d UID %d)\r\n"
                           % (i + 1, len(m.data), m.uid))
                out.append(b"* OK [HIGHESTMODSEQ 5] noise between items\r\n")
            out.append(b"%s OK Fetch completed (0.001 + 0.000 secs).\r\n" % tag.encode())
            s.send(conn, b"".join(out))
            return True

        def dispatch(s, conn, tag, cmd):
            if b"1:*" in cmd["text"]:
                return listing(s, conn, tag, cmd)
            s.send(conn, b"* 2 EXISTS\r\n")       # stale, ignorable
            return False
        FAKE.hooks["UID FETCH"] = FAKE.hooks["FETCH"] = dispatch
        c = self.session()
        self.assertEqual(c.cmd("STAT").split()[1], str(len(MSGS)))
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        sizes = [int(x.split()[1]) for x in c.multi_lines()]
        self.assertEqual(sizes, [len(m) for m in MSGS])
        for i, m in enumerate(MSGS):
            self.assertEqual(c.retr(i + 1), m)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_sparse_uids_and_uidl(self):
        FAKE.messages = [h.FakeImapMessage(u, m) for u, m in zip((3, 17, 4000, 65537), MSGS)]
        FAKE.uidvalidity = 3735928559                 # 0xdeadbeef
        try:
            # Another account: for alice's the state store knows another
            # UIDVALIDITY, and a changed one is refused (test below).
            c, r = self.login(user="sparse")
            self.assertTrue(r.startswith("+OK"), r)
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            self.assertEqual(c.multi_lines(), ["1 00000003deadbeef", "2 00000011deadbeef",
                                               "3 00000fa0deadbeef", "4 00010001deadbeef"])
            self.assertEqual(c.retr(3), MSGS[2])
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            FAKE.uidvalidity = 1700000001

    def test_uidvalidity_change_without_fingerprints_fails_safe(self):
        # The mailbox was recreated upstream, but this server cannot give
        # the header fields the state is re-mapped by: the login fails with
        # a temporary error and the stored state is left as it was (old
        # hides are never applied to the new UIDs).
        c, r = self.login(user="reset#pc")
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        FAKE.uidvalidity = 1700000002
        FAKE.header_fields = False
        try:
            c, r = self.login(user="reset#pc")
            self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
            c, r = self.login(user="reset#phone")
            self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        finally:
            FAKE.uidvalidity = 1700000001
            FAKE.header_fields = True
        # back to the old mailbox: the state still belongs to it
        c, r = self.login(user="reset#pc")
        self.assertTrue(r.startswith("+OK"), r)

    def test_deleted_flag_excluded(self):
        FAKE.messages[1].flags.add("\\Deleted")
        c = self.session()
        self.assertTrue(c.cmd("STAT").startswith("+OK %d " % (len(MSGS) - 1)))
        self.assertEqual(c.retr(2), MSGS[2])
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_bare_lf_literal_normalised(self):
        raw = (b"From: x@example.org\nSubject: lf\nMessage-ID: <lf@fake>\n\nline\n.\n..x\n"
               b"last")
        FAKE.messages = [h.FakeImapMessage(1, raw)]
        c = self.session()
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        wire = c.multi_raw()
        self.assertEqual(b"".join(wire), b"From: x@example.org\r\nSubject: lf\r\n"
                         b"Message-ID: <lf@fake>\r\n\r\nline\r\n..\r\n...x\r\nlast\r\n")
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_empty_mailbox(self):
        FAKE.messages = []
        c = self.session()
        self.assertEqual(c.cmd("STAT"), "+OK 0 0")
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        self.assertEqual(c.multi_lines(), [])
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        self.assertEqual(c.multi_lines(), [])
        self.assertTrue(c.cmd("RETR 1").startswith("-ERR"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestSeenSemanticsOnTheWire(Base):
    def test_top_only_peeks_retr_marks_seen(self):
        c = self.session()
        n0 = len(self.commands())
        self.assertTrue(c.cmd("TOP 1 2").startswith("+OK"))
        c.multi()
        self.assertTrue(c.cmd("TOP 3 0").startswith("+OK"))
        c.multi()
        top_cmds = self.commands()[n0:]
        for x in top_cmds:
            t = x["text"].upper()
            self.assertNotIn(b"STORE", t, "TOP sent %r" % x["text"])
            if b"BODY[" in t:
                self.fail("TOP fetched without PEEK: %r" % x["text"])
            self.assertNotRegex(t, rb"RFC822(?![.]SIZE|[.]HEADER)",
                                "TOP fetched RFC822 (sets \\Seen): %r" % x["text"])
        self.assertFalse(any("\\Seen" in m.flags for m in FAKE.messages))
        self.assertTrue(c.cmd("RETR 2").startswith("+OK"))
        c.multi()
        self.assertIn("\\Seen", FAKE.messages[1].flags)
        self.assertNotIn("\\Seen", FAKE.messages[0].flags)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_quit_sends_no_expunge_or_deleted(self):
        c = self.session()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.expect_closed(3)
        time.sleep(0.2)
        for x in self.commands():
            t = x["text"].upper()
            self.assertNotIn(b"EXPUNGE", t)
            self.assertNotIn(b"\\DELETED", t)
            self.assertNotIn(x["name"], ("MOVE", "UID MOVE", "COPY", "UID COPY"))


class TestDropMidLiteral(Base):
    def test_poplib_raises_on_truncated_retr(self):
        FAKE.drop_body = {3: 100_000}
        p = poplib.POP3(h.HOST, GW.port, timeout=15)
        try:
            p.user("alice")
            p.pass_("secret")
            with self.assertRaises((poplib.error_proto, OSError, EOFError)):
                p.retr(3)
        finally:
            p.close()
        self.assert_still_serving()

    def test_no_terminator_after_partial_body(self):
        FAKE.drop_body = {3: 100_000}
        c = self.session()
        c.settimeout(15)
        r = c.cmd("RETR 3")
        if r.startswith("-ERR"):
            self.fail("expected the RETR to start (+OK) before the upstream broke; got %r" % r)
        self.assertTrue(r.startswith("+OK"), r)
        with self.assertRaises(h.Truncated):
            c.multi_raw()
        self.assertTrue(c.eof)

    def test_drop_right_after_literal_header(self):
        FAKE.drop_body = {2: 0}
        c = self.session()
        c.settimeout(15)
        try:
            r = c.cmd("RETR 2")
        except h.Closed:
            return
        if r.startswith("-ERR"):
            self.assertIn("[SYS/TEMP]", r)
            return
        with self.assertRaises(h.Truncated):
            c.multi_raw()

    def test_drop_during_top(self):
        FAKE.drop_body = {3: 1000}

        def hook(s, conn, tag, cmd):
            # every body fetch of message 3 breaks after 1000 octets
            if b" 3 " in cmd["text"] + b" " or cmd["text"].split()[3:4] == [b"3"]:
                m = s.messages[2]
                s.send(conn, b"* 3 FETCH (UID 3 BODY[] {%d}\r\n" % len(m.data) + m.data[:1000])
                time.sleep(0.2)
                s._close(conn)
                raise EOFError
            return False
        FAKE.hooks["UID FETCH"] = hook
        c = self.session()
        c.settimeout(15)
        try:
            r = c.cmd("TOP 3 100000")
        except h.Closed:
            return
        if r.startswith("-ERR"):
            return
        with self.assertRaises(h.Truncated):
            c.multi_raw()

    def test_huge_literal_announced(self):
        def hook(s, conn, tag, cmd):
            if b"1:*" in cmd["text"]:
                return False
            s.send(conn, b"* 1 FETCH (UID 1 BODY[] {4294967296}\r\n" + b"x" * 1000 + b"\r\n")
            time.sleep(0.3)
            s._close(conn)
            raise EOFError
        FAKE.hooks["UID FETCH"] = hook
        c = self.session()
        c.settimeout(15)
        try:
            r = c.cmd("RETR 1")
        except h.Closed:
            return
        if r.startswith("-ERR"):
            return
        with self.assertRaises(h.Truncated):
            c.multi_raw()

    def test_literal_shorter_than_announced_then_tagged_ok(self):
        # the server lies: literal announced 5000, sends 100 octets, then a
        # tagged OK inside what the gateway must treat as literal data, then
        # closes. Nothing may be delivered as a complete message.
        def hook(s, conn, tag, cmd):
            if b"1:*" in cmd["text"]:
                return False
            s.send(conn, b"* 1 FETCH (UID 1 BODY[] {5000}\r\n" + b"y" * 100 +
                   b")\r\n%s OK done\r\n" % tag.encode())
            time.sleep(0.3)
            s._close(conn)
            raise EOFError
        FAKE.hooks["UID FETCH"] = hook
        c = self.session()
        c.settimeout(15)
        try:
            r = c.cmd("RETR 1")
        except h.Closed:
            return
        if r.startswith("-ERR"):
            return
        with self.assertRaises(h.Truncated):
            c.multi_raw()


if __name__ == "__main__":
    unittest.main()


class TestHonestAnswers(Base):
    """What a client is told is what happened (the hardening review)."""

    def test_upstream_lost_while_idle(self):
        """The upstream connection ends between two commands: the next one
        says so and closes, and the DELE before it is never applied (nor
        stored as a hide without its fingerprint)."""
        user = "alice#idle%d" % next(DEVICE_SEQ)
        c, r = self.login(user=user)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        # the gateway is shared: wait for an upstream_error of this test
        seen = GW.log_text().count("event=upstream_error")
        FAKE.reset()                      # every upstream connection dropped
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                GW.log_text().count("event=upstream_error") <= seen:
            time.sleep(0.05)
        r = c.cmd("QUIT")
        self.assertTrue(r.startswith("-ERR [SYS/TEMP] Upstream connection lost"), r)
        self.assertTrue(c.expect_closed(5))
        c, r = self.login(user=user)
        self.assertIn(" %d messages" % len(MSGS), r)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_fingerprints_refused_means_nothing_hidden(self):
        user = "alice#fp%d" % next(DEVICE_SEQ)
        c, r = self.login(user=user)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        FAKE.header_fields = False
        r = c.cmd("QUIT")
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]") and "nothing was deleted" in r, r)
        FAKE.header_fields = True
        c, r = self.login(user=user)
        self.assertIn(" %d messages" % len(MSGS), r)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestTrashPartly(unittest.TestCase):
    """A trash move that fails half way: the -ERR says how many moved."""

    def test_counts_in_the_answer(self):
        n = 2400
        msgs = [h.fake_message("t%d" % i) for i in range(1, n + 1)]
        fake = h.FakeImap(msgs, capabilities="IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ "
                          "MOVE UIDPLUS").start()
        gw = None
        moves = []

        def move(server, conn, tag, cmd):
            moves.append(cmd)
            if len(moves) == 1:
                server.send(conn, "%s OK moved\r\n" % tag)
            else:
                server.send(conn, "%s NO [SERVERBUG] disk trouble\r\n" % tag)
            return True
        fake.hooks["UID MOVE"] = move
        try:
            gw = h.Popgate(fake.port, upstream={"timeout": "5s"},
                           policy={"delete_action": "trash"}).start()
            c = gw.pop3(timeout=30)
            c.read_greeting()
            self.assertTrue(c.login("alice", "secret").startswith("+OK"))
            # every other message: a UID set of single numbers, so the
            # work needs two chunks
            wanted = list(range(1, n + 1, 2))
            for i in wanted:
                self.assertTrue(c.cmd("DELE %d" % i).startswith("+OK"))
            r = c.cmd("QUIT")
            self.assertEqual(len(moves), 2, moves)
            first = moves[0]["text"].decode().split()[3]
            done = len(first.split(","))
            self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)      # SERVERBUG: not for good
            self.assertIn("%d of %d were moved to the Trash, the other %d stay" %
                          (done, len(wanted), len(wanted) - done), r)
            self.assertIn("quit_not_applied", gw.log_text())
        finally:
            if gw is not None:
                gw.cleanup()
            fake.stop()


class TestReplacedMessage(Base):
    def test_stand_in_body_is_not_served(self):
        """The message under a number changes after login (Courier serves a
        short stand-in for one another client expunged): RETR answers -ERR
        instead of sending other octets under the same number and UIDL."""
        c = self.session()
        FAKE.messages[1].data = b"Subject: gone\r\n\r\nThis message is no longer available.\r\n"
        r = c.cmd("RETR 2")
        self.assertTrue(r.startswith("-ERR") and "no longer available" in r, r)
        self.assertEqual(c.retr(1), MSGS[0])
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertIn("event=message_replaced", GW.log_text())
