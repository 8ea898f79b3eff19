#!/usr/bin/env python3
"""POP3 load client and verifier (Python 3 stdlib only).

Runs SESSIONS POP3 sessions, K at a time (one process each), against
HOST:PORT and prints one JSON object on stdout.

  --mode all   each session: USER, PASS, STAT, LIST, RETR of every message,
               QUIT. Throughput = retrieved octets / wall time.
  --mode big   each session: USER, PASS, LIST, then one timed RETR of the
               largest message, QUIT.
  --mode poll  each session: USER, PASS, STAT, UIDL, QUIT (a poll with
               nothing new), timed from connect to QUIT's +OK; UIDL must
               have STAT's count of distinct lines.

Every RETR is verified: the un-dot-stuffed octets must have the SHA-256 and
size the manifest gives for the message's Message-ID, and LIST's size must
equal the octets received. --rss-pid PID samples VmRSS of that process from
/proc every --rss-interval seconds and reports the peak.

Exit status: 0 if every session finished with every message verified, else 1.

manifest (JSON): {"messages": [{"msgid": "<...>", "sha256": hex, "size": n}, ...]}
"""
import argparse
import hashlib
import json
import multiprocessing as mp
import os
import re
import socket
import sys
import threading
import time

MANIFEST = {}          # msgid -> (sha256, size); set before the workers fork
_MSGID = re.compile(rb"(?im)^message-id:[ \t]*(\S+)")


class ProtocolError(Exception):
    pass


class Conn:
    def __init__(self, host, port, timeout):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def _more(self):
        d = self.s.recv(1 << 18)
        if not d:
            raise ProtocolError("connection closed by server")
        self.buf += d

    def status(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                if not line.startswith(b"+OK"):
                    raise ProtocolError("server said %r" % line[:200])
                return line
            if len(self.buf) > 65536:
                raise ProtocolError("status line too long")
            self._more()

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.status()

    def multi(self):
        """Octets of a multi-line response, un-dot-stuffed."""
        if self.buf[:3] == b".\r\n":
            del self.buf[:3]
            return b""
        start = 0
        while True:
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                data = bytes(self.buf[:i + 2])
                del self.buf[:i + 5]
                break
            start = max(0, len(self.buf) - 4)
            self._more()
        if data.startswith(b".") or b"\r\n." in data:
            data = (b"\r\n" + data).replace(b"\r\n..", b"\r\n.")[2:]
        return data

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def verify(data, listed_size):
    problems = []
    if listed_size is not None and len(data) != listed_size:
        problems.append("LIST size %d != RETR octets %d" % (listed_size, len(data)))
    head = data[:data.find(b"\r\n\r\n") + 2] if b"\r\n\r\n" in data else data
    m = _MSGID.search(head)
    mid = m.group(1).decode("ascii", "replace") if m else None
    want = MANIFEST.get(mid)
    if want is None:
        problems.append("Message-ID %r not in the manifest" % mid)
    else:
        if len(data) != want[1]:
            problems.append("%s: %d octets, manifest says %d" % (mid, len(data), want[1]))
        elif hashlib.sha256(data).hexdigest() != want[0]:
            problems.append("%s: SHA-256 differs from the manifest" % mid)
    return problems


SLOT = None     # this worker's index, 0..K-1 (_init_worker)


def _init_worker(counter):
    """Each pool worker takes the next slot: its device is "w<slot>", the
    same in every run, so repeated runs never add devices past the
    account's cap."""
    global SLOT
    with counter.get_lock():
        SLOT = counter.value
        counter.value += 1


def device_user(a):
    return a.user + "#w%d" % (SLOT if SLOT is not None else os.getpid()) if a.devices else a.user


def session(a):
    """One POP3 session in a worker process; returns a result dict."""
    res = {"ok": False, "bytes": 0, "retr": 0, "problems": [], "error": None,
           "t0": time.monotonic(), "retr_s": None}
    c = None
    try:
        c = Conn(a.host, a.port, a.timeout)
        c.status()
        if a.mode == "poll":
            poll(c, a, res)
            return res
        # popgate: concurrent sessions of one account need a device each
        # (one device = one exclusively locked maildrop)
        c.cmd("USER " + device_user(a))
        c.cmd("PASS " + a.password)
        count = int(c.cmd("STAT").split()[1])
        c.s.sendall(b"LIST\r\n")
        c.status()
        sizes = {}
        for line in c.multi().split(b"\r\n"):
            if line:
                n, sz = line.split()
                sizes[int(n)] = int(sz)
        if len(sizes) != count:
            res["problems"].append("LIST has %d entries, STAT %d" % (len(sizes), count))
        if a.mode == "big":
            targets = [max(sizes, key=sizes.get)]
        else:
            targets = sorted(sizes)
        for n in targets:
            t = time.monotonic()
            c.s.sendall(b"RETR %d\r\n" % n)
            c.status()
            data = c.multi()
            if a.mode == "big":
                res["retr_s"] = time.monotonic() - t
            res["retr"] += 1
            res["bytes"] += len(data)
            if not a.no_verify:
                p = verify(data, sizes.get(n))
                if p and len(res["problems"]) < 10:
                    res["problems"].extend("msg %d: %s" % (n, x) for x in p)
        c.cmd("QUIT")
        res["ok"] = not res["problems"]
    except Exception as e:                   # reported, never hangs (socket timeout)
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if c is not None:
            c.close()
    res["t1"] = time.monotonic()
    return res


def poll(c, a, res):
    t = res["t0"]
    c.cmd("USER " + device_user(a))
    c.cmd("PASS " + a.password)
    res["login_s"] = time.monotonic() - t
    count = int(c.cmd("STAT").split()[1])
    c.s.sendall(b"UIDL\r\n")
    c.status()
    lines = [x for x in c.multi().split(b"\r\n") if x]
    uidls = set(x.split()[1] for x in lines)
    res["bytes"] += sum(len(x) + 2 for x in lines)
    if len(lines) != count or len(uidls) != count:
        res["problems"].append("UIDL: %d lines, %d distinct, STAT %d"
                               % (len(lines), len(uidls), count))
    c.cmd("QUIT")
    res["poll_s"] = time.monotonic() - t
    res["ok"] = not res["problems"]


class RssSampler(threading.Thread):
    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        self.path = "/proc/%d/status" % pid
        self.interval = interval
        self.stop_ev = threading.Event()
        self.peak_kb = 0
        self.first_kb = None
        self.samples = 0

    def read(self):
        try:
            with open(self.path) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def run(self):
        while not self.stop_ev.is_set():
            v = self.read()
            if v is not None:
                if self.first_kb is None:
                    self.first_kb = v
                self.peak_kb = max(self.peak_kb, v)
                self.samples += 1
            self.stop_ev.wait(self.interval)


def _noop(_):
    return os.getpid()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", "-p", type=int, required=True)
    ap.add_argument("--user", "-u", default="alice")
    ap.add_argument("--devices", action="store_true",
                    help="log in as USER#w<slot>: a popgate device per worker (slot 0..K-1)")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--mode", choices=["all", "big", "poll"], default="all")
    ap.add_argument("-k", type=int, default=1, help="concurrent sessions (processes)")
    ap.add_argument("--sessions", type=int, default=0, help="total sessions (default K)")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--timeout", type=float, default=120, help="socket timeout (s)")
    ap.add_argument("--deadline", type=float, default=300, help="limit for the whole run (s)")
    ap.add_argument("--rss-pid", type=int)
    ap.add_argument("--rss-interval", type=float, default=0.02)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    if not 1 <= a.k <= 200:
        ap.error("-k must be 1..200")
    total = a.sessions or a.k

    with open(a.manifest) as f:
        for m in json.load(f)["messages"]:
            MANIFEST[m["msgid"]] = (m["sha256"], m["size"])

    ctx = mp.get_context("fork")
    sampler = RssSampler(a.rss_pid, a.rss_interval) if a.rss_pid else None
    with ctx.Pool(a.k, initializer=_init_worker, initargs=(ctx.Value("i", 0),)) as pool:
        pool.map(_noop, range(a.k * 2))          # all workers up before the clock starts
        if sampler:
            sampler.start()
        t0 = time.monotonic()
        async_res = pool.map_async(session, [a] * total, chunksize=1)
        try:
            results = async_res.get(timeout=a.deadline)
            timed_out = False
        except mp.TimeoutError:
            results, timed_out = [], True
            pool.terminate()
        wall = time.monotonic() - t0
        if sampler:
            sampler.stop_ev.set()
            sampler.join(2)

    errors = [r["error"] for r in results if r["error"]]
    problems = [p for r in results for p in r["problems"]]
    nbytes = sum(r["bytes"] for r in results)
    out = {
        "label": a.label, "port": a.port, "mode": a.mode, "k": a.k, "sessions": total,
        "sessions_ok": sum(1 for r in results if r["ok"]), "wall_s": round(wall, 4),
        "bytes": nbytes, "retr": sum(r["retr"] for r in results),
        "mb_per_s": round(nbytes / wall / 1e6, 2) if wall > 0 else None,
        "errors": errors[:5] + (["deadline %.0fs exceeded" % a.deadline] if timed_out else []),
        "problems": problems[:10], "n_problems": len(problems),
    }
    if a.mode == "big":
        ts = sorted(r["retr_s"] for r in results if r["retr_s"] is not None)
        out["retr_s"] = ts
        out["retr_s_median"] = ts[len(ts) // 2] if ts else None
    if a.mode == "poll":
        for key in ("poll_s", "login_s"):
            ts = sorted(r[key] for r in results if r.get(key) is not None)
            out[key + "_p50"] = ts[len(ts) // 2] if ts else None
    if sampler:
        out["rss_peak_kb"] = sampler.peak_kb
        out["rss_start_kb"] = sampler.first_kb
        out["rss_samples"] = sampler.samples
    print(json.dumps(out))
    ok = not errors and not problems and not timed_out and out["sessions_ok"] == total
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
