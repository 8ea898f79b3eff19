"""[server] reuse_port: two popgate processes with reuse_port = yes on one
port, one private redis-server (shared_limits = yes), one Dovecot. Both
start; 40 sessions at once (each its own device) all log in and get the
right STAT, LIST and UIDL, and the kernel gave each process some of them
(counted from each process's event=session_end lines); a reload that
turns reuse_port off keeps the socket and says a restart is needed; with
one process stopped, new sessions still succeed through the other; a new
process started and the old one stopped, three times, while clients
connect without pause: every greeted one served to its end, at most one
per swap reset before its greeting (the instant between the old one's
last accept and its close); a
popgate without reuse_port on the same port does not start, exits non-zero
and says why (address in use, reuse_port=no, what to set); reuse_port
with a store of its own (url = auto) or without shared_limits warns."""
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest

import harness as h
from test_devices import RedisServer

DC = REDIS = None
WORK = None
UIDS = []
UIDVALIDITY = None
SIZES = []
SUBJECTS = ["one", "two", "three"]


def setUpModule():
    global DC, REDIS, WORK, UIDVALIDITY
    DC = h.popgate_module({"alice": "secret"})
    WORK = h.make_tempdir("pgt-rp-")
    try:
        with DC.imap("alice") as im:
            for s in SUBJECTS:
                _, data = h.tagged_message(s, "reuse")
                im.append(data)
                SIZES.append(len(data))
            UIDS.extend(im.listing())
            UIDVALIDITY = im.uidvalidity()
        os.mkdir(os.path.join(WORK, "redis"))
        REDIS = RedisServer(os.path.join(WORK, "redis")).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if REDIS is not None:
        REDIS.stop()
    if DC is not None:
        DC.stop()
    if WORK is not None:
        shutil.rmtree(WORK, ignore_errors=True)


def gateway(port=None, reuse="yes", start=True):
    server = {"shared_limits": "yes", "max_connections_per_ip": "0"}
    if reuse is not None:
        server["reuse_port"] = reuse
    g = h.Popgate(DC.imap_port, port=port, server=server,
                  cache={"url": "unix:" + REDIS.sock})
    if start:
        # A second process's port answers before it listens (the first
        # one does): wait for its own start.
        g.start()
        if not g.wait_log(r"event=started", 10):
            g.cleanup()
            raise RuntimeError("popgate did not start:\n" + g.log_text()[-2000:])
    return g


def session(port, device):
    """One full session; the first wrong answer as an AssertionError."""
    with h.Pop3(port, timeout=30) as c:
        session_on(c, device)


def session_on(c, device):
    """The rest of session() on a connection c, greeted or not."""
    r = c.login("alice#%s" % device, "secret")
    assert r.startswith("+OK"), "login %s: %s" % (device, r)
    r = c.cmd("STAT")
    assert r == "+OK %d %d" % (len(SIZES), sum(SIZES)), "STAT %s: %s" % (device, r)
    assert c.cmd("LIST").startswith("+OK")
    got = c.multi_lines()
    assert got == ["%d %d" % (i + 1, n) for i, n in enumerate(SIZES)], got
    assert c.cmd("UIDL").startswith("+OK")
    got = c.multi_lines()
    assert got == ["%d %08x%08x" % (i + 1, u, UIDVALIDITY)
                   for i, u in enumerate(UIDS)], got
    r = c.cmd("QUIT")
    assert r.startswith("+OK"), "QUIT %s: %s" % (device, r)


def sessions_at_once(port, devices):
    """Runs a session per device, all at once; the errors."""
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(len(devices))

    def one(d):
        try:
            start.wait(30)
            session(port, d)
        except Exception as e:                 # noqa: BLE001 (collected)
            with lock:
                errors.append("%s: %s: %s" % (d, type(e).__name__, e))

    threads = [threading.Thread(target=one, args=(d,)) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def served(g):
    return g.log_text().count("event=session_end")


class ReusePort(unittest.TestCase):
    def setUp(self):
        self.gws = []

    def tearDown(self):
        for g in self.gws:
            g.cleanup()

    def test_two_processes_share_one_port(self):
        a = gateway()
        self.gws.append(a)
        b = gateway(port=a.port)
        self.gws.append(b)
        self.assertTrue(a.alive() and b.alive())
        for g in (a, b):
            self.assertRegex(g.log_text(), r"event=listening address=127\.0\.0\.1:%d .*"
                             r"reuse_port=yes" % a.port)

        errors = sessions_at_once(a.port, ["d%d" % i for i in range(40)])
        self.assertEqual(errors, [])
        self.assertTrue(h.wait_until(lambda: served(a) + served(b) == 40, 10),
                        (served(a), served(b)))
        # Each connection goes to one socket by a hash of its ports: all 40
        # on one process is a chance of 2^-39.
        self.assertGreater(served(a), 0, "process a served none of 40")
        self.assertGreater(served(b), 0, "process b served none of 40")

        # A reload keeps the listening socket as it is.
        mark = b.log_size()
        b.rewrite_conf(b.conf_text.replace("reuse_port = yes", "reuse_port = no"))
        b.signal(signal.SIGHUP)
        self.assertTrue(b.wait_log(r"event=reload_needs_restart sections=listen\b", 10,
                                   start=mark), b.log_since(mark))

        a.stop()
        before = served(b)
        errors = sessions_at_once(b.port, ["e%d" % i for i in range(10)])
        self.assertEqual(errors, [])
        self.assertTrue(h.wait_until(lambda: served(b) == before + 10, 10),
                        (before, served(b)))

    def test_restart_without_a_closed_moment(self):
        """Start the new process, stop the old one, three times, while 20
        clients connect without pause (greeting, QUIT; one of them full
        sessions): every connection is answered. The old process takes
        what the kernel queued on its socket before it closes it. Only a
        connection completed in the instant between its last accept and
        the close may be reset before its greeting (README: unless
        net.ipv4.tcp_migrate_req = 1): at most one per swap; a greeted
        one is always served to its end."""
        old = gateway()
        self.gws.append(old)
        port = old.port
        stop = threading.Event()
        errors, counts, resets = [], [0, 0], []
        lock = threading.Lock()

        def client(i):
            while not stop.is_set():
                phase = "connect"
                try:
                    try:
                        c = h.Pop3(port, timeout=30)
                    except ConnectionResetError:
                        # The same reset, seen by connect() itself: the
                        # kernel completed the handshake on the old
                        # listener, and the reset of its close came before
                        # this thread ran again (seen under load). A
                        # refused connect (no listener at all) is an error.
                        with lock:
                            resets.append("connect: reset")
                        continue
                    with c:
                        try:
                            r = c.read_greeting()
                        except h.Closed:
                            with lock:
                                resets.append("greeting: closed")
                            continue
                        phase = "greeted"
                        assert r.startswith("+OK"), r
                        if i == 0:
                            session_on(c, "restart")
                        else:
                            r = c.cmd("QUIT")
                            assert r.startswith("+OK"), r
                    with lock:
                        counts[i == 0] += 1
                except Exception as e:             # noqa: BLE001 (collected)
                    with lock:
                        errors.append("%s: %s: %s" % (phase, type(e).__name__, e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        try:
            for _ in range(3):
                time.sleep(0.5)
                new = gateway(port=port)
                self.gws.append(new)
                time.sleep(0.3)
                old.stop()
                self.assertEqual(old.returncode, 0)
                old = new
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(errors[:5], [])
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as f:
            migrate = f.read().strip() == "1"
        self.assertLessEqual(len(resets), 0 if migrate else 3,
                             "connections reset before the greeting: %r" % resets)
        self.assertGreater(counts[0], 100)
        self.assertGreater(counts[1], 3)

    def start_fails(self, port, reuse):
        """A popgate on port run to its end: its stderr, once it has exited
        non-zero."""
        c = gateway(port=port, reuse=reuse, start=False)
        self.gws.append(c)
        with open(c.conf, "w") as f:
            f.write(c.conf_text)
        r = subprocess.run([c.binary, "-c", c.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        err = r.stderr.decode("utf-8", "replace")
        self.assertNotEqual(r.returncode, 0, err)
        return err

    def test_port_in_use_without_reuse_port(self):
        a = gateway(reuse=None)
        self.gws.append(a)
        for reuse in (None, "no"):
            err = self.start_fails(a.port, reuse)
            self.assertRegex(err, r"event=listen_failed address=127\.0\.0\.1:%d "
                             r"error=\"Address already in use\" reuse_port=no "
                             r"reason=\"[^\"]*set \[server\] reuse_port = yes" % a.port)
            self.assertNotIn("event=started", err)
        # The first one is not disturbed.
        self.assertTrue(a.alive())
        session(a.port, "after")

    def test_warns_without_a_shared_store(self):
        """reuse_port with a managed store of its own (url = auto), or
        without shared_limits: a warning at start, and it serves."""
        g = h.Popgate(DC.imap_port, server={"reuse_port": "yes"}).start()
        self.gws.append(g)
        self.assertTrue(g.wait_log(r"event=config_warning warning=\"reuse_port = yes with "
                                   r"\[cache\] url = auto: each process has its own state "
                                   r"store", 10), g.log_text())
        session(g.port, "auto")
        g = gateway(reuse="yes")
        g.cleanup()
        self.assertNotIn("reuse_port = yes with", g.log_text())
        self.assertNotIn("without shared_limits", g.log_text())
        g = h.Popgate(DC.imap_port, server={"reuse_port": "yes"},
                      cache={"url": "unix:" + REDIS.sock}).start()
        self.gws.append(g)
        self.assertTrue(g.wait_log(r"warning=\"reuse_port = yes without shared_limits: "
                                   r"failure delays and LOGIN-DELAY count per process", 10),
                        g.log_text())

    def test_reuse_port_beside_one_without(self):
        """A process with reuse_port cannot join one that listens without
        it: it fails and says so."""
        a = gateway(reuse="no")
        self.gws.append(a)
        err = self.start_fails(a.port, "yes")
        self.assertRegex(err, r"event=listen_failed .*reuse_port=yes reason=\"another "
                         r"process listens there without reuse_port")


if __name__ == "__main__":
    unittest.main()
