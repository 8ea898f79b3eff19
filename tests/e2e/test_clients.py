"""Real POP3 clients through popgate: curl (pop3:// LIST and RETR) and
fetchmail (keep, an MDA that stores each message in a file), compared with
IMAP BODY[] from the private Dovecot."""
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


if __name__ == "__main__":
    unittest.main()
