#!/usr/bin/env python3
"""make demo: popgate in one minute.

    python3 tests/demo/demo.py [run]     start, show, leave running
    python3 tests/demo/demo.py stop      stop what a previous run left

run starts a private Dovecot IMAP server on 127.0.0.1 (tests/e2e/harness.py,
its own config and Maildir in /tmp/popgate-demo-*, never the system
service) with the mailbox "demo" (password "demo") holding five messages,
and popgate in front of it with its managed redis-server (cache url = auto,
state in the demo directory). It then plays a short scripted run, printing
each step and checking what it shows: two POP3 devices of one mailbox
(demo#laptop, demo#phone); the laptop downloads and deletes two messages;
its next session no longer lists them; the phone still sees all five; over
IMAP all five are still there and the two are read (\\Seen).

Afterwards popgate and Dovecot keep running for a POP3 client of your own,
and the PIDs are in <demo dir>/demo.json for "make demo-stop". With CI=true
or DEMO_NONINTERACTIVE=1 everything is stopped at the end. Any failed check
stops everything and exits 1.

Environment: DEMO_DIR (default build/demo), DEMO_IMAP_PORT (31143),
DEMO_POP3_PORT (31110), POPGATE_BINARY (build/popgate), CI,
DEMO_NONINTERACTIVE (1: stop at the end, 0: leave running even with CI).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

HOST = "127.0.0.1"
USER = "demo"
PASSWORD = "demo"
DEMO_DIR = os.path.abspath(os.path.join(ROOT, os.environ.get("DEMO_DIR") or
                                        os.path.join("build", "demo")))
IMAP_PORT = int(os.environ.get("DEMO_IMAP_PORT") or 31143)
POP3_PORT = int(os.environ.get("DEMO_POP3_PORT") or 31110)
BINARY = os.path.abspath(os.path.join(ROOT, os.environ.get("POPGATE_BINARY") or
                                      os.path.join("build", "popgate")))
STATE_FILE = os.path.join(DEMO_DIR, "demo.json")


def ci_mode():
    v = os.environ.get("DEMO_NONINTERACTIVE", "").lower()
    if v in ("0", "no", "false"):
        return False
    if v in ("1", "yes", "true"):
        return True
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class DemoFailed(Exception):
    pass


checks = 0


def check(cond, what, detail="", quiet=False):
    """Print one checked fact (quiet: only if it fails); raise DemoFailed
    when it does not hold."""
    global checks
    if not cond:
        print("   [FAILED] %s%s" % (what, (": " + detail) if detail else ""), flush=True)
        raise DemoFailed(what)
    checks += 1
    if not quiet:
        print("   [ok] %s" % what, flush=True)


def say(text=""):
    print(text, flush=True)


# ------------------------------------------------------------ processes

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def pgid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid):
    c = cmdline(pid)
    if c is None:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def ours(state):
    """PIDs of processes this demo started that are still alive, known by
    their command lines: popgate (its config), its redis-server (its
    socket), Dovecot's master (its config) and children (the instance name
    holds the demo's unique Dovecot directory name) or, should that name
    change, members of the master's process group that are Dovecot's."""
    marks = [m for m in (state.get("popgate_conf"), state.get("dovecot_conf")) if m]
    if state.get("state_dir"):
        marks.append(os.path.join(state["state_dir"], "redis.sock"))
    if state.get("dovecot_dir"):
        marks.append(os.path.basename(state["dovecot_dir"]))
    dpg = state.get("dovecot_pgid")
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        c = cmdline(pid)
        if not c or not alive(pid):
            continue
        if any(m in c for m in marks) or (dpg and pgid_of(pid) == dpg and "dovecot" in c):
            found.append(pid)
    return found


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_all(state, quiet=False):
    """Stop what state records: popgate (which stops its redis-server),
    then Dovecot's process group; SIGKILL after a grace period; then
    anything else still naming the demo's files. Returns the PIDs left."""
    log = (lambda *a: None) if quiet else say
    pg = state.get("popgate_pid")
    if pg and alive(pg) and state["popgate_conf"] in (cmdline(pg) or ""):
        log("stopping popgate (pid %d) and its redis-server" % pg)
        signal_pid(pg, signal.SIGTERM)
        if not wait_gone([pg], 20):
            signal_pid(pg, signal.SIGKILL)
            wait_gone([pg], 5)
    dpid, dpg = state.get("dovecot_pid"), state.get("dovecot_pgid")
    if dpid and alive(dpid) and state["dovecot_conf"] in (cmdline(dpid) or ""):
        log("stopping Dovecot (pid %d)" % dpid)
        try:
            os.killpg(dpg, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            signal_pid(dpid, signal.SIGTERM)
        if not wait_gone([dpid], 10):
            signal_pid(dpid, signal.SIGKILL)
    left = ours(state)
    for pid in left:
        log("stopping leftover process %d: %s" % (pid, cmdline(pid)))
        signal_pid(pid, signal.SIGTERM)
    if left and not wait_gone(left, 5):
        for pid in left:
            signal_pid(pid, signal.SIGKILL)
        wait_gone(left, 5)
    left = ours(state)
    dd = state.get("dovecot_dir")
    if dd and os.path.isdir(dd):
        try:
            shutil.copy(os.path.join(dd, "dovecot.log"), os.path.join(state["dir"],
                                                                      "dovecot.log"))
        except OSError:
            pass
        if not left:
            shutil.rmtree(dd, ignore_errors=True)
    if not left:
        try:
            os.unlink(os.path.join(state["dir"], "demo.json"))
        except OSError:
            pass
    return left


def load_state():
    try:
        with open(STATE_FILE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_state(state):
    tmp = STATE_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.rename(tmp, STATE_FILE)


def cmd_stop():
    state = load_state()
    if state is None:
        say("make demo-stop: no demo recorded in %s: nothing to stop" % DEMO_DIR)
        return 0
    left = stop_all(state)
    if left:
        say("make demo-stop: still running: %s" % ", ".join(map(str, left)))
        return 1
    say("make demo-stop: the demo is stopped, nothing of it is running "
        "(logs stay in %s)" % os.path.relpath(DEMO_DIR))
    return 0


# ------------------------------------------------------------ the mailbox

MESSAGES = [
    ("Welcome to popgate", "Ada Lovelace <ada@example.org>",
     ["Hello,", "",
      "this mailbox lives on an IMAP server. popgate serves it over POP3,",
      "and every POP3 device keeps its own view of it.", "",
      "Ada"]),
    ("Lunch on Friday?", "Bob Builder <bob@example.org>",
     ["Hi, are you free for lunch on Friday at noon?", "The usual place.",
      "", "Bob"]),
    ("Invoice 2026-0113", "Example Supplies <billing@example.com>",
     ["Dear customer,", "",
      "please find your invoice 2026-0113 for 3 boxes of paper: EUR 41.70.",
      "", "Example Supplies"]),
    ("Nightly backup report", "backup@server.example.net",
     ["Backup of server.example.net finished at 02:14.",
      "Files: 18432, size: 3.2 GB, errors: 0."]),
    ("Photos from the weekend", "Carol <carol@example.org>",
     ["The photos from the hike are on the shared drive,",
      "folder 2026-11-hike.", "", "Carol"]),
]


def message_bytes(i, subject, sender, body):
    head = ["From: %s" % sender, "To: Demo User <demo@example.org>",
            "Subject: %s" % subject,
            "Date: Mon, %02d Nov 2026 09:%02d:00 +0000" % (16 + i, 10 + 7 * i),
            "Message-ID: <demo-%d@popgate.example>" % (i + 1),
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()


# ------------------------------------------------------------ POP3 helpers

def c(p, line):
    """Send one POP3 command, print it and the status line."""
    shown = "PASS ****" if line.startswith("PASS ") else line
    r = p.cmd(line)
    say("      C: %-22s S: %s" % (shown, r))
    return r


def pop3_login(harness, device):
    p = harness.Pop3(POP3_PORT, timeout=15)
    g = p.read_greeting()
    say("      S: %s" % g)
    check(g.startswith("+OK"), "popgate greets", g, quiet=True)
    r1 = c(p, "USER %s#%s" % (USER, device))
    r2 = c(p, "PASS %s" % PASSWORD)
    check(r1.startswith("+OK") and r2.startswith("+OK"),
          "logged in: IMAP user %s, device %s" % (USER, device), r2)
    return p


def listing(p):
    """{msgno: (size, uidl)} from LIST and UIDL."""
    r = c(p, "LIST")
    check(r.startswith("+OK"), "LIST answered", r, quiet=True)
    sizes = dict((int(n), int(s)) for n, s in (l.split() for l in p.multi_lines()))
    r = c(p, "UIDL")
    check(r.startswith("+OK"), "UIDL answered", r, quiet=True)
    uidls = dict((int(n), u) for n, u in (l.split() for l in p.multi_lines()))
    check(sorted(sizes) == sorted(uidls), "LIST and UIDL name the same messages", quiet=True)
    return dict((n, (sizes[n], uidls[n])) for n in sizes)


def subject_of(data):
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"subject:"):
            return line[8:].strip().decode("ascii", "replace")
    return "?"


def show_listing(view, subjects):
    say("      %-3s %-6s %-17s %s" % ("no", "octets", "UIDL", "subject"))
    for n in sorted(view):
        say("      %-3d %-6d %-17s %s" % (n, view[n][0], view[n][1], subjects.get(view[n][1], "")))


def quit_(p):
    r = c(p, "QUIT")
    p.close()
    return r


# ------------------------------------------------------------ run

def cmd_run():
    if os.geteuid() != 0:
        say("make demo: needs root: the private Dovecot runs its mail processes as "
            "the system user popgatetest (created if missing). Run: sudo make demo")
        return 2
    if not os.access(BINARY, os.X_OK):
        say("make demo: %s is missing: run make first" % BINARY)
        return 2
    import harness   # tests/e2e/harness.py

    os.makedirs(DEMO_DIR, exist_ok=True)
    old = load_state()
    if old is not None:
        say("A previous demo is recorded in %s: stopping it first." % DEMO_DIR)
        left = stop_all(old)
        if left:
            say("make demo: could not stop processes %s of the previous demo" % left)
            return 1
    for port, what in ((IMAP_PORT, "DEMO_IMAP_PORT"), (POP3_PORT, "DEMO_POP3_PORT")):
        if harness.is_listening(port):
            say("make demo: port %d on 127.0.0.1 is in use by another program; "
                "pick another one, e.g. make demo %s=%d" % (port, what, port + 1000))
            return 2
    # A fresh demo directory: state and logs of the last run go.
    for name in ("state", "popgate.log", "popgate.conf", "dovecot.log"):
        path = os.path.join(DEMO_DIR, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    state_dir = os.path.join(DEMO_DIR, "state")
    if len(state_dir) + len("/redis.sock") > 100:     # unix socket path limit
        state_dir = tempfile.mkdtemp(prefix="popgate-demo-state-", dir="/tmp")
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    # Dovecot's mail processes (user popgatetest) must reach its Maildir:
    # a world-traversable directory in /tmp, whatever the checkout's path.
    dc_dir = harness.make_tempdir("popgate-demo-")
    state = {"dir": DEMO_DIR, "dovecot_dir": dc_dir,
             "dovecot_conf": os.path.join(dc_dir, "dovecot.conf"),
             "popgate_conf": os.path.join(DEMO_DIR, "popgate.conf"),
             "state_dir": state_dir, "imap_port": IMAP_PORT, "pop3_port": POP3_PORT}
    if state_dir.startswith("/tmp/"):
        state["state_tmp"] = state_dir
    save_state(state)

    dovecot = popgate = None
    ok = False
    try:
        say("popgate demo")
        say("============")
        say("1. Start a private IMAP server (Dovecot) on %s:%d with the mailbox %r "
            "(password %r)" % (HOST, IMAP_PORT, USER, PASSWORD))
        dovecot = harness.Dovecot(users={USER: PASSWORD}, tmpdir=dc_dir)
        dovecot.imap_port = IMAP_PORT
        dovecot.start()
        state.update(dovecot_pid=dovecot.proc.pid, dovecot_pgid=os.getpgid(dovecot.proc.pid))
        save_state(state)
        with harness.Imap(IMAP_PORT, USER, PASSWORD) as im:
            for i, (subject, sender, body) in enumerate(MESSAGES):
                im.append(message_bytes(i, subject, sender, body))
            msgs = im.messages()
        check(len(msgs) == 5 and not any("\\Seen" in fl for _, fl, _ in msgs),
              "Dovecot runs (config, Maildir and log in %s); INBOX holds 5 unread "
              "messages" % dc_dir)

        say()
        say("2. Start popgate on %s:%d in front of it, with its own redis-server "
            "(cache url = auto)" % (HOST, POP3_PORT))
        conf = ("# popgate configuration of make demo (written by tests/demo/demo.py)\n"
                "[server]\nlisten = %s:%d\n\n"
                "[upstream]\n# plain IMAP: a private test server on this machine\n"
                "host = %s\nport = %d\ntls = none\n\n"
                "[cache]\nurl = auto\nstate_dir = %s\n\n"
                "[log]\ntarget = stderr\nlevel = info\n"
                % (HOST, POP3_PORT, HOST, IMAP_PORT, state_dir))
        with open(state["popgate_conf"], "w") as f:
            f.write(conf)
        logf = open(os.path.join(DEMO_DIR, "popgate.log"), "ab")
        popgate = subprocess.Popen([BINARY, "-c", state["popgate_conf"]],
                                   stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                   start_new_session=True, cwd=DEMO_DIR)
        logf.close()
        state["popgate_pid"] = popgate.pid
        save_state(state)
        up = harness.wait_listening(POP3_PORT, 15, popgate)
        check(up, "popgate listens on %s:%d (pid %d, log %s)"
              % (HOST, POP3_PORT, popgate.pid, os.path.relpath(os.path.join(DEMO_DIR, "popgate.log"))),
              "exit status %s" % popgate.poll())
        check(os.path.exists(os.path.join(state_dir, "redis.sock")) or
              harness.wait_until(lambda: os.path.exists(os.path.join(state_dir, "redis.sock")), 5),
              "its managed redis-server listens on %s" % os.path.join(
                  os.path.relpath(state_dir) if not state_dir.startswith("/tmp/") else state_dir,
                  "redis.sock"))

        say()
        say("3. The laptop (POP3 login %s#laptop) looks at the mailbox" % USER)
        p = pop3_login(harness, "laptop")
        laptop1 = listing(p)
        check(len(laptop1) == 5, "the laptop sees 5 messages")
        subjects = {}
        for n in sorted(laptop1):
            r = p.cmd("TOP %d 0" % n)
            subjects[laptop1[n][1]] = subject_of(b"\r\n".join(
                l.encode() for l in p.multi_lines())) if r.startswith("+OK") else "?"
        say("      C: TOP n 0 (headers only, for the subjects; TOP changes no flag)")
        show_listing(laptop1, subjects)
        want = [m[0] for m in MESSAGES]
        check([subjects[laptop1[n][1]] for n in sorted(laptop1)] == want,
              "the subjects are the five messages, in order")

        say()
        say("4. The laptop downloads messages 1 and 2 (RETR), deletes them (DELE) and QUITs")
        for n in (1, 2):
            r = c(p, "RETR %d" % n)
            data = p.multi()
            check(r.startswith("+OK") and len(data) == laptop1[n][0]
                  and subject_of(data) == want[n - 1],
                  "RETR %d: %r, %d octets as LIST said" % (n, want[n - 1], len(data)))
        for n in (1, 2):
            r = c(p, "DELE %d" % n)
            check(r.startswith("+OK"), "DELE %d accepted" % n, r, quiet=True)
        r = quit_(p)
        check(r.startswith("+OK"), "QUIT: the deletes are applied (for this device)", r)
        deleted = [laptop1[1][1], laptop1[2][1]]

        say()
        say("5. The laptop connects again")
        p = pop3_login(harness, "laptop")
        laptop2 = listing(p)
        show_listing(laptop2, subjects)
        quit_(p)
        uidls2 = [u for _, u in laptop2.values()]
        check(len(laptop2) == 3, "the laptop now sees 3 messages")
        check(not any(u in uidls2 for u in deleted),
              "the two deleted messages are gone for the laptop")
        check(uidls2 == [laptop1[n][1] for n in (3, 4, 5)],
              "the others keep their UIDLs: nothing is downloaded twice")

        say()
        say("6. The phone (POP3 login %s#phone) connects" % USER)
        p = pop3_login(harness, "phone")
        phone = listing(p)
        show_listing(phone, subjects)
        quit_(p)
        check(len(phone) == 5, "the phone still sees all 5 messages")
        check([u for _, u in phone.values()] == [laptop1[n][1] for n in sorted(laptop1)],
              "with the same UIDLs as the laptop had")

        say()
        say("7. Over IMAP (what webmail and IMAP apps show)")
        with harness.Imap(IMAP_PORT, USER, PASSWORD) as im:
            msgs = im.messages()
        for i, (uid, fl, size) in enumerate(msgs):
            say("      UID %d  %-26s flags: %s" % (uid, MESSAGES[i][0] if i < 5 else "?",
                                                 " ".join(sorted(fl)) or "(none)"))
        check(len(msgs) == 5 and not any("\\Deleted" in fl for _, fl, _ in msgs),
              "all 5 messages are still on the IMAP server")
        seen = [("\\Seen" in fl) for _, fl, _ in msgs]
        check(seen == [True, True, False, False, False],
              "messages 1 and 2 are read (\\Seen, set by RETR), the other three unread")
        ok = True
    except DemoFailed as e:
        say()
        say("demo FAILED: %s" % e)
    except Exception as e:        # a start failure, a timeout, a closed connection
        say()
        say("demo FAILED: %s: %s" % (type(e).__name__, e))
    finally:
        if dovecot is not None:
            harness.unregister(dovecot)   # ours to stop, not the harness's atexit

    if not ok:
        tail = ""
        try:
            with open(os.path.join(DEMO_DIR, "popgate.log"), "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            pass
        if tail:
            say("--- last lines of %s" % os.path.join(DEMO_DIR, "popgate.log"))
            say(tail.rstrip())
        stop_all(state, quiet=True)
        cleanup_state_tmp(state)
        return 1

    say()
    if ci_mode():
        say("8. CI mode: stopping everything")
        left = stop_all(state)
        cleanup_state_tmp(state)
        try:
            check(not left and not harness.is_listening(POP3_PORT)
                  and not harness.is_listening(IMAP_PORT),
                  "popgate, its redis-server and Dovecot are stopped; nothing is left running",
                  "still running: %s" % left)
        except DemoFailed as e:
            say("demo FAILED: %s" % e)
            return 1
        say()
        say("demo: %d passed, 0 failed" % checks)
        return 0

    say("demo: %d passed, 0 failed" % checks)
    say("""
popgate and Dovecot keep running. Point a POP3 client at popgate:
  server    %(host)s, port %(pop3)d, no encryption (plain POP3 on loopback)
  user      %(user)s#<device>, e.g. %(user)s#thunderbird (%(user)s#laptop and %(user)s#phone exist)
  password  %(pw)s
  curl      curl pop3://%(user)s%%23laptop:%(pw)s@%(host)s:%(pop3)d/    (the list; /3: message 3)
  fetchmail in ~/.fetchmailrc: poll %(host)s service %(pop3)d protocol pop3
            user "%(user)s#tablet" password "%(pw)s" keep
  Thunderbird: new account, manual config: incoming POP3, server %(host)s,
            port %(pop3)d, connection security None, authentication Normal password,
            username %(user)s#thunderbird
The same mailbox over IMAP: %(host)s port %(imap)d, user %(user)s, password %(pw)s.
Logs: %(log)s and %(dclog)s
Stop everything:  make demo-stop""" % {
        "host": HOST, "pop3": POP3_PORT, "imap": IMAP_PORT, "user": USER, "pw": PASSWORD,
        "log": os.path.relpath(os.path.join(DEMO_DIR, "popgate.log")),
        "dclog": os.path.join(dc_dir, "dovecot.log")})
    return 0


def cleanup_state_tmp(state):
    t = state.get("state_tmp")
    if t and t.startswith("/tmp/popgate-demo-state-") and not ours(state):
        shutil.rmtree(t, ignore_errors=True)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "run"
    if what == "stop":
        state = load_state()
        rc = cmd_stop()
        if state is not None and rc == 0:
            cleanup_state_tmp(state)
        return rc
    if what == "run":
        return cmd_run()
    say("usage: demo.py [run|stop]")
    return 2


if __name__ == "__main__":
    sys.exit(main())
