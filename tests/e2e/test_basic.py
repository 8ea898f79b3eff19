"""Basic POP3 dialogue through popgate against a private Dovecot:
greeting, CAPA, USER/PASS, AUTH PLAIN, STAT/LIST/UIDL vs IMAP, NOOP, DELE,
RSET, QUIT semantics, pipelining, the session_end log line."""
import re
import socket
import time
import unittest

import harness as h
from harness import popgate_only

ENV = None


def setUpModule():
    global ENV
    ENV = h.Env(fill_users=("alice", "bob"))


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


class Base(unittest.TestCase):
    user = "alice"

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def connect(self):
        c = ENV.gw.pop3()
        self.clients.append(c)
        return c

    def session(self, user=None, password="secret"):
        c = self.connect()
        c.read_greeting()
        r = c.login(user or self.user, password)
        self.assertTrue(r.startswith("+OK"), "PASS -> %r" % r)
        return c

    def quit(self, c):
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertTrue(c.expect_closed(5), "connection not closed after QUIT")


class TestGreetingCapa(Base):
    @popgate_only
    def test_greeting(self):
        c = self.connect()
        self.assertEqual(c.read_greeting(), "+OK popgate ready")

    def test_capa_before_login(self):
        c = self.connect()
        c.read_greeting()
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        caps = c.multi_lines()
        upper = [x.upper() for x in caps]
        for want in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
            self.assertIn(want, upper, "CAPA %r lacks %s" % (caps, want))
        sasl = [x for x in upper if x.startswith("SASL ")]
        self.assertTrue(sasl and "PLAIN" in sasl[0].split()[1:], "no SASL PLAIN in %r" % caps)
        self.assertFalse(any(x.startswith("APOP") for x in upper))
        if not h.NATIVE:
            self.assertTrue(any(x.startswith("IMPLEMENTATION POPGATE") for x in upper),
                            "no 'IMPLEMENTATION popgate...' in %r" % caps)
            # popgate never deletes by itself (RFC 2449 EXPIRE)
            self.assertIn("EXPIRE NEVER", upper)
            # no LOGIN-DELAY: there is no such policy to announce
            self.assertFalse(any(x.startswith("LOGIN-DELAY") for x in upper))
        # connection still usable after the multi-line reply
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_capa_after_login(self):
        c = self.session()
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        caps = [x.upper() for x in c.multi_lines()]
        self.assertIn("TOP", caps)
        self.assertIn("UIDL", caps)
        self.quit(c)


class TestLogin(Base):
    def test_user_pass(self):
        c = self.connect()
        c.read_greeting()
        self.assertTrue(c.cmd("USER alice").startswith("+OK"))
        self.assertTrue(c.cmd("PASS secret").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.quit(c)

    def test_commands_case_insensitive(self):
        c = self.connect()
        c.read_greeting()
        self.assertTrue(c.cmd("user alice").startswith("+OK"))
        self.assertTrue(c.cmd("pass secret").startswith("+OK"))
        self.assertTrue(c.cmd("stat").startswith("+OK"))
        self.assertTrue(c.cmd("QuIt").startswith("+OK"))

    def test_auth_plain_initial_response(self):
        c = self.connect()
        c.read_greeting()
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "secret"))
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.quit(c)

    def test_auth_plain_continuation(self):
        c = self.connect()
        c.read_greeting()
        r = c.cmd("AUTH PLAIN")
        self.assertTrue(r.startswith("+"), r)
        self.assertFalse(r.startswith("+OK"), "continuation expected, got %r" % r)
        r = c.cmd(h.auth_plain_b64("alice", "secret"))
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.quit(c)

    def test_auth_plain_with_authzid_equal_to_user(self):
        c = self.connect()
        c.read_greeting()
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "secret", authzid="alice"))
        self.assertTrue(r.startswith("+OK"), r)
        self.quit(c)

    def test_auth_plain_cancel(self):
        c = self.connect()
        c.read_greeting()
        r = c.cmd("AUTH PLAIN")
        self.assertTrue(r.startswith("+ ") or r == "+", r)
        self.assertTrue(c.cmd("*").startswith("-ERR"))
        # still in AUTHORIZATION state, and usable
        self.assertTrue(c.cmd("STAT").startswith("-ERR"))
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        self.quit(c)

    def test_auth_plain_bad_base64(self):
        c = self.connect()
        c.read_greeting()
        self.assertTrue(c.cmd("AUTH PLAIN !!!notbase64!!!").startswith("-ERR"))
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        self.quit(c)

    def test_auth_unknown_mechanism(self):
        c = self.connect()
        c.read_greeting()
        self.assertTrue(c.cmd("AUTH CRAM-MD5").startswith("-ERR"))
        self.assertTrue(c.cmd("AUTH X-NOPE " + "QUJD").startswith("-ERR"))
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        self.quit(c)

    def test_quit_in_authorization(self):
        c = self.connect()
        c.read_greeting()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertTrue(c.expect_closed(5))


class TestListing(Base):
    def setUp(self):
        super().setUp()
        ENV.clear_flags()

    def test_stat_matches_imap(self):
        with ENV.imap() as im:
            msgs = im.messages()
        c = self.session()
        r = c.cmd("STAT")
        m = re.match(r"\+OK (\d+) (\d+)", r)
        self.assertTrue(m, r)
        self.assertEqual(int(m.group(1)), len(msgs))
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        sizes = [int(x.split()[1]) for x in c.multi_lines()]
        self.assertEqual(int(m.group(2)), sum(sizes), "STAT octets != sum of LIST sizes")
        self.quit(c)

    def test_list_all_and_single(self):
        with ENV.imap() as im:
            n = len(im.listing())
        c = self.session()
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        lines = c.multi_lines()
        self.assertEqual([int(x.split()[0]) for x in lines], list(range(1, n + 1)))
        for x in lines:
            self.assertRegex(x, r"^\d+ \d+$")
        for i in (1, n // 2, n):
            num, size = lines[i - 1].split()
            self.assertEqual(c.cmd("LIST %d" % i), "+OK %s %s" % (num, size))
        self.quit(c)

    def test_list_out_of_range(self):
        with ENV.imap() as im:
            n = len(im.listing())
        c = self.session()
        for arg in ("0", str(n + 1), "99999", "-1", "abc"):
            self.assertTrue(c.cmd("LIST " + arg).startswith("-ERR"), "LIST " + arg)
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.quit(c)

    def test_uidl_format_matches_imap(self):
        with ENV.imap() as im:
            uids = im.listing()
            uv = im.uidvalidity()
        c = self.session()
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        got = c.multi_lines()
        want = ["%d %08x%08x" % (i + 1, u, uv) for i, u in enumerate(uids)]
        self.assertEqual(got, want)
        self.assertEqual(c.cmd("UIDL 2"), "+OK " + want[1])
        self.assertTrue(c.cmd("UIDL %d" % (len(uids) + 1)).startswith("-ERR"))
        self.quit(c)

    def test_uidl_stable_across_sessions(self):
        seen = []
        for _ in range(3):
            c = self.session()
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            seen.append(c.multi_lines())
            self.quit(c)
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(seen[0], seen[2])
        self.assertEqual(len(set(x.split()[1] for x in seen[0])), len(seen[0]))
        for x in seen[0]:
            self.assertRegex(x.split()[1], r"^[0-9a-f]{16}$")

    @popgate_only
    def test_uidl_stable_across_gateway_restart(self):
        c = self.session()
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        before = c.multi_lines()
        self.quit(c)
        other = ENV.gateway()               # a fresh popgate process
        try:
            c2 = other.pop3()
            self.clients.append(c2)
            self.assertTrue(c2.login().startswith("+OK"))
            self.assertTrue(c2.cmd("UIDL").startswith("+OK"))
            self.assertEqual(c2.multi_lines(), before)
            self.quit(c2)
        finally:
            other.cleanup()

    @popgate_only   # Dovecot's own POP3 lists \Deleted messages
    def test_deleted_upstream_not_listed(self):
        with ENV.imap() as im:
            uids = im.listing()
            uv = im.uidvalidity()
            victim = uids[1]
            im.store(victim, "+FLAGS", "\\Deleted")
        try:
            c = self.session()
            r = c.cmd("STAT")
            self.assertEqual(int(r.split()[1]), len(uids) - 1, r)
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            got = [x.split()[1] for x in c.multi_lines()]
            self.assertNotIn("%08x%08x" % (victim, uv), got)
            self.assertEqual(got, ["%08x%08x" % (u, uv) for u in uids if u != victim])
            self.quit(c)
        finally:
            ENV.clear_flags()

    def test_numbers_fixed_for_session(self):
        c = self.session()
        before = c.cmd("STAT")
        with ENV.imap() as im:
            uid = im.append(h.fake_message("late-arrival"))
        try:
            self.assertEqual(c.cmd("STAT"), before)
            self.assertTrue(c.cmd("LIST").startswith("+OK"))
            self.assertEqual(len(c.multi_lines()), int(before.split()[1]))
            self.quit(c)
            c2 = self.session()
            self.assertEqual(int(c2.cmd("STAT").split()[1]), int(before.split()[1]) + 1)
            self.quit(c2)
        finally:
            with ENV.imap() as im:
                im.store(uid, "+FLAGS", "\\Deleted")
                im.c.expunge()

    def test_noop(self):
        c = self.session()
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.quit(c)


class TestDeleRset(Base):
    user = "bob"

    def setUp(self):
        super().setUp()
        ENV.clear_flags("bob")

    def test_dele_hides_and_rset_restores(self):
        c = self.session()
        n0, s0 = map(int, c.cmd("STAT").split()[1:3])
        r = c.cmd("LIST 1")
        size1 = int(r.split()[2])
        self.assertTrue(c.cmd("UIDL 1").startswith("+OK"))
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertEqual(c.cmd("STAT"), "+OK %d %d" % (n0 - 1, s0 - size1))
        self.assertTrue(c.cmd("LIST 1").startswith("-ERR"))
        self.assertTrue(c.cmd("UIDL 1").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR 1").startswith("-ERR"))
        self.assertTrue(c.cmd("TOP 1 0").startswith("-ERR"))
        self.assertTrue(c.cmd("DELE 1").startswith("-ERR"), "second DELE of the same message")
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        nums = [int(x.split()[0]) for x in c.multi_lines()]
        self.assertEqual(nums, list(range(2, n0 + 1)), "numbers must not be renumbered")
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        self.assertNotIn(1, [int(x.split()[0]) for x in c.multi_lines()])
        self.assertTrue(c.cmd("RSET").startswith("+OK"))
        self.assertEqual(c.cmd("STAT"), "+OK %d %d" % (n0, s0))
        self.assertTrue(c.cmd("LIST 1").startswith("+OK"))
        self.quit(c)

    def test_dele_out_of_range(self):
        c = self.session()
        n0 = int(c.cmd("STAT").split()[1])
        for arg in ("0", str(n0 + 1), "x", ""):
            self.assertTrue(c.cmd(("DELE " + arg).strip()).startswith("-ERR"), "DELE " + arg)
        self.quit(c)

    @popgate_only
    def test_quit_applies_nothing_upstream(self):
        with ENV.imap("bob") as im:
            before = im.messages()
        c = self.session()
        n0 = int(c.cmd("STAT").split()[1])
        for i in (1, 2, n0):
            self.assertTrue(c.cmd("DELE %d" % i).startswith("+OK"))
        self.quit(c)
        with ENV.imap("bob") as im:
            after = im.messages()
        self.assertEqual([u for u, _, _ in after], [u for u, _, _ in before],
                         "messages disappeared upstream after DELE+QUIT")
        for u, fl, _ in after:
            self.assertNotIn("\\Deleted", fl, "uid %d flagged \\Deleted upstream" % u)

    def test_dele_then_drop_applies_nothing(self):
        with ENV.imap("bob") as im:
            before = im.messages()
        c = self.session()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        c.close()                                   # no QUIT
        time.sleep(0.5)
        with ENV.imap("bob") as im:
            after = im.messages()
        self.assertEqual([u for u, _, _ in after], [u for u, _, _ in before])
        self.assertFalse(any("\\Deleted" in fl for _, fl, _ in after))
        c = self.session()
        self.assertEqual(int(c.cmd("STAT").split()[1]), len(before))
        self.quit(c)


class TestPipelining(Base):
    def test_pipelined_commands_in_one_packet(self):
        ENV.clear_flags()
        with ENV.imap() as im:
            uids = im.listing()
            uv = im.uidvalidity()
            first = h.expected_retr(im.body(uids[0]))
        c = self.connect()
        c.read_greeting()
        c.send("USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nNOOP\r\n"
               "RETR 1\r\nTOP 1 0\r\nLIST 1\r\nBOGUS\r\nNOOP\r\nQUIT\r\n")
        self.assertTrue(c.status().startswith("+OK"))            # USER
        self.assertTrue(c.status().startswith("+OK"))            # PASS
        stat = c.status()
        self.assertRegex(stat, r"^\+OK %d \d+" % len(uids))      # STAT
        self.assertTrue(c.status().startswith("+OK"))            # LIST
        lst = c.multi_lines()
        self.assertEqual(len(lst), len(uids))
        self.assertEqual(c.status(), "+OK 1 %08x%08x" % (uids[0], uv))   # UIDL 1
        self.assertTrue(c.status().startswith("+OK"))            # NOOP
        self.assertTrue(c.status().startswith("+OK"))            # RETR 1
        self.assertEqual(c.multi(), first)
        self.assertTrue(c.status().startswith("+OK"))            # TOP 1 0
        self.assertEqual(c.multi(), h.expected_top(first, 0))
        self.assertEqual(c.status(), "+OK " + lst[0])            # LIST 1
        self.assertTrue(c.status().startswith("-ERR"))           # BOGUS
        self.assertTrue(c.status().startswith("+OK"))            # NOOP
        self.assertTrue(c.status().startswith("+OK"))            # QUIT
        self.assertTrue(c.expect_closed(5))

    def test_pipelined_past_the_input_limit(self):
        # 4,000 NOOPs behind a RETR: about 24 KB, more than the 16 KiB
        # of input a session holds while a command runs. Reading stops
        # at the limit and goes on as commands are answered.
        ENV.clear_flags()
        with ENV.imap() as im:
            first = h.expected_retr(im.body(im.listing()[0]))
        c = self.session()
        noops = 4000
        c.send("RETR 1\r\n" + "NOOP\r\n" * noops + "QUIT\r\n")
        self.assertTrue(c.status().startswith("+OK"))
        self.assertEqual(c.multi(), first)
        for i in range(noops):
            r = c.status()
            self.assertTrue(r.startswith("+OK"), "NOOP %d -> %r" % (i + 1, r))
        self.assertTrue(c.status().startswith("+OK"))            # QUIT
        self.assertTrue(c.expect_closed(5))

    def test_half_closed_client_gets_every_answer(self):
        # printf 'USER..PASS..RETR 1' | nc -N: the client shuts its
        # sending side after the commands; each one is still answered,
        # then the session ends (no QUIT: nothing applied).
        ENV.clear_flags()
        with ENV.imap() as im:
            uids = im.listing()
            first = h.expected_retr(im.body(uids[0]))
        c = self.connect()
        c.read_greeting()
        c.send("USER alice\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nDELE 1\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.status().startswith("+OK"))            # USER
        self.assertTrue(c.status().startswith("+OK"))            # PASS
        self.assertRegex(c.status(), r"^\+OK %d \d+" % len(uids))
        self.assertTrue(c.status().startswith("+OK"))            # RETR 1
        self.assertEqual(c.multi(), first)
        self.assertTrue(c.status().startswith("+OK"))            # DELE 1
        self.assertTrue(c.expect_closed(5))
        # Without QUIT the DELE was not applied.
        c = self.session()
        self.assertEqual(int(c.cmd("STAT").split()[1]), len(uids))
        self.quit(c)

    def test_pipelined_byte_by_byte(self):
        c = self.connect()
        c.read_greeting()
        data = b"USER alice\r\nPASS secret\r\nSTAT\r\nNOOP\r\n"
        for i in range(len(data)):
            c.send(data[i:i + 1])
            if i % 5 == 0:
                time.sleep(0.002)
        for _ in range(4):
            self.assertTrue(c.status().startswith("+OK"))
        self.quit(c)


class TestSessionLog(Base):
    @popgate_only
    def test_session_end_line(self):
        ENV.clear_flags("bob")
        start = ENV.gw.log_size()
        c = self.session("bob")
        sizes = []
        for i in (1, 2):
            r = c.cmd("LIST %d" % i)
            sizes.append(int(r.split()[2]))
            c.retr(i)
        self.assertTrue(c.cmd("TOP 3 1").startswith("+OK"))
        c.multi()
        self.assertTrue(c.cmd("DELE 3").startswith("+OK"))
        self.quit(c)
        m = ENV.gw.wait_log(r"[^\n]*event=session_end[^\n]*user=bob[^\n]*", 5, start)
        self.assertTrue(m, "no session_end line for bob in:\n" + ENV.gw.log_since(start))
        kv = h.parse_kv(m.group(0))
        for k in ("user", "client", "retr", "top", "dele", "bytes_out", "duration_ms", "reason"):
            self.assertIn(k, kv, "field %s= missing in %r" % (k, m.group(0)))
        self.assertEqual(kv["user"], "bob")
        self.assertIn("127.0.0.1", kv["client"])
        self.assertEqual(kv["retr"], "2")
        self.assertEqual(kv["top"], "1")
        self.assertEqual(kv["dele"], "1")
        self.assertGreaterEqual(int(kv["bytes_out"]), sum(sizes))
        self.assertGreaterEqual(int(kv["duration_ms"]), 0)
        self.assertTrue(kv["reason"])
        self.assertNotIn("secret", m.group(0))

    @popgate_only
    def test_session_end_on_drop(self):
        start = ENV.gw.log_size()
        c = self.session("bob")
        c.close()
        m = ENV.gw.wait_log(r"[^\n]*event=session_end[^\n]*user=bob[^\n]*", 5, start)
        self.assertTrue(m, "no session_end line after a dropped connection")
        kv = h.parse_kv(m.group(0))
        self.assertTrue(kv.get("reason"))


if __name__ == "__main__":
    unittest.main()
