"""Retention ([retention] when = all-devices-done) against a private Dovecot
and popgate's managed redis-server: a message leaves the mailbox (Trash or
expunged) only once every known POP3 device of the account has RETRieved or
deleted it, min_age on INTERNALDATE, dry_run, forget_after, and a live session
of another device holding the pass back."""
import imaplib
import shutil
import time
import unittest
import urllib.request

import harness as h

DC = None
PASSWORD = "secret"
USERS = {"r%02d" % i: PASSWORD for i in range(1, 21)}
_next = [0]


def setUpModule():
    global DC
    DC = h.popgate_module(USERS)


def tearDownModule():
    if DC is not None:
        DC.stop()


def message(tag):
    return h.tagged_message(tag, "retention")


def mailbox(tags, days_old=None):
    """A fresh user with one message per tag appended to INBOX (INTERNALDATE
    days_old[tag] days ago where given) and an empty Trash; returns the
    user and {tag: Message-ID}."""
    _next[0] += 1
    user = "r%02d" % _next[0]
    mids = {}
    with DC.imap(user) as im:
        im.c.create("Trash")
        for t in tags:
            mid, data = message(t)
            age = (days_old or {}).get(t)
            date = imaplib.Time2Internaldate(time.time() - age * 86400) if age else None
            typ, resp = im.c.append("INBOX", None, date, data)
            assert typ == "OK", resp
            mids[t] = mid
    return user, mids


def mids_in(user, mailbox="INBOX"):
    with DC.imap(user) as im:
        if mailbox != "INBOX":
            typ, _ = im.c.select('"%s"' % mailbox)
            assert typ == "OK"
        return set(im.message_ids().values())


class Retention(unittest.TestCase):
    def gateway(self, **retention):
        conf = dict({"when": "all-devices-done"}, **retention)
        self.metrics_port = h.free_port()
        extra = "[retention]\n" + "".join("%s = %s\n" % kv for kv in conf.items())
        extra += "[metrics]\nlisten = %s:%d\n" % (h.HOST, self.metrics_port)
        gw = h.Popgate(DC.imap_port, extra=extra).start()
        self.addCleanup(gw.cleanup)
        self.addCleanup(gw.stop)
        return gw

    def session(self, gw, user, device):
        c = h.Pop3(gw.port)
        r = c.login("%s#%s" % (user, device), PASSWORD)
        self.assertTrue(r.startswith("+OK"), r)
        return c

    def quit(self, c):
        r = c.cmd("QUIT")
        self.assertTrue(r.startswith("+OK"), r)

    def poll(self, gw, user, device, mids, tags):
        c = self.session(gw, user, device)
        self.retr_by_mid(c, mids, tags)
        self.quit(c)

    def retr_by_mid(self, c, mids, tags):
        r = c.cmd("STAT")
        self.assertTrue(r.startswith("+OK"), r)
        want = {mids[t] for t in tags}
        for n in range(1, int(r.split()[1]) + 1):
            t = c.cmd("TOP %d 0" % n)
            self.assertTrue(t.startswith("+OK"), t)
            head = c.multi()
            if any(m.encode() in head for m in want):
                data = c.retr(n)
                want -= {m for m in want if m.encode() in data}
        self.assertEqual(want, set(), "messages not found in the listing")

    def register(self, gw, user, device):
        self.quit(self.session(gw, user, device))

    def check_both(self, action):
        gw = self.gateway(action=action)
        user, mids = mailbox(["a", "b", "c"])
        self.register(gw, user, "pc")
        self.poll(gw, user, "phone", mids, ["a", "b"])
        self.assertEqual(mids_in(user), set(mids.values()),
                         "removed while only one device had it")
        self.poll(gw, user, "pc", mids, ["a"])
        self.assertEqual(mids_in(user), {mids["b"], mids["c"]}, gw.log_text()[-3000:])
        return gw, user, mids

    def test_trash_after_both_devices(self):
        gw, user, mids = self.check_both("trash")
        self.assertEqual(mids_in(user, "Trash"), {mids["a"]})
        self.assertIsNotNone(gw.wait_log(r"event=retention result=ok action=trash "
                                         r"dry_run=no done=1 removed=1"))
        with urllib.request.urlopen("http://%s:%d/metrics" % (h.HOST, self.metrics_port),
                                    timeout=10) as resp:
            text = resp.read().decode()
        self.assertIn("popgate_retention_removed_total 1\n", text)
        self.assertIn('popgate_retention_passes_total{result="removed"} 1\n', text)

    def test_expunge_after_both_devices(self):
        gw, user, mids = self.check_both("expunge")
        self.assertEqual(mids_in(user, "Trash"), set())
        # the third device, new, still lists the other two only
        c = self.session(gw, user, "tablet")
        self.assertEqual(c.cmd("STAT").split()[1], "2")
        self.quit(c)

    def test_deleted_counts_as_done(self):
        gw = self.gateway(action="expunge")
        user, mids = mailbox(["a", "b"])
        self.register(gw, user, "pc")
        self.poll(gw, user, "phone", mids, ["a"])
        c = self.session(gw, user, "pc")
        self.assertTrue(c.cmd("STAT").startswith("+OK 2"))
        # pc DELEs a (hide: only its view) without RETR
        for n in (1, 2):
            c.cmd("TOP %d 0" % n)
            if mids["a"].encode() in c.multi():
                self.assertTrue(c.cmd("DELE %d" % n).startswith("+OK"))
        self.quit(c)
        self.assertEqual(mids_in(user), {mids["b"]})

    def test_min_age(self):
        gw = self.gateway(action="expunge", min_age="30d")
        user, mids = mailbox(["old", "new"], days_old={"old": 40, "new": 2})
        self.register(gw, user, "pc")
        self.poll(gw, user, "phone", mids, ["old", "new"])
        self.poll(gw, user, "pc", mids, ["old", "new"])
        self.assertEqual(mids_in(user), {mids["new"]})
        self.assertIsNotNone(gw.wait_log(r"event=retention result=ok .* young=1"))

    def test_dry_run(self):
        gw = self.gateway(action="expunge", dry_run="yes")
        user, mids = mailbox(["a", "b"])
        self.register(gw, user, "pc")
        self.poll(gw, user, "phone", mids, ["a", "b"])
        self.poll(gw, user, "pc", mids, ["a"])
        self.assertEqual(mids_in(user), set(mids.values()), "dry_run removed mail")
        self.assertIsNotNone(gw.wait_log(r"event=retention_dry_run uid=1 action=expunge"))
        self.assertNotRegex(gw.log_text(), r"event=retention_dry_run uid=2")

    def test_forgotten_device_stops_blocking(self):
        gw = self.gateway(action="expunge", forget_after="4s")
        user, mids = mailbox(["a"])
        self.register(gw, user, "old-laptop")
        self.poll(gw, user, "phone", mids, ["a"])
        self.poll(gw, user, "pc", mids, ["a"])
        self.assertEqual(mids_in(user), {mids["a"]}, "old-laptop was not counted")
        self.assertNotRegex(gw.log_text(), r"event=retention_forgotten")
        time.sleep(6)    # every other device's last sight is now past forget_after
        self.poll(gw, user, "phone", mids, [])
        self.assertEqual(mids_in(user), set())
        self.assertRegex(gw.log_text(), r'event=retention_forgotten devices="[^"]*old-laptop')

    def test_live_session_of_another_device_blocks(self):
        gw = self.gateway(action="expunge")
        user, mids = mailbox(["a"])
        self.register(gw, user, "pc")
        self.poll(gw, user, "phone", mids, ["a"])
        live = self.session(gw, user, "phone")       # phone stays logged in
        self.poll(gw, user, "pc", mids, ["a"])
        self.assertEqual(mids_in(user), {mids["a"]}, "removed during phone's session")
        self.assertRegex(gw.log_text(),
                         r"event=retention_skipped reason=device_in_session device=phone")
        self.assertTrue(live.cmd("STAT").startswith("+OK 1"))
        self.quit(live)                              # its QUIT runs the pass
        self.assertEqual(mids_in(user), set())


if __name__ == "__main__":
    unittest.main()
