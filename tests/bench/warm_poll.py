#!/usr/bin/env python3
"""Warm polls (USER, PASS, STAT, UIDL, QUIT) at N messages with kept upstream
sessions (keep_idle = 2m): native Dovecot POP3 direct, popgate and a baseline
popgate through a counting relay (../shared/bench/relay.py) at 0 and D ms per
direction. Prints each poll p50 and its ratio to native measured in the same
run, and the upstream round trips per warm poll (the relay's turns). Every
UIDL listing is checked (count = STAT = distinct UIDLs).

  tests/bench/warm_poll.py --messages 10000 --delay-ms 20 \\
      --binary build/popgate --baseline /path/to/other/popgate
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bench as b  # noqa: E402

h = b.h


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--baseline")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--delay-ms", type=float, default=20)
    ap.add_argument("--polls", type=int, default=20)
    ap.add_argument("--relay", default=os.path.join(ROOT, "..", "shared", "bench", "relay.py"))
    a = ap.parse_args()
    if not os.path.exists(a.relay):
        sys.exit("no relay at %s (--relay PATH: ../shared/bench/relay.py)" % a.relay)
    t0 = time.monotonic()

    def log(m):
        print("[%6.1fs] %s" % (time.monotonic() - t0, m), flush=True)

    binaries = {"popgate": os.path.abspath(a.binary)}
    if a.baseline:
        binaries["baseline"] = os.path.abspath(a.baseline)
    os.environ["POPGATE_BINARY"] = binaries["popgate"]
    dc = h.Dovecot(pop3=True, users={"alice": "secret"}).start()
    gws, relays, failed = [], [], []
    try:
        manifest = b.build_mailbox(dc, a.messages, 20231114, 0.1, log)
        mpath = os.path.join(dc.dir, "manifest.json")
        with open(mpath, "w") as f:
            json.dump({"seed": 20231114, "messages": manifest}, f)
        b.run_load(dc.pop3_port, mpath, "all", 1, label="warmup-native")
        native = []
        for _ in range(3):
            r = b.run_load(dc.pop3_port, mpath, "poll", 1, sessions=a.polls, label="native")
            native.append(r["poll_s_p50"])
        nat = statistics.median(native)
        log("native direct: poll p50 %.1f ms (of %s)" % (nat * 1000,
                                                        [round(x * 1000, 1) for x in native]))
        for name, binary in binaries.items():
            for delay in (0, a.delay_ms):
                rport = h.free_port()
                rlog = os.path.join(dc.dir, "relay-%s-%g.jsonl" % (name, delay))
                rp = subprocess.Popen([sys.executable, a.relay, "--listen", str(rport), "--to",
                                       str(dc.imap_port), "--log", rlog, "--delay-ms",
                                       str(delay), "--lifetime", "900"])
                relays.append(rp)
                h.wait_listening(rport, 10, rp)
                res = []
                # one gateway for a single (cold) poll, one for a cold and
                # POLLS warm ones: the difference of their turns is the warm
                # polls' round trips
                for sessions in (1, a.polls + 1):
                    gw = h.Popgate(rport, binary=binary, server={"max_connections": "1000"},
                                   upstream={"keep_idle": "2m"}, log={"level": "warn"}).start()
                    gws.append(gw)
                    r = b.run_load(gw.port, mpath, "poll", 1, sessions=sessions, label=name,
                                   devices=True)
                    if r["exit"] != 0:
                        failed.append("%s: %s %s" % (name, r.get("errors"), r.get("problems")))
                    res.append(r)
                    gw.cleanup()
                    gws.remove(gw)
                    time.sleep(0.5)
                rp.terminate()
                rp.wait()
                turns = [json.loads(line)["turns"] for line in open(rlog)]
                # per gateway: its start-up probe's connection, then the login's
                rt = (turns[3] - turns[1]) / a.polls if len(turns) >= 4 else float("nan")
                p50 = res[1]["poll_s_p50"]
                log("%-8s %4g ms/dir: warm poll p50 %.1f ms = %.2fx native; cold %.1f ms; "
                    "upstream round trips per warm poll %.2f; UIDL bytes/poll %d"
                    % (name, delay, p50 * 1000, p50 / nat, res[0]["poll_s_p50"] * 1000, rt,
                       res[1]["bytes"] / (a.polls + 1)))
    finally:
        for g in gws:
            g.cleanup()
        for rp in relays:
            if rp.poll() is None:
                rp.terminate()
        dc.stop()
    if failed:
        print("FAILED: " + "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
