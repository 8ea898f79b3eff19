"""What a login read of the state store, kept with the kept connection
(proxy/pop3/warm.h): a warm poll with nothing new reads only the lock and
two generations from Redis, and every change to that state made between
two polls -- by another gateway on the same Redis, by popgate device
reset/forget, by another device's DELE under hide-all, by a UIDL import --
is seen by the next poll, whose listing then equals a fresh gateway's."""
import os
import shutil
import subprocess
import unittest

import harness as h
import redis_ha as rh

DC = None
REDIS = None
WORK = None
_users = [0]


def setUpModule():
    global DC, REDIS, WORK
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    if shutil.which("redis-server") is None:
        raise unittest.SkipTest("redis-server not installed")
    WORK = h.make_tempdir("pgt-warm-")
    try:
        DC = h.Dovecot(users={"w%02d" % i: "secret" for i in range(1, 9)}).start()
        REDIS = rh.RedisProc(os.path.join(WORK, "redis")).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global DC, REDIS
    if REDIS is not None:
        REDIS.stop()
        REDIS = None
    if DC is not None:
        DC.stop()
        DC = None
    if WORK and not os.environ.get("POPGATE_E2E_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def new_user():
    _users[0] += 1
    user = "w%02d" % _users[0]
    h.fill_mailbox(DC, user, big_mb=0.05,
                   names=("plain", "dots", "multipart", "utf8", "lf", "headeronly"))
    return user


class Warm(unittest.TestCase):
    def setUp(self):
        url = {"url": "redis://127.0.0.1:%d" % REDIS.port}
        self.gws = []
        # a and b: two gateways sharing the store, both keeping
        # connections; fresh: one that never keeps anything.
        self.a = self.gateway(url, {"keep_idle": "2m"})
        self.b = self.gateway(url, {"keep_idle": "2m"}, policy={"delete_action": "hide-all"})
        self.fresh = self.gateway(url, {})
        self.user = new_user()

    def gateway(self, cache, upstream, policy=None):
        gw = h.Popgate(DC.imap_port, upstream=upstream, log={"level": "info"}, cache=cache,
                       policy=policy).start()
        self.gws.append(gw)
        return gw

    def tearDown(self):
        for gw in self.gws:
            alive = gw.alive()
            log = gw.log_text()[-3000:]
            gw.cleanup()
            self.assertTrue(alive, "popgate died:\n" + log)

    def redis_calls(self):
        """EVAL calls Redis has run so far."""
        out = subprocess.run(["redis-cli", "-p", str(REDIS.port), "INFO", "commandstats"],
                             capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            if line.startswith("cmdstat_eval:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    def poll(self, gw, device=None, dele=()):
        """USER, PASS, STAT, UIDL, [DELE n...], QUIT: (UIDLs, the login's
        state= from the log)."""
        user = self.user + ("#" + device if device else "")
        start = gw.log_size()
        c = gw.pop3(timeout=30)
        try:
            r = c.login(user, "secret")
            self.assertTrue(r.startswith("+OK"), r)
            n = int(c.cmd("STAT").split()[1])
            self.assertTrue(c.cmd("UIDL").startswith("+OK"))
            uidls = [x.split()[1] for x in c.multi_lines()]
            self.assertEqual(len(uidls), n)
            for m in dele:
                self.assertTrue(c.cmd("DELE %d" % m).startswith("+OK"))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        m = gw.wait_log(r"event=device_view .*state=(\S+)", 10, start)
        self.assertIsNotNone(m, gw.log_since(start))
        if gw is not self.fresh:
            self.assertTrue(gw.wait_log(r"event=upstream_kept ", 10, start),
                            "QUIT did not keep the connection:\n" + gw.log_since(start))
        return uidls, m.group(1)

    def expect(self, gw, state, device=None):
        """gw's poll answers as the fresh gateway does, from state."""
        want, _ = self.poll(self.fresh, device)
        got, how = self.poll(gw, device)
        self.assertEqual(got, want)
        self.assertEqual(how, state)
        return got

    def test_warm_poll_reads_what_it_kept(self):
        first, how = self.poll(self.a)
        self.assertEqual(how, "read")
        self.assertEqual(self.poll(self.fresh)[0], first)
        before = self.redis_calls()
        got, how = self.poll(self.a)
        warm = self.redis_calls() - before
        self.assertEqual((got, how), (first, "kept"))
        self.assertIn("upstream_reused", self.a.log_text())
        # a full read of the same: the view and the UIDL map besides
        before = self.redis_calls()
        self.assertEqual(self.poll(self.fresh)[0], first)
        full = self.redis_calls() - before
        # the lock with its generations, and the unlock
        self.assertEqual(warm, 2, "scripts a warm poll ran")
        self.assertGreaterEqual(full, warm + 2)
        # and again: still kept
        self.expect(self.a, "kept")

    def test_other_gateway_dele_is_seen(self):
        self.poll(self.a)
        self.expect(self.a, "kept")
        # the same device through gateway b: DELE 2 and QUIT (hide-all
        # there; either way the device's view changes)
        got, _ = self.poll(self.b, dele=(2,))
        after = self.expect(self.a, "read")
        self.assertEqual(after, got[:1] + got[2:])
        self.expect(self.a, "kept")

    def test_own_dele_under_hide_all_and_then_another_change(self):
        self.poll(self.b, device="phone")
        got, _ = self.poll(self.b, device="phone", dele=(2,))
        # b's own hide for all devices: kept, and what the fresh one says
        self.assertEqual(self.expect(self.b, "kept", device="phone"), got[:1] + got[2:])
        # another device's hide for all between the phone's login and its
        # QUIT: that QUIT cannot vouch for the state, so the phone reads again
        self.poll(self.b, device="laptop")
        c = self.b.pop3(timeout=30)
        try:
            self.assertTrue(c.login(self.user + "#phone", "secret").startswith("+OK"))
            self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
            self.poll(self.b, device="laptop", dele=(2,))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()
        self.assertTrue(self.b.wait_log(r"event=upstream_kept .*kept=", 10))
        self.expect(self.b, "read", device="phone")
        self.expect(self.b, "kept", device="phone")

    def test_other_devices_dele_under_hide_all_is_seen(self):
        self.poll(self.a)
        self.expect(self.a, "kept")
        got, _ = self.poll(self.b, device="phone", dele=(1,))
        after = self.expect(self.a, "read")
        self.assertEqual(after, got[1:])

    def test_own_dele_then_reset_and_forget(self):
        got, _ = self.poll(self.a, dele=(1, 3))
        # the QUIT's own hides went into the kept read with their generation
        self.assertEqual(self.expect(self.a, "kept"), got[1:2] + got[3:])
        self.expect(self.a, "kept")
        for verb in ("reset", "forget"):
            rc, out, err = self.device_tool(verb)
            self.assertEqual(rc, 0, err)
            self.assertEqual(self.expect(self.a, "read"), got)
            self.expect(self.a, "kept")
            # hide again for the next verb
            self.poll(self.a, dele=(1, 3))
            self.expect(self.a, "kept")

    def test_uidl_import_is_seen(self):
        self.poll(self.a)
        self.expect(self.a, "kept")
        dump = os.path.join(WORK, self.user + ".dump")
        with open(dump, "w") as f:
            f.write("%s legacy-uidl-1 <not-there@popgate.test> 100\n" % self.user)
        r = subprocess.run([self.a.binary, "uidl", "import", "--from-file", dump, "-c",
                            self.a.conf], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, **h.SANITIZER_ENV))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.expect(self.a, "read")
        self.expect(self.a, "kept")

    def test_new_mail_is_read_alone_expunged_again_in_full(self):
        self.poll(self.a)
        self.expect(self.a, "kept")
        with DC.imap(self.user) as im:
            im.append(b"From: a@example.org\r\nSubject: new\r\n\r\nbody\r\n")
        # only the new message read of the store (cache_peek), its UIDL assigned
        before = self.redis_calls()
        got, how = self.poll(self.a)
        self.assertEqual(how, "kept+new")
        self.assertEqual(self.redis_calls() - before, 4, "lock, peek, assign, unlock")
        self.assertEqual(got, self.poll(self.fresh)[0])
        self.expect(self.a, "kept")
        # new mail whose UIDL another gateway assigned first, and hidden
        # there for this device before this one saw it
        with DC.imap(self.user) as im:
            im.append(b"From: a@example.org\r\nSubject: newer\r\n\r\nbody\r\n")
            im.append(b"From: a@example.org\r\nSubject: newest\r\n\r\nbody\r\n")
        theirs, _ = self.poll(self.b, dele=(len(got) + 1,))
        self.assertEqual(self.expect(self.a, "read"), theirs[:-2] + theirs[-1:])
        with DC.imap(self.user) as im:
            im.append(b"From: a@example.org\r\nSubject: last\r\n\r\nbody\r\n")
        self.poll(self.b, device="phone")
        self.expect(self.a, "kept+new")
        self.expect(self.a, "kept")
        with DC.imap(self.user) as im:
            uids = im.listing()
            im.store(uids[0], "+FLAGS", "\\Deleted")
            im.c.expunge()
        self.expect(self.a, "read")
        self.expect(self.a, "kept")

    def device_tool(self, verb):
        p = subprocess.run([self.a.binary, "device", verb, self.user, "-c",
                            self.a.conf], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, **h.SANITIZER_ENV))
        return p.returncode, p.stdout, p.stderr


if __name__ == "__main__":
    unittest.main()
