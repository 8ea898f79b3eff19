"""popgate device list|show|reset|forget|unlock (issue 15) against a private
Dovecot, the popgate daemon and its managed redis-server (cache = auto):
the tool reaches the daemon's own redis-server by its socket, computes the
account as LOGIN does (a [route] with login_name = local-part), and what it
changes is what poplib sees at the next login. A change is refused while
the device has a live session unless --force; a forced one makes that
session's QUIT answer -ERR and apply nothing."""
import json
import os
import poplib
import shutil
import subprocess
import unittest

import harness as h

DC = None
GW = None
PASSWORD = "secret"
USERS = {"d%02d" % i: PASSWORD for i in range(1, 11)}
DOMAIN = "adm.test"
_next = [0]


def setUpModule():
    global DC, GW
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    if shutil.which("redis-server") is None:
        raise unittest.SkipTest("redis-server not installed")
    try:
        DC = h.Dovecot(users=USERS).start()
        route = ("[route %s]\nhost = 127.0.0.1\nport = %d\ntls = none\n"
                 "login_name = local-part\n" % (DOMAIN, DC.imap_port))
        GW = h.Popgate(DC.imap_port, upstream=False, extra=route).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global DC, GW
    if GW is not None:
        GW.cleanup()
        GW = None
    if DC is not None:
        DC.stop()
        DC = None


def new_mailbox():
    _next[0] += 1
    user = "d%02d" % _next[0]
    h.fill_mailbox(DC, user, big_mb=0.05,
                   names=("plain", "dots", "multipart", "utf8", "lf", "headeronly"))
    return user


def tool(*args, conf=None, timeout=60):
    """Runs popgate device ARGS; (exit status, stdout, stderr)."""
    p = subprocess.run([GW.binary, "device"] + list(args) + ["-c", conf or GW.conf],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                       env=dict(os.environ, **h.SANITIZER_ENV))
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def tool_json(*args):
    rc, out, err = tool(*(args + ("--json",)))
    if rc != 0:
        raise AssertionError("popgate device %s -> %d: %s" % (" ".join(args), rc, err))
    return json.loads(out)


def pop(login):
    p = poplib.POP3(h.HOST, GW.port, timeout=30)
    p.user(login)
    p.pass_(PASSWORD)
    return p


def uidls(p):
    return [line.split()[1] for line in p.uidl()[1]]


def session_uidls(login):
    p = pop(login)
    try:
        return uidls(p)
    finally:
        p.quit()


class DeviceAdmin(unittest.TestCase):
    def test_show_reset_forget(self):
        user = new_mailbox()
        addr = "%s@%s" % (user, DOMAIN)
        every = session_uidls(addr + "#office")
        self.assertEqual(len(every), 6, "test premise: six messages")
        # phone deletes three
        p = pop(addr + "#phone")
        self.assertEqual(uidls(p), every)
        for n in (1, 3, 5):
            p.dele(n)
        p.quit()
        seen = session_uidls(addr + "#phone")
        self.assertEqual(seen, [every[1], every[3], every[5]])

        show = tool_json("show", addr + "#phone")
        self.assertEqual(show["device"], "phone")
        self.assertEqual(show["account"], "%s@127.0.0.1:%d" % (user, DC.imap_port),
                         "account key as LOGIN computes it (local part)")
        self.assertEqual(show["hidden"], 3)
        self.assertEqual(show["hidden_all"], 0)
        self.assertFalse(show["locked"])
        self.assertEqual(show["profile"]["section"], "[policy]")
        self.assertEqual(show["profile"]["rule"], "every message")
        self.assertEqual(show["retention"]["when"], "off")
        self.assertEqual(show["first_uidnext"], 1, "delete_action = hide, new_device_sees = all")
        rc, out, err = tool("show", addr + "#phone")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^hidden: +3$")
        self.assertRegex(out, r"(?m)^lock: +none$")

        listing = tool_json("list", addr)
        names = sorted(d["device"] for d in listing["devices"])
        self.assertEqual(names, ["office", "phone"])
        by = {d["device"]: d for d in listing["devices"]}
        self.assertEqual(by["office"]["hidden"], 0)
        self.assertEqual(by["phone"]["hidden"], 3)

        # reset: the phone sees the whole maildrop again; office unchanged
        out = tool_json("reset", addr + "#phone")
        self.assertTrue(out["done"])
        self.assertEqual(out["before"]["hidden"], 3)
        self.assertEqual(session_uidls(addr + "#phone"), every)
        self.assertEqual(tool_json("show", addr + "#phone")["hidden"], 0)
        self.assertEqual(tool_json("show", addr + "#phone")["first_uidnext"], 1)

        # forget: gone from the list, show says so; office stays
        p = pop(addr + "#phone")
        p.dele(2)
        p.quit()
        self.assertEqual(tool_json("show", addr + "#phone")["hidden"], 1)
        tool_json("forget", addr + "#phone")
        names = [d["device"] for d in tool_json("list", addr)["devices"]]
        self.assertEqual(names, ["office"])
        rc, out, err = tool("show", addr + "#phone")
        self.assertEqual(rc, 1)
        self.assertIn('no device "phone"', err)
        # coming back, it is a new device: with new_device_sees = all, all
        self.assertEqual(session_uidls(addr + "#phone"), every)

    def test_live_session_refusal_and_force(self):
        user = new_mailbox()
        addr = "%s@%s" % (user, DOMAIN)
        p = pop(addr + "#pc")
        every = uidls(p)
        p.dele(1)
        p.quit()
        self.assertEqual(tool_json("show", addr + "#pc")["hidden"], 1)

        live = pop(addr + "#pc")           # holds the lock
        try:
            self.assertEqual(uidls(live), every[1:])
            show = tool_json("show", addr + "#pc")
            self.assertTrue(show["locked"])
            self.assertGreater(show["lock_ttl_secs"], 0)
            for verb in ("unlock", "reset", "forget"):
                rc, out, err = tool(verb, addr + "#pc")
                self.assertEqual(rc, 3, "%s during a live session: %s %s" % (verb, out, err))
                self.assertIn("live session", err)
            after = tool_json("show", addr + "#pc")
            self.assertEqual(after["hidden"], 1, "a refused change changed nothing")
            self.assertTrue(after["locked"])

            # forced reset: state reset and the lock gone
            out = tool_json("reset", addr + "#pc", "--force")
            self.assertTrue(out["was_locked"])
            after = tool_json("show", addr + "#pc")
            self.assertFalse(after["locked"])
            self.assertEqual(after["hidden"], 0)

            # the live session's QUIT is true: -ERR, and its DELE not applied
            live.dele(2)
            with self.assertRaises(poplib.error_proto) as cm:
                live.quit()
            self.assertTrue(cm.exception.args[0].startswith(b"-ERR"), cm.exception.args)
        finally:
            live.close()
        self.assertEqual(tool_json("show", addr + "#pc")["hidden"], 0)
        self.assertEqual(session_uidls(addr + "#pc"), every, "nothing of the QUIT applied")

        # forced unlock of a live session: its QUIT fails too, nothing hidden
        live = pop(addr + "#pc")
        try:
            live.dele(3)
            out = tool_json("unlock", addr + "#pc", "--force")
            self.assertTrue(out["was_locked"])
            with self.assertRaises(poplib.error_proto):
                live.quit()
        finally:
            live.close()
        self.assertEqual(session_uidls(addr + "#pc"), every)
        # unlock without a lock: fine, says so
        rc, out, err = tool("unlock", addr + "#pc")
        self.assertEqual(rc, 0, err)
        self.assertIn("was not locked", out)

    def test_force_with_expunge_quit_stays_true(self):
        """delete_action = expunge: the QUIT removes upstream, which is not
        device state; after a forced unlock its answer still matches what
        happened to the mailbox (+OK and expunged)."""
        route = ("[route %s]\nhost = 127.0.0.1\nport = %d\ntls = none\n"
                 "login_name = local-part\n" % (DOMAIN, DC.imap_port))
        gw = h.Popgate(DC.imap_port, upstream=False, extra=route,
                       policy={"delete_action": "expunge"}).start()
        try:
            user = new_mailbox()
            addr = "%s@%s" % (user, DOMAIN)
            with DC.imap(user) as im:
                before = im.listing()
            p = poplib.POP3(h.HOST, gw.port, timeout=30)
            p.user(addr + "#pc")
            p.pass_(PASSWORD)
            try:
                p.dele(1)
                rc, out, err = tool("unlock", addr + "#pc", "--force", conf=gw.conf)
                self.assertEqual(rc, 0, err)
                try:
                    answer = p.quit()
                except poplib.error_proto as e:
                    answer = e.args[0]
            finally:
                p.close()
            with DC.imap(user) as im:
                after = im.listing()
            self.assertTrue(answer.startswith(b"+OK"), answer)
            self.assertEqual(after, before[1:], "+OK and the message expunged")
        finally:
            gw.cleanup()

    def test_unknown_device_domain_and_usage(self):
        user = new_mailbox()
        addr = "%s@%s" % (user, DOMAIN)
        session_uidls(addr + "#known")
        for verb in ("show", "reset", "forget", "unlock"):
            rc, out, err = tool(verb, addr + "#nosuch")
            self.assertEqual(rc, 1, "%s of an unknown device: %s" % (verb, err))
            self.assertIn('no device "nosuch"', err)
        rc, out, err = tool("list", "%s@elsewhere.test" % user)
        self.assertEqual(rc, 1)
        self.assertIn('no mail server is configured for the domain "elsewhere.test"', err)
        rc, out, err = tool("list", user)
        self.assertEqual(rc, 1)
        self.assertIn("full address", err)
        self.assertEqual(tool("frobnicate", addr)[0], 2)
        self.assertEqual(tool("show", addr + "#bad/name")[0], 1)
        # an account never seen: an empty list, not an error
        listing = tool_json("list", "nobody@" + DOMAIN)
        self.assertEqual(listing["devices"], [])

    def test_not_running(self):
        """url = auto with no daemon: a clear error, and no redis-server
        started on its data."""
        d = h.make_tempdir("pgt-adm-")
        try:
            conf = os.path.join(d, "p.conf")
            state = os.path.join(d, "state")
            os.mkdir(state, 0o700)
            with open(conf, "w") as f:
                f.write(h.popgate_conf(h.free_port(), DC.imap_port,
                                       cache={"url": "auto", "state_dir": state}))
            rc, out, err = tool("list", "d01@" + DOMAIN, conf=conf)
            self.assertEqual(rc, 1)
            self.assertIn("popgate is not running", err)
            self.assertEqual(os.listdir(state), [], "nothing started on the state dir")
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
