#!/usr/bin/env python3
"""What the UIDL map costs a login, against a private Dovecot.

usage: uidl_cost.py --binary build/popgate [--baseline OTHER_POPGATE] [N ...]

For each N (default 10000 100000): a mailbox of N small messages (Maildir
files), then through popgate: the first login (every UIDL assigned: the
identifying header fields of every message fetched and stored), a second
login (the map read back, nothing new), a third after one new message
(one assigned). Each login is timed from PASS to its +OK. Then the bytes
the account's UIDL map takes in Redis (MEMORY USAGE of its key). With
--baseline, the same logins through another build (without a map) for the
difference. Prints one line per measurement.
"""
import argparse
import os
import poplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness as h  # noqa: E402


def fill(dc, user, n):
    md = dc.maildir(user)
    os.makedirs(os.path.join(md, "new"), exist_ok=True)
    for i in range(n):
        name = "%d.M%dP1.bench" % (1700000000 + i, i)
        p = os.path.join(md, "new", name)
        with open(p, "wb") as f:
            f.write(b"From: a@b.example\r\nTo: c@d.example\r\nSubject: message %d\r\n"
                    b"Message-ID: <%d.bench@popgate.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 "
                    b"+0000\r\n\r\nbody %d\r\n" % (i, i, i))
        os.chown(p, dc.uid, dc.gid)
    with dc.imap(user) as im:       # Dovecot indexes them now
        im.c.select("INBOX")


def login_ms(port, user):
    c = poplib.POP3(h.HOST, port, timeout=600)
    c.user(user)
    t0 = time.monotonic()
    c.pass_("secret")
    ms = (time.monotonic() - t0) * 1000
    c.quit()
    return ms


def run(binary, dc, user, label):
    gw = h.Popgate(dc.imap_port, binary=binary,
                   upstream={"timeout": "10m"}, cache={"timeout": "60s"}).start()
    try:
        first = login_ms(gw.port, user)
        second = login_ms(gw.port, user)
        with dc.imap(user) as im:
            im.append(b"Subject: one more\r\nMessage-ID: <new.bench@popgate.test>\r\n\r\nx\r\n")
        third = login_ms(gw.port, user)
        sock = os.path.join(gw.dir, "state", "redis.sock")
        out = subprocess.run(["redis-cli", "-s", sock, "--scan", "--pattern", "*:uidl"],
                             capture_output=True, text=True).stdout.split()
        size = 0
        for k in out:
            size += int(subprocess.run(["redis-cli", "-s", sock, "MEMORY", "USAGE", k,
                                        "SAMPLES", "0"], capture_output=True,
                                       text=True).stdout.strip() or 0)
        print("%-9s first login %8.0f ms, second %6.0f ms, after one new message %6.0f ms"
              "%s" % (label, first, second, third,
                      ", UIDL map %d bytes in Redis" % size if out else ""), flush=True)
        return size
    finally:
        gw.cleanup()
        with dc.imap(user) as im:
            im.c.select("INBOX")
            typ, data = im.c.search(None, "HEADER", "Message-ID", "new.bench")
            for num in data[0].split():
                im.c.store(num, "+FLAGS", "\\Deleted")
            im.c.expunge()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("n", nargs="*", type=int, default=[10000, 100000])
    a = ap.parse_args()
    users = {"b%d" % n: "secret" for n in a.n}
    dc = h.Dovecot(users=users).start()
    try:
        for n in a.n:
            user = "b%d" % n
            fill(dc, user, n)
            print("N=%d" % n, flush=True)
            if a.baseline:
                run(os.path.abspath(a.baseline), dc, user, "baseline")
            size = run(os.path.abspath(a.binary), dc, user, "uidl map")
            if size:
                print("          %.0f bytes per message" % (size / (n + 1)), flush=True)
    finally:
        dc.stop()


if __name__ == "__main__":
    main()
