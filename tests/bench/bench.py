#!/usr/bin/env python3
"""popgate benchmark against native Dovecot POP3 (make bench).

One private Dovecot (tests/e2e/harness.py) serves IMAP and native POP3 on the
same generated Maildir: 1,000 messages of 2-50 KB (seeded, reproducible) and
one ~10 MB message last. popgate runs in front of its IMAP port (tls = none).
pop3load.py drives both servers, interleaved, RUNS times (median):

  (a) one 10 MB RETR (time)
  (b) K=1: one full session, RETR of every message (time, MB/s)
  (c) K=20 concurrent full sessions, RETR of every message (MB/s)
  (d) 20 polls one after another: USER, PASS, STAT, UIDL, QUIT (p50 time,
      and p50 of connect -> +OK after PASS alone)

--baseline BINARY runs a second popgate (e.g. a build of main) in the same
rounds, so before and after are compared against the same native runs.
--upstream keep_idle=2m gives both kept upstream sessions (the (d) polls then
go through them: warm polls); --only d runs the polls alone.

and samples popgate's VmRSS during (a) and (c), and its CPU seconds (from
/proc) during (b) and (c), per GB it sent. Prints a table, the ratios
popgate/native and PASS/MISS per target. Exit status 0 whatever the targets
say; 1 only if the run itself failed (setup error, a verification mismatch,
a session error).
"""
import argparse
import base64
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness as h  # noqa: E402

WORDS = ("mail gateway upstream session octet literal mailbox message header body "
         "the of and to in is that for it as with be by on not this are or from at "
         "which have an they you were there been one all we their has would when").split()


def text_lines(rng, nbytes):
    out, total = [], 0
    while total < nbytes:
        r = rng.random()
        if r < 0.01:
            line = "." + " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))
        elif r < 0.015:
            line = "."
        elif r < 0.05:
            line = ""
        else:
            line = " ".join(rng.choices(WORDS, k=rng.randint(5, 12)))[:76]
        out.append(line)
        total += len(line) + 1
    return out


def make_message(rng, i, size, big=False):
    """One message as stored in the Maildir (LF line ends)."""
    mid = "<bench-%05d@popgate.bench>" % i
    hdr = ["Return-Path: <sender%d@example.org>" % (i % 50),
           "From: Sender %d <sender%d@example.org>" % (i % 50, i % 50),
           "To: Alice <alice@popgate.bench>",
           "Subject: [%d] %s" % (i, " ".join(rng.choices(WORDS, k=5))),
           "Date: Tue, 14 Nov 2023 22:13:20 +0000",
           "Message-ID: " + mid, "MIME-Version: 1.0"]
    if big or rng.random() < 0.3:
        att_len = max(1000, int((size - 1500) * 3 / 4))
        b64 = base64.encodebytes(rng.randbytes(att_len)).decode()
        hdr.append('Content-Type: multipart/mixed; boundary="=_b%d"' % i)
        body = ("\n".join(["--=_b%d" % i, "Content-Type: text/plain", ""] +
                          text_lines(rng, 800) +
                          ["--=_b%d" % i, "Content-Type: application/octet-stream",
                           "Content-Transfer-Encoding: base64", ""]) + "\n" + b64 +
                "--=_b%d--\n" % i)
    else:
        hdr.append("Content-Type: text/plain; charset=us-ascii")
        body = "\n".join(text_lines(rng, size)) + "\n"
    return mid, ("\n".join(hdr) + "\n\n" + body).encode()


def build_mailbox(dc, n, seed, big_mb, log):
    rng = random.Random(seed)
    manifest = []

    def add(i, size, big=False):
        mid, data = make_message(rng, i, size, big)
        dc.deliver_file("alice", data)
        crlf = h.expected_retr(data)
        manifest.append({"msgid": mid, "size": len(crlf),
                         "sha256": hashlib.sha256(crlf).hexdigest()})

    for i in range(n):
        add(i, rng.randint(2_000, 20_000) if rng.random() < 0.7 else
            rng.randint(20_000, 50_000))
    with dc.imap("alice") as im:             # index these before the big one
        im.messages()
    add(n, int(big_mb * 1024 * 1024), big=True)
    with dc.imap("alice") as im:
        msgs = im.messages()
        ids = im.message_ids()
    if len(msgs) != n + 1:
        raise RuntimeError("Dovecot lists %d messages, expected %d" % (len(msgs), n + 1))
    last = ids[msgs[-1][0]]
    if last != manifest[-1]["msgid"]:
        raise RuntimeError("the big message is not last (last is %s)" % last)
    total = sum(m["size"] for m in manifest)
    log("mailbox: %d messages, %.1f MB total, biggest %.1f MB (seed %d)"
        % (len(manifest), total / 1e6, manifest[-1]["size"] / 1e6, seed))
    return manifest


def run_load(port, manifest_path, mode, k, rss_pid=None, label="", deadline=300, sessions=0,
             devices=False):
    cmd = [sys.executable, os.path.join(HERE, "pop3load.py"), "--port", str(port),
           "--manifest", manifest_path, "--mode", mode, "-k", str(k), "--label", label,
           "--deadline", str(deadline), "--sessions", str(sessions)]
    if devices:
        cmd += ["--devices"]
    if rss_pid:
        cmd += ["--rss-pid", str(rss_pid), "--rss-interval", "0.01" if mode == "big" else "0.02"]
    r = subprocess.run(cmd, capture_output=True, timeout=deadline + 60,
                       stdin=subprocess.DEVNULL)
    try:
        res = json.loads(r.stdout.decode().strip().splitlines()[-1])
    except Exception:
        raise RuntimeError("pop3load failed (exit %d): %s %s" % (
            r.returncode, r.stdout.decode()[-500:], r.stderr.decode()[-2000:]))
    res["exit"] = r.returncode
    return res


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (None if unreadable)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def fmt(v, spec="%.3f", unit=""):
    return "-" if v is None else (spec % v) + unit


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--big-mb", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=20231114)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--baseline", help="a second popgate binary measured in the same rounds")
    ap.add_argument("--upstream", action="append", default=[], metavar="KEY=VALUE",
                    help="an [upstream] setting for popgate and the baseline, e.g. "
                    "keep_idle=2m (kept sessions: (d) polls then reuse them); repeatable")
    ap.add_argument("--only", default="abcd",
                    help="the tests to run, e.g. d for the polls alone (default abcd)")
    ap.add_argument("--deadline", type=float, default=540,
                    help="stop measuring after this many seconds (default 540)")
    a = ap.parse_args()
    t_start = time.monotonic()
    os.environ["POPGATE_BINARY"] = os.path.abspath(a.binary)

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t_start, msg), flush=True)

    failed = []
    dc = gw = gb = None
    results = {}                        # (server, test) -> [result]
    try:
        if not os.access(a.binary, os.X_OK):
            raise RuntimeError("%s missing: run make" % a.binary)
        dc = h.Dovecot(pop3=True, users={"alice": "secret"}).start()
        log("dovecot: imap %d, pop3 %d (%s)" % (dc.imap_port, dc.pop3_port, dc.dir))
        manifest = build_mailbox(dc, a.messages, a.seed, a.big_mb, log)
        mpath = os.path.join(dc.dir, "manifest.json")
        with open(mpath, "w") as f:
            json.dump({"seed": a.seed, "messages": manifest}, f)
        up = dict(kv.split("=", 1) for kv in a.upstream)
        gw = h.Popgate(dc.imap_port, server={"max_connections": "1000"}, upstream=up,
                       log={"level": "warn"}).start()
        log("popgate: %s on %d, pid %d" % (a.binary, gw.port, gw.proc.pid))
        servers = {"native": (dc.pop3_port, None), "popgate": (gw.port, gw.proc.pid)}
        if a.baseline:
            gb = h.Popgate(dc.imap_port, binary=os.path.abspath(a.baseline),
                           server={"max_connections": "1000"}, upstream=up,
                           log={"level": "warn"}).start()
            log("baseline: %s on %d, pid %d" % (a.baseline, gb.port, gb.proc.pid))
            servers["baseline"] = (gb.port, gb.proc.pid)

        # warm-up: one untimed full session through each (caches, \Seen flags)
        for name, (port, pid) in servers.items():
            r = run_load(port, mpath, "all", 1, label="warmup-" + name,
                         devices=name != "native")
            log("warm-up %-7s %.2fs %s" % (name, r["wall_s"],
                                           "ok" if r["exit"] == 0 else "FAILED %s %s"
                                           % (r["errors"], r["problems"][:3])))
            if r["exit"] != 0:
                failed.append("warm-up %s: %s %s" % (name, r["errors"], r["problems"][:3]))

        tests = [t for t in (("a", "big", 1), ("b", "all", 1), ("c", "all", a.k),
                             ("d", "poll", 1)) if t[0] in a.only]
        for rep in range(a.runs):
            order = list(servers) if rep % 2 == 0 else list(reversed(list(servers)))
            for tname, mode, k in tests:
                for name in order:
                    if time.monotonic() - t_start > a.deadline:
                        raise TimeoutError("deadline %.0fs reached" % a.deadline)
                    port, pid = servers[name]
                    # (a): 7 sequential sessions, each one timed RETR; median
                    cpu0 = cpu_seconds(pid) if pid else None
                    r = run_load(port, mpath, mode, k, rss_pid=pid,
                                 label="%s-%s-%d" % (name, tname, rep),
                                 sessions=7 if mode == "big" else 20 if mode == "poll" else 0,
                                 devices=name != "native")
                    if cpu0 is not None and cpu_seconds(pid) is not None:
                        r["cpu_s"] = cpu_seconds(pid) - cpu0
                    results.setdefault((name, tname), []).append(r)
                    extra = ""
                    if mode == "big":
                        extra = "RETR %.3fs" % (r.get("retr_s_median") or -1)
                    if mode == "poll":
                        extra = "poll p50 %.1f ms, login p50 %.1f ms" % (
                            1000 * (r.get("poll_s_p50") or -1),
                            1000 * (r.get("login_s_p50") or -1))
                    if pid:
                        extra += " rss peak %.1f MiB" % (r.get("rss_peak_kb", 0) / 1024)
                        if r.get("cpu_s") is not None:
                            extra += ", popgate CPU %.2fs (%.0f%% of wall)" % (
                                r["cpu_s"], 100 * r["cpu_s"] / max(r["wall_s"], 1e-9))
                    log("run %d (%s) %-7s K=%-2d wall %.3fs %7.1f MB/s %s%s" % (
                        rep + 1, tname, name, k, r["wall_s"], r["mb_per_s"] or 0, extra,
                        "" if r["exit"] == 0 else "  FAILED %s %s" % (r["errors"],
                                                                    r["problems"][:3])))
                    if r["exit"] != 0:
                        failed.append("%s (%s) run %d: %s %s" % (
                            name, tname, rep + 1, r["errors"], r["problems"][:3]))
    except Exception as e:
        failed.append("%s: %s" % (type(e).__name__, e))
        log("ERROR: %s" % failed[-1])
    finally:
        if gw is not None:
            gw.cleanup()
        if gb is not None:
            gb.cleanup()
        if dc is not None:
            dc.stop()

    def med(name, tname, key):
        vals = [r[key] for r in results.get((name, tname), []) if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def mx(name, tname, key):
        vals = [r[key] for r in results.get((name, tname), []) if r.get(key) is not None]
        return max(vals) if vals else None

    na_a, pg_a = med("native", "a", "retr_s_median"), med("popgate", "a", "retr_s_median")
    na_b, pg_b = med("native", "b", "wall_s"), med("popgate", "b", "wall_s")
    na_bt, pg_bt = med("native", "b", "mb_per_s"), med("popgate", "b", "mb_per_s")
    na_c, pg_c = med("native", "c", "mb_per_s"), med("popgate", "c", "mb_per_s")
    rss_a = mx("popgate", "a", "rss_peak_kb")
    rss_c = mx("popgate", "c", "rss_peak_kb")

    def ratio(p, n):
        return p / n if p is not None and n else None

    r_a, r_b, r_c = ratio(pg_a, na_a), ratio(pg_b, na_b), ratio(pg_c, na_c)

    def cpu_per_gb(tname):
        """popgate's CPU seconds per GB (1e9 octets) it sent, median over runs."""
        vals = [r["cpu_s"] / (r["bytes"] / 1e9) for r in results.get(("popgate", tname), [])
                if r.get("cpu_s") is not None and r.get("bytes")]
        return statistics.median(vals) if vals else None
    cpu_b, cpu_c = cpu_per_gb("b"), cpu_per_gb("c")

    def verdict(ok):
        return "-" if ok is None else ("PASS" if ok else "MISS")

    starts = [r["rss_start_kb"] for r in results.get(("popgate", "a"), [])
              if r.get("rss_start_kb")]
    rss_idle = starts[0] if starts else None
    mib = (lambda kb: None if kb is None else kb / 1024)
    rows = [
        ("(a) 10 MB RETR time", fmt(na_a, "%.3f", " s"), fmt(pg_a, "%.3f", " s"),
         fmt(r_a, "%.2f", "x"), "<= 1.2x", verdict(None if r_a is None else r_a <= 1.2)),
        ("(b) K=1 RETR-all time", fmt(na_b, "%.3f", " s"), fmt(pg_b, "%.3f", " s"),
         fmt(r_b, "%.2f", "x"), "", ""),
        ("(b) K=1 throughput", fmt(na_bt, "%.1f", " MB/s"), fmt(pg_bt, "%.1f", " MB/s"),
         fmt(ratio(pg_bt, na_bt), "%.2f", "x"), "", ""),
        ("(c) K=%d throughput" % a.k, fmt(na_c, "%.1f", " MB/s"), fmt(pg_c, "%.1f", " MB/s"),
         fmt(r_c, "%.2f", "x"), ">= 0.8x", verdict(None if r_c is None else r_c >= 0.8)),
        ("(d) poll p50 (20 polls)", fmt(med("native", "d", "poll_s_p50"), "%.4f", " s"),
         fmt(med("popgate", "d", "poll_s_p50"), "%.4f", " s"),
         fmt(ratio(med("popgate", "d", "poll_s_p50"), med("native", "d", "poll_s_p50")),
             "%.2f", "x"), "", ""),
        ("(d) connect -> +OK after PASS p50", fmt(med("native", "d", "login_s_p50"), "%.4f", " s"),
         fmt(med("popgate", "d", "login_s_p50"), "%.4f", " s"),
         fmt(ratio(med("popgate", "d", "login_s_p50"), med("native", "d", "login_s_p50")),
             "%.2f", "x"), "", ""),
        ("(b) popgate CPU per GB sent", "", fmt(cpu_b, "%.2f", " s"), "", "<= 3.5 s",
         verdict(None if cpu_b is None else cpu_b <= 3.5)),
        ("(c) popgate CPU per GB sent", "", fmt(cpu_c, "%.2f", " s"), "", "<= 3.5 s",
         verdict(None if cpu_c is None else cpu_c <= 3.5)),
        ("popgate RSS before 1st (a)", "", fmt(mib(rss_idle), "%.1f", " MiB"), "", "", ""),
        ("popgate peak RSS (a)", "", fmt(mib(rss_a), "%.1f", " MiB"), "",
         "< 8 MiB", verdict(None if rss_a is None else rss_a < 8 * 1024)),
        ("popgate peak RSS (c)", "", fmt(mib(rss_c), "%.1f", " MiB"), "",
         "< 32 MiB", verdict(None if rss_c is None else rss_c < 32 * 1024)),
    ]
    print()
    print("popgate vs native Dovecot POP3: %d messages + %.0f MB, median of %d runs, "
          "%d CPUs" % (a.messages, a.big_mb, a.runs, os.cpu_count() or 0))
    head = ("metric", "native", "popgate", "popgate/native", "target", "result")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(6)]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(widths[i]) for i, x in enumerate(r)).rstrip())
    if a.baseline:
        print()
        print("baseline %s in the same rounds (ratio to native):" % a.baseline)
        for label, tname, key, unit in (("(a) 10 MB RETR time", "a", "retr_s_median", "s"),
                                        ("(b) K=1 throughput", "b", "mb_per_s", "MB/s"),
                                        ("(c) K=%d throughput" % a.k, "c", "mb_per_s", "MB/s"),
                                        ("(d) poll p50", "d", "poll_s_p50", "s"),
                                        ("(d) connect -> +OK p50", "d", "login_s_p50", "s")):
            n, b, p = med("native", tname, key), med("baseline", tname, key), \
                med("popgate", tname, key)
            print("  %-24s native %s  baseline %s (%s)  popgate %s (%s)" % (
                label, fmt(n, "%.4f", unit), fmt(b, "%.4f", unit),
                fmt(ratio(b, n), "%.2f", "x"), fmt(p, "%.4f", unit),
                fmt(ratio(p, n), "%.2f", "x")))
    print()
    if failed:
        print("bench: run FAILED:")
        for f in failed:
            print("  " + f)
    print("bench: %s in %.0fs" % ("completed" if not failed else "incomplete",
                                   time.monotonic() - t_start))
    print("more modes: make bench-gateways (three gateways behind HAProxy), "
          "make bench-sentinel (three on Sentinel, with a failover; about 80 s)")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
