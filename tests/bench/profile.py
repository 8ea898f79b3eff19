#!/usr/bin/env python3
"""popgate's own cost per workload, for one change at a time.

One private Dovecot with MESSAGES small messages (seeded) and one popgate
in front of it (tls = none), driven by pop3load.py:

  poll  POLLS sessions of USER, PASS, STAT, UIDL, QUIT, one at a time
  retr  RETRS sessions of RETR of every message (K=1)

With --callgrind popgate runs under valgrind --tool=callgrind (instruction
counts do not depend on how loaded the machine is): prints the total
instructions of popgate's whole run (start-up included, the same for both
sides of a comparison) and the functions with most self cost. Without it,
prints wall times and popgate's CPU seconds from /proc.

  python3 tests/bench/profile.py --workload poll --messages 10000 --callgrind
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import bench  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


relays = []


def compare(a, up_port, mpath, mode):
    """The workload against the baseline and this binary, alternating."""
    gws = {}
    try:
        for name, binary in (("baseline", a.baseline), ("popgate", a.binary)):
            sections = {"server": {"max_connections": "1000"}, "upstream": {}}
            for item in a.set if name == "popgate" else []:
                k, v = item.split("=", 1)
                sec, key = k.split(".", 1)
                sections.setdefault(sec, {})[key] = v
            gws[name] = h.Popgate(up_port, binary=os.path.abspath(binary),
                                  log={"level": "warn"}, server=sections["server"],
                                  upstream=sections["upstream"],
                                  policy=sections.get("policy")).start(timeout=60)
            bench.run_load(gws[name].port, mpath, mode, 1, sessions=1, devices=True,
                           deadline=600)
        walls = {n: [] for n in gws}
        for rnd in range(a.rounds):
            for name in (("baseline", "popgate") if rnd % 2 == 0 else ("popgate", "baseline")):
                r = bench.run_load(gws[name].port, mpath, mode, a.k, sessions=a.sessions,
                                   devices=True, deadline=1200)
                if r["exit"] != 0:
                    print("%s FAILED: %s %s" % (name, r["errors"], r["problems"][:3]))
                    return 1
                key = "poll_s_p50" if mode == "poll" else "wall_s"
                walls[name].append(r[key])
                print("round %d %-8s %s %.4fs %s" % (rnd + 1, name, key, r[key],
                      "connect->PASS +OK p50 %.4fs" % r["login_s_p50"] if mode == "poll"
                      else "%.1f MB/s" % r["mb_per_s"]), flush=True)
        med = {n: sorted(v)[len(v) // 2] for n, v in walls.items()}
        print("%s, %d messages, K=%d, %d sessions, upstream delay %.0f ms each way: "
              "median baseline %.3fs, popgate %.3fs (popgate/baseline %.2f)" % (
                  a.workload, a.messages, a.k, a.sessions, a.upstream_delay_ms,
                  med["baseline"], med["popgate"], med["popgate"] / med["baseline"]))
        return 0
    finally:
        for g in gws.values():
            g.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--workload", choices=["poll", "retr"], default="poll")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--max-size", type=int, default=3000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("-k", type=int, default=1)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--strace", action="store_true",
                    help="count popgate's system calls (strace -c) instead")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", help="keep the callgrind output file here")
    ap.add_argument("--upstream-delay-ms", type=float, default=0,
                    help="popgate reaches Dovecot through delay_relay.py (each direction)")
    ap.add_argument("--baseline", help="also run this popgate binary, alternating, "
                    "ROUNDS times each (wall times only)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="a setting for this binary only (e.g. upstream.keep_idle=2m)")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    dc = gw = None
    tmp = tempfile.mkdtemp(prefix="pgt-prof-")
    try:
        dc = h.Dovecot(users={"alice": "secret"}).start()
        rng = random.Random(1)
        manifest = []
        for i in range(a.messages):
            mid, data = bench.make_message(rng, i, rng.randint(600, a.max_size))
            dc.deliver_file("alice", data)
            crlf = h.expected_retr(data)
            manifest.append({"msgid": mid, "size": len(crlf),
                             "sha256": hashlib.sha256(crlf).hexdigest()})
        with dc.imap("alice") as im:
            im.messages()
        mpath = os.path.join(tmp, "manifest.json")
        with open(mpath, "w") as f:
            json.dump({"messages": manifest}, f)
        cg_out = a.out or os.path.join(tmp, "callgrind.out")
        st_out = os.path.join(tmp, "strace.out")
        if a.strace:
            os.environ.setdefault("STRACE_OPTS", "-c")
            wrapper = os.path.join(tmp, "popgate-st")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nexec strace $STRACE_OPTS -o %s %s \"$@\"\n" % (st_out, binary))
            os.chmod(wrapper, 0o755)
            binary = wrapper
        elif a.callgrind:
            wrapper = os.path.join(tmp, "popgate-cg")
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s "
                        "%s \"$@\"\n" % (cg_out, binary))
            os.chmod(wrapper, 0o755)
            binary = wrapper
        up_port = dc.imap_port
        if a.upstream_delay_ms > 0:
            up_port = h.free_port()
            relay = subprocess.Popen([sys.executable, os.path.join(HERE, "delay_relay.py"),
                                      "--listen", str(up_port), "--to", str(dc.imap_port),
                                      "--delay-ms", str(a.upstream_delay_ms)],
                                     stdout=subprocess.PIPE, start_new_session=True)
            relay.stdout.readline()
            relays.append(relay)
        mode = "poll" if a.workload == "poll" else "all"
        if a.baseline:
            return compare(a, up_port, mpath, mode)
        gw = h.Popgate(up_port, binary=binary, log={"level": "warn"},
                       server={"max_connections": "1000"}).start(timeout=60)
        # one untimed session first: the managed redis and the Dovecot index are warm
        warm = bench.run_load(gw.port, mpath, mode, 1, sessions=1, devices=True, deadline=600)
        rss0 = rss_kb(gw.proc.pid)
        cpu0 = bench.cpu_seconds(gw.proc.pid)
        r = bench.run_load(gw.port, mpath, mode, a.k, sessions=a.sessions, devices=True,
                           deadline=1200)
        cpu = bench.cpu_seconds(gw.proc.pid)
        if r["exit"] != 0:
            print("load FAILED: %s %s" % (r["errors"], r["problems"][:3]))
            return 1
        print("%s: %d sessions K=%d, %d messages, wall %.3fs, %.1f MB/s%s" % (
            a.workload, a.sessions, a.k, a.messages, r["wall_s"], r["mb_per_s"] or 0,
            "" if mode != "poll" else ", poll p50 %.1f ms" % (1000 * r["poll_s_p50"])))
        if cpu is not None and cpu0 is not None:
            print("popgate CPU %.3fs" % (cpu - cpu0))
        if not a.callgrind and not a.strace:
            time.sleep(3)               # idle: what it gives back, it has given back
            print("popgate RSS: %d KB after the warm-up session, %d KB 3 s after the run"
                  % (rss0, rss_kb(gw.proc.pid)))
        gw.stop(term_timeout=60)
        if a.strace:
            with open(st_out) as f:
                lines = f.read().splitlines()
            for line in lines[:2 + a.top] + lines[-2:]:
                print(line)
            print("RETR commands: %d" % r["retr"])
            # strace counts the whole run: the warm-up session's RETRs too
            retrs = r["retr"] + (warm.get("retr") or 0)
            calls = {x.split()[-1]: int(x.split()[3]) for x in lines
                     if len(x.split()) >= 5 and x.split()[3].isdigit()}
            if mode != "poll" and retrs > 0 and "total" in calls:
                print("per RETR (warm-up included, %d RETRs): %.2f syscalls, %.3f epoll_ctl, "
                      "%.2f epoll_wait" % (retrs, calls["total"] / retrs,
                                           calls.get("epoll_ctl", 0) / retrs,
                                           calls.get("epoll_wait", 0) / retrs))
        if a.callgrind:
            ann = subprocess.run(["callgrind_annotate", "--threshold=99", cg_out],
                                 capture_output=True, text=True).stdout.splitlines()
            total = [x for x in ann if "PROGRAM TOTALS" in x]
            print(total[0] if total else "no totals (callgrind output missing?)")
            shown = 0
            for line in ann:
                if ("popgate" in line or ":" in line) and "PROGRAM TOTALS" not in line \
                        and line.strip()[:1].isdigit():
                    print(line[:150])
                    shown += 1
                    if shown >= a.top:
                        break
    finally:
        for r in relays:
            r.kill()
            r.wait()
        if gw is not None:
            gw.cleanup()
        if dc is not None:
            dc.stop()
        h.cleanup_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
