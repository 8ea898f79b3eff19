"""PROXY protocol v1 and v2 from a load balancer (scripted headers; the
real HAProxy is in test_haproxy.py): the client's address is used for
logs, per-address limits, local_networks and Dovecot's rip=/lip=; a header
from an address outside proxy_networks, a malformed or late one closes the
connection; the header is read without blocking and never past its end."""
import os
import re
import shutil
import socket
import struct
import unittest

import harness as h

ENV = None
GW = None          # listen = ... proxy_protocol, plus one plain listener
CERT_DIR = None
CA = KEY = None
UNTRUSTED = "127.0.0.2"   # not in proxy_networks
_next_local = [10]


def local_client():
    """A fresh client address in local_networks (plaintext logins allowed),
    so no test meets another's connections in the per-address count."""
    _next_local[0] += 1
    return "127.0.0.%d" % _next_local[0]


REMOTE_CLIENT = "192.0.2.7"  # not in local_networks

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="127.0.0.8", sport=40001, dport=110, proto="TCP4"):
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff


def v2(src, dst, sport, dport, tlvs=b"", crc=None, cmd=0x21):
    """crc: None, "good" or "bad" (a CRC32C TLV appended)."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) +
            struct.pack(">HH", sport, dport) + tlvs)
    if crc:
        body += b"\x03\x00\x04\x00\x00\x00\x00"
    hdr = SIG + bytes([cmd, 0x21 if fam == socket.AF_INET6 else 0x11]) + \
        struct.pack(">H", len(body)) + body
    if crc:
        c = crc32c(hdr) ^ (1 if crc == "bad" else 0)
        hdr = hdr[:-4] + struct.pack(">I", c)
    return hdr


def setUpModule():
    global ENV, GW, CERT_DIR, CA, KEY
    if h.NATIVE:
        raise unittest.SkipTest("popgate's PROXY protocol")
    CERT_DIR = h.make_tempdir("pgt-px-")
    CA, KEY = h.make_cert(CERT_DIR, "gw")
    ENV = h.Env.__new__(h.Env)
    ENV.gws = []
    ENV.dc = h.Dovecot(extra_conf="login_trusted_networks = 127.0.0.0/8\n").start()
    try:
        h.fill_mailbox(ENV.dc, "alice", big_mb=0.1)
        GW = h.Popgate(ENV.dc.imap_port, extra_listen=1, tls_listen=1,
                       tls={"cert_file": CA, "key_file": KEY},
                       listen_suffix="proxy_protocol", listen_tls_suffix="proxy_protocol",
                       server={"proxy_networks": "127.0.0.1/32", "proxy_timeout": "1s",
                               "max_connections_per_ip": "2",
                               "local_networks": "127.0.0.0/8 ::1/128 2001:db8::/32"},
                       log={"level": "debug"}).start()
        ENV.gws.append(GW)
    except BaseException:
        ENV.close()
        raise


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None
    if CERT_DIR and not os.environ.get("POPGATE_E2E_KEEP"):
        shutil.rmtree(CERT_DIR, ignore_errors=True)


class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def proxied(self, header, port=None, source=None, **kw):
        c = h.Pop3(port or GW.port, preamble=header, source=source, **kw)
        self.clients.append(c)
        return c

    def dovecot_logins(self, user="alice"):
        return re.findall(r"imap-login: (?:Info: )?Login: user=<%s>.*" % user,
                          ENV.dc.log_text())

    def login_quit(self, c):
        r = c.login("alice", "secret")
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class TestClientAddress(Base):
    def test_v1_client_in_logs_and_dovecot(self):
        before = len(self.dovecot_logins())
        start = GW.log_size()
        client = local_client()
        c = self.proxied(v1(client, "127.0.0.8", 40001, 110))
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
        self.login_quit(c)
        m = GW.wait_log(r"session=(\S+) event=session_end .*client=%s:40001"
                        % re.escape(client), start=start)
        self.assertIsNotNone(m, GW.log_since(start)[-2000:])
        self.assertIn("event=connect client=%s:40001 via=127.0.0.1" % client,
                      GW.log_since(start))
        self.assertTrue(h.wait_until(lambda: len(self.dovecot_logins()) > before, 5))
        line = self.dovecot_logins()[-1]
        self.assertIn(" rip=%s," % client, line)
        self.assertIn(" lip=127.0.0.8,", line)

    def test_v2_ipv6_client_in_logs_and_dovecot(self):
        before = len(self.dovecot_logins())
        start = GW.log_size()
        c = self.proxied(v2("2001:db8::7", "2001:db8::1", 50000, 110, crc="good"))
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
        self.login_quit(c)
        self.assertIsNotNone(GW.wait_log(r"event=session_end .*client=\[2001:db8::7\]:50000",
                                         start=start), GW.log_since(start)[-2000:])
        self.assertTrue(h.wait_until(lambda: len(self.dovecot_logins()) > before, 5))
        self.assertIn(" rip=2001:db8::7,", self.dovecot_logins()[-1])

    def test_local_networks_is_the_client_address(self):
        # 192.0.2.7 is outside local_networks: plaintext USER is refused
        # although the real peer (127.0.0.1) is inside
        c = self.proxied(v1(REMOTE_CLIENT))
        c.read_greeting()
        r = c.cmd("USER alice")
        self.assertTrue(r.startswith("-ERR"), r)
        c2 = self.proxied(v1(local_client()))
        c2.read_greeting()
        self.assertTrue(c2.cmd("USER alice").startswith("+OK"))

    def test_per_address_limit_counts_the_client(self):
        # max_connections_per_ip = 2, every connection from 127.0.0.1
        a = [self.proxied(v1("192.0.2.50", sport=1000 + i)) for i in range(2)]
        for c in a:
            self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
        third = self.proxied(v1("192.0.2.50", sport=1002))
        r = third.read_greeting()
        self.assertTrue(r.startswith("-ERR [SYS/TEMP] Too many connections from your address"), r)
        other = self.proxied(v1("192.0.2.51"))
        self.assertTrue(other.read_greeting().startswith("+OK"), other.greeting)

    def test_local_health_check_uses_the_peer(self):
        start = GW.log_size()
        c = self.proxied(SIG + b"\x20\x00\x00\x00")
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertIsNotNone(GW.wait_log(r"event=proxy_header peer=127\.0\.0\.1 version=2 "
                                         r"kind=local", start=start))
        self.assertIsNotNone(GW.wait_log(r"event=session_end .*client=127\.0\.0\.1:",
                                         start=start))

    def test_v1_unknown_uses_the_peer(self):
        c = self.proxied(b"PROXY UNKNOWN\r\n")
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)


class TestNothingPastTheHeader(Base):
    def test_pipelined_command_in_the_same_segment(self):
        c = self.proxied(v1(local_client()) + b"CAPA\r\n")
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
        self.assertTrue(c.status().startswith("+OK"))
        self.assertIn("USER", c.multi_lines())

    def test_implicit_tls_after_v2_header(self):
        # The ClientHello follows the header at once; a byte of it taken
        # with the header would break the handshake.
        c = self.proxied(v2(local_client(), "127.0.0.1", 40100, 995, tlvs=b"\x04\x00\x02xx"),
                         port=GW.tls_port, tls=h.tls_client_context(CA))
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)
        self.login_quit(c)

    def test_header_in_pieces(self):
        c = h.Pop3(GW.port)
        self.clients.append(c)
        for b in v2(local_client(), "127.0.0.1", 1, 2, crc="good"):
            c.send(bytes([b]))
        self.assertTrue(c.read_greeting().startswith("+OK"), c.greeting)


class TestRefused(Base):
    def expect_closed_silently(self, c):
        self.assertTrue(c.expect_closed(10), "connection left open")
        self.assertEqual(c.tail, b"", "a greeting was sent")

    def test_untrusted_peer_on_proxy_listener(self):
        start = GW.log_size()
        c = self.proxied(v1(local_client()), source=UNTRUSTED)
        self.expect_closed_silently(c)
        self.assertIsNotNone(GW.wait_log(r"event=proxy_refused peer=127\.0\.0\.2 "
                                         r"reason=proxy_untrusted", start=start))

    def test_untrusted_header_on_plain_listener(self):
        c = h.Pop3(GW.extra_ports[0], source=UNTRUSTED)
        self.clients.append(c)
        self.assertTrue(c.read_greeting().startswith("+OK"))
        r = c.cmd("PROXY TCP4 127.0.0.9 127.0.0.1 1 2")
        self.assertTrue(r.startswith("-ERR"), r)
        self.assertTrue(c.expect_closed(5))
        # a direct client there is served as itself
        with h.Pop3(GW.extra_ports[0], source=UNTRUSTED) as d:
            d.read_greeting()
            self.login_quit(d)

    def test_trusted_peer_on_plain_listener_must_send_a_header(self):
        c = h.Pop3(GW.extra_ports[0], preamble=b"USER alice\r\n")
        self.clients.append(c)
        self.expect_closed_silently(c)

    def test_malformed_headers(self):
        bad = [
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"USER alice\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00",
            v2(local_client(), "127.0.0.1", 1, 2, crc="bad"),
            v2(local_client(), "127.0.0.1", 1, 2, tlvs=b"\x04\x00\x09x"),
            SIG + b"\x21\x11\xff\xff",
            SIG + b"\x31\x11\x00\x0c" + bytes(12),
            SIG[:6] + b"X" + SIG[7:] + b"\x21\x11\x00\x0c" + bytes(12),
        ]
        start = GW.log_size()
        for hdr in bad:
            with self.subTest(header=hdr):
                self.expect_closed_silently(self.proxied(hdr))
        log = GW.log_since(start)
        self.assertEqual(log.count("reason=proxy_header"), len(bad), log[-3000:])

    def test_deadline_and_no_blocking(self):
        start = GW.log_size()
        silent = h.Pop3(GW.port)
        partial = self.proxied(b"PROXY TCP4 127.0.0.9 ")
        self.clients.append(silent)
        # meanwhile others are served
        c = self.proxied(v1(local_client()))
        c.read_greeting()
        self.login_quit(c)
        self.expect_closed_silently(silent)
        self.expect_closed_silently(partial)
        log = GW.log_since(start)
        self.assertEqual(log.count("no complete header in time"), 2, log[-2000:])

    def test_health_check_connect_and_close_is_no_refusal(self):
        start = GW.log_size()
        s = socket.create_connection((h.HOST, GW.port))
        s.close()
        self.assertIsNotNone(GW.wait_log(r"event=proxy_probe peer=127\.0\.0\.1", start=start))
        self.assertNotIn("proxy_refused", GW.log_since(start))

    def test_peer_closing_mid_header(self):
        start = GW.log_size()
        s = socket.create_connection((h.HOST, GW.port))
        s.sendall(SIG[:8])
        s.close()
        self.assertIsNotNone(GW.wait_log(r'reason=proxy_header error="closed before the '
                                         r'header ended"', start=start))


class TestConfig(unittest.TestCase):
    def check(self, text):
        d = h.make_tempdir("pgt-pxc-")
        try:
            path = os.path.join(d, "p.conf")
            with open(path, "w") as f:
                f.write(text)
            import subprocess
            return subprocess.run([h.binary_path(), "--check", "-c", path],
                                  capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_proxy_listener_needs_proxy_networks(self):
        r = self.check("[server]\nlisten = 127.0.0.1:1 proxy_protocol\n[upstream]\nhost = h\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("proxy_protocol listener needs proxy_networks", r.stderr + r.stdout)

    def test_unknown_listen_option(self):
        r = self.check("[server]\nlisten = 127.0.0.1:1 proxy\n[upstream]\nhost = h\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('only "proxy_protocol" may follow', r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
