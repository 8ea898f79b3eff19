#!/usr/bin/env python3
"""Three gateways on one Sentinel-managed Redis (make bench-sentinel).

One private Dovecot (tests/e2e/harness.py), a small generated mailbox
(bench.py's generator, with its manifest of sizes and SHA-256); a real
redis-server master and replica and three redis-sentinel processes
(tests/e2e/redis_ha.py: own directories, loopback ports). Each POP3 session:
USER alice#<device>, PASS, STAT, LIST, UIDL, RETR of every message left
(each verified against the manifest as pop3load.py does), DELE 1, QUIT.
Each client thread uses its own devices, a new one when a device has few
messages left.

  (a) overhead: K clients against ONE gateway on its own managed
      redis-server (unix socket, url = auto) and against THREE gateways on
      the Sentinel set-up (redis-sentinel://, replicas = 1), clients spread
      over the three; interleaved, RUNS times (median). Prints sessions/s,
      the median session time and the ratios three/one.
  (b) failover: the same load on the three gateways; after BEFORE seconds
      the master is killed (kill -9; --failover command: SENTINEL FAILOVER).
      Once the sentinels name the replica as master the old master is
      started again (it comes back as the new master's replica, so that
      QUITs with replicas = 1 can be acknowledged again). Prints sessions/s
      before, during (from the kill until a replica is in sync again) and
      after (AFTER seconds), the gap
      (no acknowledged QUIT), errors by kind, and then checks every
      acknowledged QUIT: its DELE holds on that device.

Exit status 0 whatever the figures; 1 if a byte was wrong, an acknowledged
QUIT was lost, or the set-up failed.
"""
import argparse
import collections
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import redis_ha as rh  # noqa: E402
import pop3load  # noqa: E402
import hashlib  # noqa: E402
import random  # noqa: E402
from bench import make_message  # noqa: E402


class Work:
    """The load: K threads, sessions against ports[i % len(ports)]."""

    def __init__(self, ports, k, label):
        self.ports, self.k, self.label = ports, k, label
        self.lock = threading.Lock()
        self.acked = []             # (t_end, device, uidl, duration)
        self.errors = []            # (t, kind, text)
        self.bad_bytes = []
        self.stop = threading.Event()

    @staticmethod
    def user(device):
        """Client thread i logs in as user b<i> (at most 100 devices an account)."""
        return "b" + device.rsplit("c", 1)[1].split("g", 1)[0]

    def session(self, port, device):
        c = pop3load.Conn("127.0.0.1", port, 30)
        try:
            c.status()
            c.cmd("USER %s#%s" % (self.user(device), device))
            c.cmd("PASS secret")
            count = int(c.cmd("STAT").split()[1])
            c.s.sendall(b"LIST\r\n")
            c.status()
            sizes = dict((int(n), int(s)) for n, s in
                         (l.split() for l in c.multi().split(b"\r\n") if l))
            c.s.sendall(b"UIDL\r\n")
            c.status()
            uidls = dict((int(n), u.decode()) for n, u in
                         (l.split() for l in c.multi().split(b"\r\n") if l))
            if len(sizes) != count or len(uidls) != count:
                self.bad_bytes.append("%s: STAT %d, LIST %d, UIDL %d"
                                      % (device, count, len(sizes), len(uidls)))
            for n in sorted(sizes):
                c.s.sendall(b"RETR %d\r\n" % n)
                c.status()
                p = pop3load.verify(c.multi(), sizes[n])
                if p:
                    self.bad_bytes.append("%s msg %d: %s" % (device, n, p))
            if count:
                c.cmd("DELE 1")
            c.cmd("QUIT")
            return count, uidls.get(1)
        finally:
            c.close()

    def client(self, i):
        port = self.ports[i % len(self.ports)]
        gen = 0
        while not self.stop.is_set():
            device = "%sc%dg%d" % (self.label, i, gen)
            t = time.monotonic()
            try:
                count, uidl = self.session(port, device)
            except pop3load.ProtocolError as e:
                with self.lock:
                    self.errors.append((time.monotonic(), str(e)[:60], device))
                time.sleep(0.05)
                continue
            except OSError as e:
                with self.lock:
                    self.errors.append((time.monotonic(), type(e).__name__, device))
                time.sleep(0.05)
                continue
            with self.lock:
                self.acked.append((time.monotonic(), device, uidl, time.monotonic() - t))
            if count <= 1:
                gen += 1

    def run_for(self, seconds=None, until=None):
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                   for i in range(self.k)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        if seconds is not None:
            time.sleep(seconds)
        else:
            until()
        self.stop.set()
        for t in threads:
            t.join(60)
        return time.monotonic() - t0


def check_acked(work, port):
    """Every device's acknowledged DELEs hold: those uidls are gone."""
    gone = collections.defaultdict(set)
    for _, device, uidl, _ in work.acked:
        if uidl:
            gone[device].add(uidl)
    lost = []
    for device, uidls in gone.items():
        c = pop3load.Conn("127.0.0.1", port, 30)
        try:
            c.status()
            c.cmd("USER %s#%s" % (Work.user(device), device))
            c.cmd("PASS secret")
            c.s.sendall(b"UIDL\r\n")
            c.status()
            left = set(l.split()[1].decode() for l in c.multi().split(b"\r\n") if l)
            c.cmd("QUIT")
        finally:
            c.close()
        lost += ["%s %s" % (device, u) for u in uidls & left]
    return len(gone), lost


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", type=int, default=6, help="concurrent clients (default 6)")
    ap.add_argument("--seconds", type=float, default=5, help="per overhead run")
    ap.add_argument("--messages", type=int, default=12)
    ap.add_argument("--before", type=float, default=8)
    ap.add_argument("--after", type=float, default=8)
    ap.add_argument("--failover", choices=["kill", "command"], default="kill")
    a = ap.parse_args()
    os.environ["POPGATE_BINARY"] = os.path.abspath(a.binary)
    t_start = time.monotonic()

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t_start, msg), flush=True)

    failed, res, fo = [], {}, {}
    dc = ha = None
    gws = []
    try:
        users = ["b%d" % i for i in range(a.k)]
        dc = h.Dovecot(users=dict((u, "secret") for u in users)).start()
        rng = random.Random(20231114)
        for i in range(a.messages):
            mid, data = make_message(rng, i, rng.randint(2_000, 40_000))
            crlf = h.expected_retr(data)
            pop3load.MANIFEST[mid] = (hashlib.sha256(crlf).hexdigest(), len(crlf))
            for u in users:
                dc.deliver_file(u, data)
        log("mailboxes: %d users of %d messages, %.1f KB each" % (
            len(users), a.messages, sum(m[1] for m in pop3load.MANIFEST.values()) / 1e3))
        ha = rh.SentinelSetup(replicas=1).start()
        common = {"max_connections": "1000", "max_unauthenticated": "1000",
                  "max_connections_per_ip": "0", "auth_fail_delay": "0", "login_delay": "0"}
        single = h.Popgate(dc.imap_port, server=common, log={"level": "warn"}).start()
        gws.append(single)
        three = []
        for _ in range(3):
            three.append(h.Popgate(dc.imap_port, server=dict(common, shared_limits="yes"),
                                   cache={"url": ha.url(), "replicas": "1",
                                          "lock_ttl": "5s"},
                                   log={"level": "info"}).start())
        gws += three
        targets = {"one": [single.port], "three": [g.port for g in three]}
        log("one gateway on %d (unix-socket redis); three on sentinel %s"
            % (single.port, ha.url()))
        for name, ports in targets.items():
            Work(ports, 2, "warm%s" % name).run_for(1.0)
        for rep in range(a.runs):
            for name in (["one", "three"] if rep % 2 == 0 else ["three", "one"]):
                w = Work(targets[name], a.k, "%s%d-" % (name, rep))
                wall = w.run_for(a.seconds)
                med = statistics.median(x[3] for x in w.acked) if w.acked else None
                res.setdefault(name, []).append((len(w.acked) / wall, med))
                log("run %d %-5s %6.1f sessions/s, median session %.1f ms, %d errors"
                    % (rep + 1, name, len(w.acked) / wall, (med or 0) * 1000,
                       len(w.errors)))
                if w.errors or w.bad_bytes:
                    failed.append("%s run %d: %s %s" % (name, rep + 1, w.errors[:2],
                                                        w.bad_bytes[:2]))

        # (b) failover
        w = Work(targets["three"], a.k, "fo-")
        victim = ha.current_master()
        old = ha.master_addr()
        marks = {}

        def drive():
            time.sleep(a.before)
            marks["kill"] = time.monotonic()
            if a.failover == "kill":
                victim.kill9()
            else:
                ha.sentinel_cli(ha.sentinels[0], "SENTINEL", "FAILOVER", ha.name)
            if not rh.wait_for(lambda: (ha.master_addr() or old) != old, 60, 0.05):
                raise RuntimeError("no failover within 60 s")
            marks["promoted"] = time.monotonic()
            if a.failover == "kill":
                victim.start()
            ha.wait_synced(60)
            marks["synced"] = time.monotonic()
            time.sleep(a.after)
            marks["end"] = time.monotonic()

        w0 = time.monotonic()
        w.run_for(until=drive)
        k = marks["kill"]
        before = [x for x in w.acked if x[0] < k]
        s_ = marks["synced"]
        during = [x for x in w.acked if k <= x[0] < s_]
        after = [x for x in w.acked if x[0] >= s_]
        # the longest stretch after the kill without an acknowledged QUIT
        times = [k] + sorted(x[0] for x in w.acked if x[0] >= k) + [marks["end"]]
        gap = max(b - a_ for a_, b in zip(times, times[1:]))
        fo = {"before": len(before) / (k - w0), "during": len(during) / (s_ - k),
              "after": len(after) / max(marks["end"] - s_, 1e-9),
              "gap": gap,
              "promoted": marks["promoted"] - k, "synced": marks["synced"] - k,
              "errors": collections.Counter(e[1] for e in w.errors),
              "acked": len(w.acked)}
        log("failover (%s): %.1f / %.1f / %.1f sessions/s before/during/after; gap %s s; "
            "promoted %.2f s, replica synced %.2f s after; %d errors"
            % (a.failover, fo["before"], fo["during"], fo["after"],
               "-" if fo["gap"] is None else "%.2f" % fo["gap"], fo["promoted"],
               fo["synced"], len(w.errors)))
        if w.bad_bytes:
            failed.append("failover: wrong bytes %s" % w.bad_bytes[:3])
        devices, lost = check_acked(w, three[0].port)
        fo["devices"], fo["lost"] = devices, lost
        if lost:
            failed.append("acknowledged QUITs lost: %s" % lost[:5])
    except Exception as e:
        failed.append("%s: %s" % (type(e).__name__, e))
        log("ERROR: %s" % failed[-1])
    finally:
        for g in gws:
            g.cleanup()
        if ha is not None:
            ha.stop()
        if dc is not None:
            dc.stop()

    def med(name, i):
        v = [r[i] for r in res.get(name, []) if r[i] is not None]
        return statistics.median(v) if v else None

    print()
    print("sessions of %d messages (RETR all, DELE 1, QUIT), K=%d clients, median of %d "
          "runs of %.0f s, %d CPUs" % (a.messages, a.k, a.runs, a.seconds,
                                       os.cpu_count() or 0))
    o_rate, t_rate, o_lat, t_lat = med("one", 0), med("three", 0), med("one", 1), med("three", 1)
    if o_rate and t_rate and o_lat and t_lat:
        print("  one gateway, unix-socket redis   %7.1f sessions/s  %6.1f ms/session"
              % (o_rate, o_lat * 1000))
        print("  three gateways, sentinel, repl=1 %7.1f sessions/s  %6.1f ms/session"
              % (t_rate, t_lat * 1000))
        print("  three/one: sessions/s %.2fx, session time %.2fx" % (t_rate / o_rate,
                                                                    t_lat / o_lat))
    if fo:
        print("failover (%s of the master, %s): sessions/s before %.1f, during %.1f (kill to "
              "replica synced, %.1f s), after %.1f; during/before %.2fx, after/before %.2fx"
              % ("kill -9" if a.failover == "kill" else "SENTINEL FAILOVER",
                 "restarted as replica once promoted" if a.failover == "kill" else "",
                 fo["before"], fo["during"], fo["synced"], fo["after"],
                 fo["during"] / max(fo["before"], 1e-9), fo["after"] / max(fo["before"], 1e-9)))
        print("  gap without an acknowledged QUIT %s s; replica promoted %.2f s and synced "
              "%.2f s after" % ("-" if fo["gap"] is None else "%.2f" % fo["gap"],
                                fo["promoted"], fo["synced"]))
        print("  errors: %s" % (json.dumps(dict(fo["errors"])) if fo["errors"] else "none"))
        if "lost" in fo:
            print("  %d acknowledged QUITs on %d devices checked: %d lost"
                  % (fo["acked"], fo["devices"], len(fo["lost"])))
    if failed:
        print("bench-sentinel: run FAILED:")
        for f in failed:
            print("  " + f)
    print("bench-sentinel: %s in %.0fs" % ("completed" if not failed else "incomplete",
                                            time.monotonic() - t_start))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
