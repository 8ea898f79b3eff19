"""Upstream TLS: implicit TLS (imaps) and STARTTLS against a private Dovecot
with a self-signed certificate (ca_file), certificate and host name
verification failures, STARTTLS stripping (no credentials in the clear), and
streaming with bounded memory over TLS."""
import os
import select
import threading
import ssl
import socket
import shutil
import struct
import time
import unittest

import harness as h

ENV = None
MSGS = None


def setUpModule():
    global ENV, MSGS
    if h.NATIVE:
        raise unittest.SkipTest("popgate upstream TLS")
    ENV = h.Env.__new__(h.Env)
    ENV.gws = []
    ENV.gw = None
    ENV.dc = None
    try:
        ENV.dc = h.Dovecot(ssl=True).start()
        ENV.names = h.fill_mailbox(ENV.dc, "alice", big_mb=5)
    except BaseException:
        ENV.close()
        raise
    with ENV.imap() as im:
        MSGS = [(i + 1, u, im.body(u)) for i, u in enumerate(im.listing())]


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


def gateway(**upstream):
    u = {"host": "127.0.0.1", "timeout": "5s"}
    u.update(upstream)
    return ENV.gateway(upstream=u, upstream_port=u.pop("port", None))


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def login(self, gw, user="alice", password="secret"):
        c = h.Pop3(gw.port, timeout=30)
        self.clients.append(c)
        c.read_greeting()
        return c, c.login(user, password)


class TestImaps(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls="imaps", port=ENV.dc.imaps_port, verify="yes",
                         ca_file=ENV.dc.cert)

    def test_retr_every_message(self):
        c, r = self.login(self.gw)
        self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (r, self.gw.log_text()[-2000:]))
        for n, uid, body in MSGS:
            with self.subTest(msg=n):
                self.assertEqual(c.retr(n), h.expected_retr(body))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_top_and_uidl(self):
        c, r = self.login(self.gw)
        self.assertTrue(r.startswith("+OK"), r)
        with ENV.imap() as im:
            uv = im.uidvalidity()
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        self.assertEqual(c.multi_lines(), ["%d %08x%08x" % (n, u, uv) for n, u, _ in MSGS])
        n, uid, body = MSGS[0]
        self.assertTrue(c.cmd("TOP %d 2" % n).startswith("+OK"))
        self.assertEqual(c.multi(), h.expected_top(body, 2))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_bad_password_is_auth(self):
        c, r = self.login(self.gw, password="nope")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)

    def test_stalled_reader_bounded_memory(self):
        n, uid, body = max(MSGS, key=lambda m: len(m[2]))
        self.assertGreater(len(body), 5_000_000)
        c = h.Pop3(self.gw.port, timeout=30, rcvbuf=16384)
        self.clients.append(c)
        c.read_greeting()
        self.assertTrue(c.login().startswith("+OK"))
        c.retr(1)
        time.sleep(0.3)
        base = self.gw.rss_kb()
        c.send("RETR %d\r\n" % n)
        peak = base
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            peak = max(peak, self.gw.rss_kb())
            time.sleep(0.05)
        self.assertLessEqual(peak - base, h.RSS_LIMIT_KB,
                             "VmRSS grew by %d kB over TLS with a stalled reader" % (peak - base))
        self.assertTrue(c.status().startswith("+OK"))
        self.assertEqual(c.multi(), h.expected_retr(body))


class TestStarttls(Base):
    @classmethod
    def setUpClass(cls):
        cls.gw = gateway(tls="starttls", port=ENV.dc.imap_port, verify="yes",
                         ca_file=ENV.dc.cert)

    def test_retr_every_message(self):
        c, r = self.login(self.gw)
        self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (r, self.gw.log_text()[-2000:]))
        for n, uid, body in MSGS:
            with self.subTest(msg=n):
                self.assertEqual(c.retr(n), h.expected_retr(body))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_special_password(self):
        c = h.Pop3(self.gw.port)
        self.clients.append(c)
        c.read_greeting()
        r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(h.SPECIAL_USER, h.SPECIAL_PASS))
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestVerification(Base):
    def test_untrusted_certificate_refused(self):
        gw = gateway(tls="imaps", port=ENV.dc.imaps_port, verify="yes")   # system store
        c, r = self.login(gw)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertTrue(gw.wait_log(r"(?i)certificate", 3), gw.log_text()[-2000:])

    def test_untrusted_certificate_refused_starttls(self):
        gw = gateway(tls="starttls", port=ENV.dc.imap_port, verify="yes")
        c, r = self.login(gw)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertTrue(gw.wait_log(r"(?i)certificate", 3), gw.log_text()[-2000:])

    def test_host_name_mismatch_refused(self):
        # the certificate names IP 127.0.0.1 only; "localhost" must not match
        gw = gateway(tls="imaps", port=ENV.dc.imaps_port, verify="yes", ca_file=ENV.dc.cert,
                     host="localhost")
        c, r = self.login(gw)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertTrue(gw.wait_log(r"(?i)(host ?name|mismatch)", 3), gw.log_text()[-2000:])

    def test_expired_certificate_refused(self):
        # trusted (ca_file is the certificate itself) but expired: refused,
        # and the log says why
        d = h.make_tempdir("pgt-exp-")
        cert, key = h.make_expired_cert(d, "expired")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv = socket.socket()
        srv.bind((h.HOST, 0))
        srv.listen(4)
        srv.settimeout(10)
        port = srv.getsockname()[1]
        handshakes = []

        def serve():
            try:
                conn, _ = srv.accept()
                conn.settimeout(10)
                try:
                    t = ctx.wrap_socket(conn, server_side=True)
                    handshakes.append("ok")
                    t.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] expired\r\n")
                    t.recv(100)
                except (ssl.SSLError, OSError) as e:
                    handshakes.append(repr(e))
                finally:
                    conn.close()
            except OSError:
                pass

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            gw = gateway(tls="imaps", port=port, verify="yes", ca_file=cert)
            c, r = self.login(gw)
            self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
            self.assertTrue(gw.wait_log(r"(?i)expired", 3), gw.log_text()[-2000:])
            t.join(10)
            self.assertNotEqual(handshakes, ["ok"], "the handshake with an expired "
                                "certificate must not complete")
        finally:
            srv.close()
            shutil.rmtree(d, ignore_errors=True)

    def test_verify_no_accepts_self_signed(self):
        gw = gateway(tls="imaps", port=ENV.dc.imaps_port, verify="no")
        c, r = self.login(gw)
        self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (r, gw.log_text()[-2000:]))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_imaps_against_plain_port(self):
        gw = gateway(tls="imaps", port=ENV.dc.imap_port, verify="no")
        c = h.Pop3(gw.port, timeout=20)
        self.clients.append(c)
        c.read_greeting()
        t0 = time.monotonic()
        r = c.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertLess(time.monotonic() - t0, 12)


class TestStarttlsStripping(Base):
    """A server (or a man in the middle) that does not offer or refuses
    STARTTLS must not get the credentials in the clear."""

    def setUp(self):
        super().setUp()
        self.fake = h.FakeImap([h.fake_message("s1")]).start()
        self.gw = gateway(tls="starttls", port=self.fake.port, verify="no")

    def tearDown(self):
        super().tearDown()
        self.gw.cleanup()
        self.fake.stop()

    def check_no_credentials(self):
        time.sleep(0.3)
        for conn in self.fake.all_conns():
            self.assertEqual(conn.logins, [])
            self.assertNotIn(b"secret", bytes(conn.raw))
            self.assertNotIn(h.auth_plain_b64("alice", "secret").encode(), bytes(conn.raw))
            names = [x["name"] for x in conn.commands]
            self.assertNotIn("LOGIN", names)
            self.assertNotIn("AUTHENTICATE", names)

    def test_no_starttls_capability(self):
        self.fake.capabilities = "IMAP4rev1 AUTH=PLAIN SASL-IR"
        c, r = self.login(self.gw)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.check_no_credentials()

    def test_starttls_refused(self):
        self.fake.capabilities = "IMAP4rev1 STARTTLS AUTH=PLAIN"
        self.fake.hooks["STARTTLS"] = lambda s, conn, tag, cmd: (
            s.send(conn, "%s NO not today\r\n" % tag) or True)
        c, r = self.login(self.gw)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.check_no_credentials()

    def test_starttls_ok_but_no_tls(self):
        self.fake.capabilities = "IMAP4rev1 STARTTLS AUTH=PLAIN"
        self.fake.hooks["STARTTLS"] = lambda s, conn, tag, cmd: (
            s.send(conn, "%s OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] "
                         "plaintext after STARTTLS\r\n" % tag) or True)
        c = h.Pop3(self.gw.port, timeout=20)
        self.clients.append(c)
        c.read_greeting()
        r = c.login()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.check_no_credentials()


class NoCloseNotifyProxy:
    """Implicit TLS in front of Dovecot's plain IMAP port that ends every
    connection the way GnuTLS servers do after LOGOUT: when Dovecot closes,
    the TCP connection is shut without a TLS close_notify."""

    def __init__(self, cert, key, upstream_port):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.upstream_port = upstream_port
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.closed_without_notify = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        up = socket.create_connection(("127.0.0.1", self.upstream_port))

        def client_to_upstream():
            try:
                while True:
                    data = tls.recv(65536)
                    if not data:
                        break
                    up.sendall(data)
            except (OSError, ssl.SSLError):
                pass

        threading.Thread(target=client_to_upstream, daemon=True).start()
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                tls.sendall(data)
        except (OSError, ssl.SSLError):
            pass
        # SSLSocket.shutdown() drops the TLS layer and shuts the socket
        # itself: no close_notify goes out.
        # popgate may have closed its end first (after LOGOUT's OK):
        # then shutdown() fails, and the connection still ended without a
        # close_notify from here, so it counts either way.
        try:
            tls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.closed_without_notify += 1
        tls.close()
        up.close()

    def close(self):
        self.ls.close()


class TestNoCloseNotifyAfterLogout(Base):
    """A TLS upstream that closes without close_notify after LOGOUT (GnuTLS
    servers) ends the session as cleanly as a plain EOF: no warning per
    session."""

    def test_no_warning_after_logout(self):
        proxy = NoCloseNotifyProxy(ENV.dc.cert, ENV.dc.key, ENV.dc.imap_port)
        try:
            gw = gateway(tls="imaps", port=proxy.port, verify="yes", ca_file=ENV.dc.cert)
            for _ in range(3):
                start = gw.log_size()
                c, r = self.login(gw)
                self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (r, gw.log_text()[-2000:]))
                self.assertTrue(c.cmd("STAT").startswith("+OK"))
                self.assertTrue(c.cmd("QUIT").startswith("+OK"))
                self.assertTrue(gw.wait_log(r"event=session_end", timeout=10, start=start))
                # The upstream's end comes after the session's: wait for it.
                deadline = time.monotonic() + 10
                while proxy.closed_without_notify < _ + 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(proxy.closed_without_notify, _ + 1)
                time.sleep(0.3)
                log = gw.log_since(start)
                self.assertNotIn("event=upstream_error", log, log)
                self.assertNotIn("level=warn", log, log)
        finally:
            proxy.close()


if __name__ == "__main__":
    unittest.main()


class CloseNotifyMidMessageProxy(NoCloseNotifyProxy):
    """Implicit TLS in front of Dovecot's plain IMAP port (its TLS in memory
    BIOs, one thread per connection) that, once a message body starts,
    sends the first part of it in many small records and a close_notify
    right behind, all in one send (one read of popgate's takes it all),
    and then keeps the TCP connection open: the end of the TLS stream is
    all popgate learns, and it learns it from what OpenSSL read ahead."""

    def _serve(self, conn):
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx.wrap_bio(inc, out, server_side=True)
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        cut = False

        def flush():
            data = out.read()
            if data:
                conn.sendall(data)

        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    flush()
                    data = conn.recv(65536)
                    if not data:
                        return
                    inc.write(data)
            flush()
            while True:
                ready, _, _ = select.select([conn] + ([] if cut else [up]), [], [], 60)
                if not ready:
                    return
                if conn in ready:
                    data = conn.recv(65536)
                    if not data:
                        return
                    inc.write(data)
                    while not cut:
                        try:
                            plain = tls.read(65536)
                        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                            break
                        if not plain:
                            break
                        up.sendall(plain)
                    flush()
                if up in ready:
                    data = up.recv(65536)
                    if not data:
                        return
                    i = data.find(b"BODY[] {")
                    if i < 0:
                        tls.write(data)
                        flush()
                        continue
                    piece = data[:i + 3000]
                    for j in range(0, len(piece), 200):
                        tls.write(piece[j:j + 200])
                    try:
                        tls.unwrap()
                    except ssl.SSLWantReadError:
                        pass
                    flush()
                    cut = True
                    self.closed_without_notify += 1
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            up.close()


class TestCloseNotifyMidMessage(Base):
    """The upstream ends TLS (close_notify) in the middle of a message and
    leaves the TCP connection open: the client's RETR ends at once without
    the terminating dot, not after the upstream timeout."""

    def test_retr_cut_by_close_notify(self):
        proxy = CloseNotifyMidMessageProxy(ENV.dc.cert, ENV.dc.key, ENV.dc.imap_port)
        try:
            gw = gateway(tls="imaps", port=proxy.port, verify="yes", ca_file=ENV.dc.cert,
                         timeout="60s")
            c, r = self.login(gw)
            self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (r, gw.log_text()[-2000:]))
            n = max(MSGS, key=lambda m: len(m[2]))[0]
            t0 = time.monotonic()
            r = c.cmd("RETR %d" % n)
            self.assertTrue(r.startswith("+OK"), r)
            with self.assertRaises((h.Truncated, h.Closed)):
                c.multi_raw()
            self.assertLess(time.monotonic() - t0, 30, "waited for the upstream timeout")
            self.assertEqual(proxy.closed_without_notify, 1)
        finally:
            proxy.close()


def cpu_seconds(pid):
    """utime + stime of a process from /proc (seconds)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TlsBothSides:
    """POP3S to the client and TLS to the upstream: replies and bodies go
    out with SSL_write straight from the loop, write interest only for
    what the socket does not take. (A mixin: the classes below name the
    upstream.)"""

    @classmethod
    def setUpClass(cls):
        cls.cert_dir = h.make_tempdir("pgt-tb-")
        cls.cert, key = h.make_cert(cls.cert_dir, "gw")
        u = {"host": "127.0.0.1", "timeout": "10s", "verify": "yes", "ca_file": ENV.dc.cert}
        tls, port = cls.upstream()
        u["tls"] = tls
        cls.gw = ENV.gateway(upstream=u, upstream_port=port,
                             tls={"cert_file": cls.cert, "key_file": key}, tls_listen=1)

    def connect(self, **kw):
        c = h.Pop3(self.gw.tls_port, timeout=60, tls=h.tls_client_context(self.cert), **kw)
        self.clients.append(c)
        c.read_greeting()
        r = c.login()
        self.assertTrue(r.startswith("+OK"), "%r; log:\n%s" % (r, self.gw.log_text()[-2000:]))
        return c

    def pipelined(self, c):
        c.send("".join("RETR %d\r\n" % n for n, _, _ in MSGS))
        for n, uid, body in MSGS:
            r = c.status()
            self.assertTrue(r.startswith("+OK"), "RETR %d -> %s" % (n, r))
            self.assertEqual(c.multi(), h.expected_retr(body), "message %d" % n)

    def test_pipelined_retrs(self):
        c = self.connect()
        self.pipelined(c)               # warm: the upstream session is up
        _, calls = h.strace_calls(self.gw.proc.pid, lambda: self.pipelined(c))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        if calls is None:
            self.skipTest("strace cannot attach here: bytes checked, epoll_ctl not")
        # Before: 2 epoll_ctl per reply and per upstream command at the
        # least (the OpenSSL bufferevent toggles EPOLLOUT each time).
        self.assertLess(calls.get("epoll_ctl", 0), len(MSGS),
                        "epoll_ctl per RETR: %s" % calls)

    def test_stalled_reader_5mb(self):
        n, uid, body = max(MSGS, key=lambda m: len(m[2]))
        self.assertGreater(len(body), 5_000_000)
        c = self.connect(rcvbuf=16384)
        c.send("RETR %d\r\n" % n)
        time.sleep(0.5)                 # the socket buffers fill up
        cpu0 = cpu_seconds(self.gw.proc.pid)
        time.sleep(3)
        spent = cpu_seconds(self.gw.proc.pid) - cpu0
        # A loop on EV_WRITE (or on a TLS write that wants to be retried)
        # would spend most of the 3 s.
        self.assertLess(spent, 0.3, "popgate used %.2fs of CPU while the client read "
                        "nothing" % spent)
        self.assertTrue(c.status().startswith("+OK"))
        self.assertEqual(c.multi(), h.expected_retr(body))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


    def test_reader_gone_mid_message(self):
        """The client resets the connection with most of a 5 MB body
        unsent: the direct TLS write fails, libevent's write reports it,
        the session ends; nothing spins, the next session works."""
        n, uid, body = max(MSGS, key=lambda m: len(m[2]))
        c = self.connect(rcvbuf=16384)
        c.send("RETR %d\r\n" % n)
        self.assertTrue(c.status().startswith("+OK"))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
        self.assertTrue(self.gw.wait_log(r"event=session_end .*bytes_out=[0-9]+ .*reason=", 10),
                        self.gw.log_text()[-2000:])
        cpu0 = cpu_seconds(self.gw.proc.pid)
        time.sleep(2)
        self.assertLess(cpu_seconds(self.gw.proc.pid) - cpu0, 0.3)
        c = self.connect()
        self.assertEqual(c.retr(1), h.expected_retr(MSGS[0][2]))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestImapsBothSides(TlsBothSides, Base):
    @staticmethod
    def upstream():
        return "imaps", ENV.dc.imaps_port


class TestStarttlsBothSides(TlsBothSides, Base):
    @staticmethod
    def upstream():
        return "starttls", ENV.dc.imap_port


class TestStarttlsInjection(Base):
    """Octets the upstream sends after its STARTTLS OK and before the
    handshake were sent in plaintext (anyone on the path may have put
    them there: CVE-2011-0411 class): the connection fails and says why;
    no credentials go out."""

    def test_data_after_starttls_ok_refused(self):
        fake = h.FakeImap([h.fake_message("s1")]).start()
        try:
            fake.capabilities = "IMAP4rev1 STARTTLS AUTH=PLAIN"
            fake.hooks["STARTTLS"] = lambda s, conn, tag, cmd: (
                s.send(conn, "%s OK begin TLS\r\n* 1 EXISTS\r\n" % tag) or True)
            gw = gateway(tls="starttls", port=fake.port, verify="no")
            c = h.Pop3(gw.port, timeout=20)
            self.clients.append(c)
            c.read_greeting()
            r = c.login()
            self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
            time.sleep(0.3)
            self.assertIn("upstream sent data after its STARTTLS reply", gw.log_text())
            for conn in fake.all_conns():
                self.assertEqual(conn.logins, [])
                self.assertNotIn(b"secret", bytes(conn.raw))
        finally:
            fake.stop()
