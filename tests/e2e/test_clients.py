"""Real POP3 clients through popgate: curl (pop3:// LIST and RETR),
fetchmail (keep, an MDA that stores each message in a file), mpop and
getmail6 (leave mail on the server with their UIDL files, then delete),
compared with IMAP BODY[] from the private Dovecot."""
import os
import re
import shutil
import subprocess
import sys
import unittest

import harness as h

ENV = None
MSGS = None      # [(msgno, uid, name, body)]


def setUpModule():
    global ENV, MSGS
    ENV = h.Env(fill_users=("alice",), big_mb=5)
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


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5), "-u", "alice:secret"]
                          + list(args), capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@unittest.skipUnless(shutil.which("curl"), "curl not installed")
class TestCurl(unittest.TestCase):
    def url(self, path=""):
        return "pop3://%s:%d/%s" % (h.HOST, ENV.gw.port, path)

    def test_list(self):
        r = curl(self.url())
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), len(MSGS))
        c = ENV.gw.pop3()
        try:
            c.login()
            self.assertTrue(c.cmd("LIST").startswith("+OK"))
            self.assertEqual(lines, c.multi_lines())
        finally:
            c.close()

    def test_retr_every_message(self):
        for n, uid, name, body in MSGS:
            with self.subTest(msg=n, name=name):
                r = curl(self.url(str(n)))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, h.expected_retr(body),
                                 "curl RETR %d (%s) differs from IMAP BODY[]" % (n, name))

    def test_uidl_and_top_via_custom_request(self):
        r = curl("-X", "UIDL", self.url())
        self.assertEqual(r.returncode, 0, r.stderr)
        with ENV.imap() as im:
            uv = im.uidvalidity()
        want = ["%d %08x%08x" % (n, uid, uv) for n, uid, _, _ in MSGS]
        self.assertEqual(r.stdout.decode().splitlines(), want)
        n, uid, name, body = next(m for m in MSGS if m[2] == "dots")
        r = curl("-X", "TOP %d 3" % n, self.url())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, h.expected_top(body, 3))

    def test_bad_password(self):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", "alice:nope",
                            self.url()], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"")


MDA = h.FETCHMAIL_MDA
strip_fetchmail_received = h.strip_fetchmail_received


@unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
class TestFetchmail(unittest.TestCase):
    def setUp(self):
        self.dir = h.make_tempdir("pgt-fm-")
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)
        with open(os.path.join(self.dir, "mda.py"), "w") as f:
            f.write(MDA)

    def tearDown(self):
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def run_fetchmail(self, extra_opts=""):
        rc = os.path.join(self.dir, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no syslog\n'
                    'poll %s service %d protocol POP3 auth password uidl\n'
                    '  user "alice" there with password "secret" is "root" here\n'
                    "  options keep fetchall no rewrite sslproto '' %s\n"
                    '  mda "%s %s %s"\n'
                    % (h.HOST, ENV.gw.port, extra_opts, sys.executable,
                       os.path.join(self.dir, "mda.py"), self.out))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=self.dir, FETCHMAILHOME=self.dir)
        return subprocess.run(["fetchmail", "-N", "-f", rc, "-i",
                               os.path.join(self.dir, "fetchids"),
                               "--pidfile", os.path.join(self.dir, "fetchmail.pid"), "-v"],
                              env=env, capture_output=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def test_fetch_all_keep(self):
        with ENV.imap() as im:
            before = im.messages()
        r = self.run_fetchmail()
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "fetchmail exit %d:\n%s" % (r.returncode, log[-4000:]))
        files = sorted(os.listdir(self.out))
        self.assertEqual(len(files), len(MSGS), log[-4000:])
        got = {}
        for fn in files:
            with open(os.path.join(self.out, fn), "rb") as f:
                data = strip_fetchmail_received(f.read())
            m = re.search(rb"(?im)^Message-ID: (\S+)", data)
            got[m.group(1).decode() if m else fn] = data
        for n, uid, name, body in MSGS:
            with self.subTest(msg=n, name=name):
                want = h.expected_retr(body).replace(b"\r\n", b"\n")
                data = got.get(h.message_id(name))
                self.assertIsNotNone(data, "message %s not delivered" % name)
                if name == "headeronly" and data == want + b"\n":
                    continue              # fetchmail adds the header/body separator
                self.assertEqual(data, want, "fetchmail copy of %s differs" % name)
        # keep: everything still upstream, nothing flagged \Deleted
        with ENV.imap() as im:
            after = im.messages()
        self.assertEqual([u for u, _, _ in after], [u for u, _, _ in before])
        self.assertFalse(any("\\Deleted" in fl for _, fl, _ in after))

    def test_second_run_fetches_nothing_new_with_uidl(self):
        r = self.run_fetchmail()
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
        n1 = len(os.listdir(self.out))
        # without fetchall, fetchmail relies on the UIDLs it stored: a second
        # poll must find no new mail (exit status 1 = "no mail")
        rc = os.path.join(self.dir, "fetchmailrc")
        with open(rc) as f:
            text = f.read().replace("fetchall ", "")
        with open(rc, "w") as f:
            f.write(text)
        env = dict(os.environ, HOME=self.dir, FETCHMAILHOME=self.dir)
        r2 = subprocess.run(["fetchmail", "-N", "-f", rc, "-i", os.path.join(self.dir, "fetchids"),
                             "--pidfile", os.path.join(self.dir, "fetchmail.pid"), "-v"],
                            env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        log = (r2.stdout + r2.stderr).decode("utf-8", "replace")
        self.assertEqual(len(os.listdir(self.out)), n1, "second poll downloaded again:\n" + log[-3000:])
        self.assertIn(r2.returncode, (0, 1), log[-3000:])


# mpop and getmail6 each get a mailbox of their own (not alice's, which the
# tests above compare with MSGS), in a few shapes: CRLF, dots, bare LF, no
# final line end, header only, 8-bit
CLIENT_SHAPES = ("plain", "dots", "utf8", "lf", "lf_nofinal", "headeronly", "mixed_eol")


def maildir_files(d):
    """{Message-ID: octets} of the messages in Maildir d (new/ and cur/)."""
    out = {}
    for sub in ("new", "cur"):
        for fn in sorted(os.listdir(os.path.join(d, sub))):
            with open(os.path.join(d, sub, fn), "rb") as f:
                data = f.read()
            m = re.search(rb"(?im)^Message-ID: (\S+)", data)
            key = m.group(1).decode() if m else fn
            if key in out:
                key += " (again: %s)" % fn
            out[key] = data
    return out


def new_message(tag):
    mid = "<%s.clients@popgate.test>" % tag
    # with a Return-Path, as delivered mail has (getmail adds one otherwise)
    return mid, ("Return-Path: <sender@example.org>\r\n"
                 "From: Sender <sender@example.org>\r\nTo: x@popgate.test\r\n"
                 "Subject: new %s\r\nMessage-ID: %s\r\n\r\nnew mail %s\r\n.\r\n..dots\r\nend\r\n"
                 % (tag, mid, tag)).encode()


class LeaveOnServerThenDelete:
    """The flow both clients go through, as user#device on the shared
    popgate: (1) download everything leaving it on the server, (2) one new
    message arrives, the next run downloads exactly it, (3) with deletion
    on, one more arrives; the client downloads it and deletes everything,
    which hides the mail for this device only. A subclass says how to run
    its client (run_client(delete) -> CompletedProcess) and who it is."""

    USER = DEVICE = None

    def setUp(self):
        if h.NATIVE:
            self.skipTest("device names and session_end lines are popgate's")
        self.dir = h.make_tempdir("pgt-%s-" % self.DEVICE)
        self.out = os.path.join(self.dir, "out")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.out, sub))
        self.login = "%s#%s" % (self.USER, self.DEVICE)
        with ENV.imap(self.USER) as im:
            if not im.messages():
                h.fill_mailbox(ENV.dc, self.USER, big_mb=0, names=CLIENT_SHAPES)

    def tearDown(self):
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def bodies(self):
        """{Message-ID: IMAP BODY[]} of the user's INBOX, and the UIDs."""
        with ENV.imap(self.USER) as im:
            ids = im.message_ids()
            msgs = im.messages()
            return {ids[u]: im.body(u) for u, _, _ in msgs}, msgs

    def poll(self, delete=False):
        start = ENV.gw.log_size()
        r = self.run_client(delete)
        log = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "%s exit %d:\n%s" % (self.DEVICE, r.returncode,
                                                              log[-3000:]))
        end = ENV.gw.wait_log(r"event=session_end user=%s .*\n" % re.escape(self.login), 5, start)
        self.assertIsNotNone(end, "no session_end for %s:\n%s" % (self.login, log[-2000:]))
        return h.parse_kv(end.group(0)), log

    def assert_delivered(self, got, want_mids, bodies):
        for mid in want_mids:
            with self.subTest(message=mid):
                self.assertIn(mid, got, "%s did not deliver %s" % (self.DEVICE, mid))
                want = h.expected_retr(bodies[mid]).replace(b"\r\n", b"\n")
                data = got[mid]
                if data == want + b"\n" and b"\n\n" not in want:
                    continue        # header only: the client adds the separator
                self.assertEqual(data, want, "%s copy of %s differs" % (self.DEVICE, mid))

    def test_leave_on_server_new_mail_once_then_delete(self):
        bodies, msgs = self.bodies()
        # (1) everything, left on the server
        kv, log = self.poll()
        got = maildir_files(self.out)
        self.assertEqual(sorted(got), sorted(bodies), log[-3000:])
        self.assert_delivered(got, bodies, bodies)
        self.assertEqual((kv.get("retr"), kv.get("dele")), (str(len(bodies)), "0"), kv)
        # (2) one new message: downloaded once, nothing else again
        mid1, data1 = new_message(self.DEVICE + "-1")
        with ENV.imap(self.USER) as im:
            im.append(data1)
        kv, log = self.poll()
        got = maildir_files(self.out)
        self.assertEqual(sorted(got), sorted(list(bodies) + [mid1]), log[-3000:])
        self.assertEqual(got[mid1], data1.replace(b"\r\n", b"\n"))
        self.assertEqual((kv.get("retr"), kv.get("dele")), ("1", "0"),
                         "second run: %r\n%s" % (kv, log[-3000:]))
        # (3) deletion on, one more new message
        mid2, data2 = new_message(self.DEVICE + "-2")
        with ENV.imap(self.USER) as im:
            im.append(data2)
        kv, log = self.poll(delete=True)
        got = maildir_files(self.out)
        self.assertEqual(sorted(got), sorted(list(bodies) + [mid1, mid2]), log[-3000:])
        self.assertEqual(got[mid2], data2.replace(b"\r\n", b"\n"))
        n = len(bodies) + 2
        self.assertEqual((kv.get("retr"), kv.get("dele")), ("1", str(n)), kv)
        # hidden for this device only: still on the server, seen by others
        after, amsgs = self.bodies()
        self.assertEqual(len(amsgs), n)
        self.assertFalse(any("\\Deleted" in fl for _, fl, _ in amsgs))
        c = ENV.gw.pop3()
        try:
            self.assertTrue(c.login(self.login, "secret").startswith("+OK"))
            self.assertEqual(c.cmd("STAT"), "+OK 0 0")
            c.cmd("QUIT")
        finally:
            c.close()
        c = ENV.gw.pop3()
        try:
            self.assertTrue(c.login(self.USER + "#another", "secret").startswith("+OK"))
            self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", str(n)])
            c.cmd("QUIT")
        finally:
            c.close()


@unittest.skipUnless(shutil.which("mpop"), "mpop not installed")
class TestMpop(LeaveOnServerThenDelete, unittest.TestCase):
    USER, DEVICE = "dave", "mpop"

    def run_client(self, delete):
        rc = os.path.join(self.dir, "mpoprc")
        with open(rc, "w") as f:
            f.write("defaults\n\naccount popgate\nhost %s\nport %d\ntls off\nauth user\n"
                    "user %s\npassword secret\ntimeout 30\nuidls_file %s\nonly_new on\n"
                    "keep %s\nreceived_header off\ndelivery maildir %s\n"
                    % (h.HOST, ENV.gw.port, self.login, os.path.join(self.dir, "uidls"),
                       "off" if delete else "on", self.out))
        os.chmod(rc, 0o600)
        return subprocess.run(["mpop", "-C", rc, "-d", "popgate"], capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, HOME=self.dir))


@unittest.skipUnless(shutil.which("getmail"), "getmail6 not installed")
class TestGetmail(LeaveOnServerThenDelete, unittest.TestCase):
    USER, DEVICE = "erin", "getmail"

    def run_client(self, delete):
        # getmail refuses to deliver as root: it runs as the suite's user
        uid, gid = h.ensure_mail_user()
        gm = os.path.join(self.dir, "getmail")
        os.makedirs(gm, exist_ok=True)
        with open(os.path.join(gm, "getmailrc"), "w") as f:
            f.write("[retriever]\ntype = SimplePOP3Retriever\nserver = %s\nport = %d\n"
                    "username = %s\npassword = secret\ntimeout = 30\n\n"
                    "[destination]\ntype = Maildir\npath = %s/\n\n"
                    "[options]\nverbose = 2\nread_all = false\ndelete = %s\n"
                    "delivered_to = false\nreceived = false\nmessage_log = %s/log\n"
                    % (h.HOST, ENV.gw.port, self.login, self.out, "true" if delete else "false",
                       gm))
        for dirpath, dirnames, filenames in os.walk(self.dir):
            os.chown(dirpath, uid, gid)
            for fn in filenames:
                os.chown(os.path.join(dirpath, fn), uid, gid)
        return subprocess.run(["getmail", "--getmaildir", gm, "--rcfile", "getmailrc"],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                              user=uid, group=gid, cwd=self.dir,
                              env={"PATH": "/usr/bin:/bin", "HOME": self.dir})


if __name__ == "__main__":
    unittest.main()
