#!/usr/bin/env python3
"""The listing shared in Redis: a cold login (no kept connection) on a
second gateway, with the copy the first gateway's login stored and without
it (the copy deleted first, as before it was shared), N messages (default
10,000). Both gateways on one redis-server, both through one counting
relay to one Dovecot (so they name the same upstream); with --baseline,
that binary's cold login too (it never reads a copy), in the same run.

usage: shared_listing.py --binary build/popgate [--baseline OTHER]
                         [--messages N] [--logins M] [--lag-ms L]

Prints per mode the p50 of connect -> +OK after PASS, the octets Dovecot
sent for the login (median), the listing kind logged and the ratios to
the cold login without the copy. --lag-ms holds Dovecot's answers that
long (a provider across a network; default 0).
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness as h  # noqa: E402
import redis_ha as rh  # noqa: E402
from test_listing_sync import CountingRelay  # noqa: E402


def login_once(gw, relay):
    """(seconds connect -> +OK after PASS, octets Dovecot sent until then,
    the login's log)."""
    start = gw.log_size()
    snap = relay.snapshot()
    t = time.monotonic()
    c = h.Pop3(gw.port, timeout=120)
    try:
        c.read_greeting()
        r = c.login("alice", "secret")
        dt = time.monotonic() - t
        if not r.startswith("+OK"):
            raise RuntimeError("login: %s" % r)
        _, down, _ = relay.since(snap)
        c.cmd("QUIT")
    finally:
        c.close()
    return dt, down, gw.log_since(start)


def field(log, event, key):
    for line in log.splitlines():
        if "event=%s " % event in line:
            return h.parse_kv(line).get(key)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--baseline")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--logins", type=int, default=7)
    ap.add_argument("--lag-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=20261203)
    a = ap.parse_args()
    t0 = time.monotonic()

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t0, msg), flush=True)

    dc = relay = redis = None
    gws = []
    res = {}
    try:
        tmp = h.make_tempdir("pgt-bsl-")
        dc = h.Dovecot(users={"alice": "secret"}, tmpdir=tmp)
        dc.uid, dc.gid = h.ensure_mail_user()
        h.fill_small_maildir(dc.maildir("alice"), a.messages, dc.uid, dc.gid, a.seed)
        dc.start(timeout=60)
        with dc.imap("alice") as im:
            n = len(im.messages())
        if n != a.messages:
            raise RuntimeError("Dovecot lists %d messages, expected %d" % (n, a.messages))
        log("N=%d in Dovecot" % n)
        relay = CountingRelay(dc.imap_port, lag=a.lag_ms / 1000.0)
        redis = rh.RedisProc(h.make_tempdir("pgt-bsl-redis-"),
                             lines=["appendfsync everysec"]).start()
        cache = {"url": "redis://%s:%d" % (h.HOST, redis.port), "timeout": "10s"}

        def gateway(binary):
            g = h.Popgate(relay.port, binary=os.path.abspath(binary), cache=cache,
                          upstream={"timeout": "120s"}, log={"level": "info"}).start()
            gws.append(g)
            return g

        first, second = gateway(a.binary), gateway(a.binary)
        base = gateway(a.baseline) if a.baseline else None
        # UIDLs assigned, the copy stored: by the first gateway
        login_once(first, relay)
        if base is not None:
            login_once(base, relay)
        modes = [("without copy", second), ("with copy", second)]
        if base is not None:
            modes.append(("baseline", base))
        for i in range(a.logins):
            # each round in another order: what runs first pays for what
            # Dovecot and the machine warm up
            for mode, gw in modes[i % len(modes):] + modes[:i % len(modes)]:
                if mode == "with copy":
                    # the first gateway's login writes it, whole
                    h.drop_shared_listings(first)
                    sl = first.log_size()
                    login_once(first, relay)
                    h.wait_until(lambda: "state=stored" in first.log_since(sl), 10)
                else:
                    h.drop_shared_listings(gw)
                dt, down, lg = login_once(gw, relay)
                src = field(lg, "login", "listing_source") or "-"
                kind = field(lg, "listing", "kind") or "-"
                res.setdefault(mode, []).append((dt, down, src, kind))
        for mode, rows in res.items():
            log("%s: sources %s kinds %s" % (mode, sorted(set(r[2] for r in rows)),
                                             sorted(set(r[3] for r in rows))))
    finally:
        for g in gws:
            g.cleanup()
        if relay is not None:
            relay.close()
        if redis is not None:
            redis.cleanup()
        if dc is not None:
            dc.stop()
    ref_t = statistics.median(r[0] for r in res["without copy"])
    ref_b = statistics.median(r[1] for r in res["without copy"])
    print()
    print("cold login on the second gateway, %d messages, p50 of %d logins, Dovecot %g ms away"
          % (a.messages, a.logins, a.lag_ms))
    print("  %-14s %10s %7s %14s %7s  %s" % ("", "p50", "ratio", "Dovecot sent", "ratio",
                                           "listing"))
    for mode, rows in res.items():
        t = statistics.median(r[0] for r in rows)
        b = statistics.median(r[1] for r in rows)
        print("  %-14s %8.1f ms %6.2fx %10d B %6.3fx  %s" % (
            mode, 1000 * t, t / ref_t, b, b / ref_b,
            ",".join(sorted(set("%s/%s" % (r[2], r[3]) for r in rows)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
