"""popgate device list|show|reset|forget|unlock across the folders of a
device's maildrop (folders = INBOX, \\Sent, Archive; issue 15), against a
private Dovecot whose \\Sent folder is "Sent Items" (so the tool can only
know it from what the login recorded: it has no IMAP login) and popgate's
managed redis-server. Each folder's state lives under its own account;
show prints each folder's hidden count and lock, reset makes the device
see the whole maildrop again, forget forgets it in every folder, unlock
clears the lock in every folder; each refuses while a live session (or a
lock in any one folder) holds the device, unless --force. On a Redis
Cluster, QUIT's +OK comes only once the other folders' locks are gone."""
import json
import os
import poplib
import shutil
import subprocess
import time
import unittest

import harness as h
import redis_ha as rh

DC = None
PASSWORD = "secret"
USERS = {"g%02d" % i: PASSWORD for i in range(1, 41)}
_next = [0]

DOVECOT_EXTRA = """namespace inbox {
  inbox = yes
  mailbox "Sent Items" {
    special_use = \\Sent
    auto = create
  }
  mailbox Archive {
    auto = create
  }
}
"""

PROFILES = ("[device phone*]\nfolders = INBOX, \\Sent, Archive\n"
            "[device fresh]\nfolders = INBOX, \\Sent\nnew_device_sees = new\n")
SENT = "Sent Items"
FOLDERS = ["INBOX", "Archive", SENT]   # the tool's order: profile names, then recorded


def setUpModule():
    global DC
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    for b in ("redis-server", "redis-cli"):
        if shutil.which(b) is None:
            raise unittest.SkipTest("%s not installed" % b)
    DC = h.Dovecot(users=USERS, extra_conf=DOVECOT_EXTRA).start()


def tearDownModule():
    if DC is not None:
        DC.stop()


def new_user():
    _next[0] += 1
    return "g%02d" % _next[0]


def append(user, tag, mailbox="INBOX"):
    data = ("From: Me <me@popgate.test>\r\nSubject: %s\r\nMessage-ID: <%s.df@popgate.test>"
            "\r\n\r\nbody of %s\r\n" % (tag, tag, tag)).encode()
    with DC.imap(user) as im:
        typ, resp = im.c.append('"%s"' % mailbox, None, None, data)
        assert typ == "OK", resp
    return data


def fill(user):
    """Two messages in each folder."""
    for f in FOLDERS:
        for i in range(2):
            append(user, "%s-%d" % (f.replace(" ", "_"), i), f)


def pop(gw, login):
    p = poplib.POP3(h.HOST, gw.port, timeout=30)
    p.user(login)
    p.pass_(PASSWORD)
    return p


def uidls(p):
    return [line.decode().split()[1] for line in p.uidl()[1]]


class DeviceFolders(unittest.TestCase):
    def setUp(self):
        self.gw = h.Popgate(DC.imap_port, extra=PROFILES).start()
        self.addCleanup(self.gw.cleanup)
        self.addCleanup(self.gw.stop)

    def tool(self, *args):
        p = subprocess.run([self.gw.binary, "device"] + list(args) + ["-c", self.gw.conf],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                           env=dict(os.environ, **h.SANITIZER_ENV))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def tool_json(self, *args):
        rc, out, err = self.tool(*(args + ("--json",)))
        self.assertEqual(rc, 0, "popgate device %s: %s" % (" ".join(args), err))
        return json.loads(out)

    def redis(self, *args):
        p = subprocess.run(["redis-cli", "-s", os.path.join(self.gw.state_dir, "redis.sock")]
                           + list(args), capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode().strip()

    def by_folder(self, show):
        return {f["folder"]: f for f in show["folders"]}

    def hide_some(self, user, device="phone"):
        """A session of device that DELEs 1 of INBOX, 2 of Sent Items and 1
        of Archive (numbers in the profile's order: INBOX 1-2, Sent Items
        3-4, Archive 5-6); returns the six UIDLs."""
        p = pop(self.gw, "%s#%s" % (user, device))
        every = uidls(p)
        self.assertEqual(len(every), 6, "test premise: two messages in each folder")
        for n in (1, 3, 4, 5):
            p.dele(n)
        p.quit()
        return every

    def test_show_and_list_per_folder(self):
        user = new_user()
        fill(user)
        every = self.hide_some(user)
        pop(self.gw, "%s#laptop" % user).quit()
        show = self.tool_json("show", user + "#phone")
        self.assertEqual([f["folder"] for f in show["folders"]], FOLDERS,
                         "Sent Items is known from the login's record (\\Sent resolved)")
        f = self.by_folder(show)
        self.assertEqual([f[n]["hidden"] for n in FOLDERS], [1, 1, 2])
        self.assertTrue(all(f[n]["known"] and f[n]["registered"] for n in FOLDERS))
        self.assertEqual(show["hidden"], 1, "the first folder's, as before")
        self.assertEqual(show["hidden_total"], 4)
        self.assertFalse(show["locked_any"])
        self.assertEqual(len({f[n]["account"] for n in FOLDERS}), 3, "one account each")
        self.assertEqual(f["INBOX"]["account"], show["account"])
        rc, out, err = self.tool("show", user + "#phone")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^hidden: +4 \(INBOX 1, Archive 1, Sent Items 2\)$")
        self.assertRegex(out, r"(?m)^  Sent Items: registered, first_uidnext 1, hidden 2, "
                              r"hidden for all 0, lock none$")
        self.assertNotIn("first folder's", out)

        listing = self.tool_json("list", user)
        by = {d["device"]: d for d in listing["devices"]}
        self.assertEqual(sorted(by), ["laptop", "phone"])
        self.assertEqual(by["phone"]["hidden_total"], 4)
        self.assertEqual([(x["folder"], x["hidden"]) for x in by["phone"]["folders"]],
                         [("INBOX", 1), ("Archive", 1), (SENT, 2)])
        self.assertEqual([x["folder"] for x in by["laptop"]["folders"]], ["INBOX"])
        rc, out, err = self.tool("list", user)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^  \+ Sent Items +1 +2 +none$")
        # what the tool says is what the device lists
        p = pop(self.gw, "%s#phone" % user)
        self.assertEqual(uidls(p), [every[1], every[5]])
        p.quit()

    def test_reset_every_folder(self):
        user = new_user()
        fill(user)
        every = self.hide_some(user)
        out = self.tool_json("reset", user + "#phone")
        self.assertTrue(out["done"])
        self.assertEqual(out["hidden_total"], 4)
        self.assertEqual([(x["folder"], x["hidden"], x.get("changed")) for x in out["folders"]],
                         [("INBOX", 1, True), ("Archive", 1, True), (SENT, 2, True)],
                         "each folder as the change found it")
        show = self.tool_json("show", user + "#phone")
        self.assertEqual(show["hidden_total"], 0)
        self.assertEqual([x["first_uidnext"] for x in show["folders"]], [1, 1, 1])
        p = pop(self.gw, "%s#phone" % user)
        self.assertEqual(uidls(p), every, "the whole maildrop again, every folder")
        p.quit()
        rc, text, err = self.tool("reset", user + "#phone")
        self.assertEqual(rc, 0, err)
        self.assertIn("(INBOX 0, Archive 0, Sent Items 0)", text)

    def test_reset_new_device_sees_new(self):
        """new_device_sees = new: the device starts past the mail of every
        folder; reset sets first_uidnext 1 in each, so it lists all."""
        user = new_user()
        old_in = append(user, "old-in")
        old_sent = append(user, "old-sent", SENT)
        p = pop(self.gw, "%s#fresh" % user)
        self.assertEqual(uidls(p), [])
        p.quit()
        new_sent = append(user, "new-sent", SENT)
        p = pop(self.gw, "%s#fresh" % user)
        self.assertEqual(len(uidls(p)), 1)
        self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n", new_sent)
        p.quit()
        self.tool_json("reset", user + "#fresh")
        p = pop(self.gw, "%s#fresh" % user)
        got = [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n" for i in range(len(uidls(p)))]
        p.quit()
        self.assertEqual(got, [old_in, old_sent, new_sent])

    def test_forget_every_folder(self):
        user = new_user()
        fill(user)
        every = self.hide_some(user)
        accounts = {x["folder"]: x["account"]
                    for x in self.tool_json("show", user + "#phone")["folders"]}
        for a in accounts.values():
            self.assertEqual(self.redis("EXISTS", "popgate:{%s}:hidden:phone" % a), "1")
        out = self.tool_json("forget", user + "#phone")
        self.assertTrue(out["done"])
        self.assertEqual(out["hidden_total"], 4)
        for name, a in accounts.items():
            for key in ("hidden:phone", "folders:phone"):
                self.assertEqual(self.redis("EXISTS", "popgate:{%s}:%s" % (a, key)), "0",
                                 "%s in %s" % (key, name))
            self.assertEqual(self.redis("HEXISTS", "popgate:{%s}:devices" % a, "phone"), "0",
                             name)
        rc, _, err = self.tool("show", user + "#phone")
        self.assertEqual(rc, 1)
        self.assertIn("no device", err)
        self.assertNotIn("phone", [d["device"] for d in self.tool_json("list", user)["devices"]])
        # back, it is a new device: it sees the whole maildrop
        p = pop(self.gw, "%s#phone" % user)
        self.assertEqual(uidls(p), every)
        p.quit()

    def test_refused_while_live_and_force(self):
        user = new_user()
        fill(user)
        every = self.hide_some(user)
        live = pop(self.gw, "%s#phone" % user)
        try:
            self.assertEqual(uidls(live), [every[1], every[5]])
            show = self.tool_json("show", user + "#phone")
            self.assertTrue(show["locked_any"])
            self.assertEqual([x["locked"] for x in show["folders"]], [True, True, True],
                             "the session holds the lock in every folder")
            for verb in ("unlock", "reset", "forget"):
                rc, out, err = self.tool(verb, user + "#phone")
                self.assertEqual(rc, 3, "%s during a live session: %s %s" % (verb, out, err))
                self.assertIn("live session", err)
            after = self.tool_json("show", user + "#phone")
            self.assertEqual(after["hidden_total"], 4, "a refused change changed nothing")
            self.assertEqual([x["locked"] for x in after["folders"]], [True, True, True])
            out = self.tool_json("unlock", user + "#phone", "--force")
            self.assertTrue(out["was_locked"])
            after = self.tool_json("show", user + "#phone")
            self.assertEqual([x["locked"] for x in after["folders"]], [False, False, False],
                             "unlocked in every folder")
            # the live session's QUIT applies nothing and says so
            live.dele(1)
            with self.assertRaises(poplib.error_proto) as cm:
                live.quit()
            self.assertTrue(cm.exception.args[0].startswith(b"-ERR"), cm.exception.args)
        finally:
            live.close()
        self.assertEqual(self.tool_json("show", user + "#phone")["hidden_total"], 4)
        # a new session is not in use anywhere
        p = pop(self.gw, "%s#phone" % user)
        self.assertEqual(uidls(p), [every[1], every[5]])
        p.quit()

    def test_lock_in_another_folder_alone(self):
        """A lock left in Sent Items only (its session gone before that
        folder's unlock reached the store) refuses a change too, and
        --force clears it; the first folder's state was not touched by the
        refusal."""
        user = new_user()
        fill(user)
        self.hide_some(user)
        sent = self.by_folder(self.tool_json("show", user + "#phone"))[SENT]["account"]
        self.redis("SET", "popgate:{%s}:lock:phone" % sent, "stale-token", "PX", "60000")
        show = self.tool_json("show", user + "#phone")
        self.assertTrue(show["locked_any"])
        self.assertFalse(show["locked"], "the first folder's lock")
        rc, text, _ = self.tool("show", user + "#phone")
        self.assertRegex(text, r"(?m)^lock: +held, \d+ s left in Sent Items$")
        for verb in ("reset", "forget", "unlock"):
            rc, out, err = self.tool(verb, user + "#phone")
            self.assertEqual(rc, 3, verb)
            self.assertIn("in Sent Items", err)
        self.assertEqual(self.tool_json("show", user + "#phone")["hidden_total"], 4)
        out = self.tool_json("reset", user + "#phone", "--force")
        self.assertTrue(out["was_locked"])
        self.assertEqual(self.redis("EXISTS", "popgate:{%s}:lock:phone" % sent), "0")
        self.assertEqual(self.tool_json("show", user + "#phone")["hidden_total"], 0)


class ClusterQuit(unittest.TestCase):
    """On a Redis Cluster the folders' accounts live on different masters.
    With the master of Sent Items' account paused for writes, QUIT answers
    +OK only once that folder's lock is gone (and the first folder's after
    it): a login at once, through another gateway, finds nothing in use."""

    def test_quit_waits_for_every_folder_unlock(self):
        cl = rh.ClusterSetup(masters=3, replicas=0).start()
        self.addCleanup(cl.stop)
        gws = []
        for _ in range(2):
            gw = h.Popgate(DC.imap_port, extra=PROFILES, cache={"url": cl.url()}).start()
            self.addCleanup(gw.cleanup)
            self.addCleanup(gw.stop)
            gws.append(gw)
        port = DC.imap_port
        user = None
        for name in sorted(USERS)[30:]:     # one whose two accounts differ in master
            a = cl.owner(cl.keyslot("popgate:{%s@127.0.0.1:%d}:x" % (name, port)))
            b = cl.owner(cl.keyslot("popgate:{%s@127.0.0.1:%d/Sent\\x20Items}:x"
                                    % (name, port)))
            if a is not b:
                user, sent_node = name, b
                break
        self.assertIsNotNone(user, "no user with its folders on two masters")
        append(user, "cl-in")
        append(user, "cl-sent", SENT)
        sent_lock = "popgate:{%s@127.0.0.1:%d/Sent\\x20Items}:lock:phone" % (user, port)
        for _ in range(3):
            p = pop(gws[0], "%s#phone" % user)
            self.assertEqual(len(uidls(p)), 2)
            self.assertEqual(sent_node.cli("EXISTS", sent_lock).strip(), "1",
                             "test premise: the lock key's name")
            sent_node.cli("CLIENT", "PAUSE", "700", "WRITE")
            t0 = time.monotonic()
            p.quit()
            took = time.monotonic() - t0
            self.assertEqual(sent_node.cli("EXISTS", sent_lock).strip(), "0",
                             "the +OK came while Sent Items was still locked")
            self.assertGreater(took, 0.3, "the QUIT waited for the paused master")
            q = pop(gws[1], "%s#phone" % user)    # at once, the other gateway
            self.assertEqual(len(uidls(q)), 2)
            q.quit()


def mids_in(user, mailbox):
    with DC.imap(user) as im:
        typ, _ = im.c.select('"%s"' % mailbox)
        assert typ == "OK", mailbox
        return set(im.message_ids().values())


class RetentionFolders(unittest.TestCase):
    """[retention] in every folder: a folder's message is removed once
    every device registered in that folder's account (those whose maildrop
    has the folder) has RETRieved or deleted it; a device without the
    folder never holds it back."""

    def test_each_folder_by_its_own_devices(self):
        gw = h.Popgate(DC.imap_port, extra=PROFILES + "[retention]\nwhen = all-devices-done\n"
                       "action = expunge\n").start()
        self.addCleanup(gw.cleanup)
        self.addCleanup(gw.stop)
        user = new_user()
        for f in FOLDERS:
            append(user, "ret-%s" % f.replace(" ", "_"), f)
        mid = {f: "<ret-%s.df@popgate.test>" % f.replace(" ", "_") for f in FOLDERS}
        for dev in ("laptop", "phone", "phone2"):
            pop(gw, "%s#%s" % (user, dev)).quit()

        def poll(dev, folders):
            p = pop(gw, "%s#%s" % (user, dev))
            n = len(uidls(p))
            for i in range(1, n + 1):
                head = b"\r\n".join(p.top(i, 0)[1])
                if any(mid[f].encode() in head for f in folders):
                    p.retr(i)
            p.quit()

        def upstream():
            return {f: mids_in(user, f) == {mid[f]} for f in FOLDERS}

        poll("phone", FOLDERS)
        self.assertEqual(upstream(), {f: True for f in FOLDERS},
                         "removed while only one device had it")
        poll("phone2", ["Archive", SENT])
        self.assertEqual(upstream(), {"INBOX": True, "Archive": False, SENT: False},
                         "Sent Items and Archive: both their devices have them; the INBOX "
                         "message not (laptop, phone2)\n" + gw.log_text()[-3000:])
        poll("laptop", ["INBOX"])
        self.assertEqual(upstream()["INBOX"], True, "phone2 has not got it")
        poll("phone2", ["INBOX"])
        self.assertEqual(upstream()["INBOX"], False, gw.log_text()[-3000:])
        self.assertIsNotNone(gw.wait_log(r"event=retention result=ok .*folder=Sent"))
