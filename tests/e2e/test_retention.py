"""Retention ([retention] when = all-devices-done) against a private Dovecot
and popgate's managed redis-server: a message leaves the mailbox (Trash or
expunged) only once every known POP3 device of the account has RETRieved or
deleted it, or its profile's max_age can no longer list it (show = unseen does
not count), min_age on INTERNALDATE, dry_run, forget_after, and a live session
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
    days_old[tag] days ago where given, fractions too) and an empty Trash;
    returns the user and {tag: Message-ID}."""
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


class Gateway:
    """A popgate with [retention] (and profiles), and its POP3 sessions."""

    def gateway(self, profiles="", **retention):
        conf = dict({"when": "all-devices-done"}, **retention)
        self.metrics_port = h.free_port()
        extra = profiles + "[retention]\n" + "".join("%s = %s\n" % kv for kv in conf.items())
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



class Retention(Gateway, unittest.TestCase):
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

    def test_records_follow_uidvalidity_change(self):
        """pc and phone RETR a; tab holds it back. The mailbox is then
        numbered anew (x expunged before: a 2 -> 1, b 3 -> 2). The records
        of what pc and phone retrieved follow a to its new UID: when tab
        then RETRs b, b stays (only tab has it); when tab RETRs a, a goes."""
        gw = self.gateway(action="expunge")
        user, mids = mailbox(["x", "a", "b"])
        self.register(gw, user, "tab")
        self.poll(gw, user, "pc", mids, ["a"])
        self.poll(gw, user, "phone", mids, ["a"])
        self.assertEqual(mids_in(user), set(mids.values()))
        with DC.imap(user) as im:
            uid = [u for u, m in im.message_ids().items() if m == mids["x"]][0]
            before = im.uidvalidity()
            im.store(uid, "+FLAGS", "\\Deleted")
            self.assertEqual(im.c.expunge()[0], "OK")
        time.sleep(1.1)                    # Dovecot's UIDVALIDITY is time based
        DC.forget_uids(user)
        with DC.imap(user) as im:
            self.assertNotEqual(im.uidvalidity(), before)
            self.assertEqual(sorted(im.message_ids().items()), [(1, mids["a"]), (2, mids["b"])])
        self.poll(gw, user, "tab", mids, ["b"])
        self.assertEqual(mids_in(user), {mids["a"], mids["b"]},
                         "b removed: the records of a did not follow it")
        self.poll(gw, user, "tab", mids, ["a"])
        self.assertEqual(mids_in(user), {mids["b"]}, gw.log_text()[-3000:])


OFFICE_PHONE = "[device office]\nshow = all\n[device phone]\nmax_age = 1d\n"
OFFICE_UNSEEN_PHONE = ("[device office]\nshow = all\n"
                       "[device phone]\nshow = unseen\nmax_age = 1d\n")


class RetentionProfiles(Gateway, unittest.TestCase):
    """Profiles take part: a device counts as done with a message when it
    RETRieved or deleted it, or its max_age can never list it again
    (INTERNALDATE older than max_age); show = unseen alone never does."""

    def test_phone_past_max_age_counts_as_done(self):
        """office RETRs an old and a recent message: the old one (3 days,
        the phone's max_age is 1d) goes at office's QUIT, the recent one
        stays until the phone has fetched it too."""
        gw = self.gateway(OFFICE_PHONE, action="expunge")
        user, mids = mailbox(["old", "recent"], days_old={"old": 3})
        self.register(gw, user, "phone")
        self.poll(gw, user, "office", mids, ["old", "recent"])
        self.assertEqual(mids_in(user), {mids["recent"]}, gw.log_text()[-3000:])
        self.assertIsNotNone(gw.wait_log(r"event=retention result=ok action=expunge "
                                         r"dry_run=no done=2 removed=1 young=0 listable=1"))
        # office again: the recent one is still the phone's
        self.poll(gw, user, "office", mids, [])
        self.assertEqual(mids_in(user), {mids["recent"]})
        self.poll(gw, user, "phone", mids, ["recent"])
        self.assertEqual(mids_in(user), set())

    def test_device_without_max_age_still_blocks(self):
        """The same old message with a third device of [policy] (any age)
        that has not fetched it: nothing goes."""
        gw = self.gateway(OFFICE_PHONE, action="expunge")
        user, mids = mailbox(["old"], days_old={"old": 3})
        self.register(gw, user, "phone")
        self.register(gw, user, "laptop")
        self.poll(gw, user, "office", mids, ["old"])
        self.assertEqual(mids_in(user), {mids["old"]}, "removed before laptop had it")
        self.poll(gw, user, "laptop", mids, ["old"])
        self.assertEqual(mids_in(user), set())

    def test_seen_does_not_count(self):
        """show = unseen: office's RETR sets \\Seen, so the phone no longer
        lists the recent message, but it stays (\\Seen can be taken off);
        unread again, the phone lists and fetches it, and then it goes. The
        old one goes at once: past the phone's max_age."""
        gw = self.gateway(OFFICE_UNSEEN_PHONE, action="expunge")
        user, mids = mailbox(["old", "recent"], days_old={"old": 3})
        self.register(gw, user, "phone")
        self.poll(gw, user, "office", mids, ["old", "recent"])
        self.assertEqual(mids_in(user), {mids["recent"]}, gw.log_text()[-3000:])
        c = self.session(gw, user, "phone")
        self.assertEqual(c.cmd("STAT").split()[1], "0")    # \Seen: not listed
        self.quit(c)
        self.assertEqual(mids_in(user), {mids["recent"]}, "removed a \\Seen message")
        with DC.imap(user) as im:
            uid = [u for u, m in im.message_ids().items() if m == mids["recent"]][0]
            im.store(uid, "-FLAGS", "\\Seen")
        self.poll(gw, user, "phone", mids, ["recent"])
        self.assertEqual(mids_in(user), set())

    def test_message_ages_past_max_age(self):
        """max_age = 1h, a message that turns 1h old a few seconds after
        office fetched it: kept at that QUIT, removed at office's next
        QUIT once it is past (the phone never fetched it)."""
        gw = self.gateway("[device office]\nshow = all\n[device phone]\nmax_age = 1h\n",
                          action="expunge")
        margin = 8
        t0 = time.time()
        user, mids = mailbox(["a"], days_old={"a": (3600 - margin) / 86400})
        self.register(gw, user, "phone")
        self.poll(gw, user, "office", mids, ["a"])
        if time.time() >= t0 + margin - 2:
            self.skipTest("the machine took longer than the margin to fetch")
        self.assertEqual(mids_in(user), {mids["a"]}, "removed while the phone could list it")
        self.assertIsNotNone(gw.wait_log(r"event=retention result=ok .* listable=1"))
        # wait until it is past the phone's max_age (INTERNALDATE is whole
        # seconds: a few more)
        self.assertTrue(h.wait_until(lambda: time.time() > t0 + margin + 3, margin + 10))
        self.poll(gw, user, "office", mids, [])
        self.assertEqual(mids_in(user), set(), gw.log_text()[-3000:])

    def test_dry_run_with_profiles(self):
        gw = self.gateway(OFFICE_PHONE, action="expunge", dry_run="yes")
        user, mids = mailbox(["old", "recent"], days_old={"old": 3})
        self.register(gw, user, "phone")
        self.poll(gw, user, "office", mids, ["old", "recent"])
        self.assertEqual(mids_in(user), set(mids.values()), "dry_run removed mail")
        self.assertIsNotNone(gw.wait_log(r"event=retention_dry_run uid=1 action=expunge"))
        self.assertNotRegex(gw.log_text(), r"event=retention_dry_run uid=2")
        self.assertIsNotNone(gw.wait_log(r"event=retention result=dry_run .* listable=1"))


if __name__ == "__main__":
    unittest.main()
