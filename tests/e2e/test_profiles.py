"""Device profiles ([device PATTERN], issue 15) against a private Dovecot and
popgate's managed redis-server: Ronald's set-up (office lists everything,
phone only today's unread), per-profile delete_action, mark_seen_on_retr and
new_device_sees, the account pattern, and UIDLs that stay those of the UIDL
map whatever a profile leaves out."""
import imaplib
import json
import os
import re
import shutil
import subprocess
import time
import unittest

import harness as h
from test_listing_sync import RESTRICTED_CAPS

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
                         ("all-devices-done", "trash", 30 * 86400, 14 * 86400, 2, True),
                         "popgate's log:\n" + gw.log_text()[-6000:])
        self.assertLessEqual(abs(r["last_quit"] - time.time()), 120)
        self.assertEqual(r["done_after_age_secs"], 86400)

        text = self.tool(gw, "show", user + "#phone")
        self.assertRegex(text, r"(?m)^profile: +\[device phone\] \(.*popgate-\d+\.conf line %d\)$"
                         % p["line"])
        self.assertRegex(text, r"(?m)^lists: +messages without \\Seen at login that arrived "
                         r"within 1d before login, not hidden, from first_uidnext on$")
        self.assertRegex(text, r"(?m)^retention: +all-devices-done, action trash, min_age 30d$")
        self.assertRegex(text, r"(?m)^retrieved: +2 recorded for retention$")
        self.assertRegex(text, r"(?m)^counts: +yes \(a message is done once this device has it, "
                         r"or once it is more than 1d old: max_age\)$")

        laptop = json.loads(self.tool(gw, "show", user + "#laptop", "--json"))
        self.assertEqual(laptop["profile"]["section"], "[policy]")
        self.assertEqual(laptop["profile"]["rule"], "every message")
        self.assertEqual(laptop["retention"]["retrieved"], 0)
        self.assertEqual(laptop["retention"]["done_after_age_secs"], 0)
        self.assertRegex(self.tool(gw, "show", user + "#laptop"),
                         r"(?m)^counts: +yes \(a message is done only once this device has it\)$")
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
MODEL_RETENTION = "[retention]\nwhen = all-devices-done\naction = expunge\n"
MODEL_DEVICES = ("office", "phone", "tab", "pc")   # pc: [policy]
MODEL_USERS = ["m%02d" % i for i in range(1, 9)]
USERS.update({u: PASSWORD for u in MODEL_USERS})


class ProfileModel(unittest.TestCase):
    """Randomized: devices with different profiles, IMAP-side appends (old
    and new, read and unread), flag changes and expunges, the mailbox
    numbered anew (a new UIDVALIDITY), sessions that RETR, DELE, RSET,
    QUIT or drop; with retention on in half of the runs. Messages are
    told apart by their Message-ID. After every login the listing (its
    messages, in order) is what the model's rule gives: no device ever
    lists a message its rule excludes or misses one it includes. UIDLs:
    a message gets one the first time any device lists it (the UID map's
    %08x%08x of its UID and UIDVALIDITY then) and keeps it on every
    device, across logins and the renumbering; no UIDL ever names two
    messages in the whole run. Retention: no message leaves the mailbox
    while a registered device that could still list it has not fetched
    or deleted it (README "Retention": done is RETR, a DELE of its own,
    hide-all, or past its max_age; \Seen and the starting point never).
    The *_kept_connections runs do the same with [upstream] keep_idle: each
    login after the first takes the IMAP connection the last session left,
    and its listing and Redis reads are brought up to date from what was
    kept with it (the run fails if no login used the kept listing); with
    retention, against a Dovecot without CONDSTORE and QRESYNC.

    POPGATE_MODEL_SEEDS runs (default 2 per test) of POPGATE_MODEL_STEPS
    steps (default 80), seeds POPGATE_MODEL_SEED (default: the time) on;
    POPGATE_MODEL_VERBOSE=1 prints each run's figures; make model-long
    runs a longer campaign."""

    STEPS = int(os.environ.get("POPGATE_MODEL_STEPS", "80"))
    SEEDS = int(os.environ.get("POPGATE_MODEL_SEEDS", "2"))
    VERBOSE = os.environ.get("POPGATE_MODEL_VERBOSE") == "1"
    RECREATE = float(os.environ.get("POPGATE_MODEL_RECREATE", "0.02"))   # per step

    def setUp(self):
        self.base = int(os.environ.get("POPGATE_MODEL_SEED", str(int(time.time()))))

    # ---- one run ----

    def start(self, seed, retention, user, keep=False, dc=None):
        self.seed, self.retention, self.user, self.keep = seed, retention, user, keep
        self.dc = dc or DC
        self.rng = __import__("random").Random(seed)
        # 2 to 4 of the devices: with fewer, each one's records matter more
        self.devices = sorted(self.rng.sample(MODEL_DEVICES, self.rng.choice((2, 3, 4))))
        with self.dc.imap(user) as im:
            if im.messages():
                im.expunge_all()         # a user of an earlier run
        # keep: every session of the account after the first goes through
        # the IMAP connection the last one left (keep_idle), its listing
        # brought up to date from the kept one, and the kept Redis reads
        self.gw = h.Popgate(self.dc.imap_port, upstream={"keep_idle": "2m"} if keep else None,
                            extra=MODEL_CONF +
                            (MODEL_RETENTION if retention else "")).start()
        self.msgs = {}          # Message-ID -> {"seen", "old", "after_tab"}
        self.hidden = {d: set() for d in MODEL_DEVICES}
        self.hidden_all = set()
        self.retr = {d: set() for d in MODEL_DEVICES}   # recorded at QUIT
        self.registered = set()
        self.tab_start = None   # tab's starting point (UID), once registered
        self.tab_seen = None    # the second tab registered in
        self.remap = False      # renumbered; the next login moves the state
        self.uidl = {}          # Message-ID -> UIDL, once listed
        self.names = {}         # Message-ID -> its UIDLs by number: %08x%08x
                                # of each (UID, UIDVALIDITY) it has had
        self.named = {}         # UIDL -> Message-ID, over the whole run
        self.n = 0
        self.trace = []         # what happened, for the failure message
        self.stats = {"sessions": 0, "removed": 0, "recreated": 0, "listed": 0}
        if keep:
            self.stats["listings"] = {}  # event=listing kind=... of the logins
        with self.dc.imap(user) as im:
            typ, data = im.c.status("INBOX", "(UIDNEXT)")
            self.uidnext = int(__import__("re").search(rb"UIDNEXT (\d+)", data[0]).group(1))
            self.uv = im.uidvalidity()

    def stop(self):
        self.gw.stop()
        self.gw.cleanup()

    def where(self):
        log = [l for l in self.gw.log_text().splitlines()
               if re.search(r"event=(remap|retention|device_view|uidvalidity|quit|hide)", l)]
        return self.label() + "\nlast steps:\n  " + "\n  ".join(self.trace[-25:]) + \
            "\npopgate:\n  " + "\n  ".join(log[-30:])

    def label(self):
        return "seed %d%s, devices %s (POPGATE_MODEL_SEED=%d POPGATE_MODEL_SEEDS=1 POPGATE_MODEL_STEPS=%d " \
            "to repeat)" % (self.seed, (" with retention" if self.retention else "") +
                            (" through kept connections" if self.keep else ""),
                            " ".join(self.devices), self.seed, self.STEPS)

    def upstream(self):
        """[(uid, Message-ID)] of the INBOX in UID order, and its UIDVALIDITY."""
        with self.dc.imap(self.user) as im:
            return sorted(im.message_ids().items()), im.uidvalidity()

    def lists(self, device, mid, uid):
        """The rule (README "Device profiles") for one message."""
        m = self.msgs[mid]
        if device == "phone" and (m["seen"] or m["old"]):
            return False
        if mid in self.hidden[device] or mid in self.hidden_all:
            return False
        return device != "tab" or uid >= self.tab_start

    def done(self, device, mid):
        """Retention's done (README "Retention") as the model knows it."""
        return (mid in self.retr[device] or mid in self.hidden[device] or
                mid in self.hidden_all or (device == "phone" and self.msgs[mid]["old"]))

    def check_upstream(self, what):
        """Everything the model holds is upstream, except what retention
        removed, and that only when every registered device was done with
        it; the model forgets those."""
        up, _ = self.upstream()
        there = {mid for _, mid in up}
        self.assertEqual(there - set(self.msgs), set(), "unknown mail upstream; " + self.where())
        for mid in set(self.msgs) - there:
            self.assertTrue(self.retention, "%s vanished after %s without retention; %s"
                            % (mid, what, self.where()))
            waiting = [d for d in sorted(self.registered) if not self.done(d, mid)]
            self.assertEqual(waiting, [], "%s removed after %s while these devices could "
                             "still list it: %s" % (mid, what, self.where()))
            del self.msgs[mid]
            self.stats["removed"] += 1
            self.trace.append("retention removed %s" % mid)

    def tick(self):
        """Waits until the clock's second has moved on: INTERNALDATEs and
        tab's first sight are whole seconds, so which side of it a message
        is on is never a tie."""
        t = int(time.time())
        self.assertTrue(h.wait_until(lambda: int(time.time()) > t, 5))

    # ---- the IMAP side ----

    def imap_append(self):
        self.n += 1
        old, seen = self.rng.random() < 0.3, self.rng.random() < 0.3
        mid, data = message("m%d-%d" % (self.seed, self.n))
        date = imaplib.Time2Internaldate(time.time() - 3 * 86400) if old else None
        if self.tab_seen is not None and int(time.time()) <= self.tab_seen:
            self.tick()
        with self.dc.imap(self.user) as im:
            typ, resp = im.c.append("INBOX", "(\\Seen)" if seen else None, date, data)
            self.assertEqual(typ, "OK", resp)
            uid = int(__import__("re").search(rb"APPENDUID \d+ (\d+)", resp[0]).group(1))
        self.msgs[mid] = {"seen": seen, "old": old,
                          "after_tab": not old and self.tab_seen is not None}
        self.names[mid] = {"%08x%08x" % (uid, self.uv)}
        self.trace.append("append %s uid %d%s%s" % (mid, uid, " old" if old else "",
                                                     " seen" if seen else ""))
        self.uidnext = uid + 1
        self.last_append = time.time()

    def pick(self, up):
        mine = [(u, m) for u, m in up if m in self.msgs]
        return self.rng.choice(mine) if mine else (None, None)

    def imap_flag(self):
        up, _ = self.upstream()
        uid, mid = self.pick(up)
        if uid is None:
            return
        m = self.msgs[mid]
        with self.dc.imap(self.user) as im:
            im.store(uid, "-FLAGS" if m["seen"] else "+FLAGS", "\\Seen")
        m["seen"] = not m["seen"]
        self.trace.append("%s \\Seen on %s" % ("set" if m["seen"] else "took off", mid))

    def imap_expunge(self):
        up, _ = self.upstream()
        uid, mid = self.pick(up)
        if uid is None:
            return
        with self.dc.imap(self.user) as im:
            im.store(uid, "+FLAGS", "\\Deleted")
            typ, _ = im.c.expunge()
            self.assertEqual(typ, "OK")
        del self.msgs[mid]
        self.trace.append("expunge %s" % mid)

    def recreate(self):
        """Dovecot numbers the mailbox anew (its index files deleted), in
        the order of its files, under a new UIDVALIDITY. The next login
        moves the state; then tab's starting point moves to the first
        message that arrived after tab was first seen (README
        "UIDVALIDITY")."""
        up, uv = self.upstream()
        time.sleep(1.1)                  # the UIDVALIDITY is time based
        self.dc.forget_uids(self.user)
        new, nuv = self.upstream()
        self.assertNotEqual(nuv, uv)
        self.assertEqual([m for _, m in new], [m for _, m in up], "Dovecot reordered")
        self.uidnext = (new[-1][0] + 1) if new else 1
        self.uv = nuv
        for u, m in new:
            self.names[m].add("%08x%08x" % (u, nuv))
        self.remap = True
        self.stats["recreated"] += 1
        self.trace.append("recreated: uidvalidity %d, %s" % (nuv, " ".join(
            "%d=%s" % (u, m.split(".")[0][1:]) for u, m in new)))

    # ---- the POP3 side ----

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
        first_tab = device == "tab" and self.tab_start is None
        if first_tab:
            self.tick()                  # after every message so far
            self.tab_start = self.uidnext
        up, _ = self.upstream()
        if self.remap and self.tab_start is not None and self.tab_start > 1:
            after = [u for u, m in up if self.msgs[m]["after_tab"]]
            self.tab_start = after[0] if after else self.uidnext
        self.remap = False
        c = self.login(device)
        self.registered.add(device)
        if first_tab:
            self.tab_seen = int(time.time())
        self.stats["sessions"] += 1
        want = [(u, m) for u, m in up if self.lists(device, m, u)]
        self.trace.append("%s logs in, expects %s" % (device, " ".join(
            "%d=%s" % (u, m.split(".")[0][1:]) for u, m in want)))
        r = c.cmd("UIDL")
        self.assertTrue(r.startswith("+OK"), r)
        got = [line.split()[1] for line in c.multi_lines()]
        self.assertEqual(len(got), len(want), "%s lists %d messages, the rule %d: %s; %s"
                         % (device, len(got), len(want), " ".join(
                             self.named.get(u, u).split(".")[0].lstrip("<") for u in got),
                            self.where()))
        for n, ((uid, mid), uidl) in enumerate(zip(want, got), 1):
            r = c.cmd("TOP %d 0" % n)
            self.assertTrue(r.startswith("+OK"), r)
            head = c.multi().decode()
            self.assertIn("Message-ID: %s" % mid, head, "%s lists the wrong message as %d; %s"
                          % (device, n, self.where()))
            # its first UIDL: that of one of its numberings (the UIDL map
            # assigns it at a login, maybe before any device lists it)
            self.assertIn(self.uidl.setdefault(mid, uidl), self.names[mid],
                          "%s's first UIDL is not of its UIDs; %s" % (mid, self.where()))
            self.assertEqual(uidl, self.uidl[mid], "%s's UIDL changed on %s; %s"
                             % (mid, device, self.where()))
            self.assertEqual(self.named.setdefault(uidl, mid), mid,
                             "UIDL %s names two messages; %s" % (uidl, self.where()))
            self.stats["listed"] += 1
        marks, retrieved = set(), set()
        for _ in range(self.rng.randrange(4)):
            if not want:
                break
            k = self.rng.randrange(len(want))
            act = self.rng.choice(("RETR", "DELE", "DELE", "RSET"))
            if act == "RSET":
                self.assertTrue(c.cmd("RSET").startswith("+OK"))
                marks.clear()
                self.trace.append("  RSET")
            elif act == "DELE" and k not in marks:
                self.assertTrue(c.cmd("DELE %d" % (k + 1)).startswith("+OK"))
                marks.add(k)
                self.trace.append("  DELE %d" % (k + 1))
            elif act == "RETR" and k not in marks:
                data = c.retr(k + 1)
                self.assertIn(("Message-ID: %s" % want[k][1]).encode(), data, self.where())
                self.msgs[want[k][1]]["seen"] = True   # mark_seen_on_retr = yes
                retrieved.add(want[k][1])
                self.trace.append("  RETR %d" % (k + 1))
        if self.rng.random() < 0.2:
            c.close()                                # a drop applies nothing
            self.trace.append("  drop")
            self.check_upstream("a drop of " + device)
            return
        self.assertTrue(c.cmd("QUIT").startswith("+OK"), self.where())
        c.close()
        self.trace.append("  QUIT")
        for k in marks:
            (self.hidden_all if device == "tab" else self.hidden[device]).add(want[k][1])
        self.retr[device] |= retrieved
        self.check_upstream("a QUIT of " + device)

    def run_seed(self, seed, retention, user, keep=False, dc=None):
        self.start(seed, retention, user, keep, dc)
        try:
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
                elif x < 0.5 + self.RECREATE:
                    self.recreate()
                else:
                    self.session(self.rng.choice(self.devices))
            if self.stats["recreated"] == 0:
                self.recreate()          # at least once a run
            for d in self.devices:
                self.session(d)
            if self.keep:
                kinds = self.stats["listings"]
                for l in self.gw.log_text().splitlines():
                    m = re.search(r"event=listing .*kind=(\w+)", l)
                    if m:
                        kinds[m.group(1)] = kinds.get(m.group(1), 0) + 1
                # the kept listing was used: brought up to date (changes,
                # checked) or found unchanged, not fetched whole each time
                self.assertGreater(sum(n for k, n in kinds.items() if k != "full"), 0,
                                   "no login used the kept listing: %s; %s"
                                   % (kinds, self.where()))
            if self.VERBOSE:
                print("model %s: %s, %d UIDLs" % (self.label(), self.stats, len(self.named)))
        finally:
            self.stop()

    def campaign(self, retention, offset, keep=False, dc=None):
        for i in range(self.SEEDS):
            self.run_seed(self.base + i, retention,
                          MODEL_USERS[(2 * i + offset) % len(MODEL_USERS)], keep, dc)

    def test_random_devices(self):
        self.campaign(False, 0)

    def test_random_devices_retention(self):
        self.campaign(True, 1)

    def test_random_devices_kept_connections(self):
        self.campaign(False, 4, keep=True)

    def test_random_devices_retention_kept_connections(self):
        """Against a Dovecot without CONDSTORE and QRESYNC: the kept
        listings are checked by searches and flag fetches instead."""
        dc = h.Dovecot(users=USERS, extra_conf="imap_capability = %s\n"
                       % RESTRICTED_CAPS).start()
        try:
            self.campaign(True, 5, keep=True, dc=dc)
        finally:
            dc.stop()


if __name__ == "__main__":
    unittest.main()
