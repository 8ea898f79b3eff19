"""RETR / TOP byte identity against IMAP BODY.PEEK[] (after CRLF
normalisation), LIST sizes, dot-stuffing on the wire, \\Seen semantics."""
import poplib
import time
import unittest

import harness as h

poplib._MAXLINE = 1 << 20          # the test mailbox has a 6000-octet line

ENV = None
MSGS = None     # [(msgno, uid, name, imap_body)]


def setUpModule():
    global ENV, MSGS
    ENV = h.Env(fill_users=("alice",))
    with ENV.imap() as im:
        ids = im.message_ids()
        by_mid = {mid: name for name, mid in ENV.names.items()}
        MSGS = [(i + 1, u, by_mid.get(ids.get(u), "?"), im.body(u))
                for i, u in enumerate(im.listing())]


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


def msg(name):
    for m in MSGS:
        if m[2] == name:
            return m
    raise KeyError(name)


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []
        ENV.clear_flags()

    def tearDown(self):
        for c in self.clients:
            c.close()

    def session(self, user="alice", password="secret"):
        c = ENV.gw.pop3(timeout=30)
        self.clients.append(c)
        c.read_greeting()
        r = c.login(user, password)
        self.assertTrue(r.startswith("+OK"), r)
        return c

    def quit(self, c):
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestRetr(Base):
    def test_every_message_byte_identical(self):
        self.assertGreaterEqual(len(MSGS), 14)
        c = self.session()
        for n, uid, name, body in MSGS:
            with self.subTest(msg=n, name=name):
                r = c.cmd("RETR %d" % n)
                self.assertTrue(r.startswith("+OK"), r)
                raw = c.multi_raw()
                for i, line in enumerate(raw):
                    self.assertTrue(line.endswith(b"\r\n"),
                                    "line %d not CRLF-terminated: %r" % (i, line[-40:]))
                    self.assertNotIn(b"\r", line[:-2], "bare CR in line %d" % i)
                data = b"".join(l[1:] if l.startswith(b".") else l for l in raw)
                want = h.expected_retr(body)
                if data != want:
                    k = next((i for i in range(min(len(data), len(want)))
                              if data[i] != want[i]), min(len(data), len(want)))
                    self.fail("RETR %d (%s) differs from IMAP BODY[] at octet %d: got %r, "
                              "want %r (lengths %d/%d)" % (n, name, k, data[k - 20:k + 20],
                                                          want[k - 20:k + 20], len(data),
                                                          len(want)))
        self.quit(c)

    def test_dot_stuffing_on_the_wire(self):
        n, uid, name, body = msg("dots")
        c = self.session()
        self.assertTrue(c.cmd("RETR %d" % n).startswith("+OK"))
        raw = c.multi_raw()
        text = h.expected_retr(body)
        want_wire = [(b"." + l if l.startswith(b".") else l) + b"\r\n"
                     for l in text[:-2].split(b"\r\n")]
        self.assertEqual(raw, want_wire)
        self.assertIn(b"..\r\n", raw)          # the lone "." line, stuffed
        self.assertIn(b"...\r\n", raw)         # ".." stuffed
        self.assertIn(b"..text\r\n", raw)
        self.quit(c)

    def test_list_size_equals_retr_octets(self):
        c = self.session()
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        sizes = {int(a): int(b) for a, b in (x.split() for x in c.multi_lines())}
        for n, uid, name, body in MSGS:
            if name == "lf_nofinal":
                continue                       # own test below
            with self.subTest(msg=n, name=name):
                data = c.retr(n)
                self.assertEqual(sizes[n], len(data), "LIST %d says %d, RETR sent %d octets"
                                 % (n, sizes[n], len(data)))
        self.quit(c)

    def test_list_size_message_without_final_eol(self):
        # The stored message does not end with a line end; RETR has to add
        # CRLF before the terminating ".", and LIST must count what RETR sends.
        n, uid, name, body = msg("lf_nofinal")
        self.assertFalse(body.endswith(b"\n"))
        c = self.session()
        size = int(c.cmd("LIST %d" % n).split()[2])
        data = c.retr(n)
        self.assertEqual(data, h.expected_retr(body))
        # Either LIST counts the CRLF RETR adds, or (README: "framing, as
        # Dovecot's POP3 server does it; LIST does not count it") exactly
        # the stored message. Anything else is wrong.
        self.assertIn(size, (len(data), len(data) - 2),
                      "LIST %d says %d, RETR sent %d octets (upstream RFC822.SIZE %d)"
                      % (n, size, len(data), len(body)))
        self.quit(c)

    def test_big_message_with_poplib(self):
        n, uid, name, body = msg("big")
        self.assertGreater(len(body), 5_000_000)
        p = poplib.POP3(h.HOST, ENV.gw.port, timeout=60)
        try:
            p.user("alice")
            p.pass_("secret")
            resp, lines, octets = p.retr(n)
            self.assertTrue(resp.startswith(b"+OK"))
            self.assertEqual(b"\r\n".join(lines) + b"\r\n", h.expected_retr(body))
            p.quit()
        finally:
            p.close()

    def test_retr_out_of_range_and_syntax(self):
        c = self.session()
        n = len(MSGS)
        for arg in ("0", str(n + 1), "-1", "x", "", "1 2"):
            with self.subTest(arg=arg):
                self.assertTrue(c.cmd(("RETR " + arg).strip()).startswith("-ERR"))
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.quit(c)

    @h.popgate_only   # Dovecot's own POP3 sets \Seen only at QUIT
    def test_retr_sets_seen(self):
        n, uid, name, body = msg("plain")
        other = msg("multipart")[1]
        c = self.session()
        c.retr(n)
        with ENV.imap() as im:
            ok = h.wait_until(lambda: "\\Seen" in im.flags(uid), 3)
            self.assertTrue(ok, "\\Seen not set upstream after RETR (flags %s)" % im.flags(uid))
            self.assertNotIn("\\Seen", im.flags(other), "RETR set \\Seen on another message")
        self.quit(c)

    def test_retr_same_message_twice(self):
        n, uid, name, body = msg("utf8")
        c = self.session()
        a = c.retr(n)
        b = c.retr(n)
        self.assertEqual(a, b)
        self.assertEqual(a, h.expected_retr(body))
        self.quit(c)


class TestConcurrency(Base):
    def test_parallel_sessions_byte_identical(self):
        import threading
        want = {n: h.expected_retr(body) for n, uid, name, body in MSGS}
        errors = []

        def worker(idx):
            try:
                c = h.Pop3(ENV.gw.port, timeout=60)
                try:
                    c.read_greeting()
                    # concurrent sessions need devices of their own: one
                    # device is one exclusive maildrop (RFC 1939 lock)
                    r = c.login("alice#worker%d" % idx, "secret")
                    if not r.startswith("+OK"):
                        errors.append("session %d: PASS -> %r" % (idx, r))
                        return
                    # pipeline every RETR at once, in a per-worker order
                    order = sorted(want, key=lambda n: (n * (idx + 3)) % 17)
                    c.send("".join("RETR %d\r\n" % n for n in order))
                    for n in order:
                        r = c.status()
                        if not r.startswith("+OK"):
                            errors.append("session %d RETR %d -> %r" % (idx, n, r))
                            return
                        if c.multi() != want[n]:
                            errors.append("session %d RETR %d differs" % (idx, n))
                    c.cmd("QUIT")
                finally:
                    c.close()
            except Exception as e:
                errors.append("session %d: %s: %s" % (idx, type(e).__name__, e))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertFalse(any(t.is_alive() for t in threads), "sessions hung")
        self.assertEqual(errors, [])

    def test_big_retr_then_quit_in_one_packet(self):
        n, uid, name, body = msg("big")
        c = self.session()
        c.send("RETR %d\r\nNOOP\r\nQUIT\r\n" % n)
        self.assertTrue(c.status().startswith("+OK"))
        self.assertEqual(c.multi(), h.expected_retr(body))
        self.assertTrue(c.status().startswith("+OK"))      # NOOP
        self.assertTrue(c.status().startswith("+OK"))      # QUIT
        self.assertTrue(c.expect_closed(5))


class TestPrefetch(Base):
    """prefetch_max_size (default 1m): RETR n asks for n+1 ahead, and the
    ones after it while their sizes stay within 128 KB. Only a message the
    client asks for gets \\Seen, and a message fetched ahead that is not
    taken (skipped, another RETR, TOP, DELE, QUIT) reaches nobody."""

    def session(self, user="alice", password="secret"):
        # A device of its own per test: a DELE+QUIT here hides a message
        # for that device only, not for the other tests' "default".
        return super().session(user + "#pf-" + self._testMethodName[-20:].replace("_", "-"),
                               password)

    def retr_ok(self, c, n):
        data = c.retr(n)
        self.assertEqual(data, h.expected_retr(MSGS[n - 1][3]), "RETR %d differs" % n)

    def seen(self):
        with ENV.imap() as im:
            return {u for u, fl, _ in im.messages() if "\\Seen" in fl}

    @h.popgate_only
    def test_in_order_then_quit_leaves_the_next_one_unseen(self):
        c = self.session()
        for n in (1, 2, 3):
            self.retr_ok(c, n)
        self.quit(c)
        uids = [m[1] for m in MSGS]
        seen = self.seen()
        self.assertEqual(sorted(seen & set(uids)), sorted(uids[:3]),
                         "\\Seen on %s; RETR asked for %s only (the next ones were "
                         "fetched ahead)" % (sorted(seen), uids[:3]))

    @h.popgate_only
    def test_top_retr_of_another_and_dele_between(self):
        c = self.session()
        self.retr_ok(c, 1)                      # 2 (and more) fetched ahead
        r = c.cmd("TOP 2 0")                    # drops them, asks for the header
        self.assertTrue(r.startswith("+OK"), r)
        self.assertEqual(c.multi(), h.expected_top(MSGS[1][3], 0))
        self.retr_ok(c, 3)                      # 4 (and more) ahead
        self.retr_ok(c, 5)                      # 4 skipped: thrown away; 6 ahead
        self.assertTrue(c.cmd("DELE 6").startswith("+OK"))   # drops 6
        self.retr_ok(c, 7)
        self.retr_ok(c, 4)
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.quit(c)
        uids = [m[1] for m in MSGS]
        seen = self.seen()
        for i in (1, 3, 5, 7, 4):
            self.assertIn(uids[i - 1], seen, "message %d was retrieved" % i)
        for i in (2, 6, 8):
            self.assertNotIn(uids[i - 1], seen, "message %d was not retrieved" % i)
        with ENV.imap() as im:                   # DELE (hide) left it upstream
            self.assertIn(uids[5], im.listing())

    @h.popgate_only
    def test_drop_mid_prefetch_then_a_new_session(self):
        c = self.session()
        self.retr_ok(c, 1)                      # 2 on ahead, left in the connection
        c.close()
        self.clients.remove(c)
        c = self.session()
        self.retr_ok(c, 2)
        self.quit(c)


class TestTop(Base):
    def test_top_matches_header_plus_lines(self):
        c = self.session()
        for n, uid, name, body in MSGS:
            for lines in (0, 1, 3, 10000):
                with self.subTest(msg=n, name=name, lines=lines):
                    r = c.cmd("TOP %d %d" % (n, lines))
                    self.assertTrue(r.startswith("+OK"), r)
                    data = c.multi()
                    want = h.expected_top(body, lines)
                    if name == "headeronly":
                        # no header/body separator in the message: either is right
                        self.assertIn(data, (want, want + b"\r\n"))
                    else:
                        self.assertEqual(data, want)
        self.quit(c)

    def test_top_does_not_set_seen(self):
        c = self.session()
        for n, uid, name, body in MSGS:
            for lines in (0, 5):
                self.assertTrue(c.cmd("TOP %d %d" % (n, lines)).startswith("+OK"))
                c.multi()
        self.quit(c)
        time.sleep(0.3)
        with ENV.imap() as im:
            seen = [u for u, fl, _ in im.messages() if "\\Seen" in fl]
        self.assertEqual(seen, [], "TOP set \\Seen on UIDs %s" % seen)

    def test_top_big_message_few_lines(self):
        n, uid, name, body = msg("big")
        c = self.session()
        t0 = time.monotonic()
        self.assertTrue(c.cmd("TOP %d 2" % n).startswith("+OK"))
        self.assertEqual(c.multi(), h.expected_top(body, 2))
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.assertLess(time.monotonic() - t0, 10)
        self.quit(c)

    def test_top_syntax_errors(self):
        c = self.session()
        for arg in ("", "1", "0 1", "%d 1" % (len(MSGS) + 1), "1 -1", "1 x", "x 1"):
            with self.subTest(arg=arg):
                self.assertTrue(c.cmd(("TOP " + arg).strip()).startswith("-ERR"))
        self.assertTrue(c.cmd("NOOP").startswith("+OK"))
        self.quit(c)


if __name__ == "__main__":
    unittest.main()
