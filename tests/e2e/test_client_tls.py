"""Client-side TLS: implicit TLS (listen_tls, POP3S) and STLS (RFC 2595) on
the plain listener, with a throwaway certificate made at test time
(harness.make_cert: self-signed, IP SAN 127.0.0.1, so it is its own CA).

Real clients (poplib POP3_SSL and stls(), curl pop3s:// and --ssl-reqd,
openssl s_client -starttls pop3), certificate verification for 127.0.0.1,
TLS 1.2 minimum, CAPA before and after STLS, STLS refused twice / after
login / without a certificate, the STARTTLS command-injection case,
plaintext_auth = local | tls-only | always with local_networks (the client
bound to 127.0.0.2), the client_tls= field of the session_end log line,
SIGHUP certificate reload (and a broken key keeping the old one), and the
--check errors of the new configuration keys."""
import os
import poplib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unittest
import warnings
from unittest import mock

import harness as h

ENV = None
MSGS = None          # [(msgno, uid, imap_body)]
CERT_DIR = None
CA = KEY = None      # the gateway's certificate (self-signed: also the CA file)
OTHER_CA = None      # an unrelated throwaway certificate

NONLOCAL = "127.0.0.2"


def setUpModule():
    global ENV, MSGS, CERT_DIR, CA, KEY, OTHER_CA
    if h.NATIVE:
        raise unittest.SkipTest("popgate client-side TLS")
    CERT_DIR = h.make_tempdir("pgt-ct-")
    CA, KEY = h.make_cert(CERT_DIR, "gw")
    OTHER_CA, _ = h.make_cert(CERT_DIR, "other")
    ENV = h.Env(fill_users=("alice",), big_mb=1)
    with ENV.imap() as im:
        MSGS = [(i + 1, u, im.body(u)) for i, u in enumerate(im.listing())]


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None
    if CERT_DIR and not os.environ.get("POPGATE_E2E_KEEP"):
        shutil.rmtree(CERT_DIR, ignore_errors=True)


def gateway(tls=True, tls_listen=1, cert=None, key=None, upstream_port=None, **server):
    t = None
    if tls:
        t = {"cert_file": cert or CA, "key_file": key or KEY}
    return ENV.gateway(server=server or None, tls=t, tls_listen=tls_listen if tls else 0,
                       upstream_port=upstream_port)


def verified():
    """Client context trusting only the throwaway CA, host name checked."""
    return h.tls_client_context(CA)


def unverified(**kw):
    return h.tls_client_context(None, **kw)


def tls11_only():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return h.tls_client_context(None, min_version=ssl.TLSVersion.TLSv1_1,
                                    max_version=ssl.TLSVersion.TLSv1_1,
                                    ciphers="DEFAULT:@SECLEVEL=0")


def tls11_client_works():
    """Whether this Python/OpenSSL can speak TLS 1.1 at all (an in-memory
    handshake against a TLS 1.1 server); otherwise 'refused' proves nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(CA, KEY)
            sctx.minimum_version = sctx.maximum_version = ssl.TLSVersion.TLSv1_1
            sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            si, so, ci, co = (ssl.MemoryBIO() for _ in range(4))
            srv = sctx.wrap_bio(si, so, server_side=True)
            cli = tls11_only().wrap_bio(ci, co)
        except (ssl.SSLError, ValueError):
            return False
        done = [False, False]
        for _ in range(20):
            for i, (obj, out, peer_in) in enumerate(((cli, co, si), (srv, so, ci))):
                if not done[i]:
                    try:
                        obj.do_handshake()
                        done[i] = True
                    except ssl.SSLWantReadError:
                        pass
                    except ssl.SSLError:
                        return False
                peer_in.write(out.read())
            if all(done):
                return cli.version() == "TLSv1.1"
        return False


def has_sasl_plain(caps):
    return any(l.split()[:1] == ["SASL"] and "PLAIN" in l.split()[1:] for l in caps)


def no_login_advertised(testcase, caps):
    testcase.assertNotIn("USER", caps, "CAPA advertises USER without TLS: %r" % caps)
    testcase.assertFalse([l for l in caps if l.split()[:1] == ["SASL"]],
                         "CAPA advertises SASL without TLS: %r" % caps)


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def client(self, gw, source=None, tls=None, timeout=20):
        """Raw client on the plain port, or (tls=context) the implicit-TLS
        port; greeting read."""
        if tls is not None:
            c = gw.pop3s(tls, timeout=timeout, source=source)
        else:
            c = gw.pop3(timeout=timeout, source=source)
        self.clients.append(c)
        r = c.read_greeting()
        self.assertTrue(r.startswith("+OK"), r)
        return c

    def stls(self, c, context=None):
        r = c.stls(context or verified())
        self.assertEqual(r, "+OK Begin TLS negotiation")
        self.assertIn(c.tls_version(), ("TLSv1.2", "TLSv1.3"))
        return r

    def assert_login(self, c, user="alice", password="secret", gw=None):
        r = c.login(user, password)
        self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (
            r, gw.log_text()[-2000:] if gw else ""))

    def assert_retr1(self, c):
        n, uid, body = MSGS[0]
        self.assertEqual(c.retr(n), h.expected_retr(body))

    def quit(self, c):
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


# ---------------------------------------------------------------- real clients

class TestImplicitTls(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway()

    def test_poplib_pop3s_stat_and_retr_every_message(self):
        with self.client(self.gw) as plain:          # reference STAT, same daemon
            self.assert_login(plain)
            want_stat = plain.cmd("STAT")
            self.quit(plain)
        p = poplib.POP3_SSL(h.HOST, self.gw.tls_port, timeout=30, context=verified())
        try:
            self.assertTrue(p.getwelcome().startswith(b"+OK"))
            self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertTrue(p.user("alice").startswith(b"+OK"))
            self.assertTrue(p.pass_("secret").startswith(b"+OK"))
            count, size = p.stat()
            self.assertEqual(count, len(MSGS))
            self.assertEqual("+OK %d %d" % (count, size), want_stat)
            with mock.patch.object(poplib, "_MAXLINE", 1 << 20):   # the 6000-octet line
                for n, uid, body in MSGS:
                    with self.subTest(msg=n):
                        resp, lines, octets = p.retr(n)
                        self.assertTrue(resp.startswith(b"+OK"), resp)
                        self.assertEqual(b"".join(l + b"\r\n" for l in lines),
                                         h.expected_retr(body))
            self.assertTrue(p.quit().startswith(b"+OK"))
        finally:
            p.close()

    def test_certificate_verifies_for_ip_127_0_0_1(self):
        c = self.client(self.gw, tls=verified())     # CA + host name 127.0.0.1 checked
        cert = c.sock.getpeercert()
        self.assertIn(("IP Address", "127.0.0.1"), cert.get("subjectAltName", ()))
        self.assertEqual(c.peer_cert_der(), h.cert_der(CA))
        # and it is the configured certificate that is checked: another CA fails
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.client(self.gw, tls=h.tls_client_context(OTHER_CA))

    def test_capa_has_no_stls_and_stls_refused(self):
        c = self.client(self.gw, tls=verified())
        caps = c.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        self.assertTrue(has_sasl_plain(caps), caps)
        r = c.cmd("STLS")
        self.assertTrue(r.startswith("-ERR"), "STLS under implicit TLS -> %r" % r)
        self.assert_login(c)
        self.assert_retr1(c)
        self.quit(c)

    def test_tls11_only_client_refused(self):
        if not tls11_client_works():
            self.skipTest("this OpenSSL cannot make a TLS 1.1 client")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.client(self.gw, tls=tls11_only())
        # same on the STLS path
        c = self.client(self.gw)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            c.stls(tls11_only())
        self.assertTrue(self.gw.alive())

    def test_tls12_client_accepted(self):
        ctx = h.tls_client_context(CA, max_version=ssl.TLSVersion.TLSv1_2)
        c = self.client(self.gw, tls=ctx)
        self.assertEqual(c.tls_version(), "TLSv1.2")
        self.assert_login(c)
        self.assert_retr1(c)
        self.quit(c)

    def test_quit_ends_tls_with_close_notify(self):
        """RFC 8446 6.1: close_notify before closing the write side (OpenSSL 3
        clients report 'unexpected eof while reading' otherwise)."""
        for path, login in (("implicit", False), ("implicit", True), ("stls", False),
                            ("stls", True)):
            with self.subTest(path=path, after_login=login):
                s = socket.create_connection((h.HOST, self.gw.tls_port if path == "implicit"
                                              else self.gw.port), timeout=10)
                try:
                    got = b""
                    if path == "stls":
                        while got.count(b"\r\n") < 1:
                            got += s.recv(1000) or self.fail("EOF: %r" % got)
                        s.sendall(b"STLS\r\n")
                        while got.count(b"\r\n") < 2:
                            got += s.recv(1000) or self.fail("EOF: %r" % got)
                    s = verified().wrap_socket(s, server_hostname=h.HOST,
                                               suppress_ragged_eofs=False)
                    got = b""
                    if path == "implicit":
                        while got.count(b"\r\n") < 1:
                            got += s.recv(1000) or self.fail("EOF: %r" % got)
                    if login:
                        s.sendall(b"USER alice\r\nPASS secret\r\n")
                        while got.count(b"+OK") < (3 if path == "implicit" else 2):
                            got += s.recv(1000) or self.fail("EOF: %r" % got)
                    got = b""
                    s.sendall(b"QUIT\r\n")
                    try:
                        while True:
                            x = s.recv(1000)
                            if not x:
                                break                  # close_notify
                            got += x
                    except ssl.SSLEOFError as e:
                        self.fail("QUIT answered %r, then the TCP connection was closed "
                                  "without a TLS close_notify (%s)" % (got, e))
                    self.assertTrue(got.startswith(b"+OK"), got)
                finally:
                    s.close()

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_pop3s_list(self):
        r = subprocess.run(["curl", "-sS", "--max-time", "25", "-u", "alice:secret",
                            "--cacert", CA, "pop3s://%s:%d/" % (h.HOST, self.gw.tls_port)],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.client(self.gw)
        self.assert_login(c)
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        self.assertEqual(r.stdout.decode().splitlines(), c.multi_lines())
        self.assertEqual(len(r.stdout.decode().splitlines()), len(MSGS))


class TestStls(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=0)

    def test_capa_lists_stls_before_tls_only(self):
        c = self.client(self.gw)
        caps = c.capa()
        self.assertIn("STLS", caps)
        self.stls(c)
        caps = c.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        self.assertTrue(has_sasl_plain(caps), caps)
        r = c.cmd("STLS")
        self.assertTrue(r.startswith("-ERR"), "second STLS -> %r" % r)
        self.assert_login(c)
        self.assert_retr1(c)
        self.quit(c)

    def test_stls_after_login_refused(self):
        c = self.client(self.gw)
        self.assert_login(c)               # 127.0.0.1 is local: plaintext allowed
        r = c.cmd("STLS")
        self.assertTrue(r.startswith("-ERR"), "STLS after login -> %r" % r)
        self.assertIsNone(c.tls_version())
        self.assertTrue(c.cmd("STAT").startswith("+OK"))     # session goes on
        self.quit(c)

    def test_user_before_stls_is_forgotten(self):
        # RFC 2595 4: what was said in plaintext does not carry over
        c = self.client(self.gw)
        self.assertTrue(c.cmd("USER alice").startswith("+OK"))
        self.assertTrue(c.stls(verified()).startswith("+OK"))
        r = c.cmd("PASS secret")
        self.assertTrue(r.startswith("-ERR"), "PASS after STLS without USER -> %r" % r)
        self.assert_login(c)               # USER and PASS again, over TLS: fine
        self.quit(c)

    def test_poplib_stls_then_login(self):
        p = poplib.POP3(h.HOST, self.gw.port, timeout=30)
        try:
            self.assertTrue(p.stls(verified()).startswith(b"+OK"))
            self.assertIn(p.sock.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertNotIn("STLS", p.capa())
            self.assertTrue(p.user("alice").startswith(b"+OK"))
            self.assertTrue(p.pass_("secret").startswith(b"+OK"))
            self.assertEqual(p.stat()[0], len(MSGS))
            n, uid, body = MSGS[0]
            resp, lines, octets = p.retr(n)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines), h.expected_retr(body))
            self.assertTrue(p.quit().startswith(b"+OK"))
        finally:
            p.close()

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_ssl_reqd_retr(self):
        n, uid, body = MSGS[0]
        r = subprocess.run(["curl", "-sS", "--max-time", "25", "-u", "alice:secret",
                            "--ssl-reqd", "--cacert", CA,
                            "pop3://%s:%d/%d" % (h.HOST, self.gw.port, n)],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, h.expected_retr(body))

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_openssl_s_client_starttls_verifies(self):
        r = subprocess.run(["timeout", "20", "openssl", "s_client", "-starttls", "pop3",
                            "-connect", "%s:%d" % (h.HOST, self.gw.port), "-CAfile", CA,
                            "-verify_return_error", "-verify_ip", "127.0.0.1",
                            "-crlf", "-ign_eof"],
                           input=b"QUIT\n", capture_output=True, timeout=30)
        out = r.stdout.decode("utf-8", "replace")
        brief = "\n".join(l for l in out.splitlines()           # no hex dumps, no PEM
                          if not re.match(r"\s+[0-9a-f]{4} - |[A-Za-z0-9+/=]{64}$", l))
        self.assertEqual(r.returncode, 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (
            r.returncode, brief[-1500:], r.stderr.decode("utf-8", "replace")[-1500:]))
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"(?m)^\+OK", "no +OK to QUIT inside TLS:\n" + out[-2000:])

    def test_tls11_only_client_refused_on_stls(self):
        if not tls11_client_works():
            self.skipTest("this OpenSSL cannot make a TLS 1.1 client")
        c = self.client(self.gw)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            c.stls(tls11_only())
        self.assertTrue(self.gw.alive())


class TestNoCertificate(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls=False)

    def test_no_stls_without_certificate(self):
        c = self.client(self.gw)
        caps = c.capa()
        self.assertNotIn("STLS", caps)
        r = c.cmd("STLS")
        self.assertTrue(r.startswith("-ERR"), "STLS without a certificate -> %r" % r)
        self.assert_login(c)                 # still usable, in plaintext
        self.assert_retr1(c)
        self.quit(c)


# ---------------------------------------------------------------- injection

class TestStlsInjection(Base):
    """STLS\\r\\nCAPA\\r\\n in one packet: CAPA must be answered neither in
    plaintext nor inside the TLS session (RFC 2595 / CVE-2011-0411 class)."""

    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=0)

    def test_pipelined_capa_after_stls_discarded(self):
        s = socket.create_connection((h.HOST, self.gw.port), timeout=10)
        raw = bytearray()          # every octet received, in order
        plain = bytearray()        # decrypted octets
        handshake_error = None
        try:
            deadline = time.monotonic() + 10

            def recv():
                s.settimeout(max(0.05, deadline - time.monotonic()))
                d = s.recv(65536)
                raw.extend(d)
                return d

            while raw.count(b"\r\n") < 1 and recv():
                pass
            self.assertTrue(raw.startswith(b"+OK"), bytes(raw))
            greeting_end = raw.index(b"\r\n") + 2
            s.sendall(b"STLS\r\nCAPA\r\n")
            while raw.count(b"\r\n") < 2 and recv():
                pass
            stls_end = raw.index(b"\r\n", greeting_end) + 2
            self.assertEqual(bytes(raw[greeting_end:stls_end]), b"+OK Begin TLS negotiation\r\n")
            # nothing may come in plaintext before the client's ClientHello
            time.sleep(0.3)
            s.setblocking(False)
            try:
                early = s.recv(65536)
            except BlockingIOError:
                early = None
            s.setblocking(True)
            self.assertIsNone(early, "octets after the STLS +OK before the ClientHello: %r"
                              % early)

            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = verified().wrap_bio(inc, out, server_hostname=h.HOST)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if out.pending:
                        s.sendall(out.read())
                    try:
                        d = recv()
                    except (socket.timeout, TimeoutError):
                        self.fail("TLS handshake after STLS timed out")
                    except ConnectionError as e:
                        handshake_error = e
                        break
                    if not d:
                        handshake_error = "EOF during handshake"
                        break
                    inc.write(d)
                except ssl.SSLError as e:
                    handshake_error = e
                    break
            if handshake_error is None:
                if out.pending:
                    s.sendall(out.read())
                # The first thing inside TLS must be the answer to our own
                # CAPA: an answer to the injected one would come before it.
                # Read until 0.5 s of silence after a complete answer (an
                # answer to the injected CAPA would be a second one).
                tls.write(b"CAPA\r\n")
                s.sendall(out.read())
                t_end = time.monotonic() + 4
                while time.monotonic() < t_end:
                    try:
                        plain.extend(tls.read(65536))
                        continue
                    except ssl.SSLWantReadError:
                        pass
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        break
                    idle = 0.5 if b"\r\n.\r\n" in plain else t_end - time.monotonic()
                    try:
                        s.settimeout(max(0.05, min(idle, t_end - time.monotonic())))
                        d = s.recv(65536)
                    except (socket.timeout, TimeoutError):
                        if b"\r\n.\r\n" in plain:
                            break
                        continue
                    raw.extend(d)
                    if not d:
                        break
                    inc.write(d)
                # exactly one CAPA answer (ours), nothing before it
                self.assertTrue(plain.startswith(b"+OK Capability list follows\r\n"),
                                "first octets inside TLS: %r" % bytes(plain[:200]))
                self.assertEqual(plain.count(b"Capability list"), 1,
                                 "two CAPA answers inside TLS: %r" % bytes(plain))
                self.assertTrue(plain.endswith(b"\r\n.\r\n"), bytes(plain))
                self.assertNotIn(b"\r\nSTLS\r\n", plain)
        finally:
            s.close()
        after_stls = bytes(raw[stls_end:])
        i = after_stls.find(b"Capability list")
        self.assertEqual(i, -1, "CAPA answered in plaintext after STLS: %r"
                         % after_stls[max(0, i - 40):i + 60])
        if after_stls:
            # TLS records only (handshake 0x16, alert 0x15, ccs 0x14, data 0x17)
            self.assertIn(after_stls[0], (0x14, 0x15, 0x16, 0x17),
                          "plaintext after STLS +OK: %r" % after_stls[:100])
        self.assertTrue(self.gw.alive())


# ---------------------------------------------------------------- plaintext policy

class TestPolicyLocal(Base):
    """plaintext_auth = local, local_networks = 127.0.0.1/32; the client
    comes from 127.0.0.2."""

    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=1, plaintext_auth="local", local_networks="127.0.0.1/32")

    def check_refused(self, c):
        r = c.cmd("USER alice")
        self.assertTrue(r.startswith("-ERR") and "TLS" in r, "USER -> %r" % r)
        r = c.cmd("PASS secret")
        self.assertTrue(r.startswith("-ERR") and "TLS" in r, "PASS -> %r" % r)
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "secret"))
        self.assertTrue(r.startswith("-ERR") and "TLS" in r, "AUTH PLAIN <ir> -> %r" % r)
        r = c.cmd("AUTH PLAIN")
        self.assertTrue(r.startswith("-ERR") and "TLS" in r, "AUTH PLAIN -> %r" % r)

    def test_nonlocal_plain_refused_then_stls_allows(self):
        c = self.client(self.gw, source=NONLOCAL)
        caps = c.capa()
        no_login_advertised(self, caps)
        self.assertIn("STLS", caps)
        self.check_refused(c)
        self.stls(c)
        caps = c.capa()
        self.assertIn("USER", caps)
        self.assertTrue(has_sasl_plain(caps), caps)
        self.assert_login(c, gw=self.gw)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assert_retr1(c)
        self.quit(c)

    def test_nonlocal_auth_plain_after_stls(self):
        c = self.client(self.gw, source=NONLOCAL)
        self.stls(c)
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "secret"))
        self.assertTrue(r.startswith("+OK"), r)
        self.quit(c)

    def test_nonlocal_implicit_tls_allowed(self):
        c = self.client(self.gw, source=NONLOCAL, tls=verified())
        self.assertIn("USER", c.capa())
        self.assert_login(c, gw=self.gw)
        self.quit(c)

    def test_local_source_plain_allowed(self):
        c = self.client(self.gw)                 # 127.0.0.1
        caps = c.capa()
        self.assertIn("USER", caps)
        self.assertTrue(has_sasl_plain(caps), caps)
        self.assert_login(c, gw=self.gw)
        self.assert_retr1(c)
        self.quit(c)


class TestPolicyNoUpstreamContact(Base):
    """A refused plaintext login never reaches the upstream (fake IMAP
    server counts connections)."""

    def setUp(self):
        super().setUp()
        self.fake = h.FakeImap([h.fake_message("p1")]).start()
        self.gw = gateway(tls_listen=0, upstream_port=self.fake.port,
                          plaintext_auth="local", local_networks="127.0.0.1/32")

    def tearDown(self):
        super().tearDown()
        self.gw.cleanup()
        self.fake.stop()

    def test_refused_login_does_not_contact_upstream(self):
        self.assertTrue(self.gw.wait_probed())
        probed = len(self.fake.all_conns())
        c = self.client(self.gw, source=NONLOCAL)
        TestPolicyLocal.check_refused(self, c)
        time.sleep(0.3)
        self.assertEqual(len(self.fake.all_conns()), probed,
                         "popgate contacted the upstream for a refused plaintext login")
        self.stls(c)
        self.assert_login(c, gw=self.gw)
        self.assertTrue(self.fake.wait_conns(probed + 1, 5))
        self.assertEqual([x[1:] for x in self.fake.login_conns()[0].logins],
                         [(b"alice", b"secret")])
        self.quit(c)


class TestPolicyTlsOnly(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=1, plaintext_auth="tls-only")

    def test_local_plain_refused(self):
        c = self.client(self.gw)                 # 127.0.0.1, local by default
        caps = c.capa()
        no_login_advertised(self, caps)
        self.assertIn("STLS", caps)
        TestPolicyLocal.check_refused(self, c)
        self.stls(c)
        caps = c.capa()
        self.assertIn("USER", caps)
        self.assertTrue(has_sasl_plain(caps), caps)
        self.assert_login(c, gw=self.gw)
        self.assert_retr1(c)
        self.quit(c)

    def test_implicit_tls_allowed(self):
        c = self.client(self.gw, tls=verified())
        self.assert_login(c, gw=self.gw)
        self.quit(c)


class TestPolicyAlways(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=0, plaintext_auth="always", local_networks="127.0.0.1/32")

    def test_nonlocal_plain_allowed(self):
        c = self.client(self.gw, source=NONLOCAL)
        caps = c.capa()
        self.assertIn("USER", caps)
        self.assertTrue(has_sasl_plain(caps), caps)
        self.assertIn("STLS", caps)
        self.assert_login(c, gw=self.gw)
        self.assert_retr1(c)
        self.quit(c)
        c = self.client(self.gw, source=NONLOCAL)
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64("alice", "secret"))
        self.assertTrue(r.startswith("+OK"), r)
        self.quit(c)


class TestPolicyDefault(Base):
    """No plaintext_auth key: local, with 127.0.0.0/8 ::1/128 unless
    local_networks says otherwise."""

    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=0)
        cls.gw_narrow = gateway(tls_listen=0, local_networks="127.0.0.1/32")

    def test_loopback_plain_allowed(self):
        for src in (None, NONLOCAL):           # both inside 127.0.0.0/8
            with self.subTest(source=src or "127.0.0.1"):
                c = self.client(self.gw, source=src)
                self.assertIn("USER", c.capa())
                self.assert_login(c, gw=self.gw)
                self.quit(c)

    def test_default_policy_is_local(self):
        c = self.client(self.gw_narrow, source=NONLOCAL)
        no_login_advertised(self, c.capa())
        r = c.cmd("USER alice")
        self.assertTrue(r.startswith("-ERR") and "TLS" in r, "USER -> %r" % r)
        c = self.client(self.gw_narrow)
        self.assert_login(c, gw=self.gw_narrow)
        self.quit(c)


# ---------------------------------------------------------------- log

class TestSessionLog(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls_listen=1)

    def session_end(self, user, start):
        m = self.gw.wait_log(r"[^\n]*event=session_end[^\n]*user=%s[^\n]*" % user, 5, start)
        self.assertTrue(m, "no session_end line for %s in:\n%s" % (user, self.gw.log_since(start)))
        return h.parse_kv(m.group(0)), m.group(0)

    def test_client_tls_field(self):
        cases = [
            ("bob", "none", lambda: self.client(self.gw)),
            ("dave", "TLSv1.3", lambda: self.client(self.gw, tls=verified())),
            ("erin", "TLSv1.2", lambda: self.client(
                self.gw, tls=h.tls_client_context(CA, max_version=ssl.TLSVersion.TLSv1_2))),
            ("alice", "TLSv1.3", "stls"),
        ]
        for user, want, make in cases:
            with self.subTest(user=user, client_tls=want):
                start = self.gw.log_size()
                if make == "stls":
                    c = self.client(self.gw)
                    self.stls(c)
                else:
                    c = make()
                self.assertEqual(c.tls_version(), None if want == "none" else want)
                self.assert_login(c, user=user, gw=self.gw)
                self.quit(c)
                kv, line = self.session_end(user, start)
                self.assertEqual(kv.get("client_tls"), want, line)


# ---------------------------------------------------------------- reload

class TestReload(Base):
    """SIGHUP reloads cert_file/key_file: new connections get the new
    certificate, an open TLS session goes on; a broken key keeps the old."""

    @classmethod
    def setUpClass(cls):
        cls.dir = h.make_tempdir("pgt-rl-")
        cls.certs = [h.make_cert(cls.dir, "r%d" % i) for i in range(3)]
        cls.cert = os.path.join(cls.dir, "live-cert.pem")
        cls.key = os.path.join(cls.dir, "live-key.pem")
        cls.install(*cls.certs[0])
        cls.gw = gateway(tls_listen=1, cert=cls.cert, key=cls.key)

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def install(cls, cert, key):
        shutil.copyfile(cert, cls.cert)
        shutil.copyfile(key, cls.key)

    def presented(self, stls=False):
        """DER of the certificate a new connection gets (not verified)."""
        if stls:
            with self.gw.pop3(timeout=5) as c:
                c.read_greeting()
                self.assertEqual(c.stls(unverified()), "+OK Begin TLS negotiation")
                return c.peer_cert_der()
        with self.gw.pop3s(unverified(), timeout=5) as c:
            c.read_greeting()
            return c.peer_cert_der()

    def reload_to(self, index):
        self.install(*self.certs[index])
        self.gw.signal(signal.SIGHUP)
        want = h.cert_der(self.certs[index][0])
        got = h.wait_until(lambda: self.presented() == want, 5, 0.1)
        self.assertTrue(got, "new connections still get the old certificate 5 s after "
                             "SIGHUP; log:\n%s" % self.gw.log_text()[-2000:])

    def test_sighup_reloads_certificate(self):
        self.reload_to(0)
        a, b = (h.cert_der(c) for c, k in self.certs[:2])
        self.assertEqual(self.presented(), a)
        old = self.client(self.gw, tls=unverified(), timeout=30)
        self.assertEqual(old.peer_cert_der(), a)
        self.assert_login(old, gw=self.gw)
        self.assertTrue(old.cmd("STAT").startswith("+OK"))
        self.reload_to(1)
        self.assertEqual(self.presented(stls=True), b)
        # the session opened before the reload is unharmed
        self.assert_retr1(old)
        self.assertTrue(old.cmd("STAT").startswith("+OK"))
        self.quit(old)
        c = self.client(self.gw, tls=unverified())
        self.assert_login(c, gw=self.gw)
        self.quit(c)

    def test_sighup_with_broken_key_keeps_old_certificate(self):
        self.reload_to(1)
        current = h.cert_der(self.certs[1][0])
        with open(self.certs[0][1], "rb") as f:
            mismatched = f.read()                 # a valid key, of another certificate
        for what, key_data in (("garbage", b"-----BEGIN PRIVATE KEY-----\nnot a key\n"
                                           b"-----END PRIVATE KEY-----\n"),
                               ("mismatched", mismatched)):
            with self.subTest(key=what):
                open_sess = self.client(self.gw, tls=unverified(), timeout=30)
                self.assert_login(open_sess, gw=self.gw)
                start = self.gw.log_size()
                shutil.copyfile(self.certs[2][0], self.cert)     # new cert, broken key
                with open(self.key, "wb") as f:
                    f.write(key_data)
                self.gw.signal(signal.SIGHUP)
                self.assertTrue(self.gw.wait_log(r"level=error", 5, start),
                                "no error logged for a broken key file:\n"
                                + self.gw.log_since(start))
                time.sleep(0.2)
                self.assertTrue(self.gw.alive())
                self.assertEqual(self.presented(), current)
                self.assertEqual(self.presented(stls=True), current)
                c = self.client(self.gw, tls=unverified())
                # another device: open_sess holds alice's default one
                self.assert_login(c, user="alice#second", gw=self.gw)
                self.quit(c)
                self.assert_retr1(open_sess)
                self.quit(open_sess)
                self.install(*self.certs[1])


# ---------------------------------------------------------------- --check

class TestConfigCheck(unittest.TestCase):
    def setUp(self):
        self.dir = h.make_tempdir("pgt-cf-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, text):
        path = os.path.join(self.dir, "t.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([h.binary_path(), "-c", path, "--check"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        return path, r.returncode, r.stderr.decode("utf-8", "replace")

    @staticmethod
    def line_of(text, prefix):
        return next(i + 1 for i, l in enumerate(text.splitlines()) if l.startswith(prefix))

    def test_valid_tls_configs(self):
        for name, text in (
                ("stls+pop3s", h.popgate_conf(1110, 143, listen_tls=[1995],
                                              tls={"cert_file": CA, "key_file": KEY})),
                ("policy", h.popgate_conf(1110, 143, tls={"cert_file": CA, "key_file": KEY},
                                          server={"plaintext_auth": "tls-only",
                                                  "local_networks": "10.0.0.0/8 ::1/128"})),
                ("always", h.popgate_conf(1110, 143, server={"plaintext_auth": "always"}))):
            with self.subTest(name):
                path, rc, err = self.check(text)
                self.assertEqual(rc, 0, err)

    def test_listen_tls_without_certificate(self):
        text = h.popgate_conf(1110, 143, listen_tls=[1995])
        path, rc, err = self.check(text)
        self.assertEqual(rc, 1, "exit %d; stderr %r" % (rc, err))
        want = "%s:%d:" % (path, self.line_of(text, "listen_tls"))
        self.assertIn(want, err, "error does not name %s: %r" % (want, err))
        for tls in ({"cert_file": CA}, {"key_file": KEY}):
            with self.subTest(tls=tls):
                path, rc, err = self.check(h.popgate_conf(1110, 143, listen_tls=[1995], tls=tls))
                self.assertEqual(rc, 1, "exit %d; stderr %r" % (rc, err))
                self.assertRegex(err, re.escape(path) + r":\d+:")

    def test_missing_cert_file(self):
        nope = os.path.join(self.dir, "nope.pem")
        for listen_tls in ([1995], []):
            with self.subTest(listen_tls=listen_tls):
                path, rc, err = self.check(h.popgate_conf(
                    1110, 143, listen_tls=listen_tls, tls={"cert_file": nope, "key_file": KEY}))
                self.assertEqual(rc, 1, "exit %d; stderr %r" % (rc, err))
                self.assertTrue(err.strip())

    def test_bad_policy_values_name_file_and_line(self):
        for key, value in (("plaintext_auth", "sometimes"),
                           ("local_networks", "127.0.0.1/33"),
                           ("local_networks", "127.0.0.0/8 banana"),
                           ("local_networks", "10.1.2.3/8")):
            with self.subTest(**{key: value}):
                text = h.popgate_conf(1110, 143, server={key: value})
                path, rc, err = self.check(text)
                self.assertEqual(rc, 1, "exit %d; stderr %r" % (rc, err))
                self.assertIn("%s:%d:" % (path, self.line_of(text, key)), err)


if __name__ == "__main__":
    unittest.main()
