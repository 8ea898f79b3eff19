#!/usr/bin/env python3
"""popgate's VmRSS at the stages of a day, against a baseline in the same run.

One private Dovecot (tests/e2e/harness.py) holds a mailbox of SMALL small
messages and one of BIG_MB megabytes last. Each binary (--binary, and
--baseline, e.g. a build of main) runs as its own popgate (tls = none,
its own managed redis-server) in front of it, and is measured in turn:

  idle       after the start-up probe, settled
  login      one session logged in (USER, PASS, STAT), held
  retr peak  the highest VmRSS sampled every 5 ms during a RETR of the big
             message (every octet checked against what Dovecot stores)
  retr after that session QUIT, settled
  sessions   after SESSIONS sessions (CONCURRENCY at once: USER a#dN, PASS,
             STAT, UIDL, QUIT) have ended, settled
  peak (HWM) VmHWM at the end

Prints one table with both binaries and the ratio new/baseline. Exit
status 1 only if a session failed or the RETR's octets differed.
"""
import argparse
import concurrent.futures
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness as h  # noqa: E402


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def settled(pid, quiet=1.5, limit=20.0):
    """VmRSS once it has not moved by more than 16 kB for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last, since = status_kb(pid, "VmRSS"), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = status_kb(pid, "VmRSS")
        if abs(cur - last) > 16:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return status_kb(pid, "VmRSS")


def fill(dc, small, big_mb, seed):
    rng = random.Random(seed)
    for i in range(small):
        body = "".join("line %d of message %d %s\n" % (j, i, "x" * rng.randint(10, 70))
                       for j in range(rng.randint(20, 200)))
        dc.deliver_file("alice", ("Subject: m%d\nMessage-ID: <m%d@rss>\n\n%s"
                                  % (i, i, body)).encode())
    with dc.imap("alice") as im:
        im.messages()
    lines, total = [], 0
    while total < big_mb * 1024 * 1024:
        line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789+/")
                       for _ in range(76))
        if rng.random() < 0.01:
            line = "." + line[1:]
        lines.append(line)
        total += 77
    big = ("Subject: big\nMessage-ID: <big@rss>\n\n" + "\n".join(lines) + "\n").encode()
    dc.deliver_file("alice", big)
    return h.expected_retr(big)


def one_session(port, user, timeout=60):
    c = h.Pop3(port, timeout=timeout)
    try:
        c.read_greeting()
        r = c.login(user)
        if not r.startswith("+OK"):
            return "login %s: %s" % (user, r)
        if not c.cmd("STAT").startswith("+OK"):
            return "STAT"
        if not c.cmd("UIDL").startswith("+OK"):
            return "UIDL"
        c.multi_raw()
        if not c.cmd("QUIT").startswith("+OK"):
            return "QUIT"
        return None
    finally:
        c.close()


def measure(name, binary, dc, expected, a, log):
    gw = h.Popgate(dc.imap_port, binary=binary, server={"max_connections": "1000"},
                   log={"level": "warn"}, cache={"timeout": "30s"}).start()
    out, problems = {"name": name}, []
    try:
        pid = gw.proc.pid
        gw.wait_probed()
        out["idle"] = settled(pid)
        c = gw.pop3(timeout=60)
        c.read_greeting()
        r = c.login("alice#rss")
        if not r.startswith("+OK"):
            raise RuntimeError("%s: login: %s" % (name, r))
        st = c.cmd("STAT")
        out["login"] = settled(pid)
        n = int(st.split()[1])
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], status_kb(pid, "VmRSS"))
                time.sleep(0.005)

        t = threading.Thread(target=sample)
        t.start()
        try:
            got = c.retr(n)
        finally:
            stop.set()
            t.join()
        if got != expected:
            problems.append("RETR %d: %d octets, expected %d" % (n, len(got), len(expected)))
        out["retr_peak"] = peak[0]
        c.cmd("QUIT")
        c.close()
        out["retr_after"] = settled(pid)
        with concurrent.futures.ThreadPoolExecutor(a.concurrency) as ex:
            errs = [e for e in ex.map(lambda i: one_session(gw.port, "alice#d%d" % (i % 99)),
                                      range(a.sessions)) if e]
        if errs:
            problems.append("%d sessions failed: %s" % (len(errs), errs[:3]))
        out["sessions"] = settled(pid)
        out["hwm"] = status_kb(pid, "VmHWM")
        log("%s: %s" % (name, " ".join("%s=%s" % kv for kv in out.items() if kv[0] != "name")))
    finally:
        gw.cleanup()
    return out, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--baseline", help="a second popgate binary measured in the same run")
    ap.add_argument("--small", type=int, default=200, help="small messages (default 200)")
    ap.add_argument("--big-mb", type=float, default=10)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--runs", type=int, default=1, help="rounds, binaries alternating")
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    t0 = time.monotonic()

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t0, msg), flush=True)

    bins = [("popgate", os.path.abspath(a.binary))]
    if a.baseline:
        bins.append(("baseline", os.path.abspath(a.baseline)))
    dc = h.Dovecot(users={"alice": "secret"}, extra_conf=h.dovecot_session_limits(200)).start()
    results, problems = {}, []
    try:
        expected = fill(dc, a.small, a.big_mb, a.seed)
        log("mailbox: %d + 1 messages, the last %d octets as RETR sends it"
            % (a.small, len(expected)))
        for rep in range(a.runs):
            for name, binary in (bins if rep % 2 == 0 else bins[::-1]):
                r, p = measure(name, binary, dc, expected, a, log)
                results.setdefault(name, []).append(r)
                problems += ["%s: %s" % (name, x) for x in p]
    finally:
        dc.stop()
        h.cleanup_all()
    keys = (("idle", "idle"), ("login", "1 session logged in"),
            ("retr_peak", "peak during the %.0f MB RETR" % a.big_mb),
            ("retr_after", "after its QUIT"),
            ("sessions", "after %d sessions" % a.sessions), ("hwm", "VmHWM at the end"))

    def med(name, k):
        vals = sorted(r[k] for r in results.get(name, []))
        return vals[len(vals) // 2] if vals else None

    print("\npopgate VmRSS by stage, KiB (median of %d)" % a.runs)
    head = "%-30s %10s" % ("stage", "popgate")
    if a.baseline:
        head += " %10s %8s" % ("baseline", "ratio")
    print(head)
    for k, label in keys:
        row = "%-30s %10d" % (label, med("popgate", k))
        if a.baseline:
            b = med("baseline", k)
            row += " %10d %7.2fx" % (b, med("popgate", k) / b)
        print(row)
    if problems:
        print("\nrss_stages: FAILED:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
