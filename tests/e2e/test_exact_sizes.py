"""[upstream] exact_sizes against a scripted IMAP server whose RFC822.SIZE
counts bare LF line ends (the stored messages have LF, not CRLF): RETR
sends CRLF, so each message is one octet per line longer than listed.
yes: LIST and STAT equal the octets RETR sends from the first login on.
auto: the first login lists RFC822.SIZE; the RETR that sends another count
is logged and the account turns exact, so the next login lists the true
sizes of every message. no: RFC822.SIZE, nothing counted. Checked with
poplib, octet for octet."""
import poplib
import re
import time
import unittest

import harness as h

FAKE = None
GWS = {}


def lf_message(name, lines):
    mid, hdr = h._hdr(name, "lf " + name, nl="\n")
    body = "".join(lines)
    return (hdr + "\n" + body).encode()


MSGS = [
    lf_message("lf1", ["line %d\n" % i for i in range(5)]),
    lf_message("lf2", [".starts with a dot\n", "mixed crlf\r\n", "bare cr\r inside\n", "end\n"]),
    lf_message("lf3", ["x" * 900 + "\n" for _ in range(300)]),   # 270 KB, many lines
]


def crlf_size(data):
    """What RETR sends before dot-stuffing: every bare LF becomes CRLF."""
    return len(data) + len(re.findall(rb"(?<!\r)\n", data))


def setUpModule():
    global FAKE
    if h.NATIVE:
        raise unittest.SkipTest("fake-server tests need popgate")
    FAKE = h.FakeImap(MSGS).start()
    try:
        for mode in ("yes", "auto", "no"):
            GWS[mode] = h.Popgate(FAKE.port, upstream={"exact_sizes": mode}).start()
        for gw in GWS.values():
            gw.wait_probed()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global FAKE
    for gw in GWS.values():
        gw.cleanup()
    GWS.clear()
    if FAKE is not None:
        FAKE.stop()
        FAKE = None


def session(gw, user):
    p = poplib.POP3(h.HOST, gw.port, timeout=60)
    p.user(user)
    p.pass_("secret")
    return p


def listing(p):
    _, lines, _ = p.list()
    return [int(l.split()[1]) for l in lines]


def retr_octets(p, n):
    _, lines, octets = p.retr(n)
    return octets


class ExactSizes(unittest.TestCase):
    def setUp(self):
        FAKE.reset()
        self.assertTrue(all(crlf_size(m) != len(m) for m in MSGS))

    def tearDown(self):
        for gw in GWS.values():
            self.assertTrue(gw.alive(), "popgate died; log tail:\n" + gw.log_text()[-3000:])

    def fetched_bodies(self):
        return [c["text"] for conn in FAKE.all_conns() for c in conn.commands
                if b"BODY.PEEK[]" in c["text"].upper()]

    def test_yes_lists_what_retr_sends(self):
        gw = GWS["yes"]
        p = session(gw, "yes1@example.org")
        want = [crlf_size(m) for m in MSGS]
        self.assertEqual(listing(p), want)
        self.assertEqual(p.stat(), (len(MSGS), sum(want)))
        self.assertEqual([retr_octets(p, i + 1) for i in range(len(MSGS))], want)
        p.quit()
        self.assertTrue(gw.wait_log(r"event=exact_sizes loaded=0 counted=3 differ=3"))
        self.assertNotIn("event=size_mismatch", gw.log_text())
        # Counted once: the next login loads them, fetches nothing.
        FAKE.reset()
        start = gw.log_size()
        p = session(gw, "yes1@example.org#phone")
        self.assertEqual(listing(p), want)
        p.quit()
        self.assertTrue(gw.wait_log(r"event=exact_sizes loaded=3 counted=0", start=start))
        self.assertEqual(self.fetched_bodies(), [])

    def test_auto_learns_from_a_retr(self):
        gw = GWS["auto"]
        user = "auto1@example.org"
        p = session(gw, user)
        # First login: RFC822.SIZE as the server says it (documented).
        self.assertEqual(listing(p), [len(m) for m in MSGS])
        self.assertEqual(self.fetched_bodies(), [])
        self.assertEqual(retr_octets(p, 1), crlf_size(MSGS[0]))
        p.quit()
        self.assertTrue(gw.wait_log(r"event=size_mismatch uid=1 listed=%d sent=%d "
                                    r"action=exact_sizes" % (len(MSGS[0]), crlf_size(MSGS[0]))))
        # Later logins (any device): the true sizes of every message.
        deadline = time.monotonic() + 10
        while True:
            p = session(gw, user + "#phone")
            got = listing(p)
            if got != [len(m) for m in MSGS] or time.monotonic() > deadline:
                break
            p.quit()
            time.sleep(0.1)     # the store's write may trail the QUIT
        want = [crlf_size(m) for m in MSGS]
        self.assertEqual(got, want)
        self.assertEqual([retr_octets(p, i + 1) for i in range(len(MSGS))], want)
        p.quit()
        self.assertTrue(gw.wait_log(r"event=exact_sizes loaded=1 counted=2 differ=2"))

    def test_auto_without_mismatch_fetches_nothing(self):
        gw = GWS["auto"]
        p = session(gw, "auto2@example.org")
        self.assertEqual(listing(p), [len(m) for m in MSGS])
        p.quit()
        self.assertEqual(self.fetched_bodies(), [])

    def test_no_is_rfc822_size(self):
        gw = GWS["no"]
        p = session(gw, "no1@example.org")
        self.assertEqual(listing(p), [len(m) for m in MSGS])
        self.assertEqual(retr_octets(p, 1), crlf_size(MSGS[0]))
        p.quit()
        p = session(gw, "no1@example.org")
        self.assertEqual(listing(p), [len(m) for m in MSGS])
        p.quit()
        self.assertNotIn("action=exact_sizes", gw.log_text())
        self.assertNotIn("event=exact_sizes", gw.log_text())


if __name__ == "__main__":
    unittest.main()
