#!/usr/bin/env python3
"""Several gateways behind a load balancer (make bench-gateways).

One private Dovecot (tests/e2e/harness.py) with a small mailbox; short POP3
sessions (USER, PASS, STAT, UIDL, QUIT, each client its own device) from K
concurrent clients, interleaved, RUNS times (median), against:

  single    one popgate, its own managed redis-server on a unix socket
            (url = auto), clients connecting to it directly;
  balanced  three popgates on one shared redis-server (unix socket,
            shared_limits = yes) behind a real HAProxy with send-proxy-v2,
            round robin, clients connecting to HAProxy.

Prints sessions per second and the median session time of each, and the
ratios balanced/single: the price of the extra hop, the PROXY header and
the shared limits on one machine (on several machines the gateways would
add capacity instead of sharing two CPUs). Exit status 0 whatever the
figures; 1 if a session failed or the set-up did.
"""
import argparse
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness as h  # noqa: E402
from test_devices import RedisServer  # noqa: E402
from test_haproxy import HAProxy  # noqa: E402


def one_session(port, device, source):
    with h.Pop3(port, source=source, timeout=30) as c:
        c.read_greeting()
        r = c.login("alice#%s" % device, "secret")
        if not r.startswith("+OK"):
            raise RuntimeError("login: %s" % r)
        if not c.cmd("STAT").startswith("+OK") or not c.cmd("UIDL").startswith("+OK"):
            raise RuntimeError("STAT/UIDL refused")
        c.multi_lines()
        if not c.cmd("QUIT").startswith("+OK"):
            raise RuntimeError("QUIT refused")


def load(port, k, per_client, label):
    """K threads, per_client sessions each; (sessions/s, median s, errors)."""
    times, errors = [], []
    lock = threading.Lock()

    def client(i):
        source = "127.0.1.%d" % (i + 1)      # one address per client
        for n in range(per_client):
            t = time.monotonic()
            try:
                one_session(port, "%s%d" % (label, i), source)
            except Exception as e:           # counted, the run goes on
                with lock:
                    errors.append(str(e))
                continue
            with lock:
                times.append(time.monotonic() - t)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(k)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return len(times) / wall, statistics.median(times) if times else None, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--sessions", type=int, default=25, help="sessions per client per run")
    a = ap.parse_args()
    os.environ["POPGATE_BINARY"] = os.path.abspath(a.binary)
    t_start = time.monotonic()

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t_start, msg), flush=True)

    failed, results = [], {}
    work = h.make_tempdir("pgt-bg-")
    dc = redis = hap = None
    gws = []
    try:
        dc = h.Dovecot(users={"alice": "secret"}).start()
        h.fill_mailbox(dc, "alice", big_mb=0.05)
        common = {"max_connections": "1000", "max_unauthenticated": "1000",
                  "max_connections_per_ip": "0", "auth_fail_delay": "0"}
        single = h.Popgate(dc.imap_port, server=common, log={"level": "warn"}).start()
        gws.append(single)
        os.mkdir(os.path.join(work, "redis"))
        redis = RedisServer(os.path.join(work, "redis")).start()
        for _ in range(3):
            gws.append(h.Popgate(dc.imap_port, listen_suffix="proxy_protocol",
                                 cache={"url": "unix:" + redis.sock},
                                 server=dict(common, proxy_networks="127.0.0.1/32",
                                             shared_limits="yes"),
                                 log={"level": "warn"}).start())
        hap = HAProxy(work, {"lb": ["g%d 127.0.0.1:%d send-proxy-v2" % (i, g.port)
                                    for i, g in enumerate(gws[1:])]}).start()
        targets = {"single": single.port, "balanced": hap.ports["lb"]}
        log("single popgate on %d; three behind HAProxy on %d" % (single.port,
                                                                 hap.ports["lb"]))
        for name, port in targets.items():
            load(port, 2, 3, "warm" + name)
        for rep in range(a.runs):
            for name in (["single", "balanced"] if rep % 2 == 0 else ["balanced", "single"]):
                rate, med, errors = load(targets[name], a.k, a.sessions, "%s%d-" % (name, rep))
                results.setdefault(name, []).append((rate, med))
                log("run %d %-8s %6.1f sessions/s, median session %.1f ms%s" % (
                    rep + 1, name, rate, (med or 0) * 1000,
                    "" if not errors else "  %d FAILED: %s" % (len(errors), errors[:2])))
                if errors:
                    failed.append("%s run %d: %s" % (name, rep + 1, errors[:3]))
    except Exception as e:
        failed.append("%s: %s" % (type(e).__name__, e))
        log("ERROR: %s" % failed[-1])
    finally:
        if hap is not None:
            hap.stop()
        for g in gws:
            g.cleanup()
        if redis is not None:
            redis.stop()
        if dc is not None:
            dc.stop()

    def med(name, i):
        v = [r[i] for r in results.get(name, []) if r[i] is not None]
        return statistics.median(v) if v else None

    s_rate, b_rate = med("single", 0), med("balanced", 0)
    s_lat, b_lat = med("single", 1), med("balanced", 1)
    print()
    print("short sessions, K=%d clients, %d per client, median of %d runs, %d CPUs"
          % (a.k, a.sessions, a.runs, os.cpu_count() or 0))
    if s_rate and b_rate:
        print("  single   %7.1f sessions/s  %6.1f ms/session" % (s_rate, s_lat * 1000))
        print("  balanced %7.1f sessions/s  %6.1f ms/session" % (b_rate, b_lat * 1000))
        print("  balanced/single: sessions/s %.2fx, session time %.2fx"
              % (b_rate / s_rate, b_lat / s_lat))
    if failed:
        print("bench-gateways: run FAILED:")
        for f in failed:
            print("  " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
