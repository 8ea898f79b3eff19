#!/usr/bin/env python3
"""Round trips and time of a login: connect -> +OK after PASS, cold (a new
upstream connection each time) and warm ([upstream] keep_idle = 2m: the
connection kept from the poll before), through ../shared/bench/relay.py
between the gateway and Dovecot (--delay-ms per direction: a WAN-like
upstream; it counts each connection's round trips), against native
Dovecot POP3 on the same Maildir (no upstream hop) in the same run.

usage: cold_login.py --binary build/popgate [--baseline OTHER] [--messages N]
                     [--delay-ms D] [--logins M]

Prints per gateway and mode the p50 of connect -> +OK after PASS, the
ratio to native, the relay's round trips per login (the commands' bursts;
the connect and the greeting are one more) and the event=login line's
rtt_upstream (median). Exit 1 only if the run itself failed.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
from bench import build_mailbox  # noqa: E402

RELAY = os.path.join(ROOT, "..", "..", "shared", "bench", "relay.py")


def login_once(port, user):
    """Seconds from connect to the +OK after PASS (then QUIT)."""
    t = time.monotonic()
    c = h.Pop3(port, timeout=120)
    try:
        c.read_greeting()
        r = c.login(user, "secret")
        dt = time.monotonic() - t
        if not r.startswith("+OK"):
            raise RuntimeError("login: %s" % r)
        c.cmd("QUIT")
        return dt
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--baseline")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--logins", type=int, default=15)
    ap.add_argument("--relay", default=os.environ.get("POPGATE_RELAY", RELAY))
    a = ap.parse_args()
    t0 = time.monotonic()

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t0, msg), flush=True)

    dc = relay = None
    gws = []
    rows = []
    try:
        dc = h.Dovecot(pop3=True, users={"alice": "secret"}).start()
        build_mailbox(dc, a.messages, 20231114, 0.1, log)
        relay_port = h.free_port()
        relay_log = os.path.join(dc.dir, "relay.jsonl")
        relay = subprocess.Popen([sys.executable, a.relay, "--listen", str(relay_port),
                                  "--to", str(dc.imap_port), "--log", relay_log,
                                  "--delay-ms", str(a.delay_ms)])
        h.wait_listening(relay_port, 10)
        binaries = [("popgate", a.binary)] + ([("baseline", a.baseline)] if a.baseline else [])
        for name, binary in binaries:
            for mode, up in (("cold", {}), ("warm", {"keep_idle": "2m"})):
                gw = h.Popgate(relay_port, binary=os.path.abspath(binary),
                               upstream=dict(up, timeout="60s"), log={"level": "info"}).start()
                gws.append((name, mode, gw))
        # native: no upstream hop, the same Maildir
        native = [login_once(dc.pop3_port, "alice") for _ in range(a.logins)]
        rows.append(("native Dovecot POP3", statistics.median(native), None, None))
        log("native p50 %.1f ms" % (1000 * rows[-1][1]))
        for name, mode, gw in gws:
            login_once(gw.port, "alice#bench")       # untimed: UIDLs, what it learns
            if mode == "warm":
                h.wait_until(lambda: "event=upstream_kept " in gw.log_text(), 10)
            start = gw.log_size()
            with open(relay_log) as f:
                before = len(f.readlines())
            times = []
            for _ in range(a.logins):
                times.append(login_once(gw.port, "alice#bench"))
                if mode == "warm":
                    n = gw.log_text().count("event=upstream_kept ")
                    h.wait_until(lambda: gw.log_text().count("event=upstream_kept ") >= n, 10)
            logged = [int(h.parse_kv(l)["rtt_upstream"])
                      for l in gw.log_since(start).splitlines()
                      if "event=login " in l and "rtt_upstream=" in l]
            turns = None
            if mode == "cold":
                # each cold login is its own connection (closed at QUIT)
                h.wait_until(lambda: sum(1 for _ in open(relay_log)) >= before + a.logins, 30)
                with open(relay_log) as f:
                    recs = [json.loads(x) for x in f.readlines()[before:]]
                # the LOGOUT at QUIT is one more turn; not the login's
                turns = statistics.median(r["turns"] - 1 for r in recs if r["ncmds"] > 1)
            rows.append(("%s %s" % (name, mode), statistics.median(times),
                         statistics.median(logged) if logged else None, turns))
            log("%s %s p50 %.1f ms rtt_upstream %s relay turns %s" % (
                name, mode, 1000 * rows[-1][1], rows[-1][2], rows[-1][3]))
    finally:
        for _, _, gw in gws:
            gw.cleanup()
        if relay is not None:
            relay.terminate()
            relay.wait(10)
        if dc is not None:
            dc.stop()
    nat = rows[0][1]
    print()
    print("connect -> +OK after PASS, %d messages, upstream %.0f ms away each way, "
          "p50 of %d logins" % (a.messages, a.delay_ms, a.logins))
    print("  %-22s %10s %8s %13s %12s" % ("", "p50", "/native", "rtt_upstream", "relay turns"))
    for label, p50, rtt, turns in rows:
        print("  %-22s %8.1f ms %7.2fx %13s %12s" % (
            label, 1000 * p50, p50 / nat, "-" if rtt is None else "%g" % rtt,
            "-" if turns is None else "%g (+1)" % turns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
