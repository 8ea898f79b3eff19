"""UIDLs that never change, with real clients that leave mail on the server.

Also the other legacy forms popgate computes from IMAP: Dovecot's %g
(X-GUID) and %m (the header MD5 of its mbox storage), each against
Dovecot's own POP3 with that pop3_uidl_format.

The legacy server is the private Dovecot's own POP3 on the same mailboxes,
with a non-default pop3_uidl_format ("%v.%u"); popgate's route has the same
uidl_format. Each client (fetchmail with its .fetchids, mpop with its uidls
file, getmail6 with its oldmail file, Python's poplib with a file of seen
UIDLs) first downloads everything from the legacy server, then is switched
to popgate: it must download nothing again, new mail exactly once, and
nothing again after the upstream mailbox is recreated (a new UIDVALIDITY:
Dovecot's own POP3 then changes every UIDL, popgate does not), after its
managed Redis is killed and restarted, and after popgate restarts.
"""
import os
import poplib
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

import harness as h

LEGACY_FORMAT = "%v.%u"
USERS = {"l%02d" % i: "secret" for i in range(1, 9)}
DC = None
OTHERS = []      # Dovecots of the other forms


def setUpModule():
    global DC
    if shutil.which("redis-server") is None:
        raise unittest.SkipTest("redis-server not installed")
    if h.NATIVE:
        raise unittest.SkipTest("popgate's own UIDL map")
    DC = h.Dovecot(pop3=True, users=USERS, pop3_uidl_format=LEGACY_FORMAT).start()


def tearDownModule():
    global DC
    if DC is not None:
        DC.stop()
        DC = None
    while OTHERS:
        OTHERS.pop().stop()


def redis_children(pid):
    """The redis-server children of a popgate (its managed Redis)."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for k in kids:
            try:
                with open("/proc/%d/comm" % k) as f:
                    if f.read().startswith("redis"):
                        out.append(k)
            except OSError:
                pass
    return out


def message(tag):
    mid = "<%s.uidl@popgate.test>" % tag
    return ("Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\n"
            "To: x@popgate.test\r\nSubject: %s\r\nMessage-ID: %s\r\n"
            "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody of %s\r\n"
            % (tag, mid, tag)).encode()


def legacy_uidls(dc, user):
    c = poplib.POP3(h.HOST, dc.pop3_port, timeout=30)
    try:
        c.user(user)
        c.pass_("secret")
        return [line.split()[1].decode() for line in c.uidl()[1]]
    finally:
        c.quit()


class Switch:
    """One client's life across the switch; a subclass says how to run it
    (run_client(port) -> its log; what it downloads lands in self.out)."""

    USER = None
    FORMAT = LEGACY_FORMAT
    RECREATE = True           # the UIDVALIDITY change is part of the run
    LEGACY_CHANGES = True     # and Dovecot's own POP3 changes its UIDLs then

    @property
    def dc(self):
        return DC

    def setUp(self):
        self.dir = h.make_tempdir("pgt-uidl-")
        self.out = os.path.join(self.dir, "out")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.out, sub))
        with self.dc.imap(self.USER) as im:
            for i in range(4):
                im.append(message("%s-%s-old%d" % (self.USER, self._testMethodName, i)))
            self.count = len(im.listing())
        self.gw = None

    def tearDown(self):
        if self.gw is not None:
            self.gw.cleanup()
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.gw is not None:
                shutil.rmtree(self.state, ignore_errors=True)

    def downloaded(self):
        return sum(len(os.listdir(os.path.join(self.out, s))) for s in ("new", "cur"))

    def start_gateway(self):
        # not under self.dir, which getmail's run hands to the mail user
        self.state = h.make_tempdir("pgt-uidl-st-")
        self.gw = h.Popgate(self.dc.imap_port, upstream={"uidl_format": self.FORMAT},
                            cache={"state_dir": os.path.join(self.state, "s")}).start()

    def poll(self, port, what):
        before = self.downloaded()
        log = self.run_client(port)
        return self.downloaded() - before, "%s:\n%s" % (what, log[-3000:])

    def test_nothing_downloaded_twice(self):
        n, log = self.poll(self.dc.pop3_port, "legacy server")
        self.assertEqual(n, self.count, log)
        self.start_gateway()
        self.switched()
        n, log = self.poll(self.gw.port, "first poll through popgate")
        self.assertEqual(n, 0, log + self.gw.log_text()[-2000:])
        with self.dc.imap(self.USER) as im:
            im.append(message(self.USER + "-new1"))
        n, log = self.poll(self.gw.port, "after one new message")
        self.assertEqual(n, 1, log)
        n, log = self.poll(self.gw.port, "nothing new")
        self.assertEqual(n, 0, log)

        if self.RECREATE:
            self.recreated()
        self.restarts()

    def recreated(self):
        # the mailbox recreated upstream: Dovecot's own POP3 changes every UIDL
        before = legacy_uidls(self.dc, self.USER)
        time.sleep(1.1)              # a new UIDVALIDITY is time based
        self.dc.forget_uids(self.USER)
        after = legacy_uidls(self.dc, self.USER)
        if self.LEGACY_CHANGES:
            self.assertFalse(set(before) & set(after), "the test did not change the UIDLs")
        n, log = self.poll(self.gw.port, "after the UIDVALIDITY change")
        self.assertEqual(n, 0, log + self.gw.log_text()[-2000:])
        self.assertTrue(self.gw.wait_log(r"event=remapped", 2), self.gw.log_text()[-2000:])

    def restarts(self):
        # the managed Redis killed: popgate starts it again from its AOF
        kids = redis_children(self.gw.proc.pid)
        self.assertEqual(len(kids), 1, "no managed redis-server")
        os.kill(kids[0], signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: any(
            k != kids[0] for k in redis_children(self.gw.proc.pid)), 10),
            "popgate did not restart its redis-server")
        with self.dc.imap(self.USER) as im:
            im.append(message(self.USER + "-new2"))
        n, log = self.poll(self.gw.port, "after the Redis restart")
        self.assertEqual(n, 1, log + self.gw.log_text()[-2000:])

        # popgate itself restarted (its managed Redis with it)
        self.gw.stop()
        self.assertTrue(h.wait_until(lambda: not os.path.exists(
            os.path.join(self.state, "s", "redis.pid")), 10), "redis-server outlived popgate")
        self.gw.start()
        n, log = self.poll(self.gw.port, "after the popgate restart")
        self.assertEqual(n, 0, log + self.gw.log_text()[-2000:])

    def switched(self):
        """What the administrator does to the client's state at the switch
        (nothing, unless the client keys its state by server port)."""


class TestPoplib(Switch, unittest.TestCase):
    """A client as simple as they come: a file of the UIDLs it has."""
    USER = "l01"

    def run_client(self, port):
        seen_file = os.path.join(self.dir, "seen")
        seen = set(open(seen_file).read().split()) if os.path.exists(seen_file) else set()
        c = poplib.POP3(h.HOST, port, timeout=30)
        c.user(self.USER)
        c.pass_("secret")
        listing = [line.split() for line in c.uidl()[1]]
        uidls = [u.decode() for _, u in listing]
        self.assertEqual(len(uidls), len(set(uidls)), "UIDLs not unique: %r" % uidls)
        for num, uidl in listing:
            if uidl.decode() in seen:
                continue
            data = b"\r\n".join(c.retr(int(num))[1])
            with open(os.path.join(self.out, "new", uidl.decode().replace("/", "_")), "wb") as f:
                f.write(data)
            seen.add(uidl.decode())
        c.quit()
        with open(seen_file, "w") as f:
            f.write("\n".join(sorted(seen)))
        return " ".join(uidls)


class OtherForm:
    """Dovecot's own POP3 with another pop3_uidl_format."""
    MAIL_LOCATION = "maildir:~/Maildir"

    @property
    def dc(self):
        for d in OTHERS:
            if d.pop3_uidl_format == self.FORMAT and d.mail_location == self.MAIL_LOCATION:
                return d
        d = h.Dovecot(pop3=True, users=USERS, pop3_uidl_format=self.FORMAT,
                      mail_location=self.MAIL_LOCATION).start()
        OTHERS.append(d)
        return d

    def popgate_uidls(self, user):
        c = poplib.POP3(h.HOST, self.gw.port, timeout=30)
        c.user(user)
        c.pass_("secret")
        got = [line.split()[1].decode() for line in c.uidl()[1]]
        c.quit()
        return got

    def test_same_uidls_as_the_legacy_server(self):
        user = self.USER2
        with self.dc.imap(user) as im:
            for i in range(3):
                im.append(message("%s-same%d" % (user, i)))
            # folded fields, two Received (only the first counts for %m),
            # a Date after them (not counted), Delivered-To (counted)
            im.append(message(user + "-folded").replace(
                b"Date: Mon", b"Received: from a.example\r\n\tby b.example; Mon, 1 Jan 2024"
                b"\r\nReceived: from c.example\r\nDelivered-To: x@popgate.test\r\nDate: Mon"))
        want = legacy_uidls(self.dc, user)
        self.assertEqual(len(set(want)), len(want), want)
        self.start_gateway()
        self.assertEqual(self.popgate_uidls(user), want, self.gw.log_text()[-2000:])


class TestPoplibGuid(OtherForm, Switch, unittest.TestCase):
    """%g: the X-GUID Dovecot keeps for each message (in a maildir, the
    base of its file name: it survives the recreation too)."""
    USER, USER2 = "l05", "l07"
    FORMAT = "%g"
    LEGACY_CHANGES = False
    run_client = TestPoplib.run_client


class TestPoplibMboxMd5(OtherForm, Switch, unittest.TestCase):
    """%m: the header MD5 of Dovecot's mbox storage. An mbox keeps its
    UIDVALIDITY in the file, so no recreation here."""
    USER, USER2 = "l06", "l08"
    FORMAT = "%m"
    MAIL_LOCATION = "mbox:~/mail:INBOX=~/inbox"
    RECREATE = False
    run_client = TestPoplib.run_client

    def test_duplicates_made_unique(self):
        """Two copies of one message have one MD5: Dovecot's POP3 lists the
        same UIDL twice (RFC 1939 forbids it), popgate keeps it for the
        first and gives the second "<md5>.<uid in hex>"."""
        user = "l01"
        with self.dc.imap(user) as im:
            im.append(message(user + "-dup"))
            im.append(message(user + "-dup"))
            uids = im.listing()
        want = legacy_uidls(self.dc, user)
        self.assertEqual(want[0], want[1], "Dovecot did not repeat the UIDL")
        self.start_gateway()
        got = self.popgate_uidls(user)
        self.assertEqual(got, [want[0], "%s.%x" % (want[1], uids[1])])
        self.assertTrue(self.gw.wait_log(r"event=uidl_duplicate uid=%d" % uids[1], 2))
        self.assertEqual(self.popgate_uidls(user), got, "not the same at the next login")


@unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
class TestFetchmail(Switch, unittest.TestCase):
    USER = "l02"

    def run_client(self, port):
        rc = os.path.join(self.dir, "fetchmailrc")
        with open(os.path.join(self.dir, "mda.py"), "w") as f:
            f.write("import os, sys, time\n"
                    "d = sys.argv[1]\n"
                    "data = sys.stdin.buffer.read()\n"
                    "n = '%d.%d' % (time.time_ns(), os.getpid())\n"
                    "open(os.path.join(d, 'new', n), 'wb').write(data)\n")
        with open(rc, "w") as f:
            f.write('set no syslog\n'
                    'poll %s service %d protocol POP3 auth password uidl\n'
                    '  user "%s" there with password "secret" is "root" here\n'
                    "  options keep no rewrite sslproto ''\n"
                    '  mda "%s %s %s"\n'
                    % (h.HOST, port, self.USER, sys.executable,
                       os.path.join(self.dir, "mda.py"), self.out))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=self.dir, FETCHMAILHOME=self.dir)
        r = subprocess.run(["fetchmail", "-N", "-f", rc, "-i",
                            os.path.join(self.dir, "fetchids"),
                            "--pidfile", os.path.join(self.dir, "fetchmail.pid"), "-v"],
                           env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertIn(r.returncode, (0, 1), log[-3000:])    # 1: no new mail
        return log


@unittest.skipUnless(shutil.which("mpop"), "mpop not installed")
class TestMpop(Switch, unittest.TestCase):
    USER = "l03"

    def run_client(self, port):
        rc = os.path.join(self.dir, "mpoprc")
        with open(rc, "w") as f:
            f.write("defaults\n\naccount a\nhost %s\nport %d\ntls off\nauth user\n"
                    "user %s\npassword secret\ntimeout 30\nuidls_file %s\nonly_new on\n"
                    "keep on\nreceived_header off\ndelivery maildir %s\n"
                    % (h.HOST, port, self.USER, os.path.join(self.dir, "uidls"), self.out))
        os.chmod(rc, 0o600)
        r = subprocess.run(["mpop", "-C", rc, "-d", "a"], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL, env=dict(os.environ, HOME=self.dir))
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, log[-3000:])
        return log


@unittest.skipUnless(shutil.which("getmail"), "getmail6 not installed")
class TestGetmail(Switch, unittest.TestCase):
    USER = "l04"

    def run_client(self, port):
        uid, gid = h.ensure_mail_user()
        gm = os.path.join(self.dir, "getmail")
        os.makedirs(gm, exist_ok=True)
        with open(os.path.join(gm, "getmailrc"), "w") as f:
            f.write("[retriever]\ntype = SimplePOP3Retriever\nserver = %s\nport = %d\n"
                    "username = %s\npassword = secret\ntimeout = 30\n\n"
                    "[destination]\ntype = Maildir\npath = %s/\n\n"
                    "[options]\nverbose = 2\nread_all = false\ndelete = false\n"
                    "delivered_to = false\nreceived = false\n"
                    % (h.HOST, port, self.USER, self.out))
        for dirpath, dirnames, filenames in os.walk(self.dir):
            os.chown(dirpath, uid, gid)
            for fn in filenames:
                os.chown(os.path.join(dirpath, fn), uid, gid)
        r = subprocess.run(["getmail", "--getmaildir", gm, "--rcfile", "getmailrc"],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                           user=uid, group=gid, cwd=self.dir,
                           env={"PATH": "/usr/bin:/bin", "HOME": self.dir})
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, log[-3000:])
        return log

    def switched(self):
        # getmail names its state file after server and port
        # ("oldmail-<server>-<port>-<user>"): moving to another port (or
        # name) the administrator renames it, as the README says.
        gm = os.path.join(self.dir, "getmail")
        old = "oldmail-%s-%d-%s" % (h.HOST, self.dc.pop3_port, self.USER)
        new = "oldmail-%s-%d-%s" % (h.HOST, self.gw.port, self.USER)
        self.assertTrue(os.path.exists(os.path.join(gm, old)), os.listdir(gm))
        shutil.copy(os.path.join(gm, old), os.path.join(gm, new))
        uid, gid = h.ensure_mail_user()
        os.chown(os.path.join(gm, new), uid, gid)


if __name__ == "__main__":
    unittest.main()


class TestImportFromDump(unittest.TestCase):
    """popgate uidl import --from-file: a dump made on a legacy server with
    UIDLs of its own (qpopper-like hex digests), its sizes (not IMAP's:
    that server counted LF line ends and added a Status header), one line
    twice, one message it had that is gone, and one message it never had."""

    USER = "l07"

    def setUp(self):
        self.dir = h.make_tempdir("pgt-uidl-imp-")
        self.gw = h.Popgate(DC.imap_port, upstream={"uidl_format": LEGACY_FORMAT}).start()

    def tearDown(self):
        self.gw.cleanup()
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def tool(self, *args):
        r = subprocess.run([h.binary_path(), "uidl"] + list(args) + ["-c", self.gw.conf],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def test_clients_keep_the_legacy_uidls(self):
        with DC.imap(self.USER) as im:
            for i in range(3):
                im.append(message("%s-imp%d" % (self.USER, i)))
            im.append(message(self.USER + "-never-on-the-old-server"))
        addr = self.USER
        old = ["%032x" % (0xabc0 + i) for i in range(3)]
        lines = ["# made on the old server", ""]
        for i in range(3):
            lines.append("%s %s <%s-imp%d.uidl@popgate.test> %d" % (addr, old[i], self.USER, i,
                                                                   180 + i))
        lines.append("%s %s <%s-imp0.uidl@popgate.test> 180" % (addr, "dupdupdup", self.USER))
        lines.append("%s %s <gone.uidl@popgate.test> 77" % (addr, "gonegone"))
        dump = os.path.join(self.dir, "dump")

        # a wrong line: nothing imported at all
        with open(dump, "w") as f:
            f.write("\n".join(lines + ["%s bad uidl <x@y> 1" % addr]) + "\n")
        rc, out, err = self.tool("import", "--from-file", dump)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("more than four fields", err)
        rc, out, err = self.tool("show", addr)
        self.assertEqual(rc, 0, err)
        self.assertIn("0 imported Message-IDs", out)

        with open(dump, "w") as f:
            f.write("\n".join(lines) + "\n")
        rc, out, err = self.tool("import", "--from-file", dump)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("%s: 4 UIDLs imported" % addr, out)
        self.assertIn("given twice", err)          # the duplicate, reported

        # a client that had downloaded the three from the old server
        seen = set(old)
        c = poplib.POP3(h.HOST, self.gw.port, timeout=30)
        c.user(self.USER)
        c.pass_("secret")
        listing = [line.split()[1].decode() for line in c.uidl()[1]]
        c.quit()
        self.assertEqual(listing[:3], old, self.gw.log_text()[-2000:])
        self.assertEqual([u for u in listing if u not in seen], listing[3:])
        self.assertEqual(len(listing), 4)
        self.assertRegex(listing[3], r"^\d+\.\d+$")   # the new one: %v.%u
        self.assertTrue(self.gw.wait_log(r"event=uidls .*imported=3", 2))

        # stored now: the next login is the same, and show lists them and
        # what of the import is left
        c = poplib.POP3(h.HOST, self.gw.port, timeout=30)
        c.user(self.USER)
        c.pass_("secret")
        self.assertEqual([line.split()[1].decode() for line in c.uidl()[1]], listing)
        c.quit()
        rc, out, err = self.tool("show", addr)
        self.assertEqual(rc, 0, err)
        for u in listing:
            self.assertIn("uidl %s " % u, out)
        self.assertIn("imported <gone.uidl@popgate.test> 77 gonegone", out)
