"""Memory of logged-in sessions (issue 13): 300 sessions held at once, each
logged in to a mailbox of 2,000 messages (three accounts, 100 devices
each, one shared Maildir), cost popgate at most 9 KB + 8 octets per
message each (VmRSS held - VmRSS idle, / 300; issue 13 allows 16 KB + 8:
a session held 10.5 KB besides its messages while its command-line
buffer, a folder set of 16 and the upstream connection's texts were
fixed parts of it, 6.6 KB since), and once they have QUIT the
process gives the memory back: VmRSS within 1.5 MB of what it was idle
(libevent's per-descriptor records, made under load, used to pin pages of
the sessions' memory: 2.4x the idle size after 2,000 sessions).
bench-sessions (tests/bench/bench_sessions.py) measures the same at
10,000 sessions."""
import os
import shutil
import time
import unittest

import harness as h

MESSAGES = 2000
ACCOUNTS = 3
DEVICES = 100
SESSIONS = ACCOUNTS * DEVICES
TMP = DC = GW = None


def setUpModule():
    global TMP, DC, GW
    if h.NATIVE:
        raise unittest.SkipTest("measures popgate's own memory")
    if h.SANITIZED:
        raise unittest.SkipTest("ASan's shadow memory and quarantine are not popgate's")
    TMP = h.make_tempdir("pgt-sm-")
    shared = os.path.join(TMP, "shared", "Maildir")
    try:
        DC = h.Dovecot(users={"u%d" % i: "secret" for i in range(ACCOUNTS)}, tmpdir=TMP,
                       mail_location="maildir:" + shared,
                       extra_conf=h.dovecot_session_limits(SESSIONS))
        DC.uid, DC.gid = h.ensure_mail_user()
        h.fill_small_maildir(shared, MESSAGES, DC.uid, DC.gid, 13)
        DC.start(timeout=60)
        GW = h.Popgate(DC.imap_port, server={"max_connections": "1000"},
                       log={"level": "warn"}, cache={"timeout": "30s"}).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global TMP, DC, GW
    if GW is not None:
        GW.cleanup()
        GW = None
    if DC is not None:
        DC.stop()
        DC = None
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)
        TMP = None


def settled_rss(limit=20.0, quiet=1.5):
    """VmRSS once it has not moved by more than 64 kB for `quiet` seconds
    (bounded)."""
    deadline = time.monotonic() + limit
    last, since = GW.rss_kb(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        cur = GW.rss_kb()
        if abs(cur - last) > 64:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return GW.rss_kb()


class TestSessionMemory(unittest.TestCase):
    def login(self, account, device):
        c = h.Pop3(GW.port, timeout=60)
        r = c.login("u%d#d%d" % (account, device), "secret")
        self.assertTrue(r.startswith("+OK"), "login u%d#d%d: %s" % (account, device, r))
        st = c.cmd("STAT")
        self.assertTrue(st.startswith("+OK %d " % MESSAGES), st)
        return c

    def test_held_sessions_cost_and_give_back(self):
        for a in range(ACCOUNTS):              # the accounts' first logins
            c = self.login(a, 0)
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            c.close()
        idle = settled_rss()
        held = []
        try:
            for d in range(DEVICES):
                for a in range(ACCOUNTS):
                    held.append(self.login(a, d))
            during = settled_rss()
            per_session = (during - idle) * 1024 / SESSIONS
            target = 9 * 1024 + 8 * MESSAGES
            self.assertLessEqual(per_session, target,
                                 "%.1f KB per logged-in session of %d messages (idle %d kB, "
                                 "%d held: %d kB); at most %.1f KB" % (
                                     per_session / 1024, MESSAGES, idle, SESSIONS, during,
                                     target / 1024))
            # each still answers, with its own numbering
            c = held[-1]
            self.assertTrue(c.cmd("LIST %d" % MESSAGES).startswith("+OK %d " % MESSAGES))
            self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
            self.assertTrue(c.cmd("RSET").startswith("+OK maildrop has %d " % MESSAGES))
        finally:
            for c in held:
                try:
                    self.assertTrue(c.cmd("QUIT").startswith("+OK"))
                finally:
                    c.close()
        deadline = time.monotonic() + 30
        after = settled_rss()
        while after > idle + 1536 and time.monotonic() < deadline:
            time.sleep(0.5)
            after = GW.rss_kb()
        self.assertLessEqual(after, idle + 1536,
                             "VmRSS %d kB after %d sessions ended, %d kB idle before"
                             % (after, SESSIONS, idle))


if __name__ == "__main__":
    unittest.main()
