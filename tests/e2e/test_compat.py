"""popgate in front of the other IMAP servers a compatibility run found bugs
with: Cyrus IMAP 3.6 and Courier-IMAP 5.0, real instances unpacked from
their Debian packages (compat.py, debroot.py) with private configs on
127.0.0.1. Both use the personal namespace "INBOX." (Trash is INBOX.Trash).

For each server: login, STAT/LIST/UIDL, RETR of every message byte-identical
to what was appended (CRLF, dot-stuffing on the wire), TOP n 0 and n 3; DELE
and QUIT with delete_action = hide (hidden for that device only) and trash
(moved into the server's Trash, found through SPECIAL-USE or NAMESPACE); a
message whose last line ends in a lone CR; a message expunged by an IMAP
client in the middle of a POP3 session.

Mail is put in with IMAP APPEND, so the servers index it themselves (and,
for Courier, with its own delivery agent where APPEND would change the
bytes). Each test that changes a mailbox has one of its own."""
import re
import unittest

import compat
import harness as h

PASSWORD = "secret"
USERS = {u: PASSWORD for u in ("alice", "bob", "carol", "dave", "erin", "frank", "gina",
                                "hugo")}

# the messages of harness.build_messages() that go in by APPEND (CRLF):
# plain, dots, multipart, 8-bit (UTF-8 and Latin-1, in headers too),
# binary-ish, a 6000-octet line, an empty body
APPENDED = [(n, d) for n, k, d in h.build_messages(big_mb=0) if k == "append"]


def stuffed(data):
    """The octets of a multi-line response's body on the wire (RFC 1939
    3: a line starting with "." gets one more)."""
    return re.sub(rb"(?m)^\.", b"..", data)


def fill(srv, user, msgs=APPENDED):
    """APPEND msgs to user's INBOX, in order: POP3 message n is msgs[n-1]."""
    with srv.imap(user) as im:
        for _, data in msgs:
            im.append(data)


class Snap:
    """A mailbox as IMAP sees it: {uid: Message-ID}, {uid: BODY[]}, flags."""

    def __init__(self, srv, user, mailbox="INBOX"):
        with srv.imap(user) as im:
            if mailbox != "INBOX":
                typ, data = im.c.select('"%s"' % mailbox)
                if typ != "OK":
                    raise AssertionError("SELECT %s: %r" % (mailbox, data))
            self.uv = im.uidvalidity() if mailbox == "INBOX" else None
            self.msgs = im.messages()
            self.uids = [u for u, _, _ in self.msgs]
            self.flags = {u: fl for u, fl, _ in self.msgs}
            self.mids = im.message_ids() if self.msgs else {}
            self.bodies = {u: im.body(u) for u in self.uids}
            typ, self.mailboxes = im.c.list()

    def mailbox_names(self):
        out = []
        for line in self.mailboxes:
            m = re.search(rb'\) "[^"]*" (.*)$', line or b"")
            if m:
                out.append(m.group(1).strip(b'"').decode())
        return out


class CompatMixin:
    """The tests; a subclass per server sets SERVER and starts it."""

    SERVER = None
    srv = gw = gw_trash = None

    @classmethod
    def setUpClass(cls):
        if h.NATIVE:
            raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
        try:
            cls.srv = cls.SERVER(users=USERS).start()
        except compat.Unavailable as e:
            raise unittest.SkipTest("%s cannot run unpacked: %s" % (cls.SERVER.name, e))
        try:
            cls.gw = h.Popgate(cls.srv.imap_port).start()
            cls.gw_trash = h.Popgate(cls.srv.imap_port, policy={"delete_action": "trash"}).start()
            fill(cls.srv, "alice")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for g in (cls.gw_trash, cls.gw):
            if g is not None:
                g.cleanup()
        cls.gw = cls.gw_trash = None
        if cls.srv is not None:
            cls.srv.stop()
            cls.srv = None

    # -- helpers
    def ctx(self, gw=None):
        return "\n--- %s log (tail):\n%s\n--- popgate log (tail):\n%s" % (
            self.srv.name, self.srv.log_text()[-1500:], (gw or self.gw).log_text()[-1500:])

    def login(self, user, gw=None):
        c = (gw or self.gw).pop3()
        r = c.login(user, PASSWORD)
        self.assertTrue(r.startswith("+OK"), "login %s: %s%s" % (user, r, self.ctx(gw)))
        return c

    def quit(self, c, gw=None):
        try:
            r = c.cmd("QUIT")
            self.assertTrue(r.startswith("+OK"), "QUIT: %s%s" % (r, self.ctx(gw)))
        finally:
            c.close()

    def uidls(self, c):
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        return [l.split()[1] for l in c.multi_lines()]

    def retr_raw(self, c, n):
        r = c.cmd("RETR %d" % n)
        self.assertTrue(r.startswith("+OK"), "RETR %d: %s%s" % (n, r, self.ctx()))
        return b"".join(c.multi_raw())

    # -- listing and reading
    def test_stat_list_uidl(self):
        s = Snap(self.srv, "alice")
        self.assertEqual(len(s.uids), len(APPENDED), "the server lost an APPEND")
        sizes = [len(h.expected_retr(d)) for _, d in APPENDED]
        c = self.login("alice")
        try:
            self.assertEqual(c.cmd("STAT"), "+OK %d %d" % (len(sizes), sum(sizes)))
            self.assertTrue(c.cmd("LIST").startswith("+OK"))
            self.assertEqual(c.multi_lines(), ["%d %d" % (i + 1, n) for i, n in enumerate(sizes)])
            self.assertEqual(c.cmd("LIST 2"), "+OK 2 %d" % sizes[1])
            self.assertEqual(self.uidls(c), ["%08x%08x" % (u, s.uv) for u in s.uids])
            self.assertEqual(c.cmd("UIDL 3"), "+OK 3 %08x%08x" % (s.uids[2], s.uv))
        finally:
            self.quit(c)

    def test_retr_every_message_byte_identical(self):
        c = self.login("alice")
        try:
            for n, (name, data) in enumerate(APPENDED, 1):
                with self.subTest(msg=n, name=name):
                    want = h.expected_retr(data)
                    self.assertEqual(want, data, "the test message is CRLF already")
                    self.assertEqual(self.retr_raw(c, n), stuffed(want),
                                     "RETR %d (%s) on the wire" % (n, name))
                    self.assertEqual(c.cmd("LIST %d" % n), "+OK %d %d" % (n, len(want)))
        finally:
            self.quit(c)

    def test_top_0_and_3(self):
        c = self.login("alice")
        try:
            for n, (name, data) in enumerate(APPENDED, 1):
                for lines in (0, 3):
                    with self.subTest(msg=n, name=name, lines=lines):
                        r = c.cmd("TOP %d %d" % (n, lines))
                        self.assertTrue(r.startswith("+OK"), r)
                        self.assertEqual(b"".join(c.multi_raw()),
                                         stuffed(h.expected_top(data, lines)))
        finally:
            self.quit(c)

    def test_top_does_not_set_seen(self):
        fill(self.srv, "hugo", APPENDED[:2])
        c = self.login("hugo")
        try:
            for n in (1, 2):
                self.assertTrue(c.cmd("TOP %d 3" % n).startswith("+OK"))
                c.multi_raw()
        finally:
            self.quit(c)
        s = Snap(self.srv, "hugo")
        self.assertFalse(any("\\Seen" in fl for fl in s.flags.values()), s.flags)

    # -- DELE and QUIT
    def test_dele_quit_hide_for_that_device_only(self):
        fill(self.srv, "bob", APPENDED[:4])
        s = Snap(self.srv, "bob")
        c = self.login("bob#pc")
        try:
            self.assertEqual(c.cmd("TOP 1 0")[:3], "+OK")
            c.multi_raw()
            self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
            self.assertTrue(c.cmd("DELE 3").startswith("+OK"))
        finally:
            self.quit(c)
        after = Snap(self.srv, "bob")
        self.assertEqual(after.uids, s.uids, "hide changed the mailbox upstream")
        self.assertFalse(any("\\Deleted" in fl or "\\Seen" in fl for fl in after.flags.values()),
                         after.flags)
        all_uidls = ["%08x%08x" % (u, s.uv) for u in s.uids]
        c = self.login("bob#pc")
        try:
            self.assertEqual(self.uidls(c), [all_uidls[1], all_uidls[3]])
            self.assertEqual(self.retr_raw(c, 1), stuffed(APPENDED[1][1]))
        finally:
            self.quit(c)
        c = self.login("bob#phone")
        try:
            self.assertEqual(self.uidls(c), all_uidls, "another device lost mail")
        finally:
            self.quit(c)

    def _trash_dele(self, user, trash, create=None, special_use=False):
        """DELE messages 2 and 3 of user through the trash gateway; they
        must be in the mailbox named trash afterwards, and only there.
        create: a mailbox an IMAP client creates first (marked \\Trash with
        special_use, RFC 6154 CREATE-SPECIAL-USE)."""
        fill(self.srv, user, APPENDED[:4])
        if create:
            with self.srv.imap(user) as im:
                args = ['"%s"' % create] + (["(USE (\\Trash))"] if special_use else [])
                typ, data = im.c._simple_command("CREATE", *args)
                self.assertEqual(typ, "OK", data)
        s = Snap(self.srv, user)
        gone = {s.mids[u] for u in s.uids[1:3]}
        c = self.login(user + "#pc", self.gw_trash)
        try:
            self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
            self.assertTrue(c.cmd("DELE 3").startswith("+OK"))
        finally:
            self.quit(c, self.gw_trash)
        after = Snap(self.srv, user)
        self.assertIn(trash, after.mailbox_names(), "no %s: %r%s" % (
            trash, after.mailboxes, self.ctx(self.gw_trash)))
        self.assertFalse(gone & set(after.mids.values()),
                         "deleted mail still in the INBOX%s" % self.ctx(self.gw_trash))
        self.assertEqual(after.uids, [s.uids[0], s.uids[3]])
        t = Snap(self.srv, user, trash)
        self.assertEqual(sorted(t.mids.values()), sorted(gone), "%s holds the deleted mail" % trash)
        self.assertEqual(sorted(t.bodies.values()), sorted(s.bodies[u] for u in s.uids[1:3]))
        others = [n for n in after.mailbox_names() if n not in ("INBOX", trash)]
        for n in others:
            self.assertFalse(set(Snap(self.srv, user, n).mids.values()) & gone,
                             "deleted mail went to %s too" % n)
        c = self.login(user + "#phone", self.gw_trash)
        try:
            self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "2"])
        finally:
            self.quit(c, self.gw_trash)
        return after

    def test_dele_quit_trash_goes_to_the_servers_trash(self):
        # Cyrus made INBOX.Trash at the first login (no special-use flag);
        # a fresh Courier Maildir has none, and Courier has no SPECIAL-USE:
        # popgate finds the "INBOX." prefix by NAMESPACE (creating the
        # folder on [TRYCREATE]), never a top-level "Trash"
        after = self._trash_dele("carol", "INBOX.Trash")
        self.assertNotIn("Trash", after.mailbox_names())

    # -- odd messages
    def test_lone_cr_at_the_end(self):
        data = (b"From: a@example.org\r\nSubject: lone CR\r\nMessage-ID: <lonecr@popgate.test>\r\n"
                b"\r\nfirst line\r\n.dot line\r\nlast line\r")
        fill(self.srv, "erin", [("lonecr", data)])
        msgs = [data]
        deliver = getattr(self.srv, "deliver", None)
        if deliver is not None:
            # APPEND turns the lone CR into CRLF (both servers). Courier's
            # own delivery agent stores what it is given (LF line ends, the
            # CR last); Courier then serves it without the CR, so popgate
            # gets a message without a final line end
            lf = (b"From: a@example.org\nSubject: lone CR, delivered\n"
                  b"Message-ID: <lonecr2@popgate.test>\n\nfirst line\n.dot line\nlast line\r")
            deliver("erin", lf)
            msgs.append(lf)
        s = Snap(self.srv, "erin")
        self.assertEqual(len(s.uids), len(msgs))
        c = self.login("erin")
        try:
            for n, uid in enumerate(s.uids, 1):
                with self.subTest(msg=n, imap_end=s.bodies[uid][-12:]):
                    raw = self.retr_raw(c, n)
                    self.assertNotIn(b"\r\r\n", raw)
                    self.assertTrue(raw.endswith(b"\r\nlast line\r\n"), raw[-30:])
                    self.assertEqual(raw.count(b"\r"), raw.count(b"\n"), "only CRLF line ends")
                    self.assertIn(b"\r\n..dot line\r\n", raw)
                    # LIST does not count the CRLF added to a message that
                    # comes without a final line end (README, "How it behaves")
                    octets = len(re.sub(rb"(?m)^\.", b"", raw))
                    size = int(c.cmd("LIST %d" % n).split()[2])
                    self.assertEqual(size, octets - (0 if s.bodies[uid].endswith(b"\n") else 2))
                    r = c.cmd("TOP %d 3" % n)
                    self.assertTrue(r.startswith("+OK"), r)
                    top = b"".join(c.multi_raw())
                    self.assertNotIn(b"\r\r\n", top)
                    self.assertTrue(top.endswith(b"\r\nlast line\r\n"), top[-30:])
        finally:
            self.quit(c)

    def _expunge_second(self, user):
        """A POP3 session on 4 messages of user; then an IMAP client
        expunges message 2. Returns the open POP3 session."""
        fill(self.srv, user, APPENDED[:4])
        s = Snap(self.srv, user)
        c = self.login(user + "#pc")
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "4"])
        with self.srv.imap(user) as im:
            im.store(s.uids[1], "+FLAGS.SILENT", "\\Deleted")
            im.c.expunge()
        self.assertEqual(Snap(self.srv, user).uids, [s.uids[0]] + s.uids[2:])
        return c

    def test_message_expunged_mid_session_no_stand_in(self):
        # RETR/TOP of the expunged message: -ERR, or the original message;
        # never +OK with another body under the original's number
        c = self._expunge_second("dave")
        try:
            for cmd in ("RETR 2", "TOP 2 0", "RETR 2"):
                r = c.cmd(cmd)
                if r.startswith("+OK"):
                    got = c.multi()
                    want = APPENDED[1][1] if cmd.startswith("RETR") else \
                        h.expected_top(APPENDED[1][1], 0)
                    self.assertEqual(got, want, "%s: %s, then another body (%d octets: %r)%s"
                                     % (cmd, r, len(got), got[:90], self.ctx()))
                else:
                    self.assertTrue(r.startswith("-ERR"), "%s: %s" % (cmd, r))
        finally:
            self.quit(c)

    def test_message_expunged_mid_session_rest_intact(self):
        c = self._expunge_second("gina")
        try:
            self.assertEqual(self.retr_raw(c, 3), stuffed(APPENDED[2][1]))
            self.assertEqual(self.retr_raw(c, 1), stuffed(APPENDED[0][1]))
            self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        finally:
            self.quit(c)
        c = self.login("gina#pc")
        try:
            self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
        finally:
            self.quit(c)


class TestCyrus(CompatMixin, unittest.TestCase):
    SERVER = compat.Cyrus

    def test_trash_by_special_use(self):
        # frank's Trash is "INBOX.Deleted Messages", marked \\Trash (RFC
        # 6154): SPECIAL-USE comes before the NAMESPACE guess INBOX.Trash
        self._trash_dele("frank", "INBOX.Deleted Messages", create="INBOX.Deleted Messages",
                         special_use=True)
        self.assertEqual(Snap(self.srv, "frank", "INBOX.Trash").uids, [],
                         "moved to INBOX.Trash, not to the \\Trash mailbox")

class TestCourier(CompatMixin, unittest.TestCase):
    SERVER = compat.Courier

    # Courier-IMAP answers UID FETCH of a message another client expunged
    # since our SELECT with a stand-in ("Subject: message unavailable", 129
    # octets) and a tagged OK, and reports the EXPUNGE only at the next
    # NOOP: popgate sees a literal of another size than listed, checks with
    # NOOP + UID SEARCH that the message is gone, and answers -ERR.

    def test_trash_made_by_a_client_before(self):
        # INBOX.Trash as a mail client (or webmail) creates it
        after = self._trash_dele("frank", "INBOX.Trash", create="INBOX.Trash")
        self.assertNotIn("Trash", after.mailbox_names())

if __name__ == "__main__":
    unittest.main()
