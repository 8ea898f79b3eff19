"""Device profiles ([device PATTERN], issue 15) against a private Dovecot and
popgate's managed redis-server: Ronald's set-up (office lists everything,
phone only today's unread), per-profile delete_action, mark_seen_on_retr and
new_device_sees, the account pattern, and UIDLs that stay those of the UIDL
map whatever a profile leaves out."""
import imaplib
import json
import os
import shutil
import subprocess
import time
import unittest

import harness as h

DC = None
PASSWORD = "secret"
USERS = {"p%02d" % i: PASSWORD for i in range(1, 21)}
_next = [0]

RONALD = ("[device office]\nshow = all\n"
          "[device phone]\nshow = unseen\nmax_age = 1d\n")


def setUpModule():
    global DC
    DC = h.popgate_module(USERS)


def tearDownModule():
    if DC is not None:
        DC.stop()


def message(tag):
    return h.tagged_message(tag, "profiles")


def new_user():
    _next[0] += 1
    return "p%02d" % _next[0]


def append(user, tag, days_old=None, flags=None, mailbox="INBOX"):
    """APPENDs one message (INTERNALDATE days_old days ago when given);
    returns its Message-ID."""
    mid, data = message(tag)
    date = imaplib.Time2Internaldate(time.time() - days_old * 86400) if days_old else None
    with DC.imap(user) as im:
        typ, resp = im.c.append(mailbox, flags, date, data)
        assert typ == "OK", resp
    return mid


def by_mid(user):
    """{Message-ID: (uid, flags)} of the INBOX, and its UIDVALIDITY."""
    with DC.imap(user) as im:
        flags = {u: fl for u, fl, _ in im.messages()}
        return {m: (u, flags[u]) for u, m in im.message_ids().items()}, im.uidvalidity()


class Profiles(unittest.TestCase):
    def gateway(self, extra, policy=None):
        gw = h.Popgate(DC.imap_port, extra=extra, policy=policy).start()
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

    def listing(self, c):
        """[(n, UIDL, Message-ID)] of the session: UIDL, then TOP n 0."""
        r = c.cmd("UIDL")
        self.assertTrue(r.startswith("+OK"), r)
        out = []
        for line in c.multi_lines():
            n, uidl = line.split()
            r = c.cmd("TOP %s 0" % n)
            self.assertTrue(r.startswith("+OK"), r)
            head = c.multi().decode()
            mid = [l.split(None, 1)[1] for l in head.split("\r\n")
                   if l.lower().startswith("message-id:")][0]
            out.append((int(n), uidl, mid))
        return out

    def mids(self, gw, user, device):
        """{Message-ID: UIDL} the device lists now (a session of its own)."""
        c = self.session(gw, user, device)
        got = {mid: uidl for _, uidl, mid in self.listing(c)}
        self.quit(c)
        return got

    def test_ronald(self):
        """office: everything; phone: unread mail of the last day. Old
        mail and mail office read are not on the phone; a DELE there
        hides only there; new unread mail appears on both."""
        gw = self.gateway(RONALD)
        user = new_user()
        old = append(user, "old", days_old=3)
        read = append(user, "read")
        fresh = append(user, "fresh")
        state, uv = by_mid(user)

        def uidl(mid):
            return "%08x%08x" % (state[mid][0], uv)

        # office lists all three, with the UIDL map's UIDLs, and reads one
        c = self.session(gw, user, "office")
        office = {mid: (n, u) for n, u, mid in self.listing(c)}
        self.assertEqual(set(office), {old, read, fresh})
        for mid, (_, u) in office.items():
            self.assertEqual(u, uidl(mid))
        c.retr(office[read][0])
        self.quit(c)
        self.assertIn("\\Seen", by_mid(user)[0][read][1])

        # phone: neither the old one nor the one office read
        self.assertEqual(self.mids(gw, user, "phone"), {fresh: uidl(fresh)})
        self.assertIsNotNone(gw.wait_log(r"event=device_view device=phone profile=phone "
                                         r"new_device=yes left_out=2 hidden=0 visible=1"))

        # a DELE on the phone hides it there only
        c = self.session(gw, user, "phone")
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.quit(c)
        self.assertEqual(self.mids(gw, user, "phone"), {})
        self.assertEqual(set(self.mids(gw, user, "office")), {old, read, fresh})
        self.assertIn(fresh, by_mid(user)[0], "the phone's DELE removed it upstream")

        # new unread mail appears on both
        new = append(user, "new")
        state, uv = by_mid(user)
        self.assertEqual(self.mids(gw, user, "phone"), {new: uidl(new)})
        self.assertEqual(self.mids(gw, user, "office"),
                         {m: uidl(m) for m in (old, read, fresh, new)})

        # read in webmail (IMAP \Seen): gone from the phone; unread again:
        # back, under the same UIDL
        with DC.imap(user) as im:
            im.store(state[new][0], "+FLAGS", "\\Seen")
        self.assertEqual(self.mids(gw, user, "phone"), {})
        with DC.imap(user) as im:
            im.store(state[new][0], "-FLAGS", "\\Seen")
        self.assertEqual(self.mids(gw, user, "phone"), {new: uidl(new)})
        # a device no section matches gets [policy]: everything
        self.assertEqual(len(self.mids(gw, user, "laptop")), 4)

    def test_max_age_alone_and_weeks(self):
        """max_age = 2w, show = all: read mail is listed, mail older than
        two weeks is not; the INTERNALDATE is fetched only for it."""
        gw = self.gateway("[device tab*]\nmax_age = 2w\n")
        user = new_user()
        ancient = append(user, "ancient", days_old=30)
        recent = append(user, "recent", days_old=10)
        seen = append(user, "seen", flags="(\\Seen)")
        self.assertEqual(set(self.mids(gw, user, "tablet-1")), {recent, seen})
        self.assertEqual(set(self.mids(gw, user, "pc")), {ancient, recent, seen})

    def test_delete_action_per_profile(self):
        """[policy] hide, [device kiosk] expunge: the kiosk's DELE removes
        the message upstream, the PC's only hides it for the PC."""
        gw = self.gateway("[device kiosk]\ndelete_action = expunge\n")
        user = new_user()
        a = append(user, "a")
        b = append(user, "b")
        c = self.session(gw, user, "pc")
        n = {mid: n for n, _, mid in self.listing(c)}
        self.assertTrue(c.cmd("DELE %d" % n[a]).startswith("+OK"))
        self.quit(c)
        self.assertEqual(set(by_mid(user)[0]), {a, b})
        c = self.session(gw, user, "kiosk")
        n = {mid: n for n, _, mid in self.listing(c)}
        self.assertEqual(set(n), {a, b})
        self.assertTrue(c.cmd("DELE %d" % n[b]).startswith("+OK"))
        self.quit(c)
        self.assertEqual(set(by_mid(user)[0]), {a})
        self.assertEqual(set(self.mids(gw, user, "pc")), set())

    def test_mark_seen_and_new_device_per_profile(self):
        """[policy] mark_seen_on_retr = yes, new_device_sees = all;
        [device peek] mark_seen_on_retr = no, new_device_sees = new."""
        gw = self.gateway("[device peek]\nmark_seen_on_retr = no\nnew_device_sees = new\n")
        user = new_user()
        a = append(user, "a")
        # a new 'peek' device starts after what is there
        self.assertEqual(self.mids(gw, user, "peek"), {})
        b = append(user, "b")
        c = self.session(gw, user, "peek")
        got = self.listing(c)
        self.assertEqual([mid for _, _, mid in got], [b])
        c.retr(1)
        self.quit(c)
        self.assertNotIn("\\Seen", by_mid(user)[0][b][1])
        # the default device: everything, and RETR marks \Seen
        c = self.session(gw, user, "pc")
        n = {mid: n for n, _, mid in self.listing(c)}
        self.assertEqual(set(n), {a, b})
        c.retr(n[b])
        self.quit(c)
        self.assertIn("\\Seen", by_mid(user)[0][b][1])

    def test_account_pattern(self):
        """account = PATTERN: the section only for matching addresses; the
        next matching section (or [policy]) for the others."""
        user, other = new_user(), new_user()
        gw = self.gateway("[device phone]\naccount = %s\nshow = unseen\n"
                          "[device ph*]\nmax_age = 1d\n" % user.upper())
        for u in (user, other):
            append(u, "old", days_old=5)
            append(u, "seen", flags="(\\Seen)")
        self.assertEqual(len(self.mids(gw, user, "phone")), 1)   # old, unread
        self.assertEqual(len(self.mids(gw, other, "phone")), 1)  # seen, recent
        self.assertEqual(len(self.mids(gw, other, "pc")), 2)

    def tool(self, gw, *args):
        p = subprocess.run([gw.binary, "device"] + list(args) + ["-c", gw.conf],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                           env=dict(os.environ, **h.SANITIZER_ENV))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p.stdout.decode()

    def test_device_show(self):
        """popgate device show prints the profile that matches, its rule,
        and the device's retention status, in text and JSON."""
        gw = self.gateway(RONALD + "[retention]\nwhen = all-devices-done\nmin_age = 30d\n"
                          "forget_after = 14d\n")
        user = new_user()
        append(user, "a")
        append(user, "b")
        c = self.session(gw, user, "phone")
        c.retr(1)
        c.retr(2)
        self.quit(c)
        self.quit(self.session(gw, user, "laptop"))

        show = json.loads(self.tool(gw, "show", user + "#phone", "--json"))
        p = show["profile"]
        self.assertEqual((p["section"], p["pattern"], p["account"], p["show"],
                          p["max_age_secs"], p["delete_action"], p["new_device_sees"],
                          p["mark_seen_on_retr"]),
                         ("[device phone]", "phone", None, "unseen", 86400, "hide", "all", True))
        self.assertEqual(p["line"], open(gw.conf).read().splitlines().index("[device phone]") + 1)
        self.assertEqual(p["rule"], "messages without \\Seen at login that arrived within 1d "
                         "before login")
        r = show["retention"]
        self.assertEqual((r["when"], r["action"], r["min_age_secs"], r["forget_after_secs"],
                          r["retrieved"], r["counts"]),
                         ("all-devices-done", "trash", 30 * 86400, 14 * 86400, 2, True))
        self.assertLessEqual(abs(r["last_quit"] - time.time()), 120)

        text = self.tool(gw, "show", user + "#phone")
        self.assertRegex(text, r"(?m)^profile: +\[device phone\] \(.*popgate-\d+\.conf line %d\)$"
                         % p["line"])
        self.assertRegex(text, r"(?m)^lists: +messages without \\Seen at login that arrived "
                         r"within 1d before login, not hidden, from first_uidnext on$")
        self.assertRegex(text, r"(?m)^retention: +all-devices-done, action trash, min_age 30d$")
        self.assertRegex(text, r"(?m)^retrieved: +2 recorded for retention$")
        self.assertRegex(text, r"(?m)^counts: +yes")

        laptop = json.loads(self.tool(gw, "show", user + "#laptop", "--json"))
        self.assertEqual(laptop["profile"]["section"], "[policy]")
        self.assertEqual(laptop["profile"]["rule"], "every message")
        self.assertEqual(laptop["retention"]["retrieved"], 0)
        self.assertRegex(self.tool(gw, "show", user + "#laptop"),
                         r"(?m)^profile: +\[policy\] \(no \[device\] section matches\)$")

    def test_device_show_forgotten(self):
        """A device not seen for forget_after shows that it no longer
        counts for retention."""
        gw = self.gateway("[retention]\nwhen = all-devices-done\nforget_after = 1s\n")
        user = new_user()
        append(user, "a")
        self.quit(self.session(gw, user, "old"))
        show = json.loads(self.tool(gw, "show", user + "#old", "--json"))
        self.assertEqual(show["profile"]["section"], "[policy]")
        self.assertEqual(show["retention"]["forget_after_secs"], 1)
        # counts until a second has passed since its QUIT, then no longer
        self.assertTrue(h.wait_until(
            lambda: not json.loads(self.tool(gw, "show", user + "#old", "--json"))
            ["retention"]["counts"], 30), "still counts")
        self.assertRegex(self.tool(gw, "show", user + "#old"),
                         r"(?m)^counts: +no \(not seen for forget_after = 1s\)$")


MODEL_CONF = ("[device office]\nshow = all\n"
              "[device phone]\nshow = unseen\nmax_age = 1d\n"
              "[device tab]\nnew_device_sees = new\ndelete_action = hide-all\n")
MODEL_DEVICES = ("office", "phone", "tab", "pc")   # pc: [policy]


class ProfileModel(unittest.TestCase):
    """Randomized: devices with different profiles, IMAP-side appends (old
    and new, read and unread), flag changes and expunges, sessions that
    RETR, DELE, RSET, QUIT or drop. After every login the listing (its
    UIDLs, in order) is what the model's rule gives: no device ever lists
    a message its rule excludes or misses one it includes, and each UIDL
    names one message (the UIDL map's, the same on every device)."""

    STEPS = int(os.environ.get("POPGATE_MODEL_STEPS", "70"))

    def setUp(self):
        self.seed = int(os.environ.get("POPGATE_MODEL_SEED", str(int(time.time()))))
        self.rng = __import__("random").Random(self.seed)
        self.gw = h.Popgate(DC.imap_port, extra=MODEL_CONF).start()
        self.addCleanup(self.gw.cleanup)
        self.addCleanup(self.gw.stop)
        self.user = new_user()
        self.msgs = {}          # uid -> {"seen": bool, "old": bool}
        self.hidden = {d: set() for d in MODEL_DEVICES}
        self.hidden_all = set()
        self.first_uid = {}     # device -> its starting point (new_device_sees = new)
        self.uidnext = 1
        self.n = 0
        with DC.imap(self.user) as im:
            self.uv = im.uidvalidity()

    def where(self):
        return "seed %d (POPGATE_MODEL_SEED=%d to repeat)" % (self.seed, self.seed)

    def listed(self, device):
        """The rule (README "Device profiles"), in UID order."""
        out = []
        for uid in sorted(self.msgs):
            m = self.msgs[uid]
            if device == "phone" and (m["seen"] or m["old"]):
                continue
            if uid in self.hidden[device] or uid in self.hidden_all:
                continue
            if uid < self.first_uid.get(device, 1):
                continue
            out.append(uid)
        return out

    def imap_append(self):
        self.n += 1
        old, seen = self.rng.random() < 0.3, self.rng.random() < 0.3
        _, data = message("m%d-%d" % (self.seed, self.n))
        date = imaplib.Time2Internaldate(time.time() - 3 * 86400) if old else None
        with DC.imap(self.user) as im:
            typ, resp = im.c.append("INBOX", "(\\Seen)" if seen else None, date, data)
            self.assertEqual(typ, "OK", resp)
            uid = int(__import__("re").search(rb"APPENDUID \d+ (\d+)", resp[0]).group(1))
        self.msgs[uid] = {"seen": seen, "old": old}
        self.uidnext = uid + 1

    def imap_flag(self):
        if not self.msgs:
            return
        uid = self.rng.choice(sorted(self.msgs))
        m = self.msgs[uid]
        with DC.imap(self.user) as im:
            im.store(uid, "-FLAGS" if m["seen"] else "+FLAGS", "\\Seen")
        m["seen"] = not m["seen"]

    def imap_expunge(self):
        if not self.msgs:
            return
        uid = self.rng.choice(sorted(self.msgs))
        with DC.imap(self.user) as im:
            im.store(uid, "+FLAGS", "\\Deleted")
            typ, _ = im.c.expunge()
            self.assertEqual(typ, "OK")
        del self.msgs[uid]

    def login(self, device):
        deadline = time.monotonic() + 30
        while True:
            c = h.Pop3(self.gw.port)
            r = c.login("%s#%s" % (self.user, device), PASSWORD)
            if r.startswith("+OK"):
                return c
            c.close()
            # a dropped session's lock is released once popgate sees the close
            self.assertIn("[IN-USE]", r, self.where())
            self.assertLess(time.monotonic(), deadline, "still in use: " + self.where())
            time.sleep(0.1)

    def session(self, device):
        if device == "tab" and device not in self.first_uid:
            self.first_uid[device] = self.uidnext
        c = self.login(device)
        want = self.listed(device)
        r = c.cmd("UIDL")
        self.assertTrue(r.startswith("+OK"), r)
        got = [line.split()[1] for line in c.multi_lines()]
        self.assertEqual(got, ["%08x%08x" % (u, self.uv) for u in want],
                         "%s lists the wrong messages; %s" % (device, self.where()))
        marks = set()
        for _ in range(self.rng.randrange(4)):
            if not want:
                break
            k = self.rng.randrange(len(want))
            act = self.rng.choice(("RETR", "DELE", "DELE", "RSET"))
            if act == "RSET":
                self.assertTrue(c.cmd("RSET").startswith("+OK"))
                marks.clear()
            elif act == "DELE" and k not in marks:
                self.assertTrue(c.cmd("DELE %d" % (k + 1)).startswith("+OK"))
                marks.add(k)
            elif act == "RETR" and k not in marks:
                c.retr(k + 1)
                self.msgs[want[k]]["seen"] = True   # mark_seen_on_retr = yes
        if self.rng.random() < 0.2:
            c.close()                                # a drop applies nothing
            return
        self.assertTrue(c.cmd("QUIT").startswith("+OK"), self.where())
        c.close()
        for k in marks:
            (self.hidden_all if device == "tab" else self.hidden[device]).add(want[k])

    def test_random_devices(self):
        for _ in range(4):
            self.imap_append()
        for _ in range(self.STEPS):
            x = self.rng.random()
            if x < 0.3:
                self.imap_append()
            elif x < 0.42:
                self.imap_flag()
            elif x < 0.5:
                self.imap_expunge()
            else:
                self.session(self.rng.choice(MODEL_DEVICES))
        for d in MODEL_DEVICES:
            self.session(d)


if __name__ == "__main__":
    unittest.main()
