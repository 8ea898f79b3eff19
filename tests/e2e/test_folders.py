"""Device views beyond INBOX (issue 15): [device PATTERN] folders = INBOX,
\\Sent against a private Dovecot whose Sent folder is marked \\Sent
(RFC 6154) and popgate's managed redis-server. Sent mail that an IMAP
phone APPENDed is downloaded once by a device with \\Sent (poplib, mpop
and fetchmail), never twice, never by a device without it; DELE of a Sent message
hides it for that device only; RETR bytes are the upstream's in both
folders, interleaved; UIDLs unique across folders and stable; the
max_messages limit over all folders; a folder recreated between polls and
during a session; mark_seen_on_retr sets \\Seen in Sent; a QUIT whose
second folder cannot be opened says what it applied."""
import json
import os
import poplib
import random
import re
import shutil
import subprocess
import sys
import unittest

import harness as h
import test_profiles
from test_listing_sync import CountingRelay

DC = None
PASSWORD = "secret"
USERS = {"f%02d" % i: PASSWORD for i in range(1, 21)}
_next = [0]

# Dovecot: Sent is the \Sent folder (created at login), Archive a plain one.
DOVECOT_EXTRA = """namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
    auto = create
  }
  mailbox Archive {
    auto = create
  }
}
"""

PROFILES = ("[device phone*]\nfolders = INBOX, \\Sent\n"
            "[device arch]\nfolders = INBOX, \\Sent, Archive\n"
            "[device junk]\nfolders = INBOX, \\Junk\n"
            "[device gone]\nfolders = INBOX, Nowhere, \\Sent\n"
            "[device kiosk]\nfolders = INBOX, \\Sent\ndelete_action = expunge\n"
            "[device bin]\nfolders = INBOX, \\Sent\ndelete_action = trash\n"
            "[device odd]\nfolders = Archive, INBOX\n"
            "[device fresh]\nfolders = INBOX, \\Sent\nnew_device_sees = new\n")


def setUpModule():
    global DC
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    if shutil.which("redis-server") is None:
        raise unittest.SkipTest("redis-server not installed")
    DC = h.Dovecot(users=USERS, extra_conf=DOVECOT_EXTRA).start()


def tearDownModule():
    if DC is not None:
        DC.stop()


def new_user():
    _next[0] += 1
    return "f%02d" % _next[0]


def message(tag, lines=3):
    mid = "<%s.folders@popgate.test>" % tag
    body = "".join("line %d of %s\r\n" % (i, tag) for i in range(lines))
    return mid, ("From: Me <me@popgate.test>\r\nTo: you@example.org\r\n"
                 "Subject: folders %s\r\nMessage-ID: %s\r\n\r\n.dot first\r\n%s"
                 % (tag, mid, body)).encode()


def append(user, tag, mailbox="INBOX", flags=None):
    """APPENDs one message as an IMAP client does (a phone saving what it
    sent to Sent); returns (Message-ID, the octets stored)."""
    mid, data = message(tag)
    with DC.imap(user) as im:
        typ, resp = im.c.append(mailbox, flags, None, data)
        assert typ == "OK", resp
    return mid, data


def folder_state(user, mailbox):
    """{Message-ID: (uid, flags)} of a folder upstream."""
    with DC.imap(user) as im:
        typ, _ = im.c.select(mailbox)
        assert typ == "OK", mailbox
        flags = {u: fl for u, fl, _ in im.messages()}
        return {m: (u, flags[u]) for u, m in im.message_ids().items()}


def fnv_tag(name):
    x = 2166136261
    for c in name.encode():
        x = ((x ^ c) * 16777619) & 0xffffffff
    return "f%08x" % x


class Folders(unittest.TestCase):
    def gateway(self, extra=PROFILES, server=None, upstream=None, port=None):
        gw = h.Popgate(port or DC.imap_port, extra=extra, server=server,
                       upstream=upstream).start()
        self.addCleanup(gw.cleanup)
        self.addCleanup(gw.stop)
        return gw

    # The dialogue helpers of the profile tests: a session, QUIT, the
    # listing as (n, UIDL, Message-ID), what a device lists now.
    session = test_profiles.Profiles.session
    quit = test_profiles.Profiles.quit
    listing = test_profiles.Profiles.listing
    mids = test_profiles.Profiles.mids

    # (1) the test
    def test_sent_mail_downloaded_once(self):
        """A message APPENDed to Sent over IMAP is listed by a device with
        \\Sent after the INBOX (numbers running on), under a UIDL that
        stays the same at every poll (so a client that keeps mail never
        downloads it twice), and never by a device without \\Sent."""
        gw = self.gateway()
        user = new_user()
        inbox, inbox_data = append(user, "in-1")
        sent, sent_data = append(user, "sent-1", "Sent", flags="(\\Seen)")
        c = self.session(gw, user, "phone")
        lst = self.listing(c)
        self.assertEqual([mid for _, _, mid in lst], [inbox, sent])
        self.assertEqual([n for n, _, _ in lst], [1, 2])
        r = c.cmd("STAT")
        self.assertEqual(r, "+OK 2 %d" % (len(inbox_data) + len(sent_data)))
        self.assertEqual(c.retr(2), sent_data)
        self.quit(c)
        first = {mid: u for _, u, mid in lst}
        self.assertTrue(first[sent].startswith(fnv_tag("Sent")), first[sent])
        self.assertIsNotNone(gw.wait_log(r"event=device_view device=phone .* folder=%s"
                                         % fnv_tag("Sent")))
        # the next polls: the same UIDLs, nothing new to download
        for _ in range(2):
            self.assertEqual(self.mids(gw, user, "phone"), first)
        # a device without \Sent: the INBOX alone, its UIDL the same
        self.assertEqual(self.mids(gw, user, "laptop"), {inbox: first[inbox]})
        # a second message sent: only it is new
        sent2, sent2_data = append(user, "sent-2", "Sent")
        now = self.mids(gw, user, "phone")
        self.assertEqual(set(now) - set(first), {sent2})
        self.assertEqual({m: now[m] for m in first}, first)
        # Python's poplib as a client that keeps mail: it downloads what
        # its stored UIDLs lack, the new Sent message alone
        known = set(first.values())
        p = poplib.POP3(h.HOST, gw.port, timeout=30)
        p.user("%s#phone" % user)
        p.pass_(PASSWORD)
        listed = [l.decode().split() for l in p.uidl()[1]]
        fresh = [n for n, u in listed if u not in known]
        self.assertEqual(len(fresh), 1)
        lines = p.retr(int(fresh[0]))[1]
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", sent2_data)
        p.quit()

    @unittest.skipUnless(shutil.which("mpop"), "mpop not installed")
    def test_sent_mail_with_mpop(self):
        """mpop (only_new, keep): the INBOX message and the Sent one are
        delivered once each, byte for byte; a second run delivers nothing;
        a new Sent message is delivered at the third."""
        gw = self.gateway()
        user = new_user()
        _, inbox_data = append(user, "mpop-in")
        _, sent_data = append(user, "mpop-sent", "Sent")
        d = os.path.join(gw.dir, "mpop-%s" % user)
        out = os.path.join(d, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(out, sub))
        rc = os.path.join(d, "mpoprc")
        with open(rc, "w") as f:
            f.write("defaults\n\naccount popgate\nhost %s\nport %d\ntls off\nauth user\n"
                    "user %s#phone-mpop\npassword %s\ntimeout 30\nuidls_file %s\n"
                    "only_new on\nkeep on\nreceived_header off\ndelivery maildir %s\n"
                    % (h.HOST, gw.port, user, PASSWORD, os.path.join(d, "uidls"), out))
        os.chmod(rc, 0o600)

        def run():
            r = subprocess.run(["mpop", "-C", rc, "-d", "popgate"], capture_output=True,
                               timeout=60, stdin=subprocess.DEVNULL, env=dict(os.environ, HOME=d))
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
            files = []
            for sub in ("new", "cur"):
                for name in os.listdir(os.path.join(out, sub)):
                    with open(os.path.join(out, sub, name), "rb") as fh:
                        files.append(fh.read())
            return files

        def crlf(data):
            return data.replace(b"\r\n", b"\n")

        got = run()
        self.assertEqual(sorted(crlf(g) for g in got),
                         sorted([crlf(inbox_data), crlf(sent_data)]))
        self.assertEqual(len(run()), 2, "mpop downloaded a message twice")
        _, new_data = append(user, "mpop-sent-2", "Sent")
        got = run()
        self.assertEqual(len(got), 3)
        self.assertIn(crlf(new_data), [crlf(g) for g in got])

    @unittest.skipUnless(shutil.which("fetchmail"), "fetchmail not installed")
    def test_sent_mail_with_fetchmail(self):
        """fetchmail (keep, uidl, no fetchall: it fetches what its .fetchids
        lacks): the INBOX and the Sent message delivered once each, byte for
        byte; a second poll finds no new mail (exit status 1); a new Sent
        message is the only one of the third."""
        gw = self.gateway()
        user = new_user()
        _, inbox_data = append(user, "fm-in")
        _, sent_data = append(user, "fm-sent", "Sent")
        d = os.path.join(gw.dir, "fetchmail-%s" % user)
        out = os.path.join(d, "out")
        os.makedirs(out)
        with open(os.path.join(d, "mda.py"), "w") as f:
            f.write(h.FETCHMAIL_MDA)
        rc = os.path.join(d, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no syslog\n'
                    'poll %s service %d protocol POP3 auth password uidl\n'
                    '  user "%s#phone-fm" there with password "%s" is "root" here\n'
                    "  options keep no rewrite sslproto ''\n"
                    '  mda "%s %s %s"\n'
                    % (h.HOST, gw.port, user, PASSWORD, sys.executable,
                       os.path.join(d, "mda.py"), out))
        os.chmod(rc, 0o600)

        def run(status):
            r = subprocess.run(["fetchmail", "-N", "-f", rc, "-i", os.path.join(d, "fetchids"),
                                "--pidfile", os.path.join(d, "fetchmail.pid"), "-v"],
                               env=dict(os.environ, HOME=d, FETCHMAILHOME=d),
                               capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
            log = (r.stdout + r.stderr).decode("utf-8", "replace")
            self.assertEqual(r.returncode, status, log[-3000:])
            got = []
            for name in sorted(os.listdir(out)):
                with open(os.path.join(out, name), "rb") as fh:
                    got.append(h.strip_fetchmail_received(fh.read()))
            return got

        def lf(data):
            return data.replace(b"\r\n", b"\n")

        self.assertEqual(sorted(run(0)), sorted([lf(inbox_data), lf(sent_data)]))
        self.assertEqual(len(run(1)), 2, "fetchmail downloaded a message twice")
        _, new_data = append(user, "fm-sent-2", "Sent")
        got = run(0)
        self.assertEqual(len(got), 3)
        self.assertEqual(got[2], lf(new_data))

    # (2)
    def test_dele_of_sent_hides_for_that_device(self):
        """DELE of a Sent message (delete_action = hide): that device no
        longer lists it, another device with \\Sent still does, and it is
        still in Sent upstream."""
        gw = self.gateway()
        user = new_user()
        a, _ = append(user, "a")
        s1, _ = append(user, "s1", "Sent")
        s2, _ = append(user, "s2", "Sent")
        c = self.session(gw, user, "phone")
        n = {mid: n for n, _, mid in self.listing(c)}
        self.assertEqual(n, {a: 1, s1: 2, s2: 3})
        self.assertEqual(c.cmd("DELE 3"), "+OK Message 3 deleted")
        self.assertTrue(c.cmd("RSET").startswith("+OK maildrop has 3 messages"))
        self.assertEqual(c.cmd("DELE 2"), "+OK Message 2 deleted")
        self.assertTrue(c.cmd("LIST 2").startswith("-ERR"))
        self.quit(c)
        mine = self.mids(gw, user, "phone")
        self.assertEqual(set(mine), {a, s2})
        self.assertEqual(set(self.mids(gw, user, "phone-2")), {a, s1, s2})
        self.assertEqual(set(folder_state(user, "Sent")), {s1, s2})
        self.assertEqual(set(folder_state(user, "INBOX")), {a})

    # (3)
    def test_retr_bytes_interleaved(self):
        """RETR gives the upstream octets of every message, INBOX and Sent
        interleaved (each switch a SELECT; prefetch never crosses a
        folder), TOP too; LIST n sizes are the RETR sizes."""
        gw = self.gateway()
        user = new_user()
        data = {}
        for tag, box in (("i1", "INBOX"), ("i2", "INBOX"), ("i3", "INBOX"),
                         ("s1", "Sent"), ("s2", "Sent")):
            mid, octets = append(user, tag, box)
            data[mid] = octets
        c = self.session(gw, user, "phone")
        lst = self.listing(c)
        num = {mid: n for n, _, mid in lst}
        for mid in [lst[0][2], lst[3][2], lst[1][2], lst[4][2], lst[2][2], lst[3][2]]:
            got = c.retr(num[mid])
            self.assertEqual(got, data[mid], mid)
            self.assertEqual(c.cmd("LIST %d" % num[mid]), "+OK %d %d" % (num[mid], len(got)))
        r = c.cmd("TOP %d 1" % num[lst[4][2]])
        self.assertTrue(r.startswith("+OK"), r)
        head, _ = data[lst[4][2]].split(b"\r\n\r\n", 1)
        self.assertEqual(c.multi(), head + b"\r\n\r\n.dot first\r\n")
        self.quit(c)
        self.assertIsNone(re.search(r"event=(uidvalidity_changed|select_failed)", gw.log_text()))

    # (4)
    def test_uidls_unique_and_stable(self):
        """Three folders (Archive by name): no UIDL twice, the INBOX's the
        UIDLs a single-folder device gets, the other folders' tagged, the
        same at every poll; a special-use name the server lacks (\\Junk)
        is skipped and logged."""
        gw = self.gateway()
        user = new_user()
        for tag, box in (("u1", "INBOX"), ("u2", "Sent"), ("u3", "Archive"), ("u4", "Archive")):
            append(user, tag, box)
        first = self.mids(gw, user, "arch")
        self.assertEqual(len(first), 4)
        self.assertEqual(len(set(first.values())), 4)
        for uidl in first.values():
            self.assertTrue(1 <= len(uidl) <= 70 and all(0x21 <= ord(ch) <= 0x7e for ch in uidl))
        tags = sorted(u[:9] for u in first.values() if u.startswith("f"))
        self.assertEqual(tags, sorted([fnv_tag("Sent"), fnv_tag("Archive"), fnv_tag("Archive")]))
        single = self.mids(gw, user, "laptop")
        self.assertEqual(len(single), 1)
        for mid, uidl in single.items():
            self.assertEqual(first[mid], uidl)
        self.assertEqual(self.mids(gw, user, "arch"), first)
        self.assertEqual(self.mids(gw, user, "junk"), single)
        self.assertIsNotNone(gw.wait_log(r"event=folder_skipped folder=\\Junk reason=\"no mailbox"))

    # (5)
    def test_max_messages_over_folders(self):
        """[server] max_messages = 3: a device whose INBOX and Sent hold 3
        logs in, with a fourth it gets -ERR [SYS/PERM] (logged); a device
        of the INBOX alone still logs in."""
        gw = self.gateway(server={"max_messages": "3"})
        user = new_user()
        append(user, "m1")
        append(user, "m2")
        append(user, "m3", "Sent")
        self.assertEqual(len(self.mids(gw, user, "phone")), 3)
        append(user, "m4", "Sent")
        c = h.Pop3(gw.port)
        r = c.login("%s#phone" % user, PASSWORD)
        self.assertEqual(r, "-ERR [SYS/PERM] The folders of this device have too many "
                            "messages for one POP3 maildrop")
        c.close()
        self.assertIsNotNone(gw.wait_log(r"event=mailbox_too_large exists=4 limit=3"))
        self.assertEqual(len(self.mids(gw, user, "laptop")), 2)
        append(user, "m5")
        append(user, "m6")
        c = h.Pop3(gw.port)
        self.assertEqual(c.login("%s#laptop" % user, PASSWORD),
                         "-ERR [SYS/PERM] Mailbox has too many messages for POP3")
        c.close()

    # (6)
    def test_sent_recreated(self):
        """Sent deleted and created again between polls (new UIDVALIDITY):
        the next login follows it (same UIDLs, the device's hide kept);
        recreated during a session: RETR of a Sent message answers -ERR
        [SYS/TEMP] and sends nothing of it, the INBOX still works."""
        gw = self.gateway()
        user = new_user()
        a, a_data = append(user, "ra")
        s1, s1_data = append(user, "rs1", "Sent")
        s2, _ = append(user, "rs2", "Sent")
        c = self.session(gw, user, "phone")
        before = {mid: u for _, u, mid in self.listing(c)}
        self.assertEqual(c.cmd("DELE 3"), "+OK Message 3 deleted")
        self.quit(c)

        def recreate():
            with DC.imap(user) as im:
                self.assertEqual(im.c.delete("Sent")[0], "OK")
                self.assertEqual(im.c.create("Sent")[0], "OK")
                for data in (s1_data, message("rs2")[1]):
                    self.assertEqual(im.c.append("Sent", None, None, data)[0], "OK")

        recreate()
        after = self.mids(gw, user, "phone")
        self.assertEqual(after, {a: before[a], s1: before[s1]})
        self.assertIsNotNone(gw.wait_log(r"event=remapped"))

        # (with the INBOX selected: Dovecot ends a session whose selected
        # mailbox is deleted)
        c = self.session(gw, user, "phone")
        num = {mid: n for n, _, mid in self.listing(c)}
        self.assertEqual(c.retr(num[a]), a_data)
        recreate()
        r = c.cmd("RETR %d" % num[s1])
        self.assertEqual(r, "-ERR [SYS/TEMP] The folder Sent was recreated upstream since "
                            "login; log in again")
        self.assertEqual(c.retr(num[a]), a_data)
        self.quit(c)
        self.assertIsNotNone(gw.wait_log(r"event=uidvalidity_changed folder=Sent .* "
                                         r"action=refused"))

    # (7)
    def test_mark_seen_in_sent(self):
        """mark_seen_on_retr (yes, [policy]'s): RETR of a Sent message sets
        \\Seen on it in Sent; the INBOX message not retrieved stays unseen;
        TOP sets nothing."""
        gw = self.gateway()
        user = new_user()
        a, _ = append(user, "sa")
        s1, _ = append(user, "ss1", "Sent")
        s2, _ = append(user, "ss2", "Sent")
        c = self.session(gw, user, "phone")
        num = {mid: n for n, _, mid in self.listing(c)}
        c.retr(num[s2])
        self.quit(c)
        sent = folder_state(user, "Sent")
        self.assertIn("\\Seen", sent[s2][1])
        self.assertNotIn("\\Seen", sent[s1][1])
        self.assertNotIn("\\Seen", folder_state(user, "INBOX")[a][1])

    def test_quit_says_what_was_applied(self):
        """DELE in the INBOX and in Sent, then Sent deleted upstream before
        QUIT: the INBOX's hide is applied, the answer says that Sent's was
        not; the next login shows exactly that."""
        gw = self.gateway()
        user = new_user()
        a, _ = append(user, "qa")
        b, _ = append(user, "qb")
        s, _ = append(user, "qs", "Sent")
        c = self.session(gw, user, "phone")
        num = {mid: n for n, _, mid in self.listing(c)}
        self.assertTrue(c.cmd("DELE %d" % num[a]).startswith("+OK"))
        self.assertTrue(c.cmd("DELE %d" % num[s]).startswith("+OK"))
        with DC.imap(user) as im:
            self.assertEqual(im.c.delete("Sent")[0], "OK")
        # (Dovecot creates Sent again as it is selected, auto = create: a
        # new UIDVALIDITY, so none of its UIDs may be hidden)
        r = c.cmd("QUIT")
        self.assertEqual(r, "-ERR [SYS/TEMP] Deletes in INBOX applied; those in Sent were not: "
                            "The folder Sent was recreated upstream since login; log in again")
        c.close()
        # Sent comes back (auto = create) empty: the INBOX hide held
        self.assertEqual(set(self.mids(gw, user, "phone")), {b})

    def test_device_show_prints_folders(self):
        """popgate device show names the maildrop's folders (text and
        --json); a device without folders = has the route's mailbox."""
        gw = self.gateway()
        user = new_user()
        append(user, "show-1", "Sent")
        self.assertEqual(len(self.mids(gw, user, "phone")), 1)

        def tool(*args):
            p = subprocess.run([gw.binary, "device", "show"] + list(args) + ["-c", gw.conf],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            return p.stdout.decode()

        text = tool("%s#phone" % user)
        self.assertIn("folders:        INBOX, \\Sent\n", text)
        self.assertIn("  Sent: registered, first_uidnext 1, hidden 0", text,
                      "the state of every folder, \\Sent as the login resolved it")
        shown = json.loads(tool("%s#phone" % user, "--json"))
        self.assertEqual(shown["profile"]["folders"], ["INBOX", "\\Sent"])
        self.assertEqual([f["folder"] for f in shown["folders"]], ["INBOX", "Sent"])
        self.assertEqual(len(self.mids(gw, user, "laptop")), 0)
        self.assertEqual(json.loads(tool("%s#laptop" % user, "--json"))["profile"]["folders"],
                         ["INBOX"])

    def test_kept_connection_keeps_the_first_folders_listing(self):
        """keep_idle: a session that ended in Sent (RETR there) leaves its
        connection with the INBOX selected and the INBOX's listing kept;
        the next polls, of the same device and of a single-folder one,
        reuse it and list exactly what is upstream, new mail included."""
        gw = self.gateway(upstream={"keep_idle": "2m"})
        user = new_user()
        a, _ = append(user, "ka")
        s1, s1_data = append(user, "ks1", "Sent")
        c = self.session(gw, user, "phone")
        num = {mid: n for n, _, mid in self.listing(c)}
        self.assertEqual(c.retr(num[s1]), s1_data)
        self.quit(c)
        self.assertIsNotNone(gw.wait_log(r"event=upstream_kept"))
        start = gw.log_size()
        first = self.mids(gw, user, "phone")
        self.assertEqual(set(first), {a, s1})
        # the INBOX's state from the read kept with the connection, Sent's
        # read as ever (warm.h: the first folder's only)
        views = re.findall(r"event=device_view .*", gw.log_since(start))
        self.assertEqual(len(views), 2, views)
        self.assertIn("state=kept", views[0])
        self.assertNotIn("folder=", views[0])
        self.assertRegex(views[1], r"state=read folder=")
        b, _ = append(user, "kb")
        s2, _ = append(user, "ks2", "Sent")
        self.assertEqual(set(self.mids(gw, user, "laptop")), {a, b})
        now = self.mids(gw, user, "phone")
        self.assertEqual(set(now), {a, b, s1, s2})
        self.assertEqual({m: now[m] for m in first}, first)
        self.assertGreaterEqual(gw.log_text().count("event=upstream_reused"), 3)

    def test_upstream_commands(self):
        """What a login asks upstream (counted by a relay): LIST only for a
        profile that names a special-use folder; each other folder a
        SELECT and a whole listing; with keep_idle the first folder's
        listing is validated at the next poll, the others fetched whole."""
        relay = CountingRelay(DC.imap_port)
        self.addCleanup(relay.close)
        gw = self.gateway(extra=PROFILES + "[device plain]\nfolders = INBOX, Archive\n",
                          upstream={"keep_idle": "2m"}, port=relay.port)
        user = new_user()
        append(user, "c1")
        append(user, "c2", "Sent")
        append(user, "c3", "Archive")

        def commands(device):
            snap = relay.snapshot()
            start = gw.log_size()
            self.assertEqual(len(self.mids(gw, user, device)), 2)
            lines = relay.since(snap)[2]
            kinds = [l.split("kind=")[1].split()[0] for l in gw.log_since(start).splitlines()
                     if "event=listing " in l]
            return [l.split(" ", 1)[1] for l in lines if " " in l], kinds

        cmds, _ = commands("plain")
        self.assertFalse([c for c in cmds if c.upper().startswith("LIST")], cmds)
        self.assertIn('SELECT "Archive"', cmds)
        cmds, kinds = commands("phone")
        self.assertEqual([c for c in cmds if c.upper().startswith("LIST")],
                         ['LIST (SPECIAL-USE) "" "*"'])
        self.assertIn('SELECT "Sent"', cmds)
        self.assertIsNotNone(gw.wait_log(r"event=upstream_kept"))
        cmds, kinds = commands("phone")
        # kept again: the last command selected the INBOX (TOP went to Sent)
        self.assertEqual(cmds[-1], 'SELECT "INBOX"', cmds)
        self.assertEqual(len(kinds), 2, kinds)
        self.assertIn(kinds[0], ("unchanged", "checked"))
        self.assertEqual(kinds[1], "full")

    def test_missing_folder_is_skipped(self):
        """A folder the server does not have ([NONEXISTENT] to SELECT) is
        left out of the maildrop, logged; the folders after it are still
        listed."""
        gw = self.gateway()
        user = new_user()
        a, _ = append(user, "ga")
        s1, _ = append(user, "gs", "Sent")
        got = self.mids(gw, user, "gone")
        self.assertEqual(set(got), {a, s1})
        self.assertTrue(got[s1].startswith(fnv_tag("Sent")))
        self.assertIsNotNone(gw.wait_log(r'event=folder_skipped folder=Nowhere '
                                         r'reason="does not exist"'))
        # a profile whose first folder is not the route's mailbox
        c = h.Pop3(gw.port)
        self.assertEqual(c.login("%s#odd" % user, PASSWORD), "-ERR [SYS/PERM] The device "
                         "profile's first folder is not this route's mailbox")
        c.close()

    def test_expunge_and_trash_per_folder(self):
        """delete_action = expunge / trash: each DELE'd message leaves its
        own folder upstream (expunged, or moved to the Trash), the others
        stay, in both folders."""
        gw = self.gateway()
        user = new_user()
        a, _ = append(user, "xa")
        b, _ = append(user, "xb")
        s1, _ = append(user, "xs1", "Sent")
        s2, _ = append(user, "xs2", "Sent")
        c = self.session(gw, user, "kiosk")
        num = {mid: n for n, _, mid in self.listing(c)}
        self.assertTrue(c.cmd("DELE %d" % num[a]).startswith("+OK"))
        self.assertTrue(c.cmd("DELE %d" % num[s2]).startswith("+OK"))
        self.quit(c)
        self.assertEqual(set(folder_state(user, "INBOX")), {b})
        self.assertEqual(set(folder_state(user, "Sent")), {s1})
        c = self.session(gw, user, "bin")
        num = {mid: n for n, _, mid in self.listing(c)}
        self.assertEqual(set(num), {b, s1})
        self.assertTrue(c.cmd("DELE %d" % num[s1]).startswith("+OK"))
        self.quit(c)
        self.assertEqual(set(folder_state(user, "Sent")), set())
        self.assertEqual(set(folder_state(user, "INBOX")), {b})
        self.assertEqual(set(folder_state(user, "Trash")), {s1})

    def test_new_device_sees_new_in_every_folder(self):
        """new_device_sees = new: a new device's starting point is taken in
        each folder, so it lists neither the INBOX's nor Sent's old mail,
        and then what arrives in either."""
        gw = self.gateway()
        user = new_user()
        append(user, "old-in")
        append(user, "old-sent", "Sent")
        self.assertEqual(self.mids(gw, user, "fresh"), {})
        a, _ = append(user, "new-in")
        s1, _ = append(user, "new-sent", "Sent")
        self.assertEqual(set(self.mids(gw, user, "fresh")), {a, s1})

    def test_randomized_model(self):
        """A bounded random walk (fixed seeds) of IMAP appends to INBOX and
        Sent, \\Seen and \\Deleted flags, expunges, and POP3 sessions of
        three devices (INBOX alone; INBOX and \\Sent; the same with show =
        unseen) that DELE, RSET, QUIT or drop: every session lists exactly
        what its rule lets through of what is upstream minus its own
        hides, and no UIDL ever names two messages, nor a message two."""
        extra = ("[device msent]\nfolders = INBOX, \\Sent\n"
                 "[device munseen]\nfolders = INBOX, \\Sent\nshow = unseen\n")
        gw = self.gateway(extra=extra)
        devices = {"minbox": (("INBOX",), False), "msent": (("INBOX", "Sent"), False),
                   "munseen": (("INBOX", "Sent"), True)}
        uidl_of, mid_of = {}, {}
        sessions, applied = [0], [0]
        for seed in (15, 1939, 6154):
            rnd = random.Random(seed)
            user = new_user()
            hidden = {d: set() for d in devices}
            made = 0
            for step in range(30):
                what = rnd.random()
                if what < 0.3 or made < 2:
                    made += 1
                    append(user, "r%d-%d" % (seed, made), rnd.choice(("INBOX", "Sent")),
                           flags="(\\Seen)" if rnd.random() < 0.3 else None)
                    continue
                if what < 0.45:
                    box = rnd.choice(("INBOX", "Sent"))
                    with DC.imap(user) as im:
                        im.c.select(box)
                        uids = [u for u, _, _ in im.messages()]
                        if uids:
                            u = rnd.choice(uids)
                            op = rnd.choice(("+FLAGS", "-FLAGS", "deleted", "expunge"))
                            if op in ("+FLAGS", "-FLAGS"):
                                im.store(u, op, "\\Seen")
                            else:
                                im.store(u, "+FLAGS", "\\Deleted")
                                if op == "expunge":
                                    im.c.expunge()
                    continue
                dev = rnd.choice(sorted(devices))
                boxes, unseen = devices[dev]
                want = set()
                for box in boxes:
                    for mid, (_, flags) in folder_state(user, box).items():
                        if "\\Deleted" in flags or (unseen and "\\Seen" in flags):
                            continue
                        want.add(mid)
                want -= hidden[dev]
                c = self.session(gw, user, dev)
                lst = self.listing(c)
                ctx = "seed %d step %d device %s" % (seed, step, dev)
                self.assertEqual({mid for _, _, mid in lst}, want, ctx)
                self.assertEqual(len({u for _, u, _ in lst}), len(lst), ctx)
                # per account: two users' mailboxes made in the same
                # second share a UIDVALIDITY, so their UIDLs may match
                for _, u, mid in lst:
                    self.assertEqual(uidl_of.setdefault(mid, u), u, ctx)
                    self.assertEqual(mid_of.setdefault((user, u), mid), mid, ctx)
                marked = set()
                for n, _, mid in lst:
                    if rnd.random() < 0.3:
                        self.assertTrue(c.cmd("DELE %d" % n).startswith("+OK"), ctx)
                        marked.add(mid)
                if marked and rnd.random() < 0.2:
                    self.assertTrue(c.cmd("RSET").startswith("+OK"), ctx)
                    marked = set()
                if lst and rnd.random() < 0.3:
                    n, _, _ = rnd.choice(lst)
                    if c.cmd("RETR %d" % n).startswith("+OK"):
                        c.multi_raw()
                if rnd.random() < 0.75:
                    self.quit(c)
                    hidden[dev] |= marked
                    applied[0] += len(marked)
                c.close()
                # (a dropped session's lock goes once the gateway saw it end)
                sessions[0] += 1
                self.assertTrue(h.wait_until(
                    lambda: gw.log_text().count("event=session_end") >= sessions[0], 10), ctx)
        # the walk did what it is for
        self.assertGreater(sessions[0], 20)
        self.assertGreater(applied[0], 3)
        self.assertGreater(len([u for _, u in mid_of if u.startswith(fnv_tag("Sent"))]), 3)


if __name__ == "__main__":
    unittest.main()
