"""popgate setup ADDRESS, end to end: a private dnsmasq serves SRV and A
records for test domains (popgate's [server] resolver points at it), a
private Dovecot with TLS (its self-signed certificate is the CA) is the IMAP
server found by SRV, by conventional name on another loopback address's
ports 993/143, and by a provider table entry. The password comes from
--password-file or, not echoed, from a terminal (a pty). The configuration
file is checked byte for byte: only the section setup writes changes.
Afterwards a real POP3 login goes through the popgate so configured.

Also the start-up side: an upstream that does not answer is said once
(event=upstream_unreachable and a sentence pointing to popgate setup), a
client's -ERR [SYS/TEMP] names the cause, a file without any upstream is
refused with that advice, and --check --connect reports reachability."""
import os
import pty
import random
import re
import select
import subprocess
import time
import unittest

import harness as h

DNS = None
DC = None
CONV = None          # the loopback address with Dovecot on 993 and 143
TMP = None

USERS = {"alice@srv.test": "pw-srv", "bob@conv.test": "pw-conv", "carol": "pw-table",
         "erin@pty.test": "pw pty \"quoted\"", "dave@bad.test": "pw-bad",
         "fred@down.test": "pw-down", "gina@first.test": "pw-first"}


def setUpModule():
    global DNS, DC, CONV, TMP
    if h.NATIVE:
        raise unittest.SkipTest("popgate setup")
    CONV = "127.77.%d.%d" % (random.randint(1, 250), random.randint(1, 250))
    extra = """
service imap-login {
  inet_listener imaps_conv {
    address = %(a)s
    port = 993
    ssl = yes
  }
  inet_listener imap_conv {
    address = %(a)s
    port = 143
  }
}
""" % {"a": CONV}
    DC = h.Dovecot(ssl=True, users=USERS, extra_conf=extra,
                   cert_san="DNS:mx.srv.test,DNS:imap.conv.test,DNS:imap.table.test,"
                            "DNS:imap.pty.test,DNS:mx.first.test,IP:127.0.0.1")
    try:
        DC.start()
        closed = h.free_port()
        DNS = h.Dnsmasq([
            "srv-host=_imaps._tcp.srv.test,mx.srv.test,%d,0,10" % DC.imaps_port,
            "address=/mx.srv.test/127.0.0.1",
            "address=/imap.conv.test/%s" % CONV,
            "address=/imap.bad.test/%s" % CONV,        # the certificate lacks the name
            "srv-host=_imaps._tcp.down.test,mx.down.test,%d,0,10" % closed,
            "address=/mx.down.test/127.0.0.1",
            "address=/imap.table.test/127.0.0.1",
            "srv-host=_imap._tcp.pty.test,imap.pty.test,%d,0,10" % DC.imap_port,
            "address=/imap.pty.test/127.0.0.1",
            "srv-host=_imaps._tcp.first.test,mx.first.test,%d,0,10" % DC.imaps_port,
            "address=/mx.first.test/127.0.0.1",
        ]).start()
    except BaseException:
        tearDownModule()
        raise
    TMP = h.make_tempdir("pgt-setup-")
    for user in USERS:
        DC.deliver_file(user, b"From: a@b\r\nSubject: for " + user.encode() +
                        b"\r\n\r\nhello\r\n")


def tearDownModule():
    global DNS, DC
    for x in (DNS, DC):
        if x is not None:
            x.stop()
    DNS = DC = None


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def setup(conf, address, password=None, *args, timeout=120):
    """popgate setup with --password-file; (exit status, output)."""
    argv = [h.binary_path(), "setup", address, "-c", conf, "--ca-file", DC.cert,
            "--timeout", "10"] + list(args)
    if password is not None:
        pw = write(os.path.join(TMP, "pw-%d" % random.randint(0, 1 << 30)), password + "\n")
        argv += ["--password-file", pw]
    p = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, **h.SANITIZER_ENV))
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


HEAD = """# my popgate -- written by hand; setup must keep every byte of this
[server]
listen = 127.0.0.1:%(port)d   ; the local clients
resolver = %(dns)s
auth_fail_delay = 0

# the state store, one per machine
[cache]
url = auto
state_dir = %(state)s

[log]
level = info
"""


class Setup(unittest.TestCase):
    """One configuration file, grown by setup runs in order."""

    @classmethod
    def setUpClass(cls):
        cls.gw = h.Popgate(1, workdir=h.make_tempdir("pgt-setup-gw-"))
        cls.path = os.path.join(cls.gw.dir, "popgate.conf")
        cls.head = HEAD % {"port": cls.gw.port, "dns": DNS.address, "state": cls.gw.state_dir}
        write(cls.path, cls.head)

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def test_1_first_account_by_srv_becomes_upstream(self):
        rc, out = setup(self.path, "alice@srv.test", USERS["alice@srv.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("DNS SRV _imaps._tcp", out)
        self.assertIn("Logged in at mx.srv.test:%d" % DC.imaps_port, out)
        want = self.head + "\n[upstream]\nhost = mx.srv.test\nport = %d\ntls = imaps\n" \
            "ca_file = %s\n" % (DC.imaps_port, os.path.realpath(DC.cert))
        self.assertEqual(read(self.path), want.encode())
        # the client settings, with a device name in the user name
        self.assertIn("server 127.0.0.1,\n               port %d" % self.gw.port, out)
        self.assertIn("user name alice@srv.test#outlook", out)
        self.assertIn('user "alice@srv.test#fetchmail"', out)
        for client in ("Outlook", "Thunderbird", "fetchmail", "Apple Mail", "Phone"):
            self.assertIn(client, out)
        self.assertNotIn(USERS["alice@srv.test"], out)
        self.__class__.after_1 = read(self.path)

    def test_2_conventional_name_becomes_a_route(self):
        before = read(self.path)
        rc, out = setup(self.path, "bob@conv.test", USERS["bob@conv.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("imap.conv.test:993 SSL/TLS (conventional name): answers", out)
        want = before + ("\n[route conv.test]\nhost = imap.conv.test\nport = 993\n"
                         "tls = imaps\nca_file = %s\n" % os.path.realpath(DC.cert)).encode()
        self.assertEqual(read(self.path), want)

    def test_3_table_entry_with_local_part(self):
        before = read(self.path)
        table = write(os.path.join(TMP, "providers.conf"),
                      "# test table\ntestprov imap.table.test %d imaps password local-part "
                      "table.test\n" % DC.imaps_port)
        rc, out = setup(self.path, "carol@table.test", USERS["carol"], "--providers", table)
        self.assertEqual(rc, 0, out)
        self.assertIn("(the built-in table): answers", out)
        self.assertIn("as carol:", out)
        want = before + ("\n[route table.test]\nhost = imap.table.test\nport = %d\n"
                         "tls = imaps\nca_file = %s\nlogin_name = local-part\n"
                         % (DC.imaps_port, os.path.realpath(DC.cert))).encode()
        self.assertEqual(read(self.path), want)

    def test_4_password_on_a_terminal_is_not_echoed(self):
        before = read(self.path)
        argv = [h.binary_path(), "setup", "erin@pty.test", "-c", self.path,
                "--ca-file", DC.cert, "--timeout", "10"]
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(argv[0], argv, dict(os.environ, **h.SANITIZER_ENV))
        out = b""
        deadline = time.monotonic() + 120
        sent = False
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if not sent and b"(not shown): " in out:
                os.write(fd, USERS["erin@pty.test"].encode() + b"\n")
                sent = True
        done = 0
        stop = time.monotonic() + 30
        while done == 0 and time.monotonic() < stop:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                time.sleep(0.1)     # bounded poll for the exit, not a synchronisation
        if done == 0:
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
            self.fail("setup did not end: %r" % out)
        os.close(fd)
        text = out.decode("utf-8", "replace")
        self.assertTrue(sent, text)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertNotIn(USERS["erin@pty.test"], text)
        self.assertIn("Password for erin@pty.test (not shown): ", text)
        self.assertIn("imap.pty.test:%d STARTTLS (DNS SRV _imap._tcp): answers" % DC.imap_port,
                      text)
        want = before + ("\n[route pty.test]\nhost = imap.pty.test\nport = %d\n"
                         "tls = starttls\nca_file = %s\n"
                         % (DC.imap_port, os.path.realpath(DC.cert))).encode()
        self.assertEqual(read(self.path), want)

    def test_5_failures_write_nothing(self):
        before = read(self.path)
        cases = [
            # a wrong password: the server's refusal
            (("bob@conv.test", "wrong"), 1, "refused the login"),
            # SRV to a closed port, no conventional names
            (("fred@down.test", USERS["fred@down.test"]), 1, "Connection refused"),
            # the certificate does not name imap.bad.test
            (("dave@bad.test", USERS["dave@bad.test"]), 1, "certificate"),
        ]
        for (address, pw), want_rc, want in cases:
            rc, out = setup(self.path, address, pw)
            self.assertEqual(rc, want_rc, out)
            self.assertIn(want, out)
            self.assertIn("Nothing was written", out)
            self.assertEqual(read(self.path), before, address)
        rc, out = setup(self.path, "dave@bad.test", USERS["dave@bad.test"])
        self.assertRegex(out, r"(?i)hostname mismatch|host name mismatch")
        # a provider that needs OAuth2: told, nothing asked, nothing written
        table = write(os.path.join(TMP, "oauth.conf"),
                      "oauthprov imap.oauth.test 993 imaps oauth2 full oauth.test\n")
        rc, out = setup(self.path, "x@oauth.test", None, "--providers", table)
        self.assertEqual(rc, 3, out)
        self.assertIn("OAuth2", out)
        self.assertIn("popgate account", out)
        self.assertEqual(read(self.path), before)
        # the built-in table knows Gmail needs OAuth2
        rc, out = setup(self.path, "someone@gmail.com", None)
        self.assertEqual(rc, 3, out)
        self.assertIn("imap.gmail.com", out)
        self.assertEqual(read(self.path), before)

    def test_6_pop3_logins_through_the_configured_popgate(self):
        text = read(self.path)
        self.gw.conf_text = text.decode()
        self.gw.start()
        try:
            for user, pw in (("alice@srv.test#dev1", USERS["alice@srv.test"]),
                             ("bob@conv.test#phone", USERS["bob@conv.test"]),
                             ("carol@table.test#pc", USERS["carol"]),
                             ("erin@pty.test", USERS["erin@pty.test"])):
                with self.gw.pop3(timeout=30) as c:
                    self.assertTrue(c.login(user, pw).startswith("+OK"), user)
                    r = c.cmd("STAT")
                    self.assertTrue(r.startswith("+OK 1 "), (user, r))
                    c.cmd("QUIT")
            self.assertNotIn("event=upstream_unreachable", self.gw.log_text())
        finally:
            self.gw.stop()


class FirstRun(unittest.TestCase):
    def test_sample_upstream_that_does_not_answer_is_replaced(self):
        """The shipped sample's [upstream] (a local test server) serves nobody:
        the first account takes its place; its comments and other keys stay."""
        closed = h.free_port()
        path = os.path.join(TMP, "first.conf")
        text = ("[server]\nresolver = %s\n\n[upstream]\n# the local test server\n"
                "host = 127.0.0.1\n  port = %d  ; nothing listens\ntls = none\n"
                "timeout = 5s\n\n# keep me\n[log]\nlevel = info\n" % (DNS.address, closed))
        write(path, text)
        # root:<the mail user's group> 0640, as for a daemon run as a user
        uid, gid = h.ensure_mail_user()
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)
        rc, out = setup(path, "gina@first.test", USERS["gina@first.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("does not answer", out)
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (0, gid, 0o640))
        self.assertEqual([f for f in os.listdir(TMP) if ".setup" in f], [],
                         "a temporary file was left")
        want = ("[server]\nresolver = %s\n\n[upstream]\n# the local test server\n"
                "host = mx.first.test\n  port = %d  ; nothing listens\ntls = imaps\n"
                "timeout = 5s\nca_file = %s\n\n# keep me\n[log]\nlevel = info\n"
                % (DNS.address, DC.imaps_port, os.path.realpath(DC.cert)))
        self.assertEqual(read(path).decode(), want)

    def test_new_file_is_created(self):
        path = os.path.join(TMP, "new-%d.conf" % random.randint(0, 1 << 30))
        # without the resolver nothing under .test resolves: SRV via the
        # table entry only, pointing at a numeric address
        table = write(os.path.join(TMP, "num.conf"),
                      "numprov 127.0.0.1 %d imaps password full first.test\n" % DC.imaps_port)
        rc, out = setup(path, "gina@first.test", USERS["gina@first.test"], "--providers", table)
        self.assertEqual(rc, 0, out)
        self.assertTrue(read(path).startswith(b"# popgate.conf -- written by popgate setup"))
        self.assertIn(b"\n[upstream]\nhost = 127.0.0.1\n", read(path))
        chk = subprocess.run([h.binary_path(), "--check", "-c", path], capture_output=True,
                             timeout=30)
        self.assertEqual(chk.returncode, 0, chk.stderr)


class Startup(unittest.TestCase):
    def test_unreachable_upstream_said_once_and_named_in_the_error(self):
        closed = h.free_port()
        gw = h.Popgate(closed, upstream={"timeout": "5s"}).start()
        try:
            self.assertTrue(gw.wait_log(r"event=upstream_unreachable upstream=default "
                                        r"host=127\.0\.0\.1 port=%d" % closed, timeout=30))
            self.assertTrue(gw.wait_log(r"popgate: the IMAP server of \[upstream\], "
                                        r"127\.0\.0\.1:%d, does not answer .*popgate setup "
                                        r"you@example\.com -c " % closed, timeout=10))
            with gw.pop3(timeout=30) as c:
                r = c.login("alice", "secret")
            self.assertEqual(r, "-ERR [SYS/TEMP] Upstream server unavailable "
                                "(127.0.0.1:%d: Connection refused)" % closed)
            self.assertEqual(gw.log_text().count("event=upstream_unreachable"), 1)
        finally:
            gw.stop()

    def test_no_upstream_refused_with_advice(self):
        path = write(os.path.join(TMP, "none.conf"), "[server]\nlisten = 127.0.0.1:%d\n"
                     % h.free_port())
        p = subprocess.run([h.binary_path(), "-c", path], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no upstream", p.stderr)
        self.assertIn(b"popgate setup you@example.com -c " + path.encode(), p.stderr)

    def test_check_connect(self):
        closed = h.free_port()
        path = write(os.path.join(TMP, "check.conf"),
                     "[upstream]\nhost = 127.0.0.1\nport = %d\ntls = none\n\n"
                     "[route down.example]\nhost = 127.0.0.1\nport = %d\ntls = none\n"
                     % (DC.imap_port, closed))
        p = subprocess.run([h.binary_path(), "--check", "--connect", "-c", path],
                           capture_output=True, timeout=60)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 1, out)
        self.assertIn("[upstream] 127.0.0.1:%d: answers" % DC.imap_port, out)
        self.assertIn("[route down.example] 127.0.0.1:%d: does not answer: Connection refused"
                      % closed, out)
        # --check alone connects nowhere
        p = subprocess.run([h.binary_path(), "--check", "-c", path], capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(b"answer", p.stdout)
