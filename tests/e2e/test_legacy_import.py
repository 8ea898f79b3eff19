"""The lazy UIDL import from a legacy POP3 server ([upstream]/[route]
legacy_pop3), with real clients that leave mail on the server.

Two legacy servers:
- a second, "legacy" Dovecot with its own POP3 (STLS, pop3s, its own certificate,
  pop3_uidl_format = %v.%u) on a copy of the same mail, numbered by it under
  its own UIDVALIDITY: no uidl_format popgate could choose gives its UIDLs
  for the IMAP server's numbering, only the import does;
- a scripted qpopper-like server (asyncio on loopback) with arbitrary UIDLs,
  which adds Status and X-UIDL to one message (so its size differs), has a
  message the IMAP mailbox lacks, lacks one the IMAP mailbox has, and can
  be made unreachable, slow, to refuse the password or to answer garbage.

Each client first downloads everything from the legacy server, then is
switched to popgate: it downloads nothing again, new mail exactly once; a
login that cannot read the legacy server answers -ERR [SYS/TEMP] and stores
nothing, so once the old server answers, the client still gets the old
UIDLs.
"""
import asyncio
import hashlib
import os
import poplib
import re
import shutil
import subprocess
import threading
import time
import unittest

import harness as h
import test_uidl as tu

USERS = {"lz%02d" % i: "secret" for i in range(1, 29)}
DC = None        # the IMAP server
LEGACY = None    # the legacy Dovecot (POP3 with STLS, %v.%u)
# More legacy Dovecots, each with another pop3_uidl_format (%g, the
# message GUID), by format
OTHER_LEGACY = {}


def setUpModule():
    global DC, LEGACY
    if shutil.which("redis-server") is None:
        raise unittest.SkipTest("redis-server not installed")
    if h.NATIVE:
        raise unittest.SkipTest("popgate's own import")
    DC = h.Dovecot(users=USERS).start()
    LEGACY = h.Dovecot(pop3=True, ssl=True, users=USERS, pop3_uidl_format="%v.%u").start()
    for fmt in ("%g",):
        OTHER_LEGACY[fmt] = h.Dovecot(pop3=True, ssl=True, users=USERS,
                                      pop3_uidl_format=fmt).start()


def tearDownModule():
    global DC, LEGACY
    for d in [DC, LEGACY] + list(OTHER_LEGACY.values()):
        if d is not None:
            d.stop()
    DC = LEGACY = None
    OTHER_LEGACY.clear()


def copy_mail(src, dst, user):
    """The mail moved to the new server: the message files without the
    old server's index and UID list (the new one numbers them itself)."""
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(src.maildir(user), sub)):
            to = os.path.join(dst.maildir(user), "cur", name.split(":")[0] + ":2,S")
            shutil.copyfile(os.path.join(src.maildir(user), sub, name), to)
            os.chown(to, dst.uid, dst.gid)


class Pair:
    """What a Switch (test_uidl.py) sees as its server: POP3 of the legacy
    server, IMAP of the new one."""

    def __init__(self, main, legacy_port):
        self.main = main
        self.pop3_port = legacy_port

    @property
    def imap_port(self):
        return self.main.imap_port

    def imap(self, user, password=None):
        return self.main.imap(user, password)


def pop3_uidls(port, user, password="secret"):
    c = poplib.POP3(h.HOST, port, timeout=60)
    try:
        c.user(user)
        c.pass_(password)
        return [line.split()[1].decode() for line in c.uidl()[1]]
    finally:
        try:
            c.quit()
        except Exception:
            pass


def login_error(port, user, password="secret"):
    """The -ERR of a login that must fail, and how long it took."""
    t0 = time.monotonic()
    c = poplib.POP3(h.HOST, port, timeout=60)
    try:
        c.user(user)
        try:
            c.pass_(password)
        except poplib.error_proto as e:
            return str(e), time.monotonic() - t0
        raise AssertionError("login of %s succeeded" % user)
    finally:
        try:
            c.quit()
        except Exception:
            pass


def uidl_tool(gw, *args):
    r = subprocess.run([h.binary_path(), "uidl"] + list(args) + ["-c", gw.conf],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


# ---------------------------------------------------- real clients, legacy Dovecot

def legacy_gateway(legacy, pop3s, uidl_format, timeout):
    """popgate in front of DC, importing the UIDLs of the legacy Dovecot
    over pop3s:// (pop3s) or pop3:// with STLS, its certificate as
    ca_file, its state in a new directory: (the gateway, that directory)."""
    state = h.make_tempdir("pgt-legacy-st-")
    url = ("pop3s://%s:%d" % (h.HOST, legacy.pop3s_port) if pop3s
           else "pop3://%s:%d" % (h.HOST, legacy.pop3_port))
    gw = h.Popgate(DC.imap_port, upstream={
        "uidl_format": uidl_format, "legacy_pop3": url,
        "ca_file": legacy.cert, "legacy_timeout": timeout},
        cache={"state_dir": os.path.join(state, "s")}).start()
    return gw, state


class LegacyDovecot:
    """A Switch whose old server is the legacy Dovecot, on a copy of the
    mail taken after setUp filled the mailbox."""
    RECREATE = False
    FORMAT = "dovecot"
    POP3S = False                    # pop3s:// (implicit TLS) instead of STLS
    LEGACY_FORMAT = "%v.%u"          # the old server's pop3_uidl_format
    LEGACY_UIDL = r"^\d+\.\d+$"       # what its UIDLs look like

    @property
    def legacy(self):
        return OTHER_LEGACY.get(self.LEGACY_FORMAT, LEGACY)

    @property
    def dc(self):
        return Pair(DC, self.legacy.pop3_port)

    def setUp(self):
        super().setUp()
        copy_mail(DC, self.legacy, self.USER)
        self.assertEqual(len(pop3_uidls(self.legacy.pop3_port, self.USER)), self.count)

    def start_gateway(self):
        self.gw, self.state = legacy_gateway(self.legacy, self.POP3S, self.FORMAT, "60s")

    def switched(self):
        super().switched()
        legacy = pop3_uidls(self.legacy.pop3_port, self.USER)
        self.assertTrue(all(re.match(self.LEGACY_UIDL, u) for u in legacy), legacy)
        self.assertEqual(len(set(legacy)), len(legacy), legacy)
        self.assertEqual(pop3_uidls(self.gw.port, self.USER), legacy,
                         self.gw.log_text()[-3000:])
        # Dovecot says PIPELINING: its TOPs went in a window
        self.assertTrue(self.gw.wait_log(r"event=legacy_import .*matched=%d by_size=%d .*"
                                         r"pipelining=yes" % (self.count, self.count), 5),
                        self.gw.log_text()[-3000:])
        # popgate's login there went over TLS (STLS, or pop3s), the
        # certificate checked
        self.assertRegex(self.legacy.log_text(), r"pop3-login: .*Login: user=<%s>.*TLS" % self.USER)


class TestLegacyPoplib(LegacyDovecot, tu.Switch, unittest.TestCase):
    USER = "lz01"
    run_client = tu.TestPoplib.run_client


class TestLegacyPop3s(LegacyDovecot, tu.Switch, unittest.TestCase):
    """pop3s:// (implicit TLS): the pipelined TOP window's replies come
    in many TLS records at once, every one of them read (none left
    waiting in OpenSSL for a readiness event that never comes)."""
    USER = "lz27"
    POP3S = True
    run_client = tu.TestPoplib.run_client


class TestLegacyPop3sMany(unittest.TestCase):
    """pop3s:// with 600 messages: the UIDL listing and the TOP window's
    replies come in many TLS records per read; the import reads all of
    them and ends well within legacy_timeout, every old UIDL kept."""
    USER = "lz28"
    COUNT = 600

    def setUp(self):
        for i in range(self.COUNT):
            DC.deliver_file(self.USER, tu.message("%s-many-%d" % (self.USER, i)))
        with DC.imap(self.USER) as im:
            self.assertEqual(len(im.listing()), self.COUNT)
        copy_mail(DC, LEGACY, self.USER)
        self.gw, self.state = legacy_gateway(LEGACY, True, "dovecot", "20s")

    def tearDown(self):
        self.gw.cleanup()
        shutil.rmtree(self.state, ignore_errors=True)

    def test_every_old_uidl_kept(self):
        legacy = pop3_uidls(LEGACY.pop3_port, self.USER)
        self.assertEqual(len(legacy), self.COUNT)
        t0 = time.monotonic()
        self.assertEqual(pop3_uidls(self.gw.port, self.USER), legacy,
                         self.gw.log_text()[-3000:])
        self.assertLess(time.monotonic() - t0, 15, self.gw.log_text()[-3000:])
        self.assertTrue(self.gw.wait_log(r"event=legacy_import .*matched=%d " % self.COUNT, 5),
                        self.gw.log_text()[-3000:])
        self.assertRegex(LEGACY.log_text(), r"pop3-login: .*Login: user=<%s>.*TLS" % self.USER)


# Dovecot's %m (the header's MD5) is not among these: Dovecot computes it
# only where the storage keeps it (mbox), and on Maildir answers UIDL with
# an error. Arbitrary UIDLs such servers give are the scripted server's
# (TestScriptedLegacy).
class TestLegacyPoplibGuid(LegacyDovecot, tu.Switch, unittest.TestCase):
    """The old Dovecot's UIDLs are %g, its message GUIDs: on Maildir the
    file's base name."""
    USER = "lz19"
    LEGACY_FORMAT = "%g"
    LEGACY_UIDL = r"^\d+\.M\d+P\d+\."
    run_client = tu.TestPoplib.run_client


@unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
class TestLegacyFetchmail(LegacyDovecot, tu.Switch, unittest.TestCase):
    USER = "lz02"
    run_client = tu.TestFetchmail.run_client


@unittest.skipUnless(shutil.which("mpop"), "mpop not installed")
class TestLegacyMpop(LegacyDovecot, tu.Switch, unittest.TestCase):
    USER = "lz03"
    run_client = tu.TestMpop.run_client


@unittest.skipUnless(shutil.which("getmail"), "getmail6 not installed")
class TestLegacyGetmail(LegacyDovecot, tu.Switch, unittest.TestCase):
    USER = "lz04"
    run_client = tu.TestGetmail.run_client
    switched_state = tu.TestGetmail.switched

    def switched(self):
        self.switched_state()       # its oldmail file renamed for popgate's port
        super().switched()


# ---------------------------------------------------- the scripted legacy server

class ScriptedPop3:
    """A qpopper-like POP3 server on loopback. mailboxes: {user: [(uidl,
    bytes)]}. mode: ok, slow (each reply after delay seconds), badpass,
    garbage (an UIDL line no server may send), longline (a line of 5 KB),
    stls_inject (STLS is answered +OK and a line in plaintext after it).
    STLS is not offered."""

    def __init__(self, mailboxes, mode="ok", delay=0.0):
        self.mailboxes = mailboxes
        self.mode = mode
        self.delay = delay
        self.port = h.free_port()
        self.connections = 0
        self.logins = 0
        self.hold = None          # a threading.Event: UIDL waits for it
        self.loop = None

    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self.handle, h.HOST, self.port))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10), "scripted POP3 server did not start"
        h.register(self)
        return self

    async def _shutdown(self):
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self):
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop = None
        h.unregister(self)

    async def reply(self, writer, data):
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        writer.write(data)
        await writer.drain()

    @staticmethod
    def body(lines):
        out = b""
        for line in lines:
            out += (b"." + line if line.startswith(b".") else line) + b"\r\n"
        return out + b".\r\n"

    async def handle(self, reader, writer):
        self.connections += 1
        user, msgs = None, None
        try:
            await self.reply(writer, b"+OK QPOP (version 4.1.0) at legacy.test starting.\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb, _, arg = line.decode("latin-1").rstrip("\r\n").partition(" ")
                verb = verb.upper()
                if verb == "USER":
                    user = arg
                    await self.reply(writer, b"+OK Password required\r\n")
                elif verb == "PASS":
                    if self.mode == "badpass" or arg != "secret" or user not in self.mailboxes:
                        await self.reply(writer, b"-ERR [AUTH] Password supplied is incorrect\r\n")
                        continue
                    self.logins += 1
                    msgs = self.mailboxes[user]
                    await self.reply(writer, b"+OK %d visible messages\r\n" % len(msgs))
                elif verb == "UIDL" and msgs is not None:
                    if self.hold is not None:
                        await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 60)
                    lines = [b"%d %s" % (i + 1, u.encode()) for i, (u, _) in enumerate(msgs)]
                    if self.mode == "garbage":
                        lines.insert(1, b"2 " + b"x" * 80)
                    elif self.mode == "longline":
                        lines.insert(1, b"2 " + b"y" * 5000)
                    await self.reply(writer, b"+OK\r\n" + self.body(lines))
                elif verb == "LIST" and msgs is not None:
                    lines = [b"%d %d" % (i + 1, len(d)) for i, (_, d) in enumerate(msgs)]
                    await self.reply(writer, b"+OK\r\n" + self.body(lines))
                elif verb in ("TOP", "RETR") and msgs is not None:
                    n = int(arg.split()[0])
                    data = msgs[n - 1][1]
                    if verb == "TOP":
                        data = data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
                    await self.reply(writer, b"+OK\r\n" + self.body(data.split(b"\r\n")[:-1]
                                                                 if data.endswith(b"\r\n")
                                                                 else data.split(b"\r\n")))
                elif verb == "STLS" and self.mode == "stls_inject":
                    # plaintext after the +OK, before any handshake
                    await self.reply(writer, b"+OK Begin TLS\r\n-ERR injected\r\n")
                elif verb == "QUIT":
                    await self.reply(writer, b"+OK Pop server at legacy.test signing off.\r\n")
                    break
                else:
                    await self.reply(writer, b"-ERR Unknown command: \"%s\".\r\n"
                                     % verb.encode("latin-1"))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def qpopper_uidl(data):
    return hashlib.md5(data + b"qpopper").hexdigest()


def with_headers(data, extra):
    head, body = data.split(b"\r\n\r\n", 1)
    return head + b"\r\n" + extra + b"\r\n\r\n" + body


class TestScriptedLegacy(unittest.TestCase):
    """The import against an old server of another make."""

    def setUp(self):
        self.servers = []
        self.gw = None

    def tearDown(self):
        if self.gw is not None:
            self.gw.cleanup()
        for s in self.servers:
            s.stop()

    def fill(self, user, n=5):
        """n messages in the IMAP mailbox (two of them alike: the same mail
        delivered twice); the old server's view of them."""
        with DC.imap(user) as im:
            for i in range(n - 1):
                im.append(tu.message("%s-%s-%d" % (user, self._testMethodName, i)))
            im.append(tu.message("%s-%s-%d" % (user, self._testMethodName, 0)))
            uids = im.listing()
            bodies = [h.crlf(im.body(u)) for u in uids]
        old = []
        for i, data in enumerate(bodies):
            if i == 2:
                continue        # never on the old server: came after the switch
            if i == 1:
                # what an mbox-era server writes into the message
                data = with_headers(data, b"Status: RO\r\nX-UIDL: " +
                                    qpopper_uidl(data).encode() + b"\r\nX-Status: A")
            old.append((qpopper_uidl(data + b"%d" % i), data))
        gone = tu.message(user + "-gone")
        old.insert(1, (qpopper_uidl(gone), h.crlf(gone)))
        return uids, bodies, old

    def scripted(self, user, old, mode="ok", delay=0.0):
        s = ScriptedPop3({user: old}, mode=mode, delay=delay).start()
        self.servers.append(s)
        return s

    def gateway(self, server_port, **legacy):
        conf = {"legacy_pop3": "pop3://%s:%d" % (h.HOST, server_port),
                "legacy_plaintext": "yes", "legacy_timeout": "5s"}
        conf.update(legacy)
        self.gw = h.Popgate(DC.imap_port, upstream=conf).start()
        return self.gw

    def expected(self, uids, old):
        """What popgate must list: the old UIDL where the old server had
        the message (bodies 0, 1, 3, 4: the second copy of message 0 pairs
        with the old server's second copy), else one of its own."""
        return [old[0][0], old[2][0], None, old[3][0], old[4][0]]

    def check_listing(self, got, want, log):
        self.assertEqual(len(got), len(want), log)
        for g, w in zip(got, want):
            if w is None:
                self.assertRegex(g, r"^[0-9a-fA-F]{16}$", log)
            else:
                self.assertEqual(g, w, log)
        self.assertEqual(len(set(got)), len(got), got)

    def test_qpopper_uidls_kept(self):
        user = "lz05"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old)
        self.gateway(s.port)
        # a client that downloaded everything from the old server
        seen = set(pop3_uidls(s.port, user))
        got = pop3_uidls(self.gw.port, user)
        log = self.gw.log_text()[-4000:]
        self.check_listing(got, self.expected(uids, old), log)
        self.assertEqual([u for u in got if u not in seen], [got[2]], log)
        self.assertTrue(self.gw.wait_log(r"event=legacy_import .* old=5 new=5 matched=4 "
                                         r"by_size=3 by_header=1 old_unmatched=1 "
                                         r"new_unmatched=1 pipelining=no", 5), log)
        self.assertTrue(self.gw.wait_log(r"event=legacy_unmatched msg=2 uidl=%s" % old[1][0], 5),
                        log)
        # once: the next login does not ask the old server again
        logins = s.logins
        self.assertEqual(pop3_uidls(self.gw.port, user + "#phone"), got)
        self.assertEqual(s.logins, logins)
        rc, out, err = uidl_tool(self.gw, "show", user)
        self.assertEqual(rc, 0, err)
        self.assertIn("5 UIDLs stored", out)
        self.assertRegex(out, r"legacy import done \d+ old=5 new=5 matched=4 old_unmatched=1")
        # new mail afterwards: a UIDL of its own, once
        with DC.imap(user) as im:
            im.append(tu.message(user + "-after"))
        again = pop3_uidls(self.gw.port, user)
        self.assertEqual(again[:5], got)
        self.assertEqual(len(again), 6)
        self.assertNotIn(again[5], seen | set(got))

    def failing(self, user, mode, expect, **legacy):
        """A login while the old server cannot be read: -ERR [SYS/TEMP]
        saying why, nothing stored; once it answers, the old UIDLs."""
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old, mode=mode, delay=30.0)
        port = legacy.pop("port", s.port)
        self.gateway(port, **legacy)
        err, took = login_error(self.gw.port, user)
        log = self.gw.log_text()[-3000:]
        self.assertIn("[SYS/TEMP]", err, log)
        self.assertRegex(err, expect, log)
        rc, out, e = uidl_tool(self.gw, "show", user)
        self.assertEqual(rc, 0, e)
        self.assertIn("0 UIDLs stored", out)
        self.assertIn("legacy import not done", out)
        # the old server repaired (or reachable again): nothing was half
        # stored, so the client still sees the old UIDLs
        s.mode = "ok"
        self.gw.stop()
        self.gw.rewrite_conf(self.gw.conf_text.replace(
            "127.0.0.1:%d\n" % port, "127.0.0.1:%d\n" % s.port).replace(
            "legacy_plaintext = no", "legacy_plaintext = yes"))
        self.gw.start()
        got = pop3_uidls(self.gw.port, user)
        self.check_listing(got, self.expected(uids, old), self.gw.log_text()[-3000:])
        return took

    def test_unreachable(self):
        self.failing("lz06", "ok", r"old POP3 server .*(refused|closed)", port=h.free_port())

    def test_slow(self):
        took = self.failing("lz07", "slow", r"no complete answer within 2s",
                            legacy_timeout="2s")
        self.assertLess(took, 20)

    def test_wrong_password(self):
        self.failing("lz08", "badpass", r"refused the password")

    def test_garbage(self):
        self.failing("lz09", "garbage", r"UIDL")

    def test_overlong_reply_line(self):
        self.failing("lz13", "longline", r"reply line too long")

    def test_too_many_old_messages(self):
        """Bounded: an old server with far more mail than the new mailbox
        (more than twice its count and 1,000) is not read to the end."""
        user = "lz14"
        with DC.imap(user) as im:
            im.append(tu.message(user + "-only"))
        old = [(qpopper_uidl(b"%d" % i), h.crlf(tu.message("%s-old%d" % (user, i))))
               for i in range(1003)]
        s = self.scripted(user, old)
        self.gateway(s.port)
        err, _ = login_error(self.gw.port, user)
        self.assertIn("[SYS/TEMP]", err)
        self.assertIn("more than 1002 messages", err)
        rc, out, e = uidl_tool(self.gw, "show", user)
        self.assertIn("0 UIDLs stored", out)
        self.assertIn("legacy import not done", out)

    def test_header_too_long_matches_nothing(self):
        """Bounded: a header over 64 KiB is not hashed; its message gets a
        UIDL of its own and the old one is reported."""
        user = "lz15"
        filler = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"f" * 60) for i in range(1100))
        big = tu.message(user + "-big").replace(b"Subject:", filler + b"Subject:")
        self.assertGreater(len(big), 65536)
        with DC.imap(user) as im:
            im.append(tu.message(user + "-small"))
            im.append(big)
            bodies = [h.crlf(im.body(u)) for u in im.listing()]
        old = [(qpopper_uidl(d), d) for d in bodies]
        s = self.scripted(user, old)
        self.gateway(s.port)
        got = pop3_uidls(self.gw.port, user)
        log = self.gw.log_text()[-3000:]
        self.assertEqual(got[0], old[0][0], log)
        self.assertNotEqual(got[1], old[1][0], log)
        self.assertRegex(got[1], r"^[0-9a-fA-F]{16}$")
        self.assertTrue(self.gw.wait_log(r"event=legacy_unmatched msg=2 uidl=%s .*has_header=no"
                                         % old[1][0], 5), log)

    def test_other_order_and_a_uidl_given_twice(self):
        """The old server listed the messages in another order and gave two
        of them one UIDL (RFC 1939 forbids it): each message still finds its
        own old UIDL; of the two, the lower UID keeps it and the other is
        made unique, deterministically, and logged."""
        user = "lz16"
        with DC.imap(user) as im:
            for i in range(3):
                im.append(tu.message("%s-order%d" % (user, i)))
            uids = im.listing()
            bodies = [h.crlf(im.body(u)) for u in uids]
        old = [("dupe", bodies[2]), ("dupe", bodies[1]), ("solo", bodies[0])]
        s = self.scripted(user, old)
        self.gateway(s.port)
        got = pop3_uidls(self.gw.port, user)
        log = self.gw.log_text()[-3000:]
        self.assertEqual(got, ["solo", "dupe", "dupe.%x" % uids[2]], log)
        self.assertTrue(self.gw.wait_log(r"event=uidl_duplicate uid=%d" % uids[2], 5), log)
        self.assertEqual(pop3_uidls(self.gw.port, user), got)

    def test_a_profile_that_lists_less_still_imports_all(self):
        """The first login is a phone whose profile lists unread mail only:
        the import is for the account, so the read message takes its old
        UIDL too, and the PC that lists everything later sees the old UIDLs
        of all, without a second import."""
        user = "lz17"
        with DC.imap(user) as im:
            for i in range(3):
                im.append(tu.message("%s-prof%d" % (user, i)))
            uids = im.listing()
            im.store(uids[1], "+FLAGS", "\\Seen")
            bodies = [h.crlf(im.body(u)) for u in uids]
        old = [(qpopper_uidl(d), d) for d in bodies]
        s = self.scripted(user, old)
        conf = {"legacy_pop3": "pop3://%s:%d" % (h.HOST, s.port), "legacy_plaintext": "yes"}
        self.gw = h.Popgate(DC.imap_port, upstream=conf,
                            extra="[device phone]\nshow = unseen\n").start()
        phone = pop3_uidls(self.gw.port, user + "#phone")
        log = self.gw.log_text()[-3000:]
        self.assertEqual(phone, [old[0][0], old[2][0]], log)
        self.assertEqual(pop3_uidls(self.gw.port, user + "#pc"), [u for u, _ in old], log)
        self.assertEqual(s.logins, 1)

    def test_data_after_stls_ok_refused(self):
        # sent in plaintext after the +OK: never read as if over TLS
        self.failing("lz26", "stls_inject", r"sent data after its STLS reply")

    def test_no_stls_refused_unless_allowed(self):
        self.failing("lz10", "ok", r"does not offer STLS", legacy_plaintext="no")

    def test_proceed_when_unreachable(self):
        user = "lz11"
        self.fill(user)
        self.gateway(h.free_port(), legacy_unreachable="proceed")
        got = pop3_uidls(self.gw.port, user)
        self.assertEqual(len(got), 5)
        for u in got:
            self.assertRegex(u, r"^[0-9a-fA-F]{16}$")
        self.assertTrue(self.gw.wait_log(r"event=legacy_unreadable .*action=proceed", 5))
        rc, out, err = uidl_tool(self.gw, "show", user)
        self.assertRegex(out, r"legacy import done \d+ proceeded without the legacy server")

    def test_concurrent_first_logins_import_once(self):
        """Two first logins of one account (two devices) at once: the first
        holds the import lease while the old server answers; the second gets
        -ERR [SYS/TEMP] at once, without asking the old server; once the
        first is done, the second device gets the same old UIDLs."""
        user = "lz12"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old)
        s.hold = threading.Event()        # the old server waits before UIDL
        self.gateway(s.port, legacy_timeout="60s")
        first = {}

        def login():
            try:
                first["ok"] = pop3_uidls(self.gw.port, user + "#pc")
            except poplib.error_proto as e:
                first["err"] = str(e)

        t = threading.Thread(target=login)
        t.start()
        try:
            self.assertTrue(h.wait_until(lambda: s.logins == 1, 30), self.gw.log_text()[-2000:])
            err, took = login_error(self.gw.port, user + "#phone")
            self.assertIn("[SYS/TEMP]", err)
            self.assertIn("try again", err)
            self.assertEqual(s.connections, 1)
        finally:
            s.hold.set()
            t.join(90)
        log = self.gw.log_text()[-3000:]
        self.assertIn("ok", first, "%r\n%s" % (first, log))
        self.check_listing(first["ok"], self.expected(uids, old), log)
        self.assertEqual(pop3_uidls(self.gw.port, user + "#phone"), first["ok"])
        self.assertEqual(s.logins, 1)


# ---------------------------------------------------- bulk: popgate uidl import --route

BULK = "bulk.test"


class TestBulkImport(unittest.TestCase):
    """popgate uidl import --route DOMAIN --user ADDRESS: the first login's
    import, run ahead by an administrator. Same lease and done mark: the
    login after it does not ask the old server again; a failure stores
    nothing and leaves the account to the next try."""
    setUp = TestScriptedLegacy.setUp
    tearDown = TestScriptedLegacy.tearDown
    fill = TestScriptedLegacy.fill
    scripted = TestScriptedLegacy.scripted
    expected = TestScriptedLegacy.expected
    check_listing = TestScriptedLegacy.check_listing

    def gateway(self, server_port, legacy=True):
        route = ("[route %s]\nhost = 127.0.0.1\nport = %d\ntls = none\n"
                 "login_name = local-part\n" % (BULK, DC.imap_port))
        if legacy:
            route += ("legacy_pop3 = pop3://%s:%d\nlegacy_plaintext = yes\n"
                      "legacy_timeout = 5s\n" % (h.HOST, server_port))
        self.gw = h.Popgate(DC.imap_port, upstream=False, extra=route).start()
        return self.gw

    def bulk(self, user, password="secret", stdin=False):
        args = [h.binary_path(), "uidl", "import", "--route", BULK, "--user",
                "%s@%s" % (user, BULK), "-c", self.gw.conf]
        if not stdin:
            path = os.path.join(h.make_tempdir("pgt-bulk-pw-"), "pw")
            with open(path, "w") as f:
                f.write(password + "\n")
            args += ["--password-file", path]
        r = subprocess.run(args, input=password + "\n" if stdin else "",
                           capture_output=True, text=True, timeout=90)
        return r.returncode, r.stdout, r.stderr

    def show(self, user):
        rc, out, err = uidl_tool(self.gw, "show", "%s@%s" % (user, BULK))
        self.assertEqual(rc, 0, err)
        return out

    def assert_nothing_stored(self, user):
        out = self.show(user)
        self.assertIn("0 UIDLs stored", out)
        self.assertIn("legacy import not done", out)

    def test_bulk_import_then_login_does_not_ask_again(self):
        user = "lz18"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old)
        self.gateway(s.port)
        rc, out, err = self.bulk(user)
        self.assertEqual(rc, 0, err + self.gw.log_text()[-3000:])
        self.assertIn("%s@%s: 4 matched, 1 unmatched old, 1 unmatched new" % (user, BULK), out)
        self.assertEqual(s.logins, 1)
        shown = self.show(user)
        self.assertIn("4 UIDLs stored", shown)
        for i in (0, 2, 3, 4):
            self.assertRegex(shown, r"uid \d+ uidl %s " % old[i][0])
        self.assertNotIn(old[1][0], shown)          # the message gone from IMAP
        self.assertRegex(shown, r"legacy import done \d+ old=5 new=5 matched=4 "
                                r"old_unmatched=1")
        # the switch-over: the old UIDLs, the old server not contacted again
        connections = s.connections
        got = pop3_uidls(self.gw.port, "%s@%s" % (user, BULK))
        self.check_listing(got, self.expected(uids, old), self.gw.log_text()[-3000:])
        self.assertEqual(s.connections, connections)
        # once per account: a second run is refused, nothing changed
        rc, out, err = self.bulk(user, stdin=True)
        self.assertNotEqual(rc, 0)
        self.assertIn("%s@%s: already imported: the account's UIDLs were imported before"
                      % (user, BULK), err)
        self.assertIn("nothing changed and nothing is left to do (popgate uidl show %s@%s "
                      "shows what was stored)" % (user, BULK), err)
        self.assertEqual(s.connections, connections)
        self.assertEqual(pop3_uidls(self.gw.port, "%s@%s" % (user, BULK)), got)

    def test_bulk_password_from_stdin(self):
        user = "lz19"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old)
        self.gateway(s.port)
        rc, out, err = self.bulk(user, stdin=True)
        self.assertEqual(rc, 0, err)
        self.assertIn("4 matched", out)
        self.assertIn("4 UIDLs stored", self.show(user))

    def test_bulk_wrong_legacy_password(self):
        """The old server refuses the password: non-zero, nothing stored,
        the lease given back (the next run imports)."""
        user = "lz20"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old, mode="badpass")
        self.gateway(s.port)
        rc, out, err = self.bulk(user)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(err, r"refused the password.*nothing stored")
        self.assert_nothing_stored(user)
        s.mode = "ok"
        rc, out, err = self.bulk(user)
        self.assertEqual(rc, 0, err)
        self.assertIn("4 matched", out)

    def test_bulk_legacy_unreachable(self):
        user = "lz21"
        self.fill(user)
        self.gateway(h.free_port())
        rc, out, err = self.bulk(user)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(err, r"old POP3 server .*(refused|closed).*nothing stored")
        self.assert_nothing_stored(user)

    def test_bulk_wrong_imap_password(self):
        """The IMAP upstream refuses: the old server is not even asked."""
        user = "lz22"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old)
        self.gateway(s.port)
        rc, out, err = self.bulk(user, password="wrong")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("IMAP upstream refused the login", err)
        self.assertEqual(s.connections, 0)
        self.assert_nothing_stored(user)

    def test_bulk_while_a_login_imports(self):
        """The lease: a first login holding it (the old server waits before
        UIDL) makes the command fail at once, without asking the old server,
        nothing stored by it; the login then stores its import."""
        user = "lz24"
        uids, bodies, old = self.fill(user)
        s = self.scripted(user, old)
        s.hold = threading.Event()
        self.gateway(s.port)
        first = {}

        def login():
            try:
                first["ok"] = pop3_uidls(self.gw.port, "%s@%s" % (user, BULK))
            except poplib.error_proto as e:
                first["err"] = str(e)

        t = threading.Thread(target=login)
        t.start()
        try:
            self.assertTrue(h.wait_until(lambda: s.logins == 1, 30), self.gw.log_text()[-2000:])
            rc, out, err = self.bulk(user)
            self.assertNotEqual(rc, 0, out)
            self.assertRegex(err, r"%s@%s: not imported now: another import of this account "
                                  r"holds its lease .*; nothing stored\. Run this again once "
                                  r"that one has ended, at the latest \d+ s after it began"
                                  % (user, BULK))
            self.assertIn('popgate uidl show %s@%s then says "legacy import done"'
                          % (user, BULK), err)
            self.assertEqual(s.connections, 1)
        finally:
            s.hold.set()
            t.join(90)
        self.assertIn("ok", first, first)
        self.check_listing(first["ok"], self.expected(uids, old), self.gw.log_text()[-3000:])

    def test_bulk_password_never_on_the_command_line(self):
        user = "lz25"
        self.fill(user)
        self.gateway(h.free_port())
        rc, out, err = uidl_tool(self.gw, "import", "--route", BULK, "--user",
                                 "%s@%s" % (user, BULK), "--password", "secret")
        self.assertEqual(rc, 2, out)
        self.assertIn("--password-file FILE", err)
        rc, out, err = self.bulk(user, password="", stdin=True)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("no password given", err)
        self.assert_nothing_stored(user)

    def test_bulk_route_without_legacy_pop3(self):
        user = "lz23"
        self.fill(user)
        self.gateway(0, legacy=False)
        rc, out, err = self.bulk(user)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("has no legacy_pop3", err)
        rc, out, err = uidl_tool(self.gw, "import", "--route", "other.test", "--user",
                                 "%s@%s" % (user, BULK))
        self.assertNotEqual(rc, 0, out)
        self.assertIn("no route for other.test", err)


if __name__ == "__main__":
    unittest.main()
