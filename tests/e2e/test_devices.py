"""Per-device POP3 views (issue 3) against a private Dovecot and real
redis-servers: device logins (user#device), DELE applied only at QUIT per
delete_action (hide, hide-all, trash, expunge), \\Seen by RETR only,
new_device_sees, the per-device [IN-USE] lock and its expiry after a kill -9,
Redis down / killed / password-protected, state across restarts of popgate
and of its managed redis-server, fetchmail with two device names.

Every test works on a mailbox of its own (a fresh Dovecot user), so the tests
are independent; one Dovecot serves the module. Popgates with special
settings are started per test; each has its own managed redis-server unless
the test runs an external one (RedisServer) on a unix socket."""
import struct
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

import harness as h

DC = None          # the module's Dovecot
GW = None          # shared popgate, default policy (hide), managed Redis
PASSWORD = "secret"
USERS = dict({"alice": PASSWORD}, **{"u%02d" % i: PASSWORD for i in range(1, 41)})
_next_user = [0]

# enough shapes to make byte comparisons meaningful, small enough to be quick
SMALL = ("plain", "dots", "multipart", "utf8", "lf", "lf_nofinal", "headeronly",
         "mixed_eol")


def setUpModule():
    global DC, GW
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    if shutil.which("redis-server") is None:
        raise unittest.SkipTest("redis-server not installed")
    try:
        DC = h.Dovecot(users=USERS).start()
        GW = h.Popgate(DC.imap_port).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global DC, GW
    if GW is not None:
        stop_gateway(GW)
        GW = None
    if DC is not None:
        DC.stop()
        DC = None


# ---------------------------------------------------------------- helpers

def new_mailbox(names=SMALL, big_mb=0.25):
    """A Dovecot user of its own, INBOX filled; returns the user name."""
    _next_user[0] += 1
    user = "u%02d" % _next_user[0]
    if user not in USERS:
        raise RuntimeError("out of test users")
    h.fill_mailbox(DC, user, big_mb=big_mb, names=names)
    return user


class Snap:
    """What IMAP says about a user's INBOX at one moment."""

    def __init__(self, user, mailbox="INBOX"):
        self.user = user
        with DC.imap(user) as im:
            if mailbox != "INBOX":
                typ, _ = im.c.select('"%s"' % mailbox)
                assert typ == "OK", "SELECT %s failed" % mailbox
            self.uv = im.uidvalidity() if mailbox == "INBOX" else None
            self.msgs = im.messages()
            self.mids = im.message_ids()
            self.bodies = {u: im.body(u) for u, _, _ in self.msgs}
        self.uids = [u for u, _, _ in self.msgs]
        self.flags = {u: fl for u, fl, _ in self.msgs}
        self.listing = [u for u, fl, _ in self.msgs if "\\Deleted" not in fl]

    def uidl(self, uid):
        return "%08x%08x" % (uid, self.uv)

    def uidls(self, uids=None):
        return [self.uidl(u) for u in (self.listing if uids is None else uids)]

    def uid_of(self, name):
        mid = h.message_id(name) if not name.startswith("<") else name
        for u, m in self.mids.items():
            if m == mid:
                return u
        raise KeyError(name)

    def mid_set(self):
        return set(self.mids.values())


def imap_flags(user):
    with DC.imap(user) as im:
        return {u: fl for u, fl, _ in im.messages()}


def new_message(tag, lines=6):
    mid = "<%s.devices@popgate.test>" % tag
    body = "".join("line %d of %s\r\n" % (i, tag) for i in range(lines))
    return mid, ("From: Sender <sender@example.org>\r\nTo: x@popgate.test\r\n"
                 "Subject: appended %s\r\nMessage-ID: %s\r\n\r\n%s.\r\n..dots\r\nend\r\n"
                 % (tag, mid, body)).encode()


def append(user, tag):
    mid, data = new_message(tag)
    with DC.imap(user) as im:
        uid = im.append(data)
    return mid, uid


def pid_alive(pid):
    """Running and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:][:1] not in ("Z", "X", "")


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def managed_redis_pid(gw):
    """pid of the redis-server child of a running popgate, else None."""
    if gw.proc is None:
        return None
    for k in children(gw.proc.pid):
        if comm(k).startswith("redis") and pid_alive(k):
            return k
    return None


def redis_pid_of_state_dir(state_dir):
    """pid in state_dir/redis.pid if that process is alive, a redis and
    works in state_dir."""
    try:
        with open(os.path.join(state_dir, "redis.pid")) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        cwd = os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None
    if pid_alive(pid) and comm(pid).startswith("redis") and \
            cwd == os.path.realpath(state_dir):
        return pid
    return None


def stop_gateway(gw):
    """Stop a popgate, and make sure the redis-server it managed is gone
    too (it should stop with popgate; killed by pid if it did not)."""
    leftover = None
    if gw.state_dir and os.path.isdir(gw.state_dir):
        leftover = redis_pid_of_state_dir(gw.state_dir)
    try:
        gw.cleanup()
    finally:
        if leftover is not None and h.wait_until(lambda: not pid_alive(leftover), 5) is False \
                and comm(leftover).startswith("redis"):
            try:
                os.kill(leftover, signal.SIGKILL)
            except ProcessLookupError:
                pass


def unix_ping(path, timeout=1.0):
    """Reply line of a raw PING on a Redis unix socket, or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b"PING\r\n")
        data = s.recv(256)
        return data.split(b"\r\n")[0].decode("latin-1") if data else None
    except OSError:
        return None
    finally:
        s.close()


class RedisServer:
    """A redis-server the test runs itself: unix socket in dir, AOF in dir
    (appendfsync always), no TCP port."""

    def __init__(self, directory, password=None):
        self.dir = directory
        self.sock = os.path.join(directory, "redis.sock")
        self.conf = os.path.join(directory, "redis.conf")
        self.log_path = os.path.join(directory, "redis.log")
        self.password = password
        self.proc = None

    def start(self, timeout=10.0):
        lines = ["port 0", 'unixsocket "%s"' % self.sock, "unixsocketperm 700",
                 'dir "%s"' % self.dir, "appendonly yes", "appendfsync always",
                 'save ""', "daemonize no", 'logfile "%s"' % self.log_path,
                 "always-show-logo no"]
        if self.password:
            lines.append("requirepass %s" % self.password)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(["redis-server", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.dir)
        h.register(self)
        ok = h.wait_until(lambda: (unix_ping(self.sock) or "").startswith(("+PONG", "-NOAUTH")),
                          timeout, 0.02)
        if not ok:
            self.stop()
            raise RuntimeError("redis-server did not answer on %s" % self.sock)
        return self

    def stop(self):
        """SIGTERM (graceful, AOF flushed), SIGKILL after 5 s."""
        if self.proc is not None:
            h.kill_group(self.proc, 5)
            self.proc = None
        h.unregister(self)

    def kill9(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
            self.proc = None
        h.unregister(self)

    def cli(self, *args, timeout=10):
        cmd = ["redis-cli", "-s", self.sock]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        r = subprocess.run(cmd + list(args), capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.stdout.decode("utf-8", "replace")


class Client(h.Pop3):
    """The harness's raw POP3 client, keeping a transcript of status lines
    for failure messages."""

    def __init__(self, port, **kw):
        super().__init__(port, **kw)
        self.transcript = []

    def read_greeting(self):
        g = super().read_greeting()
        self.transcript.append("S: " + g)
        return g

    def cmd(self, line):
        shown = line if isinstance(line, str) else line.decode("latin-1")
        self.transcript.append("C: " + shown)
        try:
            r = super().cmd(line)
        except h.Closed:
            self.transcript.append("S: <connection closed>")
            raise
        except (socket.timeout, TimeoutError):
            self.transcript.append("S: <no reply within %ss>" % self.timeout)
            raise
        self.transcript.append("S: " + r)
        return r


# ---------------------------------------------------------------- base class

class Base(unittest.TestCase):
    def setUp(self):
        self.clients = []
        self.gws = []
        self.redises = []
        self.dirs = []
        self.fakes = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for g in reversed(self.gws):
            try:
                stop_gateway(g)
            except Exception:
                pass
        for r in self.redises:
            r.stop()
        for f in self.fakes:
            f.stop()
        if not os.environ.get("POPGATE_E2E_KEEP"):
            for d in self.dirs:
                shutil.rmtree(d, ignore_errors=True)

    # -- fixtures
    def tempdir(self, prefix="pgt-dv-"):
        d = h.make_tempdir(prefix)
        os.chmod(d, 0o700)
        self.dirs.append(d)
        return d

    def gateway(self, upstream_port=None, **kw):
        g = h.Popgate(upstream_port or DC.imap_port, **kw)
        self.gws.append(g)
        return g.start()

    def redis(self, password=None, directory=None):
        r = RedisServer(directory or self.tempdir("pgt-rd-"), password)
        self.redises.append(r)
        return r.start()

    # -- POP3
    def connect(self, gw, timeout=10):
        c = Client(gw.port, timeout=timeout)
        self.clients.append(c)
        c.read_greeting()
        return c

    def try_login(self, gw, login, password=PASSWORD):
        c = self.connect(gw)
        return c, c.login(login, password)

    def login(self, gw, login, password=PASSWORD):
        c, r = self.try_login(gw, login, password)
        self.assertTrue(r.startswith("+OK"), "login %s -> %r%s" % (login, r, self.ctx(c, gw)))
        return c

    def login_within(self, gw, login, timeout):
        """Retry a login until +OK (bounded); returns (client, replies)."""
        replies = []
        deadline = time.monotonic() + timeout
        while True:
            c, r = self.try_login(gw, login)
            replies.append((round(time.monotonic() - (deadline - timeout), 2), r))
            if r.startswith("+OK"):
                return c, replies
            c.close()
            if time.monotonic() >= deadline:
                return None, replies
            time.sleep(0.25)

    def quit(self, c, gw=None):
        r = c.cmd("QUIT")
        self.assertTrue(r.startswith("+OK"), "QUIT -> %r%s" % (r, self.ctx(c, gw)))
        self.assertTrue(c.expect_closed(5), "connection still open after QUIT +OK")

    def dele(self, c, n, gw=None):
        r = c.cmd("DELE %d" % n)
        self.assertTrue(r.startswith("+OK"), "DELE %d -> %r%s" % (n, r, self.ctx(c, gw)))

    def view(self, c, gw=None):
        """STAT, LIST and UIDL of a session, checked against each other.
        Returns ([uidl, ...] in message-number order, {uidl: size})."""
        r = c.cmd("STAT")
        m = re.match(r"\+OK (\d+) (\d+)$", r)
        self.assertTrue(m, "STAT -> %r%s" % (r, self.ctx(c, gw)))
        count, octets = int(m.group(1)), int(m.group(2))
        r = c.cmd("LIST")
        self.assertTrue(r.startswith("+OK"), "LIST -> %r" % r)
        sizes = [tuple(int(x) for x in l.split()) for l in c.multi_lines()]
        r = c.cmd("UIDL")
        self.assertTrue(r.startswith("+OK"), "UIDL -> %r" % r)
        uidls = [l.split() for l in c.multi_lines()]
        self.assertEqual([n for n, _ in sizes], list(range(1, count + 1)), "LIST numbering")
        self.assertEqual([int(n) for n, _ in uidls], list(range(1, count + 1)), "UIDL numbering")
        self.assertEqual(sum(s for _, s in sizes), octets, "STAT octets != sum of LIST")
        return [u for _, u in uidls], {u: s for (_, u), (_, s) in zip(uidls, sizes)}

    def msgno(self, uidls, snap, uid):
        return uidls.index(snap.uidl(uid)) + 1

    def ctx(self, c=None, gw=None, lines=25):
        out = ""
        if c is not None:
            out += "\n  dialogue:\n    " + "\n    ".join(c.transcript[-40:])
        if gw is not None:
            tail = gw.log_text().splitlines()[-lines:]
            out += "\n  daemon log (%s):\n    %s" % (gw.log_path, "\n    ".join(tail))
        return out


# ---------------------------------------------------------------- 1. two devices

class TestTwoDevices(Base):
    def test_hide_is_per_device_read_state_shared(self):
        user = new_mailbox(names=None)          # every shape, incl. a 0.25 MB one
        s = Snap(user)
        every = s.uidls()
        gone = [s.uid_of(n) for n in ("dots", "lf_nofinal", "multipart")]
        gone_uidls = [s.uidl(u) for u in gone]
        top_a, top_b = s.uid_of("plain"), s.uid_of("utf8")
        for u in gone + [top_a, top_b]:
            self.assertNotIn("\\Seen", s.flags[u], "test premise: fresh mail is unseen")

        # device A: RETR + DELE three, TOP another, QUIT
        a = self.login(GW, user + "#office-pc")
        uidls, sizes_a = self.view(a, GW)
        self.assertEqual(uidls, every, "first view of A is the whole INBOX")
        for u in gone:
            n = self.msgno(uidls, s, u)
            self.assertEqual(a.retr(n), h.expected_retr(s.bodies[u]), "A: RETR of uid %d" % u)
            self.dele(a, n, GW)
        n = self.msgno(uidls, s, top_a)
        self.assertTrue(a.cmd("TOP %d 2" % n).startswith("+OK"))
        self.assertEqual(a.multi(), h.expected_top(s.bodies[top_a], 2))
        self.quit(a, GW)

        # A again: the three are gone, the rest unchanged (UIDLs, sizes, bytes)
        a = self.login(GW, user + "#office-pc")
        uidls, sizes = self.view(a, GW)
        rest = [x for x in every if x not in gone_uidls]
        self.assertEqual(uidls, rest, "A's second session%s" % self.ctx(a, GW))
        self.assertEqual(sizes, {x: sizes_a[x] for x in rest})
        self.assertTrue(a.cmd("RETR %d" % (len(rest) + 1)).startswith("-ERR"))
        n = uidls.index(s.uidl(top_b)) + 1
        self.assertTrue(a.cmd("TOP %d 0" % n).startswith("+OK"))
        self.assertEqual(a.multi(), h.expected_top(s.bodies[top_b], 0))
        self.quit(a, GW)

        # device B and the default device still have everything, byte for byte
        b = self.login(GW, user + "#phone")
        uidls, sizes = self.view(b, GW)
        self.assertEqual(uidls, every, "B lost messages A deleted%s" % self.ctx(b, GW))
        self.assertEqual(sizes, sizes_a)
        for u in gone:
            self.assertEqual(b.retr(self.msgno(uidls, s, u)), h.expected_retr(s.bodies[u]),
                             "B: RETR of uid %d" % u)
        n = self.msgno(uidls, s, top_b)
        self.assertTrue(b.cmd("TOP %d 5" % n).startswith("+OK"))
        self.assertEqual(b.multi(), h.expected_top(s.bodies[top_b], 5))
        self.quit(b, GW)
        d = self.login(GW, user)
        self.assertEqual(self.view(d, GW)[0], every, "device 'default' (no suffix)")
        self.quit(d, GW)

        # IMAP: nothing removed, nothing \Deleted; RETRed = \Seen, TOPped = unseen
        after = Snap(user)
        self.assertEqual(after.uids, s.uids, "messages disappeared upstream")
        for u in after.uids:
            self.assertNotIn("\\Deleted", after.flags[u])
            self.assertEqual(after.bodies[u], s.bodies[u])
        for u in gone:
            self.assertIn("\\Seen", after.flags[u], "RETR did not set \\Seen on uid %d" % u)
        for u in (top_a, top_b):
            self.assertNotIn("\\Seen", after.flags[u], "TOP set \\Seen on uid %d" % u)


# ---------------------------------------------------------------- 2. nothing applied

class TestNothingAppliedWithoutQuit(Base):
    def test_rset_restores(self):
        user = new_mailbox()
        s = Snap(user)
        c = self.login(GW, user + "#pc")
        uidls, _ = self.view(c, GW)
        self.dele(c, 1)
        self.dele(c, 3)
        self.assertTrue(c.cmd("STAT").startswith("+OK %d " % (len(uidls) - 2)))
        self.assertTrue(c.cmd("RSET").startswith("+OK"))
        self.assertEqual(self.view(c, GW)[0], uidls, "RSET did not restore the listing")
        self.quit(c, GW)
        c = self.login(GW, user + "#pc")
        self.assertEqual(self.view(c, GW)[0], s.uidls(), "hidden after RSET + QUIT")
        # RSET undoes only the marks made before it
        self.dele(c, 1)
        self.assertTrue(c.cmd("RSET").startswith("+OK"))
        self.dele(c, 2)
        self.quit(c, GW)
        c = self.login(GW, user + "#pc")
        self.assertEqual(self.view(c, GW)[0], [x for x in s.uidls() if x != s.uidls()[1]],
                         "DELE 1, RSET, DELE 2, QUIT must hide message 2 only")
        self.quit(c, GW)
        self.assertEqual(Snap(user).flags, s.flags, "flags changed upstream")

    def test_dropped_connection_hides_nothing(self):
        user = new_mailbox()
        s = Snap(user)
        for how in ("close", "reset"):
            with self.subTest(drop=how):
                dev = user + "#drop-" + how
                c = self.login(GW, dev)
                self.assertEqual(self.view(c, GW)[0], s.uidls())
                self.dele(c, 1)
                self.dele(c, 2)
                mark = GW.log_size()
                if how == "reset":
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
                self.assertTrue(GW.wait_log(r"event=session_end[^\n]*user=%s" % re.escape(user),
                                            5, mark),
                                "no session_end after the drop" + self.ctx(None, GW))
                c = self.login(GW, dev)
                self.assertEqual(self.view(c, GW)[0], s.uidls(),
                                 "a dropped session hid messages" + self.ctx(c, GW))
                self.quit(c, GW)
        self.assertEqual(Snap(user).flags, s.flags)

    def test_idle_timeout_hides_nothing(self):
        gw = self.gateway(server={"idle_timeout": "2s"})
        user = new_mailbox()
        s = Snap(user)
        c = self.login(gw, user + "#pc")
        self.dele(c, 1)
        self.dele(c, 2)
        t0 = time.monotonic()
        c.settimeout(8)
        r = c.status()
        self.assertTrue(r.startswith("-ERR"), "idle timeout -> %r" % r)
        self.assertTrue(c.expect_closed(5))
        self.assertLess(time.monotonic() - t0, 7)
        c = self.login(gw, user + "#pc")
        self.assertEqual(self.view(c, gw)[0], s.uidls(),
                         "a session ended by idle timeout hid messages" + self.ctx(c, gw))
        self.quit(c, gw)


# ---------------------------------------------------------------- 3. policies

class TestDeletePolicies(Base):
    def test_hide_all(self):
        gw = self.gateway(policy={"delete_action": "hide-all"})
        user = new_mailbox()
        s = Snap(user)
        gone = [s.uid_of("dots"), s.uid_of("utf8")]
        rest = s.uidls([u for u in s.listing if u not in gone])
        b = self.login(gw, user + "#b")            # B is known before A deletes
        self.assertEqual(self.view(b, gw)[0], s.uidls())
        self.quit(b, gw)
        a = self.login(gw, user + "#a")
        uidls, _ = self.view(a, gw)
        for u in gone:
            self.dele(a, self.msgno(uidls, s, u), gw)
        self.quit(a, gw)
        for dev in ("#a", "#b", "#never-seen-before", ""):
            with self.subTest(device=dev or "default"):
                c = self.login(gw, user + dev)
                self.assertEqual(self.view(c, gw)[0], rest,
                                 "hide-all: device %r still lists them%s"
                                 % (dev, self.ctx(c, gw)))
                self.quit(c, gw)
        after = Snap(user)
        self.assertEqual(after.uids, s.uids, "hide-all removed mail upstream")
        self.assertEqual(after.flags, s.flags, "hide-all changed flags upstream")

    def _remove_upstream(self, action, create_trash=True, trash_mailbox=None):
        """Common part of trash and expunge: A DELEs two messages; an IMAP
        client has flagged a third one \\Deleted (not expunged) before.
        Returns (snapshot before, uids A deleted, uid flagged by IMAP, gw)."""
        policy = {"delete_action": action}
        if trash_mailbox is not None:
            policy["trash_mailbox"] = trash_mailbox
        gw = self.gateway(policy=policy)
        user = new_mailbox()
        with DC.imap(user) as im:
            if action == "trash" and create_trash:
                typ, data = im.c.create("Trash")
                self.assertEqual(typ, "OK", data)
            imap_deleted = im.listing()[-1]
            im.store(imap_deleted, "+FLAGS.SILENT", "\\Deleted")
        s = Snap(user)
        gone = [s.uid_of("dots"), s.uid_of("lf")]
        self.assertNotIn(imap_deleted, gone)
        b = self.login(gw, user + "#b")
        self.assertEqual(self.view(b, gw)[0], s.uidls())
        self.quit(b, gw)
        a = self.login(gw, user + "#a")
        uidls, _ = self.view(a, gw)
        for u in gone:
            self.dele(a, self.msgno(uidls, s, u), gw)
        self.quit(a, gw)
        after = Snap(user)
        gone_mids = {s.mids[u] for u in gone}
        self.assertFalse(gone_mids & after.mid_set(),
                         "%s: deleted messages still in INBOX (flags %r)%s"
                         % (action, [after.flags.get(u) for u in gone], self.ctx(None, gw)))
        self.assertIn(imap_deleted, after.uids,
                      "%s expunged a message the POP3 client did not delete" % action)
        self.assertEqual(after.uids, [u for u in s.uids if u not in gone])
        rest = s.uidls([u for u in s.listing if u not in gone])
        for dev in ("#a", "#b", "#new-one"):
            with self.subTest(device=dev):
                c = self.login(gw, user + dev)
                self.assertEqual(self.view(c, gw)[0], rest, "%s: view of %s" % (action, dev))
                self.quit(c, gw)
        return s, gone, user

    def test_trash(self):
        s, gone, user = self._remove_upstream("trash")
        trash = Snap(user, "Trash")
        self.assertEqual(sorted(trash.mids.values()), sorted(s.mids[u] for u in gone),
                         "Trash holds exactly the deleted messages")
        want = sorted(s.bodies[u] for u in gone)
        self.assertEqual(sorted(trash.bodies.values()), want, "Trash copies differ")

    def test_trash_created_when_missing(self):
        # The upstream answers NO [TRYCREATE]: popgate creates Trash and
        # moves the messages there (RFC 3501 6.4.7).
        s, gone, user = self._remove_upstream("trash", create_trash=False)
        trash = Snap(user, "Trash")
        self.assertEqual(sorted(trash.mids.values()), sorted(s.mids[u] for u in gone))

    def test_trash_mailbox_name_with_a_space(self):
        # trash_mailbox may be any name: the command builder quotes it.
        s, gone, user = self._remove_upstream("trash", create_trash=False,
                                              trash_mailbox="Deleted Items")
        trash = Snap(user, "Deleted Items")
        self.assertEqual(sorted(trash.mids.values()), sorted(s.mids[u] for u in gone))

    def test_client_gone_right_after_quit_still_applies_everything(self):
        # QUIT was accepted: the client resetting the connection before
        # the answer must not leave the move half done.
        gw = self.gateway(policy={"delete_action": "trash"})
        user = new_mailbox()
        with DC.imap(user) as im:
            typ, data = im.c.create("Trash")
            self.assertEqual(typ, "OK", data)
        s = Snap(user)
        a = self.login(gw, user + "#a")
        uidls, _ = self.view(a, gw)
        gone = [s.uid_of("dots"), s.uid_of("lf")]
        for u in gone:
            self.dele(a, self.msgno(uidls, s, u), gw)
        a.send("QUIT\r\n")
        # reset, not a clean close: SO_LINGER 0
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.sock.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                after = Snap(user)
            except KeyError:
                # listed, then moved before its body was read: popgate
                # is still at it
                time.sleep(0.1)
                continue
            if not ({s.mids[u] for u in gone} & after.mid_set()):
                break
            time.sleep(0.1)
        self.assertFalse({s.mids[u] for u in gone} & after.mid_set(),
                         "messages still in INBOX after QUIT + reset" + self.ctx(None, gw))
        trash = Snap(user, "Trash")
        self.assertEqual(sorted(trash.mids.values()), sorted(s.mids[u] for u in gone),
                         "Trash must hold each deleted message exactly once")

    def test_expunge(self):
        s, gone, user = self._remove_upstream("expunge")
        with DC.imap(user) as im:
            typ, data = im.c.list()
        names = b" ".join(x for x in data if x)
        self.assertNotIn(b"Trash", names, "expunge created or used a Trash mailbox")


# ---------------------------------------------------------------- 4. new devices

class TestNewDeviceSeesNew(Base):
    def test_new_devices_see_only_later_mail(self):
        user = new_mailbox()
        gw = self.gateway(policy={"new_device_sees": "new"})
        fresh = self.login(gw, user + "#fresh")
        self.assertEqual(fresh.cmd("STAT"), "+OK 0 0", self.ctx(fresh, gw))
        self.assertEqual(self.view(fresh, gw)[0], [])
        self.assertTrue(fresh.cmd("RETR 1").startswith("-ERR"))
        self.quit(fresh, gw)
        fresh = self.login(gw, user + "#fresh")     # still nothing on the second login
        self.assertEqual(self.view(fresh, gw)[0], [])
        self.quit(fresh, gw)

        _, u1 = append(user, "new1")
        _, u2 = append(user, "new2")
        s2 = Snap(user)
        fresh = self.login(gw, user + "#fresh")
        uidls, _ = self.view(fresh, gw)
        self.assertEqual(uidls, s2.uidls([u1, u2]), "fresh device after two APPENDs"
                         + self.ctx(fresh, gw))
        for n, u in enumerate((u1, u2), 1):
            self.assertEqual(fresh.retr(n), h.expected_retr(s2.bodies[u]))
        self.quit(fresh, gw)

        late = self.login(gw, user + "#late")       # first seen after the APPENDs
        self.assertEqual(self.view(late, gw)[0], [])
        self.quit(late, gw)
        _, u3 = append(user, "new3")
        s3 = Snap(user)
        late = self.login(gw, user + "#late")
        self.assertEqual(self.view(late, gw)[0], s3.uidls([u3]))
        self.quit(late, gw)
        fresh = self.login(gw, user + "#fresh")
        self.assertEqual(self.view(fresh, gw)[0], s3.uidls([u1, u2, u3]))
        self.quit(fresh, gw)

    def test_device_first_seen_with_all_is_unaffected(self):
        """A device known from before the switch to 'new' keeps the whole
        INBOX; only devices first seen under 'new' start empty."""
        user = new_mailbox()
        state = self.tempdir("pgt-st-")
        s = Snap(user)
        gw = self.gateway(cache={"state_dir": state})                # new_device_sees = all
        old = self.login(gw, user + "#old")
        self.assertEqual(self.view(old, gw)[0], s.uidls())
        self.quit(old, gw)
        stop_gateway(gw)
        gw = self.gateway(cache={"state_dir": state}, policy={"new_device_sees": "new"})
        fresh = self.login(gw, user + "#fresh")
        self.assertEqual(self.view(fresh, gw)[0], [], "device first seen under 'new'")
        self.quit(fresh, gw)
        _, u1 = append(user, "new1")
        s2 = Snap(user)
        old = self.login(gw, user + "#old")
        self.assertEqual(self.view(old, gw)[0], s2.uidls(),
                         "device first seen under 'all' lost its mail after the switch to "
                         "'new'" + self.ctx(old, gw))
        self.quit(old, gw)


# ---------------------------------------------------------------- 5. [IN-USE]

class TestDeviceLock(Base):
    def test_second_session_of_a_device_is_refused(self):
        user = new_mailbox()
        s = Snap(user)
        first = self.login(GW, user + "#pc")
        self.assertEqual(self.view(first, GW)[0], s.uidls())
        second, r = self.try_login(GW, user + "#pc")
        self.assertTrue(r.startswith("-ERR [IN-USE]"),
                        "second session of a device -> %r%s" % (r, self.ctx(second, GW)))
        second.close()
        # another device of the account works meanwhile, and its QUIT applies
        other = self.login(GW, user + "#phone")
        self.assertEqual(self.view(other, GW)[0], s.uidls())
        self.dele(other, 1)
        self.quit(other, GW)
        # the first session was not disturbed
        self.assertEqual(self.view(first, GW)[0], s.uidls())
        self.assertEqual(first.retr(2), h.expected_retr(s.bodies[s.listing[1]]))
        self.quit(first, GW)
        again = self.login(GW, user + "#pc")      # at once, no retry
        self.assertEqual(self.view(again, GW)[0], s.uidls())
        self.quit(again, GW)
        other = self.login(GW, user + "#phone")
        self.assertEqual(self.view(other, GW)[0], s.uidls()[1:])
        self.quit(other, GW)

    def test_lock_expires_after_kill9_of_gateway(self):
        user = new_mailbox()
        s = Snap(user)
        state = self.tempdir("pgt-st-")
        cache = {"state_dir": state, "lock_ttl": "3s"}
        gw1 = self.gateway(cache=cache)
        c = self.login(gw1, user + "#laptop")
        self.assertEqual(self.view(c, gw1)[0], s.uidls())
        rpid = managed_redis_pid(gw1)
        self.assertIsNotNone(rpid, "no redis-server child of popgate")
        time.sleep(1.2)                       # at least one lock refresh happened
        t_kill = time.monotonic()
        os.kill(gw1.proc.pid, signal.SIGKILL)
        gw1.proc.wait(5)
        self.assertTrue(h.wait_until(lambda: not pid_alive(rpid), 5),
                        "managed redis-server %d outlived its popgate" % rpid)
        gw1.stop()
        c.close()
        gw2 = self.gateway(cache=cache)
        c2, r = self.try_login(gw2, user + "#laptop")
        t_first = time.monotonic() - t_kill
        self.assertTrue(r.startswith("-ERR [IN-USE]"),
                        "%.1fs after the kill: %r (lock should still be held)%s"
                        % (t_first, r, self.ctx(c2, gw2)))
        c2.close()
        c3, replies = self.login_within(gw2, user + "#laptop", 8)
        t_ok = time.monotonic() - t_kill
        self.assertIsNotNone(c3, "device still locked 8 s after restart: %r%s"
                             % (replies[-3:], self.ctx(None, gw2)))
        self.assertLess(t_ok, 6.0, "lock with lock_ttl=3s freed only after %.1fs" % t_ok)
        if os.environ.get("POPGATE_E2E_TIMINGS"):
            print("\n    lock: first retry %.2fs (IN-USE), free after %.2fs" % (t_first, t_ok))
        self.assertTrue(all(r.startswith("-ERR [IN-USE]") for _, r in replies[:-1]), replies)
        self.assertEqual(self.view(c3, gw2)[0], s.uidls())
        self.quit(c3, gw2)


# ---------------------------------------------------------------- 6. Redis failures

class TestRedisFailures(Base):
    def ext_gateway(self, r, **cache):
        c = {"url": "unix:" + r.sock, "timeout": "1s"}
        c.update(cache)
        return self.gateway(cache=c)

    def test_redis_down_at_login(self):
        user = new_mailbox()
        s = Snap(user)
        r = self.redis()
        gw = self.ext_gateway(r)
        c = self.login(gw, user + "#pc")
        self.quit(c, gw)
        r.stop()
        for dev in ("#pc", "#other"):
            t0 = time.monotonic()
            c, rep = self.try_login(gw, user + dev)
            self.assertTrue(rep.startswith("-ERR [SYS/TEMP]"),
                            "login with Redis down -> %r%s" % (rep, self.ctx(c, gw)))
            self.assertLess(time.monotonic() - t0, 5)
            c.close()
        r.start()
        c, replies = self.login_within(gw, user + "#pc", 10)
        self.assertIsNotNone(c, "no recovery after Redis came back: %r%s"
                             % (replies[-3:], self.ctx(None, gw)))
        self.assertEqual(self.view(c, gw)[0], s.uidls())
        self.quit(c, gw)

    def test_redis_killed_before_quit(self):
        user = new_mailbox()
        s = Snap(user)
        r = self.redis()
        gw = self.ext_gateway(r)
        c = self.login(gw, user + "#pc")
        self.assertEqual(self.view(c, gw)[0], s.uidls())
        self.dele(c, 1)
        self.dele(c, 2)
        r.kill9()
        rep = c.cmd("QUIT")
        self.assertTrue(rep.startswith("-ERR [SYS/TEMP]"),
                        "QUIT with Redis dead -> %r%s" % (rep, self.ctx(c, gw)))
        self.assertTrue(c.expect_closed(5), "connection open after a failed QUIT")
        self.assertEqual(Snap(user).flags, s.flags, "upstream changed by a failed QUIT")
        r.start()                                  # same socket, same AOF
        c, replies = self.login_within(gw, user + "#pc", 10)
        if c is None:
            locks = {k: r.cli("PTTL", k).strip()
                     for k in r.cli("--scan", "--pattern", "popgate:*:lock:*").split()}
            self.fail("device cannot log in within 10 s of Redis coming back; last replies "
                      "%r; lock keys in Redis (PTTL ms): %r%s"
                      % (replies[-2:], locks, self.ctx(None, gw, 12)))
        self.assertEqual(self.view(c, gw)[0], s.uidls(),
                         "a failed QUIT was (half) applied" + self.ctx(c, gw))
        # and the state store works again: a QUIT now applies
        self.dele(c, 1)
        self.quit(c, gw)
        c = self.login(gw, user + "#pc")
        self.assertEqual(self.view(c, gw)[0], s.uidls()[1:])
        self.quit(c, gw)

    def test_redis_password(self):
        user = new_mailbox()
        s = Snap(user)
        pw = "Pw-0f-the-st4te-store"
        r = self.redis(password=pw)
        good = self.ext_gateway(r, password=pw)
        c = self.login(good, user + "#pc")
        self.dele(c, 1)
        self.quit(c, good)
        c = self.login(good, user + "#pc")
        self.assertEqual(self.view(c, good)[0], s.uidls()[1:])
        self.quit(c, good)
        # what is stored: keys of the account in one hash tag, no password,
        # no message content
        keys = r.cli("--scan", "--pattern", "popgate:*").split()
        self.assertTrue(keys, "no popgate keys in the external Redis")
        tag = "{%s@%s:%d}" % (user, h.HOST, DC.imap_port)
        for k in keys:
            self.assertTrue(k.startswith("popgate:" + tag + ":"), k)
        dump = ""
        for k in keys:
            t = r.cli("TYPE", k).strip()
            dump += r.cli({"string": "GET", "hash": "HGETALL", "set": "SMEMBERS",
                           "zset": "ZRANGE"}.get(t, "TYPE"), k, *(["0", "-1"] if t == "zset" else []))
        self.assertNotIn(PASSWORD, dump)
        self.assertNotIn(pw, dump)
        self.assertNotIn("popgate.test", dump)       # no header or body text
        bad = self.ext_gateway(r, password="wrong-password")
        c, rep = self.try_login(bad, user + "#pc")
        self.assertTrue(rep.startswith("-ERR [SYS/TEMP]"),
                        "wrong Redis password -> %r%s" % (rep, self.ctx(c, bad)))


# ---------------------------------------------------------------- 7a. UIDVALIDITY

class TestUidvalidityChange(Base):
    def test_state_follows_the_messages(self):
        user = new_mailbox()
        time.sleep(1.1)          # the mailbox's mail is older than the device
        gw = self.gateway(policy={"new_device_sees": "new"})
        late = self.login(gw, user + "#late")
        self.assertEqual(late.cmd("STAT"), "+OK 0 0", self.ctx(late, gw))
        self.quit(late, gw)
        time.sleep(1.1)
        mid1, _ = append(user, "remap1")
        mid2, _ = append(user, "remap2")
        mid3, _ = append(user, "remap3")
        s = Snap(user)
        late = self.login(gw, user + "#late")
        uidls, _ = self.view(late, gw)
        self.assertEqual(len(uidls), 3, self.ctx(late, gw))
        self.dele(late, 2, gw)                        # hides remap2 for "late"
        self.quit(late, gw)

        # recreate: first drop an old message so every UID shifts
        with DC.imap(user) as im:
            first = im.listing()[0]
            im.store(first, "+FLAGS.SILENT", "\\Deleted")
            im.c.expunge()
        time.sleep(1.1)          # a new UIDVALIDITY is time based
        DC.forget_uids(user)
        s2 = Snap(user)
        self.assertNotEqual(s2.uv, s.uv, "the test did not get a new UIDVALIDITY")
        self.assertNotEqual(s2.uid_of(mid3), s.uid_of(mid3), "UIDs did not move")

        late = self.login(gw, user + "#late")
        uidls, _ = self.view(late, gw)
        # the UIDLs the clients know, those of before the change
        self.assertEqual(uidls, s.uidls([s.uid_of(mid1), s.uid_of(mid3)]),
                         "after the re-map 'late' must see remap1 and remap3 only, under "
                         "their old UIDLs" + self.ctx(late, gw))
        self.assertEqual(late.retr(2), h.expected_retr(s2.bodies[s2.uid_of(mid3)]))
        self.quit(late, gw)
        self.assertTrue(gw.wait_log(r"event=remapped", 2), gw.log_text()[-2000:])
        # a device first seen now starts from now on the new numbering
        fresh = self.login(gw, user + "#fresh")
        self.assertEqual(fresh.cmd("STAT"), "+OK 0 0", self.ctx(fresh, gw))
        self.quit(fresh, gw)


# ---------------------------------------------------------------- 7. state survives

class TestStateSurvives(Base):
    def test_restart_of_gateway_and_of_managed_redis(self):
        user = new_mailbox()
        s = Snap(user)
        state = self.tempdir("pgt-st-")
        rest = s.uidls()[2:]
        gw = self.gateway(cache={"state_dir": state})
        a = self.login(gw, user + "#a")
        self.dele(a, 1)
        self.dele(a, 2)
        self.quit(a, gw)
        rpid = managed_redis_pid(gw)
        stop_gateway(gw)
        self.assertIsNotNone(rpid, "no redis-server child of popgate")
        self.assertTrue(h.wait_until(lambda: not pid_alive(rpid), 5),
                        "managed redis-server outlived popgate")

        gw = self.gateway(cache={"state_dir": state})
        a = self.login(gw, user + "#a")
        self.assertEqual(self.view(a, gw)[0], rest, "hides lost by a popgate restart")
        self.quit(a, gw)
        b = self.login(gw, user + "#b")
        self.assertEqual(self.view(b, gw)[0], s.uidls())
        self.quit(b, gw)

        rpid = managed_redis_pid(gw)
        self.assertIsNotNone(rpid, "no redis-server child of popgate")
        self.assertEqual(redis_pid_of_state_dir(state), rpid, "state_dir/redis.pid")
        os.kill(rpid, signal.SIGKILL)
        new = h.wait_until(lambda: (lambda p: p if p and p != rpid else None)(
            managed_redis_pid(gw)), 10)
        self.assertTrue(new, "popgate did not restart its redis-server" + self.ctx(None, gw))
        a, replies = self.login_within(gw, user + "#a", 10)
        self.assertIsNotNone(a, "no login after the managed Redis restart: %r%s"
                             % (replies[-3:], self.ctx(None, gw)))
        self.assertEqual(self.view(a, gw)[0], rest, "hides lost by a redis-server restart")
        self.dele(a, 1)
        self.quit(a, gw)
        a = self.login(gw, user + "#a")
        self.assertEqual(self.view(a, gw)[0], rest[1:])
        self.quit(a, gw)
        self.assertTrue(gw.alive())


# ---------------------------------------------------------------- 7b. bounded state

class TestBoundedState(Base):
    def ext_gateway(self, r):
        return self.gateway(cache={"url": "unix:" + r.sock, "timeout": "2s"})

    def key(self, user, what):
        return "popgate:{%s@%s:%d}:%s" % (user, h.HOST, DC.imap_port, what)

    def test_hides_of_expunged_mail_go_those_of_deleted_flagged_stay(self):
        """A hide outlives nothing: once its message is expunged upstream the
        next login drops it; a message only flagged \\Deleted still exists
        and keeps its hide (it may be undeleted)."""
        user = new_mailbox()
        s = Snap(user)
        r = self.redis()
        gw = self.ext_gateway(r)
        a, b, c = s.listing[0], s.listing[1], s.listing[2]
        pc = self.login(gw, user + "#pc")
        for n in (1, 2, 3):
            self.dele(pc, n)
        self.quit(pc, gw)
        hidden = self.key(user, "hidden:pc")
        self.assertEqual(r.cli("HLEN", hidden).strip(), "3")
        with DC.imap(user) as im:
            im.store(a, "+FLAGS.SILENT", "\\Deleted")
            im.c.expunge()
            im.store(b, "+FLAGS.SILENT", "\\Deleted")
        pc = self.login(gw, user + "#pc")
        self.assertEqual(self.view(pc, gw)[0], s.uidls(s.listing[3:]))
        self.quit(pc, gw)
        self.assertTrue(gw.wait_log(r"event=device_view device=pc .*pruned=1", 2),
                        gw.log_text()[-1500:])
        self.assertEqual(sorted(r.cli("HKEYS", hidden).split()), sorted([str(b), str(c)]))
        with DC.imap(user) as im:
            im.store(b, "-FLAGS.SILENT", "\\Deleted")
        pc = self.login(gw, user + "#pc")
        self.assertEqual(self.view(pc, gw)[0], s.uidls(s.listing[3:]),
                         "an undeleted message lost its hide" + self.ctx(pc, gw))
        self.quit(pc, gw)

    def test_limits_answer_sys_perm(self):
        """Past the bounds of the state store (devices of an account, hides
        of a device) the client is told it is permanent, and why."""
        user = new_mailbox()
        s = Snap(user)
        r = self.redis()
        gw = self.ext_gateway(r)
        r.cli("EVAL", "for i = 1, 100 do redis.call('HSET', KEYS[1], 'd' .. i, "
              "'1 1700000000') end", "1", self.key(user, "devices"))
        c, rep = self.try_login(gw, user + "#one-too-many")
        self.assertTrue(rep.startswith("-ERR [SYS/PERM] Too many devices"),
                        "101st device -> %r%s" % (rep, self.ctx(c, gw)))
        c.close()
        # 200,000 hides already (of uids the mailbox has not reached: kept)
        r.cli("EVAL", "for i = 1, 200000, 1000 do local t = {} "
              "for j = i, i + 999 do t[#t + 1] = 1000000 + j; t[#t + 1] = 'fp' end "
              "redis.call('HSET', KEYS[1], unpack(t)) end", "1", self.key(user, "hidden:d1"))
        c = self.login(gw, user + "#d1")
        self.assertEqual(self.view(c, gw)[0], s.uidls())
        self.dele(c, 1)
        rep = c.cmd("QUIT")
        self.assertTrue(rep.startswith("-ERR [SYS/PERM] Too many hidden messages"),
                        "QUIT past the hide limit -> %r%s" % (rep, self.ctx(c, gw)))
        self.assertTrue(c.expect_closed(5))
        self.assertEqual(r.cli("HLEN", self.key(user, "hidden:d1")).strip(), "200000")
        c = self.login(gw, user + "#d1")
        self.assertEqual(self.view(c, gw)[0], s.uidls(), "a refused QUIT hid something")
        self.quit(c, gw)


# ---------------------------------------------------------------- 8. fetchmail

MDA = h.FETCHMAIL_MDA
strip_fetchmail_received = h.strip_fetchmail_received


@unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
class TestFetchmailTwoDevices(Base):
    def poll(self, dev):
        d = self.fm[dev]
        env = dict(os.environ, HOME=d, FETCHMAILHOME=d)
        r = subprocess.run(["fetchmail", "-N", "-f", os.path.join(d, "rc"),
                            "--idfile", os.path.join(d, "ids"),
                            "--pidfile", os.path.join(d, "fetchmail.pid"), "-v"],
                           env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertIn(r.returncode, (0, 1), "fetchmail %s exit %d:\n%s"
                      % (dev, r.returncode, log[-3000:]))
        return log

    def test_keep_two_devices_three_polls(self):
        user = "alice"
        h.fill_mailbox(DC, user, big_mb=0.25)
        self.fm = {}
        for dev in ("fm1", "fm2"):
            d = self.tempdir("pgt-fm-")
            os.mkdir(os.path.join(d, "out"))
            with open(os.path.join(d, "mda.py"), "w") as f:
                f.write(MDA)
            with open(os.path.join(d, "rc"), "w") as f:
                f.write('set no syslog\n'
                        'poll %s service %d protocol POP3 auth password uidl\n'
                        '  user "%s#%s" there with password "%s" is "root" here\n'
                        "  options keep no rewrite sslproto ''\n"
                        '  mda "%s %s %s"\n'
                        % (h.HOST, GW.port, user, dev, PASSWORD, sys.executable,
                           os.path.join(d, "mda.py"), os.path.join(d, "out")))
            os.chmod(os.path.join(d, "rc"), 0o600)
            self.fm[dev] = d
        logs = {"fm1": [], "fm2": []}
        for round_ in range(3):
            if round_:
                append(user, "fm-round%d-a" % round_)
                append(user, "fm-round%d-b" % round_)
            for dev in ("fm1", "fm2"):
                logs[dev].append(self.poll(dev))
        s = Snap(user)
        want = {s.mids[u]: s.bodies[u] for u in s.listing}
        self.assertEqual(len(want), len(s.listing))
        for dev in ("fm1", "fm2"):
            with self.subTest(device=dev):
                out = os.path.join(self.fm[dev], "out")
                got = {}
                dups = []
                for fn in sorted(os.listdir(out)):
                    with open(os.path.join(out, fn), "rb") as f:
                        data = strip_fetchmail_received(f.read())
                    m = re.search(rb"(?im)^Message-ID: (\S+)", data)
                    mid = m.group(1).decode() if m else fn
                    if mid in got:
                        dups.append(mid)
                    got[mid] = data
                self.assertEqual(dups, [], "%s got messages twice:\n%s"
                                 % (dev, "\n".join(logs[dev])[-3000:]))
                self.assertEqual(sorted(got), sorted(want), "%s: Message-IDs" % dev)
                for mid, body in want.items():
                    exp = h.expected_retr(body).replace(b"\r\n", b"\n")
                    if got[mid] == exp + b"\n" and b"\n\n" not in exp:
                        continue        # header-only: fetchmail adds the separator
                    self.assertEqual(got[mid], exp, "%s: copy of %s differs" % (dev, mid))
        after = Snap(user)
        self.assertEqual(after.uids, s.uids)
        self.assertFalse(any("\\Deleted" in fl for fl in after.flags.values()))


# ---------------------------------------------------------------- 9. mark_seen_on_retr

class TestMarkSeenOnRetrNo(Base):
    def test_retr_leaves_unseen(self):
        gw = self.gateway(policy={"mark_seen_on_retr": "no"})
        user = new_mailbox()
        s = Snap(user)
        c = self.login(gw, user + "#pc")
        uidls, _ = self.view(c, gw)
        for u in s.listing[:3]:
            self.assertEqual(c.retr(self.msgno(uidls, s, u)), h.expected_retr(s.bodies[u]))
        self.dele(c, 1)
        self.quit(c, gw)
        after = imap_flags(user)
        for u in s.listing:
            self.assertNotIn("\\Seen", after[u], "uid %d \\Seen with mark_seen_on_retr = no" % u)
        c = self.login(gw, user + "#pc")
        self.assertEqual(self.view(c, gw)[0], s.uidls()[1:])
        self.quit(c, gw)


# ---------------------------------------------------------------- 10. login names

class TestLoginNames(Base):
    BAD = ["alice#", "alice#" + "d" * 33, "alice#bad/name", "alice#bad:name", "alice#b\u00e4d"]
    BAD_SASL = ["alice#bad name", "alice#", "alice#" + "x" * 33, "alice#tab\there"]

    def check_refused(self, gw, login, how):
        c = self.connect(gw)
        if how == "user":
            r = c.cmd("USER " + login)
            if r.startswith("+OK"):
                r = c.cmd("PASS " + PASSWORD)
            else:
                self.assertTrue(r.startswith("-ERR"), r)
                return r
        else:
            r = c.cmd("AUTH PLAIN " + h.auth_plain_b64(login, PASSWORD))
        self.assertTrue(r.startswith("-ERR"), "%s %r -> %r" % (how, login, r))
        self.assertRegex(r.lower(), "device", "%s %r -> %r: no mention of the device name"
                         % (how, login, r))
        self.assertTrue(c.cmd("STAT").startswith("-ERR"), "not logged in")
        return r

    def test_bad_device_names_upstream_not_contacted(self):
        fake = h.FakeImap(messages=[h.fake_message("m1")]).start()
        self.fakes.append(fake)
        gw = self.gateway(upstream_port=fake.port)
        self.assertTrue(gw.wait_probed())
        probed = len(fake.all_conns())
        for login in self.BAD:
            with self.subTest(login=login, via="USER/PASS"):
                self.check_refused(gw, login, "user")
        for login in self.BAD_SASL:
            with self.subTest(login=login, via="AUTH PLAIN"):
                self.check_refused(gw, login, "sasl")
        with self.subTest(via="USER with a space"):
            c = self.connect(gw)
            r = c.cmd("USER alice#bad name")
            if r.startswith("+OK"):
                r = c.cmd("PASS " + PASSWORD)
            self.assertTrue(r.startswith("-ERR"), r)
        time.sleep(0.2)
        self.assertEqual(len(fake.all_conns()), probed,
                         "upstream contacted for an invalid device name")
        # the fake upstream is reachable: a valid name does reach it
        c = self.login(gw, "alice#ok")
        self.assertEqual(fake.login_conns()[0].logins[0][1], b"alice",
                         "upstream login must be without the device suffix")
        self.quit(c, gw)

    def test_valid_names_on_dovecot(self):
        user = new_mailbox(names=("plain", "dots"))
        s = Snap(user)
        for dev in ("a", "D" * 32, "Office-PC_2.home", "0"):
            with self.subTest(device=dev):
                c = self.login(GW, user + "#" + dev)
                self.assertEqual(self.view(c, GW)[0], s.uidls())
                self.quit(c, GW)
        for login in ("%s#" % user, "%s#%s" % (user, "e" * 33), "%s#a b" % user):
            with self.subTest(login=login):
                self.check_refused(GW, login, "sasl")


if __name__ == "__main__":
    unittest.main()
