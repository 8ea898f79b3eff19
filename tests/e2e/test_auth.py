"""Authentication through popgate against a private Dovecot: bad
credentials -> [AUTH], upstream down -> [SYS/TEMP], the user whose password
holds IMAP specials, injection attempts that Dovecot must see as plain (wrong)
credentials, and no password in the log."""
import re
import time
import unittest

import harness as h
from harness import popgate_only

ENV = None
DOWN = None     # a popgate whose upstream port has no listener


def setUpModule():
    global ENV, DOWN
    ENV = h.Env(fill_users=("alice",), big_mb=0.1)
    with ENV.imap(h.SPECIAL_USER) as im:
        im.append(h.fake_message("for-carol"))
    if not h.NATIVE:
        DOWN = ENV.gateway(upstream_port=h.free_port())


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def connect(self, gw=None):
        c = (gw or ENV.gw).pop3()
        self.clients.append(c)
        c.read_greeting()
        return c

    def dovecot_logins(self, user):
        return len(re.findall(r"imap-login: Login: user=<%s>" % re.escape(user),
                              ENV.dc.log_text()))


class TestBadCredentials(Base):
    def test_wrong_password(self):
        c = self.connect()
        self.assertTrue(c.cmd("USER alice").startswith("+OK"))
        r = c.cmd("PASS WrongPw-Zq81")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        # AUTHORIZATION state again: a retry with the right password works
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_unknown_user(self):
        c = self.connect()
        self.assertTrue(c.cmd("USER nosuchuser").startswith("+OK"))
        r = c.cmd("PASS secret")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)

    def test_auth_plain_wrong_password(self):
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "WrongPw-Zq82"))
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)

    def test_pass_without_user(self):
        c = self.connect()
        self.assertTrue(c.cmd("PASS secret").startswith("-ERR"))
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))

    @popgate_only
    def test_empty_password(self):
        c = self.connect()
        self.assertTrue(c.cmd("USER alice").startswith("+OK"))
        r = c.cmd("PASS")
        self.assertTrue(r.startswith("-ERR"), r)

    @popgate_only
    def test_upstream_port_closed_is_sys_temp(self):
        c = self.connect(DOWN)
        self.assertTrue(c.cmd("USER alice").startswith("+OK"))
        t0 = time.monotonic()
        r = c.cmd("PASS secret")
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertLess(time.monotonic() - t0, 10)
        c2 = self.connect(DOWN)
        r = c2.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "secret"))
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertTrue(DOWN.alive())


class TestSpecialPassword(Base):
    """carol's password is  p"w\\ {5} x  (quote, backslash, {5}, spaces)."""

    def check_session(self, c):
        r = c.cmd("STAT")
        self.assertTrue(r.startswith("+OK 1 "), r)
        data = c.retr(1)
        self.assertIn(b"for-carol", data)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_auth_plain(self):
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(h.SPECIAL_USER, h.SPECIAL_PASS))
        self.assertTrue(r.startswith("+OK"), r)
        self.check_session(c)

    def test_auth_plain_continuation(self):
        c = self.connect()
        self.assertTrue(c.cmd("AUTH PLAIN").startswith("+"))
        r = c.cmd(h.auth_plain_b64(h.SPECIAL_USER, h.SPECIAL_PASS))
        self.assertTrue(r.startswith("+OK"), r)
        self.check_session(c)

    def test_user_pass(self):
        # RFC 1939: PASS has one argument, the rest of the line (spaces included)
        c = self.connect()
        r = c.login(h.SPECIAL_USER, h.SPECIAL_PASS)
        self.assertTrue(r.startswith("+OK"), r)
        self.check_session(c)

    def test_near_miss_is_rejected(self):
        for wrong in ('p"w\\ {5}', 'p"w {5} x', 'p\\"w\\\\ {5} x', '"p\\"w\\\\ {5} x"'):
            with self.subTest(password=wrong):
                c = self.connect()
                r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(h.SPECIAL_USER, wrong))
                self.assertTrue(r.startswith("-ERR [AUTH]"), r)


class TestInjectionAgainstDovecot(Base):
    """Credentials crafted to smuggle an IMAP command ("LOGIN bob secret")
    must reach Dovecot as plain data: the login fails with [AUTH] and Dovecot
    never logs a login for bob."""

    PAYLOADS = [
        # via AUTH PLAIN (base64 can carry CR LF)
        ("plain", "alice", 'x"\r\nINJ1 LOGIN bob secret\r\nINJ2 NOOP "'),
        ("plain", "alice", "x\r\nINJ1 LOGIN bob secret"),
        ("plain", "alice", "{5}\r\nINJ1 LOGIN bob secret\r\n"),
        ("plain", 'alice" "x"\r\nINJ1 LOGIN bob secret\r\nINJ2 NOOP "', "x"),
        ("plain", "alice\r\nINJ1 LOGIN bob secret\r\n", "secret"),
        ("plain", "alice", ") INJ1 LOGIN bob secret"),
        # via USER/PASS (no CR LF possible, but quotes, braces, parens)
        ("userpass", "alice", 'x" INJ1 LOGIN bob secret'),
        ("userpass", "alice", "x {5}"),
        ("userpass", "alice", ") INJ1 LOGOUT"),
        ("userpass", 'bob" "secret', "x"),
        ("userpass", "bob {6}", "secret"),
    ]

    def test_no_command_injected(self):
        time.sleep(0.2)
        bob_before = self.dovecot_logins("bob")
        alice_before = self.dovecot_logins("alice")
        for via, user, password in self.PAYLOADS:
            with self.subTest(via=via, user=user, password=password):
                c = self.connect()
                if via == "plain":
                    r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(user, password))
                else:
                    r = c.cmd("USER " + user)
                    if not r.startswith("+OK"):
                        # refusing the name outright is fine too
                        self.assertTrue(r.startswith("-ERR"), r)
                        c.close()
                        continue
                    r = c.cmd("PASS " + password)
                self.assertTrue(r.startswith("-ERR [AUTH]"), "%r/%r -> %r" % (user, password, r))
                c.close()
        time.sleep(0.5)
        self.assertEqual(self.dovecot_logins("bob"), bob_before,
                         "Dovecot logged a login for bob: injected command executed")
        self.assertEqual(self.dovecot_logins("alice"), alice_before,
                         "Dovecot logged a successful login for alice with a wrong password")
        self.assertNotRegex(ENV.dc.log_text(), r"Login: user=<bob>")


class TestNoPasswordInLog(Base):
    @popgate_only
    def test_passwords_never_logged(self):
        start = ENV.gw.log_size()
        secrets = ["secret", "WrongPw-Zq83", h.SPECIAL_PASS, "Sp3c!al Pw"]
        c = self.connect()
        self.assertTrue(c.login("alice", "secret").startswith("+OK"))
        c.retr(1)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c = self.connect()
        self.assertTrue(c.login("alice", "WrongPw-Zq83").startswith("-ERR"))
        c.close()
        c = self.connect()
        self.assertTrue(c.cmd("AUTH PLAIN " + h.auth_plain_b64(h.SPECIAL_USER, h.SPECIAL_PASS))
                        .startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c = self.connect()
        self.assertTrue(c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "Sp3c!al Pw"))
                        .startswith("-ERR"))
        c.close()
        ok = h.wait_until(lambda: ENV.gw.log_since(start).count("event=session_end") >= 4, 5)
        self.assertTrue(ok, "expected 4 session_end lines, log:\n" + ENV.gw.log_since(start))
        log = ENV.gw.log_bytes()[start:]
        for s in secrets:
            for form in {s.encode(), h.auth_plain_b64("alice", s).encode(),
                         h.auth_plain_b64(h.SPECIAL_USER, s).encode()}:
                self.assertNotIn(form, log, "password %r appears in the daemon log" % s)


class TestLogInjection(Base):
    @popgate_only
    def test_user_name_cannot_forge_log_lines(self):
        """A user name with CR LF (possible through AUTH PLAIN) must not
        start a new line in the log: every log line must be one the daemon
        wrote itself."""
        start = ENV.gw.log_size()
        forged = "x\r\nFORGED level=info event=session_end user=root reason=quit\r\n"
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(forged, "secret"))
        self.assertTrue(r.startswith("-ERR"), r)
        c.close()
        ok = h.wait_until(lambda: "event=session_end" in ENV.gw.log_since(start), 5)
        self.assertTrue(ok)
        time.sleep(0.2)
        log = ENV.gw.log_bytes()[start:]
        self.assertNotIn(b"\r", log, "raw CR from a user name in the log")
        for line in log.decode("utf-8", "replace").splitlines():
            self.assertFalse(line.startswith("FORGED"), "forged log line: %r\nlog:\n%s"
                             % (line, log.decode("utf-8", "replace")))


if __name__ == "__main__":
    unittest.main()
