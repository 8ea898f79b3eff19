#!/usr/bin/env python3
"""Concurrent logged-in sessions and their memory (make bench-sessions).

A private Dovecot (tests/e2e/harness.py, limits raised: client_limit and
process_limit per service, mail_max_userip_connections) serves one shared
Maildir to ACCOUNTS accounts; popgate (its own managed redis-server, limits
raised) runs in front of its IMAP port. Per phase (N messages per mailbox,
S sessions):

  1. popgate's idle VmRSS (after its start-up probe and one warm-up login
     per account, so per-account state exists before counting);
  2. S POP3 connections opened by one asyncio client, CONCURRENCY logins in
     flight at once: greeting, USER account#device, PASS, STAT (must say N
     messages), all held open; popgate's VmRSS with all of them logged in;
  3. QUIT on every one (+OK, then the server closes), then VmRSS once the
     process has settled (malloc_trim a second after sessions end).

Devices are d0..d99 per account (the state store allows 100 per account),
so S sessions need S/100 accounts; --accounts sets more.

With --gateways G (default 1) G popgate processes serve the one port with
[server] reuse_port = yes, on one redis-server of the bench's own (unix
socket, shared_limits = yes) instead of a managed one each; the kernel
spreads the connections. VmRSS figures are then the sum over the G
processes, and the sessions each one held are printed. A session takes two
descriptors in popgate (client, upstream), so where the hard RLIMIT_NOFILE
is 20,000 one process holds at most about 9,980; two hold 10,000.

Figures against the targets (issue 13): 0 errors at 10,000 sessions;
memory per logged-in session <= 16 KB + 8 B per message ((RSS held - RSS
idle) / S); RSS after the run within 2x of the idle baseline. With
--native-sessions M (default 1000; 0: off) native Dovecot POP3 holds M
sessions in the first phase and its per-session memory (PSS of its pop3
processes) is printed beside popgate's.

Exit status 0 whatever the targets say; 1 if the run itself failed
(setup error, deadline passed).
"""
import argparse
import asyncio
import os
import re
import resource
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness as h  # noqa: E402
from test_devices import RedisServer  # noqa: E402

DEVICES_PER_ACCOUNT = 100
PASSWORD = "secret"


def raise_nofile(n):
    """RLIMIT_NOFILE n for this process and what it starts (root may raise
    the hard limit too); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in ((n, max(n, hard)), (min(n, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, want)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def settled_rss_sum(pids, **kw):
    return sum(settled_rss(p, **kw) for p in pids)


def settled_rss(pid, quiet=1.5, limit=30.0):
    """VmRSS once it has not changed by more than 1% for `quiet` seconds
    (bounded by `limit`)."""
    deadline = time.monotonic() + limit
    last, since = vm_rss_kb(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        cur = vm_rss_kb(pid)
        if abs(cur - last) > max(last // 100, 64):
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return cur
    return vm_rss_kb(pid)


def pss_kb_of(pgid, comm):
    """Summed Pss of the processes named comm in process group pgid."""
    total = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.getpgid(int(p)) != pgid:
                continue
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() != comm:
                    continue
            with open("/proc/%s/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return total


# ---------------------------------------------------------------- client

class Session:
    __slots__ = ("reader", "writer")

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer


async def status(reader, timeout):
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed (got %r)" % line[:80])
    if not line.startswith(b"+OK"):
        raise ConnectionError("server said %r" % line[:120])
    return line


async def open_session(port, user, expect, timeout):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(h.HOST, port), timeout)
    try:
        await status(reader, timeout)
        writer.write(b"USER %s\r\n" % user.encode())
        await status(reader, timeout)
        writer.write(b"PASS %s\r\n" % PASSWORD.encode())
        await status(reader, timeout)
        writer.write(b"STAT\r\n")
        st = await status(reader, timeout)
        count = int(st.split()[1])
        if expect is not None and count != expect:
            raise ConnectionError("STAT says %d messages, expected %d" % (count, expect))
    except BaseException:
        writer.close()
        raise
    return Session(reader, writer)


async def quit_session(sess, timeout):
    try:
        sess.writer.write(b"QUIT\r\n")
        await status(sess.reader, timeout)
        rest = await asyncio.wait_for(sess.reader.read(), timeout)
        if rest:
            raise ConnectionError("data after QUIT: %r" % rest[:80])
    finally:
        sess.writer.close()


async def run_sessions(port, users, expect, concurrency, timeout, on_held):
    """Opens one session per user name (concurrency logins at a time),
    calls on_held(count) with all of them open, then QUITs each.
    Returns (opened, errors: [str], open_s, quit_s)."""
    sem = asyncio.Semaphore(concurrency)
    errors = []

    async def one(user):
        async with sem:
            try:
                return await open_session(port, user, expect, timeout)
            except Exception as e:             # noqa: BLE001 (counted)
                errors.append("login %s: %s: %s" % (user, type(e).__name__, e))
                return None

    t0 = time.monotonic()
    sessions = [s for s in await asyncio.gather(*(one(u) for u in users)) if s is not None]
    open_s = time.monotonic() - t0
    await asyncio.get_running_loop().run_in_executor(None, on_held, len(sessions))

    async def bye(s):
        async with sem:
            try:
                await quit_session(s, timeout)
            except Exception as e:             # noqa: BLE001 (counted)
                errors.append("quit: %s: %s" % (type(e).__name__, e))

    t1 = time.monotonic()
    await asyncio.gather(*(bye(s) for s in sessions))
    return len(sessions), errors, open_s, time.monotonic() - t1


def user_names(sessions, accounts):
    return ["u%03d#d%d" % (i % accounts, i // accounts) for i in range(sessions)]


# ---------------------------------------------------------------- phases

def run_phase(a, n_msgs, n_sessions, native_sessions, log):
    accounts = max(a.accounts, -(-n_sessions // DEVICES_PER_ACCOUNT))
    users = {"u%03d" % i: PASSWORD for i in range(accounts)}
    tmp = h.make_tempdir("pgt-bs-")
    shared = os.path.join(tmp, "shared", "Maildir")
    dc = redis = None
    gws = []
    out = {"messages": n_msgs, "sessions": n_sessions, "accounts": accounts}
    try:
        dc = h.Dovecot(pop3=native_sessions > 0, users=users, tmpdir=tmp, ssl=a.upstream_tls,
                       max_userip=n_sessions * 2 + 1000, mail_location="maildir:" + shared,
                       extra_conf=h.dovecot_session_limits(max(n_sessions, native_sessions)))
        dc.uid, dc.gid = h.ensure_mail_user()
        h.fill_small_maildir(shared, n_msgs, dc.uid, dc.gid, a.seed)
        dc.start(timeout=60)
        with dc.imap("u000") as im:            # indexes the mailbox once
            listed = len(im.messages())
        if listed != n_msgs:
            raise RuntimeError("Dovecot lists %d messages, expected %d" % (listed, n_msgs))
        log("N=%d: dovecot imap %d, %d accounts on one shared Maildir" %
            (n_msgs, dc.imap_port, accounts))
        up = {"timeout": "120s"}
        if a.upstream_tls:
            up.update(tls="imaps", port=str(dc.imaps_port), verify="yes", ca_file=dc.cert)
        server = {"max_connections": str(n_sessions + 1000),
                  "max_unauthenticated": str(max(200, a.concurrency * 2)),
                  "max_connections_per_ip": "0",
                  "max_listing_memory": "64g"}
        cache = {"timeout": a.cache_timeout}
        if a.gateways > 1:
            os.mkdir(os.path.join(tmp, "redis"))
            redis = RedisServer(os.path.join(tmp, "redis")).start()
            cache["url"] = "unix:" + redis.sock
            server.update(reuse_port="yes", shared_limits="yes")
        port = None
        for i in range(a.gateways):
            g = h.Popgate(dc.imap_port, nofile=a.nofile, log={"level": "warn"}, port=port,
                          server=server, upstream=up, cache=cache)
            mark = g.log_size()
            gws.append(g.start())
            port = g.port
            # The port answers before the second one listens (the first
            # does); its warm-up login would go to the first.
            if i > 0 and not h.wait_until(lambda: _listening(g), 30):
                raise RuntimeError("popgate %d did not listen: %s" % (i + 1,
                                                                      g.log_since(mark)))
        pids = [g.proc.pid for g in gws]
        fds_idle = [fd_count(p) for p in pids]
        # A session holds two descriptors in popgate (client, upstream).
        # RLIMIT_NOFILE's hard limit may be below what S needs (a container
        # without CAP_SYS_RESOURCE): then the most that fit, said so. With
        # several processes the kernel's spread is near even, not exact.
        room = sum((a.nofile - f - 16) // 2 for f in fds_idle)
        if n_sessions > room:
            log("N=%d: %d sessions need %d descriptors in popgate, RLIMIT_NOFILE is %d "
                "(hard) per process, %d processes: running %d" % (
                    n_msgs, n_sessions, 2 * n_sessions + 16 * len(gws), a.nofile, len(gws),
                    room))
            out["wanted"], n_sessions = n_sessions, room
            out["sessions"] = room
        # Per account and process: with several, each account's logins
        # land on either.
        warm = user_names(accounts * a.gateways, accounts)
        n, errs, _, _ = asyncio.run(run_sessions(port, warm, n_msgs, a.concurrency,
                                                 a.timeout, lambda k: None))
        if errs:
            raise RuntimeError("warm-up failed: %s" % errs[:3])
        h.wait_until(lambda: all(_sessions_gone(g) for g in gws), 30)
        fds_idle = [fd_count(p) for p in pids]
        out["rss_idle"] = settled_rss_sum(pids)
        log("N=%d: popgate pid %s idle after warm-up: VmRSS %d KB%s" % (
            n_msgs, ",".join(map(str, pids)), out["rss_idle"],
            " (sum), one port (reuse_port), one redis-server" if len(gws) > 1 else ""))

        def held(k):
            out["held"] = k
            out["held_each"] = [max(0, (fd_count(p) - f) // 2) for p, f in zip(pids, fds_idle)]
            out["rss_held"] = settled_rss_sum(pids, quiet=1.0, limit=15)
            log("N=%d: %d sessions logged in, popgate VmRSS %d KB%s" % (
                n_msgs, k, out["rss_held"], "" if len(gws) == 1 else
                " (sum); sessions per process %s" % "/".join(map(str, out["held_each"]))))

        t0 = time.monotonic()
        names = user_names(n_sessions, accounts)
        n, errs, open_s, quit_s = asyncio.run(run_sessions(port, names, n_msgs,
                                                           a.concurrency, a.timeout, held))
        out.update(opened=n, errors=errs, open_s=open_s, quit_s=quit_s)
        log("N=%d: %d/%d sessions, %d errors, logins %.1fs (%.0f/s), QUITs %.1fs" % (
            n_msgs, n, n_sessions, len(errs), open_s, n / max(open_s, 1e-9), quit_s))
        for e in errs[:5]:
            log("  error: %s" % e)
        if errs:
            for i, g in enumerate(gws):
                for count, line in log_summary(g.log_text())[:8]:
                    log("  popgate %d log, %d times: %s" % (i + 1, count, line))
        h.wait_until(lambda: all(g.status() and _sessions_gone(g) for g in gws), 30)
        out["rss_after"] = settled_rss_sum(pids, quiet=2.0)
        log("N=%d: after the run, popgate VmRSS %d KB" % (n_msgs, out["rss_after"]))
        if time.monotonic() - t0 > a.deadline:
            raise TimeoutError("phase took %.0fs" % (time.monotonic() - t0))
        if native_sessions > 0:
            out.update(native_phase(a, dc, accounts, n_msgs, native_sessions, log))
    finally:
        for g in gws:
            g.cleanup()
        if redis is not None:
            redis.stop()
        if dc is not None:
            dc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def log_summary(text):
    """popgate's log lines with the session's id and times taken out,
    counted: [(count, line)], most frequent first."""
    counts = {}
    for line in text.splitlines():
        line = re.sub(r"^\S+ \S+ |session=\S+ |(duration_ms|delay_ms|client)=\S+ ?", "",
                      line)[:240]
        counts[line] = counts.get(line, 0) + 1
    return sorted(((n, l) for l, n in counts.items()), reverse=True)


def _listening(gw):
    """Whether gw's own listening socket is open (its log at warn level
    does not say)."""
    try:
        with open("/proc/%d/net/tcp" % gw.proc.pid) as f:
            inodes = {l.split()[9] for l in f.readlines()[1:]
                      if l.split()[1].endswith(":%04X" % gw.port) and l.split()[3] == "0A"}
        for fd in os.listdir("/proc/%d/fd" % gw.proc.pid):
            link = os.readlink("/proc/%d/fd/%s" % (gw.proc.pid, fd))
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    except OSError:
        pass
    return False


def _sessions_gone(gw):
    """Whether popgate has closed its sessions (its log says so at warn
    level only on errors, so ask /proc: no TCP sockets but listeners)."""
    try:
        fds = os.listdir("/proc/%d/fd" % gw.proc.pid)
    except OSError:
        return True
    return len(fds) < 64


def native_phase(a, dc, accounts, n_msgs, m, log):
    pgid = os.getpgid(dc.proc.pid)
    before = pss_kb_of(pgid, "pop3")
    got = {}

    def held(k):
        time.sleep(1.0)
        got["native_pss"] = pss_kb_of(pgid, "pop3")
        got["native_held"] = k

    users = ["u%03d" % (i % accounts) for i in range(m)]
    n, errs, open_s, _ = asyncio.run(run_sessions(dc.pop3_port, users, n_msgs, a.concurrency,
                                                  a.timeout, held))
    got["native_errors"] = errs
    got["native_before"] = before
    log("N=%d: native Dovecot POP3: %d/%d sessions, %d errors, pop3 processes PSS %d KB "
        "(before %d KB)" % (n_msgs, n, m, len(errs), got.get("native_pss", 0), before))
    return got


def report(phases, a):
    def verdict(ok):
        return "PASS" if ok else "MISS"

    rows = []
    for p in phases:
        n, s = p["messages"], p["sessions"]
        if "rss_held" in p and p.get("held"):
            per = (p["rss_held"] - p["rss_idle"]) * 1024 / p["held"]
            target = 16 * 1024 + 8 * n
            rows.append(("memory per logged-in session, N=%d, %d held" % (n, p["held"]),
                         "%.1f KB" % (per / 1024), "<= %.1f KB" % (target / 1024),
                         verdict(per <= target)))
        if "native_pss" in p and p.get("native_held"):
            nat = (p["native_pss"] - p["native_before"]) * 1024 / p["native_held"]
            rows.append(("  native Dovecot POP3, N=%d, %d held (PSS)" % (n, p["native_held"]),
                         "%.1f KB" % (nat / 1024), "", ""))
        if len(p.get("held_each", ())) > 1:
            rows.append(("  sessions held per process (descriptors/2)",
                         "/".join(map(str, p["held_each"])), "each > 0",
                         verdict(all(x > 0 for x in p["held_each"]))))
        errs = len(p.get("errors", ())) + (s - p.get("opened", 0) if "opened" in p else 0)
        if "opened" in p:
            rows.append(("sessions logged in and QUIT, N=%d" % n,
                         "%d/%d, %d errors" % (p["opened"], s, len(p["errors"])),
                         "%d, 0 errors" % p.get("wanted", s),
                         verdict(errs == 0 and p["opened"] == s) +
                         (" at %d (descriptor limit)" % s if "wanted" in p else "")))
        if "rss_after" in p:
            rows.append(("RSS idle -> after %d sessions, N=%d" % (s, n),
                         "%d -> %d KB (%.2fx)" % (p["rss_idle"], p["rss_after"],
                                                  p["rss_after"] / p["rss_idle"]),
                         "<= 2x", verdict(p["rss_after"] <= 2 * p["rss_idle"])))
    print()
    print("popgate concurrent sessions (%d CPUs, %d logins in flight, upstream %s%s)" %
          (os.cpu_count() or 0, a.concurrency, "imaps" if a.upstream_tls else "plain",
           "" if a.gateways == 1 else ", %d processes with reuse_port, RSS summed" %
           a.gateways))
    head = ("metric", "popgate", "target", "result")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        print("  ".join(x.ljust(widths[i]) for i, x in enumerate(r)).rstrip())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "popgate"))
    ap.add_argument("--phase", action="append", metavar="MESSAGES:SESSIONS",
                    help="a phase (repeatable); default 1000:10000 and 10000:1000")
    ap.add_argument("--accounts", type=int, default=1,
                    help="at least this many accounts (default: sessions/100)")
    ap.add_argument("--concurrency", type=int, default=100, help="logins in flight")
    ap.add_argument("--native-sessions", type=int, default=1000,
                    help="native Dovecot POP3 sessions held in the first phase (0: off)")
    ap.add_argument("--timeout", type=float, default=120, help="per reply, seconds")
    ap.add_argument("--deadline", type=float, default=900, help="per phase, seconds")
    ap.add_argument("--cache-timeout", default="30s",
                    help="popgate's [cache] timeout (default 30s: 100 logins of 10,000 "
                    "messages at once keep one redis-server busy for seconds)")
    ap.add_argument("--upstream-tls", action="store_true",
                    help="popgate speaks imaps to Dovecot (its own certificate)")
    ap.add_argument("--gateways", type=int, default=1,
                    help="popgate processes on one port ([server] reuse_port), one "
                    "redis-server (default 1: one popgate, its managed redis-server)")
    ap.add_argument("--nofile", type=int, default=65536)
    ap.add_argument("--seed", type=int, default=20261202)
    a = ap.parse_args()
    os.environ["POPGATE_BINARY"] = os.path.abspath(a.binary)
    phases = [tuple(int(x) for x in p.split(":")) for p in (a.phase or
                                                         ["1000:10000", "10000:1000"])]
    t_start = time.monotonic()

    def log(msg):
        print("[%6.1fs] %s" % (time.monotonic() - t_start, msg), flush=True)

    a.nofile = raise_nofile(a.nofile)
    results, failed = [], []
    for i, (n, s) in enumerate(phases):
        try:
            results.append(run_phase(a, n, s, a.native_sessions if i == 0 else 0, log))
        except Exception as e:                 # noqa: BLE001 (reported)
            failed.append("N=%d S=%d: %s: %s" % (n, s, type(e).__name__, e))
            log("ERROR: %s" % failed[-1])
    report(results, a)
    if failed:
        print("\nbench-sessions: run FAILED:\n  " + "\n  ".join(failed))
    print("bench-sessions: %s in %.0fs" % ("incomplete" if failed else "completed",
                                           time.monotonic() - t_start))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
