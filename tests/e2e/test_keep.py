"""Kept upstream sessions ([upstream] keep_idle): the IMAP connection of a
session that ended with QUIT serves the next login of the same account and
password; every poll's listing still equals a fresh one; another password
never gets it; a connection the server dropped is replaced unseen."""
import os
import signal
import time
import unittest

import harness as h

ENV = None


def setUpModule():
    global ENV
    ENV = h.Env(fill_users=("alice",), big_mb=0.1)


def tearDownModule():
    global ENV
    if ENV is not None:
        ENV.close()
        ENV = None


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestKeep(unittest.TestCase):
    def setUp(self):
        self.gw = ENV.gateway(upstream={"keep_idle": "2m"}, log={"level": "info"})

    def tearDown(self):
        self.gw.cleanup()
        ENV.gws.remove(self.gw)

    def count(self, event):
        return self.gw.log_text().count("event=%s " % event)

    def poll(self, user="alice", password="secret"):
        """USER, PASS, STAT, UIDL, QUIT: the UIDLs, or the PASS reply."""
        c = self.gw.pop3(timeout=30)
        try:
            r = c.login(user, password)
            if not r.startswith("+OK"):
                return r
            n = int(c.cmd("STAT").split()[1])
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            uidls = [x.split()[1] for x in c.multi_lines()]
            self.assertEqual(len(uidls), n)
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            return uidls
        finally:
            c.close()

    def fresh_uidls(self, user="alice"):
        with ENV.imap(user) as im:
            v = im.uidvalidity()
            return ["%08x%08x" % (u, v) for u in im.listing()]

    def wait_kept(self, n):
        self.assertTrue(h.wait_until(lambda: self.count("upstream_kept") >= n, 5),
                        "QUIT did not keep the connection:\n" + self.gw.log_text()[-2000:])

    def test_second_poll_reuses_and_lists_afresh(self):
        self.assertEqual(self.poll(), self.fresh_uidls())
        self.wait_kept(1)
        # between the polls: a new message, one flagged \Deleted, one expunged
        with ENV.imap() as im:
            im.append(b"From: a@example.org\r\nSubject: new\r\n\r\nbody\r\n")
            uids = im.listing()
            im.store(uids[0], "+FLAGS", "\\Deleted")
        got = self.poll()
        self.assertEqual(self.count("upstream_reused"), 1, self.gw.log_text()[-2000:])
        self.assertEqual(got, self.fresh_uidls())
        with ENV.imap() as im:
            im.store(uids[0], "-FLAGS", "\\Deleted")

    def test_wrong_password_gets_no_kept_session_and_evicts_it(self):
        self.poll()
        self.wait_kept(1)
        r = self.poll(password="wrong")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        self.assertEqual(self.count("upstream_reused"), 0)
        self.assertEqual(self.count("upstream_kept_evicted"), 1)
        self.assertEqual(self.poll(), self.fresh_uidls())
        self.assertEqual(self.count("upstream_reused"), 0, "the kept one was evicted")

    def test_changed_password_works_and_the_old_one_is_not_kept(self):
        dc = ENV.dc
        dc.users["bob"] = "secret"
        dc._write_users()
        try:
            self.assertIsInstance(self.poll("bob", "secret"), list)
            self.wait_kept(1)
            dc.users["bob"] = "changed"
            dc._write_users()
            time.sleep(1.1)                      # passwd-file: re-read on a new mtime
            os.utime(os.path.join(dc.dir, "passwd"))
            self.assertIsInstance(self.poll("bob", "changed"), list)
            self.assertEqual(self.count("upstream_reused"), 0)
            r = self.poll("bob", "secret")
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        finally:
            dc.users["bob"] = "secret"
            dc._write_users()

    def test_connection_killed_upstream_is_replaced(self):
        self.poll()
        self.wait_kept(1)
        killed = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ")
            except OSError:
                continue
            if os.path.basename(ENV.dc.dir).encode() in cmd and b"/imap " in cmd + b" " \
                    and b"imap-login" not in cmd:
                os.kill(int(pid), signal.SIGKILL)
                killed += 1
        self.assertGreater(killed, 0, "no Dovecot imap process found to kill")
        # Seen dead when taken (EOF while kept) or when SELECT fails on it:
        # either way the login goes on with a new connection.
        self.assertEqual(self.poll(), self.fresh_uidls())
        self.assertEqual(self.count("upstream_reused") - self.count("upstream_kept_broken"), 0,
                         self.gw.log_text()[-2000:])
        self.wait_kept(2)
        self.assertEqual(self.poll(), self.fresh_uidls())
        self.assertEqual(self.count("upstream_reused") - self.count("upstream_kept_broken"), 1)

    def test_other_account_never_gets_it(self):
        ENV.dc.users["bob"] = "secret"
        ENV.dc._write_users()

        def bob_known():
            # Dovecot rereads its users file by mtime: within the same
            # second it may not have yet.
            try:
                with ENV.dc.imap("bob"):
                    return True
            except Exception:
                # a later mtime makes it look again
                t = time.time() + 2
                os.utime(os.path.join(ENV.dc.dir, "passwd"), (t, t))
                return False
        self.assertTrue(h.wait_until(bob_known, 10, 0.3), "Dovecot never took the new user")
        self.poll()
        self.wait_kept(1)
        self.assertIsInstance(self.poll("bob", "secret"), list)
        self.assertEqual(self.count("upstream_reused"), 0)


@unittest.skipIf(h.NATIVE, "popgate-specific")
class TestKeptDiesAfterSelect(unittest.TestCase):
    """The kept connection answers the SELECT, then its server ends it at
    the listing's FETCH (as Dovecot does once the mailbox was recreated
    under it: BYE "IMAP session state is inconsistent"): the login goes on
    with a new connection and the whole listing, not -ERR [SYS/TEMP]."""

    def setUp(self):
        self.fake = h.FakeImap([h.fake_message("k1"), h.fake_message("k2")]).start()
        try:
            self.gw = h.Popgate(self.fake.port, upstream={"timeout": "5s", "keep_idle": "2m"},
                                log={"level": "info"}).start()
        except BaseException:
            self.fake.stop()
            raise

    def tearDown(self):
        self.gw.cleanup()
        self.fake.stop()

    def poll(self):
        c = self.gw.pop3(timeout=30)
        try:
            r = c.login("alice", "secret")
            if not r.startswith("+OK"):
                return r
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            uidls = [x.split()[1] for x in c.multi_lines()]
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            return uidls
        finally:
            c.close()

    def test_listing_goes_on_a_new_connection(self):
        want = ["%08x%08x" % (u, self.fake.uidvalidity) for u in (1, 2)]
        self.assertEqual(self.poll(), want)
        self.assertTrue(h.wait_until(lambda: "event=upstream_kept " in self.gw.log_text(), 5))
        # The one the first poll logged in on (a probe connection may
        # come before it).
        first = [c for c in self.fake.conns if c.commands][-1]
        before = len(self.fake.conns)
        ended = []

        def bye(server, conn, tag, cmd):
            if conn is not first or ended:
                return False
            ended.append(cmd["text"])
            server.send(conn, b"* BYE IMAP session state is inconsistent, please relogin.\r\n")
            server._close(conn)
            return True
        self.fake.hooks["UID FETCH"] = bye
        self.assertEqual(self.poll(), want, self.gw.log_text()[-2000:])
        self.assertEqual(len(ended), 1, "the kept connection's listing was never asked for")
        self.assertIn("event=upstream_kept_broken step=list", self.gw.log_text())
        self.assertEqual(len(self.fake.conns), before + 1)
