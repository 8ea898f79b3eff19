#!/usr/bin/env python3
"""popgate's cost per RETR over TLS, this binary against a baseline in the
same run.

One private Dovecot with TLS (harness.Dovecot(ssl=True)), MESSAGES seeded
messages of 600..MAX_SIZE octets plus one of BIG_MB. For each upstream mode
(imaps, starttls) and each binary (--baseline first, then --binary), one
popgate with TLS to the client too (POP3S on listen_tls; --client plain
for the plain listener) and:

  warm-up   one session RETRs every message (Dovecot's index, redis warm)
  cpu       SESSIONS sessions RETR every message, one after the other (K=1);
            popgate's utime+stime from /proc/PID/stat over octets received
            (and its threads' run time from schedstat, in ns)
  strace    one more session with strace -c -f -p PID attached: system
            calls, epoll_ctl and epoll_wait per RETR

Every RETR's octets are checked against the message delivered.

  python3 tests/bench/tls_retr.py --baseline /work/base/popgate
"""
import argparse
import hashlib
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import bench  # noqa: E402


def session(port, ctx, sums):
    """Logs in, RETRs every message, QUITs. Returns (RETRs, octets)."""
    c = h.Pop3(port, timeout=120, tls=ctx)
    try:
        c.read_greeting()
        r = c.login("alice", "secret")
        if not r.startswith("+OK"):
            raise RuntimeError("login: %s" % r)
        n = int(c.cmd("STAT").split()[1])
        if n != len(sums):
            raise RuntimeError("STAT says %d messages, %d delivered" % (n, len(sums)))
        octets = 0
        got = []
        for i in range(1, n + 1):
            body = c.retr(i)
            octets += len(body)
            got.append(hashlib.sha256(body).hexdigest())
        if sorted(got) != sorted(sums):
            raise RuntimeError("RETR octets differ from the messages delivered")
        c.cmd("QUIT")
        return n, octets
    finally:
        c.close()


def run_ns(pid):
    """CPU time of every thread of pid in ns (/proc/PID/task/*/schedstat:
    finer than the clock ticks of utime+stime)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            total += int(f.read().split()[0])
    return total


def measure(a, name, binary, dc, mode, client_tls, cert, key, sums):
    up = {"host": "127.0.0.1", "timeout": "30s", "tls": mode, "verify": "yes",
          "ca_file": dc.cert}
    port = dc.imaps_port if mode == "imaps" else dc.imap_port
    tls = {"cert_file": cert, "key_file": key} if client_tls else None
    gw = h.Popgate(port, binary=os.path.abspath(binary), log={"level": "warn"},
                   upstream=up, tls=tls, tls_listen=1 if client_tls else 0).start(timeout=60)
    try:
        ctx = h.tls_client_context(cert) if client_tls else None
        cport = gw.tls_port if client_tls else gw.port
        session(cport, ctx, sums)                       # warm-up
        cpu0 = bench.cpu_seconds(gw.proc.pid)
        ns0 = run_ns(gw.proc.pid)
        t0 = time.monotonic()
        retrs = octets = 0
        for _ in range(a.sessions):
            n, o = session(cport, ctx, sums)
            retrs += n
            octets += o
        wall = time.monotonic() - t0
        cpu = bench.cpu_seconds(gw.proc.pid) - cpu0
        ns = run_ns(gw.proc.pid) - ns0
        (n, _), calls = h.strace_calls(gw.proc.pid, lambda: session(cport, ctx, sums))
        if calls is None:
            sys.exit("tls_retr: strace cannot attach to popgate (install strace; "
                     "ptrace allowed?)")
        total = sum(calls.values()) if "total" not in calls else calls["total"]
        r = {"cpu_s_per_gb": cpu / (octets / 1e9), "cpu_s": cpu, "wall_s": wall,
             "run_s_per_gb": ns / 1e9 / (octets / 1e9),
             "mb": octets / 1e6, "sys": total / n, "epoll_ctl": calls.get("epoll_ctl", 0) / n,
             "epoll_wait": calls.get("epoll_wait", 0) / n}
        print("%-9s upstream=%-8s client=%-5s %6.1f syscalls/RETR  %6.2f epoll_ctl/RETR  "
              "%5.2f epoll_wait/RETR  CPU %.3fs for %.0f MB = %.2f s/GB (schedstat %.2f s/GB)"
              % (name, mode, "tls" if client_tls else "plain", r["sys"], r["epoll_ctl"],
                 r["epoll_wait"], cpu, octets / 1e6, r["cpu_s_per_gb"], r["run_s_per_gb"]),
              flush=True)
        if a.calls:
            print("          " + ", ".join("%s %.2f" % (k, v / n) for k, v in sorted(
                calls.items(), key=lambda kv: -kv[1]) if k != "total"))
        return r
    finally:
        gw.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--baseline", help="a second popgate binary measured in the same run")
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--max-size", type=int, default=100000)
    ap.add_argument("--big-mb", type=float, default=5.0)
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--modes", default="imaps,starttls")
    ap.add_argument("--client", choices=["tls", "plain"], default="tls")
    ap.add_argument("--calls", action="store_true", help="print every system call per RETR")
    a = ap.parse_args()
    bins = ([("baseline", a.baseline)] if a.baseline else []) + [("popgate", a.binary)]
    dc = None
    tmp = h.make_tempdir("pgt-tlsb-")
    try:
        cert, key = h.make_cert(tmp, "gw")
        dc = h.Dovecot(ssl=True, users={"alice": "secret"}).start()
        rng = random.Random(1)
        sums = []
        for i in range(a.messages + (1 if a.big_mb > 0 else 0)):
            big = i == a.messages
            size = int(a.big_mb * 1e6) if big else rng.randint(600, a.max_size)
            _, data = bench.make_message(rng, i, size, big)
            dc.deliver_file("alice", data)
            sums.append(hashlib.sha256(h.expected_retr(data)).hexdigest())
        with dc.imap("alice") as im:
            im.messages()
        res = {}
        for mode in a.modes.split(","):
            for name, binary in bins:
                res[(mode, name)] = measure(a, name, binary, dc, mode, a.client == "tls",
                                            cert, key, sums)
        if a.baseline:
            for mode in a.modes.split(","):
                b, p = res[(mode, "baseline")], res[(mode, "popgate")]
                print("upstream=%-8s popgate/baseline: syscalls/RETR %.2f, epoll_ctl/RETR "
                      "%.2f -> %.2f, CPU s/GB %.2f -> %.2f (%.2fx; schedstat %.2f -> %.2f, "
                      "%.2fx)" % (
                          mode, p["sys"] / b["sys"], b["epoll_ctl"], p["epoll_ctl"],
                          b["cpu_s_per_gb"], p["cpu_s_per_gb"],
                          p["cpu_s_per_gb"] / b["cpu_s_per_gb"], b["run_s_per_gb"],
                          p["run_s_per_gb"], p["run_s_per_gb"] / b["run_s_per_gb"]))
    finally:
        if dc is not None:
            dc.stop()
        h.cleanup_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
