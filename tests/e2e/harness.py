"""End-to-end test harness for popgate (Python 3 stdlib only).

Everything listens on 127.0.0.1 only, every wait is bounded, and every process
started here is registered so that cleanup_all() (called by run.py, by
tearDownModule and at interpreter exit) can stop it.

Pieces:
  Dovecot      private Dovecot (IMAP, optionally native POP3) with its own
               config, base_dir, log, passwd-file and Maildirs in a temp dir;
               mail processes run as the system user `popgatetest`.
  Imap         small imaplib wrapper: UID list, FLAGS, BODY.PEEK[], UIDVALIDITY.
  fill_mailbox messages of many shapes (APPEND for CRLF ones, Maildir files
               for bare-LF ones), returns {name: Message-ID}.
  Popgate      the daemon under test: config file (optionally [tls] and
               listen_tls ports), start, wait, stop, signal, RSS, log.
  Pop3         raw POP3 client (socket): status lines, multi-line responses,
               un-dot-stuffing, truncation detection; optional source
               address, implicit TLS, STLS, CAPA.
  make_cert    throwaway self-signed certificate (its own CA); cert_der and
               tls_client_context for the client side.
  FakeImap     scripted IMAP server for faults Dovecot will not produce; it
               records every byte received and parses commands with literals.
"""
import atexit
import base64
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAIL_USER = "popgatetest"
HOST = "127.0.0.1"

# make asan runs the suite against an AddressSanitizer/UBSan build. Freed
# memory then sits in ASan's quarantine before it is reused, so the daemon
# runs with a small quarantine and the memory bounds allow for it: a
# message buffered whole (10 MB here) still exceeds them.
SANITIZED = os.environ.get("POPGATE_SANITIZED") == "1"
SANITIZER_ENV = {
    "ASAN_OPTIONS": "quarantine_size_mb=2:abort_on_error=1:detect_leaks=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
} if SANITIZED else {}
# How much a daemon's VmRSS may grow while it streams one big message.
RSS_LIMIT_KB = 2048 + (6144 if SANITIZED else 0)

# Users of the private Dovecot. The third one's password has every character
# that is special in IMAP syntax (no colon: passwd-file cannot hold one).
SPECIAL_USER = "carol"
SPECIAL_PASS = 'p"w\\ {5} x'
USERS = {"alice": "secret", "bob": "secret", SPECIAL_USER: SPECIAL_PASS,
         "dave": "secret", "erin": "secret"}


def binary_path():
    """The daemon under test: $POPGATE_BINARY (set by run.py --binary)."""
    return os.path.abspath(os.environ.get("POPGATE_BINARY",
                                          os.path.join(ROOT, "build", "popgate")))


# ---------------------------------------------------------------- processes

_registry = []          # objects with .stop()
_registry_lock = threading.Lock()


def register(obj):
    with _registry_lock:
        _registry.append(obj)
    return obj


def unregister(obj):
    with _registry_lock:
        if obj in _registry:
            _registry.remove(obj)


def cleanup_all():
    """Stop everything still registered (newest first). Never raises."""
    while True:
        with _registry_lock:
            if not _registry:
                return
            obj = _registry.pop()
        try:
            getattr(obj, "cleanup", obj.stop)()
        except BaseException:
            pass


atexit.register(cleanup_all)


def kill_group(proc, term_timeout=5.0):
    """SIGTERM the process group of proc (started with start_new_session),
    wait up to term_timeout, then SIGKILL the group. Returns the exit code."""
    if proc is None:
        return None
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    if proc.poll() is None:
        try:
            if pgid is not None:
                os.killpg(pgid, signal.SIGTERM)
            else:
                proc.terminate()
        except ProcessLookupError:
            pass
        try:
            proc.wait(term_timeout)
        except subprocess.TimeoutExpired:
            pass
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        return None


# ---------------------------------------------------------------- sockets

# A worker of a parallel run (run.py --jobs) takes its ports from its own
# block below the ephemeral range (E2E_PORTS=LOW-HIGH): no other worker,
# and no outgoing connection, can take one between free_port() and the
# bind of the daemon it is for. Alone, the kernel picks.
_PORT_BLOCK = None
if os.environ.get("E2E_PORTS"):
    _lo, _hi = (int(x) for x in os.environ["E2E_PORTS"].split("-"))
    _PORT_BLOCK = [_lo, _hi, _lo]   # low, high, next to try


def free_port():
    if _PORT_BLOCK is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            return s.getsockname()[1]
    lo, hi, _ = _PORT_BLOCK
    for _ in range(hi - lo + 1):
        port = _PORT_BLOCK[2]
        _PORT_BLOCK[2] = lo if port >= hi else port + 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in %d-%d" % (lo, hi))


def is_listening(port):
    """True if some socket listens on 127.0.0.1:port (reads /proc/net/tcp, so
    no connection is made and no session is created in the daemon)."""
    want_local = {"0100007F:%04X" % port, "00000000:%04X" % port}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1] in want_local and fields[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def wait_listening(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_listening(port):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def make_tempdir(prefix):
    # Short path: Dovecot's unix sockets live under base_dir (108-byte limit).
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


# ---------------------------------------------------------------- Dovecot

def ensure_mail_user():
    try:
        pw = pwd.getpwnam(MAIL_USER)
    except KeyError:
        # Modules of a parallel run may get here at once: the one whose
        # useradd finds the user made by another goes on with it.
        r = subprocess.run(["useradd", "--system", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                            "--user-group", MAIL_USER],
                           timeout=30, capture_output=True)
        try:
            pw = pwd.getpwnam(MAIL_USER)
        except KeyError:
            raise RuntimeError("useradd %s failed: %s" % (MAIL_USER, r.stderr.decode(
                "utf-8", "replace").strip())) from None
    return pw.pw_uid, pw.pw_gid


class Dovecot:
    """A private Dovecot on 127.0.0.1 (IMAP; native POP3 if pop3=True)."""

    def __init__(self, pop3=False, users=None, tmpdir=None, max_userip=1000, ssl=False,
                 extra_conf="", cert_san="IP:127.0.0.1", pop3_uidl_format="%08Xu%08Xv",
                 mail_location="maildir:~/Maildir"):
        self.ssl = ssl
        self.cert_san = cert_san       # subjectAltName of its certificate (ssl=True)
        self.mail_location = mail_location
        self.pop3_uidl_format = pop3_uidl_format
        self.extra_conf = extra_conf   # appended to dovecot.conf
        self.imaps_port = free_port() if ssl else None
        self.pop3 = pop3
        self.users = dict(users or USERS)
        self.dir = tmpdir or make_tempdir("pgt-dc-")
        self.own_dir = tmpdir is None
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.base = os.path.join(self.dir, "run")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.imap_port = free_port()
        self.pop3_port = free_port() if pop3 else None
        # POP3 over implicit TLS (RFC 8314), with ssl
        self.pop3s_port = free_port() if pop3 and ssl else None
        self.max_userip = max_userip
        self.proc = None
        self.uid = self.gid = None

    # paths
    def home(self, user):
        return os.path.join(self.dir, "mail", user)

    def maildir(self, user):
        return os.path.join(self.home(user), "Maildir")

    def forget_uids(self, user):
        """What a migration or a lost index does: with its index files and
        uidlist gone, Dovecot numbers the mailbox again (in the order of
        its files) under a new UIDVALIDITY, which it takes from the clock:
        a caller that needs it to differ from the last waits a second."""
        md = self.maildir(user)
        for name in os.listdir(md):
            if name == "dovecot-uidlist" or name.startswith("dovecot.index"):
                os.unlink(os.path.join(md, name))

    def _write_config(self):
        protocols = "imap pop3" if self.pop3 else "imap"
        pop3_listener = ""
        if self.pop3:
            pop3_listener = """
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %d
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = %d
    ssl = yes
  }
}
service pop3 {
  process_limit = 1024
}
protocol pop3 {
  mail_max_userip_connections = %d
  pop3_uidl_format = %s
}
""" % (self.pop3_port, self.pop3s_port or 0, self.max_userip, self.pop3_uidl_format)
        conf = """# private test instance generated by tests/e2e/harness.py
instance_name = popgate-e2e-%(tag)s
base_dir = %(base)s
state_dir = %(dir)s/state
protocols = %(protocols)s
listen = 127.0.0.1
log_path = %(log)s
info_log_path = %(log)s
%(ssl)s
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
first_valid_uid = 1
first_valid_gid = 1
mail_uid = %(user)s
mail_gid = %(user)s
mail_location = %(mail_location)s
mail_fsync = never
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(dir)s/passwd
}
userdb {
  driver = static
  args = uid=%(user)s gid=%(user)s home=%(dir)s/mail/%%u
}
protocol imap {
  mail_max_userip_connections = %(max)d
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(imap)d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %(imaps)d
    ssl = yes
  }
}
service imap {
  process_limit = 1024
}
# no auth penalty (tests fail logins from 127.0.0.1 on purpose): the auth
# process cannot reach the anvil penalty socket and disables the feature
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
%(pop3)s
%(extra)s
""" % {"extra": self.extra_conf, "tag": os.path.basename(self.dir), "base": self.base, "dir": self.dir,
       "protocols": protocols, "log": self.log_path, "user": MAIL_USER,
       "mail_location": self.mail_location,
       "max": self.max_userip, "imap": self.imap_port, "pop3": pop3_listener,
       "imaps": self.imaps_port or 0, "ssl": self._ssl_settings()}
        with open(self.conf, "w") as f:
            f.write(conf)

    def _ssl_settings(self):
        if not self.ssl:
            return "ssl = no"
        self.cert, self.key = make_cert(self.dir, "dovecot", san=self.cert_san)
        dh = "/usr/share/dovecot/dh.pem"
        return "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n%s" % (
            self.cert, self.key, ("ssl_dh = <%s" % dh) if os.path.exists(dh) else "")

    def _write_users(self):
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u, p in self.users.items():
                assert ":" not in p and "\n" not in p
                f.write("%s:{PLAIN}%s\n" % (u, p))
        os.chmod(os.path.join(self.dir, "passwd"), 0o644)
        for u in self.users:
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(self.maildir(u), sub), exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(os.path.join(self.dir, "mail")):
            os.chown(dirpath, self.uid, self.gid)
            for fn in filenames:
                os.chown(os.path.join(dirpath, fn), self.uid, self.gid)
        os.chown(os.path.join(self.dir, "mail"), self.uid, self.gid)

    def start(self, timeout=20.0):
        if shutil.which("dovecot") is None:
            raise RuntimeError("dovecot not installed (apt-get install dovecot-imapd dovecot-pop3d)")
        self.uid, self.gid = ensure_mail_user()
        os.makedirs(self.base, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self._write_config()
        self._write_users()
        chk = subprocess.run(["doveconf", "-c", self.conf, "-n"], capture_output=True,
                             timeout=30)
        if chk.returncode != 0:
            raise RuntimeError("doveconf rejected the config: %s" % chk.stderr.decode(errors="replace"))
        self._startup_log = open(os.path.join(self.dir, "startup.log"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self._startup_log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        register(self)
        ports = [self.imap_port] + ([self.pop3_port] if self.pop3 else []) + \
            ([self.imaps_port] if self.ssl else []) + \
            ([self.pop3s_port] if self.pop3s_port else [])
        for p in ports:
            if not wait_listening(p, timeout, self.proc):
                log = self.log_text()[-2000:]
                self.stop()
                raise RuntimeError("dovecot did not listen on %d; log:\n%s" % (p, log))
        return self

    def stop(self):
        try:
            if self.proc is not None:
                # SIGTERM to the master's whole process group (the master stops
                # its children too), SIGKILL whatever is left after 10 s
                kill_group(self.proc, 10)
                self.proc = None
                try:
                    self._startup_log.close()
                except Exception:
                    pass
            if self.own_dir and not os.environ.get("POPGATE_E2E_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            unregister(self)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def imap(self, user="alice", password=None):
        return Imap(self.imap_port, user, self.users[user] if password is None else password)

    _seq = 0

    def deliver_file(self, user, data, flags=""):
        """Store data verbatim as a Maildir file (line ends untouched)."""
        Dovecot._seq += 1
        name = "%d.M%dP%dQ%d.popgate-e2e" % (int(time.time()), Dovecot._seq, os.getpid(),
                                             Dovecot._seq)
        md = self.maildir(user)
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, self.uid, self.gid)
        if flags:
            dst = os.path.join(md, "cur", name + ":2," + flags)
        else:
            dst = os.path.join(md, "new", name)
        os.rename(tmp, dst)
        return dst


class Dnsmasq:
    """A private DNS server (dnsmasq, Debian package dnsmasq-base) on
    127.0.0.1:<free port>, UDP and TCP, answering only from its own config:
    lines such as "srv-host=_imaps._tcp.a.test,mx.a.test,993" or
    "address=/imap.a.test/127.0.0.1". Every other name under the local
    domains (default "test") is NXDOMAIN; nothing is forwarded."""

    def __init__(self, records, local_domains=("test",)):
        self.port = free_port()
        self.dir = make_tempdir("pgt-dns-")
        self.conf = os.path.join(self.dir, "dnsmasq.conf")
        lines = ["port=%d" % self.port, "listen-address=127.0.0.1", "bind-interfaces",
                 "no-resolv", "no-hosts", "no-poll", "pid-file="]
        lines += ["local=/%s/" % d for d in local_domains]
        lines += list(records)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self, timeout=20.0):
        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(binary):
            raise RuntimeError("dnsmasq not installed (apt-get install dnsmasq-base)")
        self._out = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen([binary, "--keep-in-foreground", "--conf-file=" + self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        register(self)
        if not wait_listening(self.port, timeout, self.proc):
            self.stop()
            raise RuntimeError("dnsmasq did not listen on %d" % self.port)
        return self

    @property
    def address(self):
        return "%s:%d" % (HOST, self.port)

    def stop(self):
        try:
            if self.proc is not None:
                kill_group(self.proc, 5)
                self.proc = None
                self._out.close()
            if not os.environ.get("POPGATE_E2E_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            unregister(self)


# fetchmail --mda: writes each message it gets to a file of its own in
# the directory given as argument (atomically, so a reader never sees half).
FETCHMAIL_MDA = r'''import os, sys
d = sys.argv[1]
data = sys.stdin.buffer.read()
n = len(os.listdir(d))
tmp = os.path.join(d, ".tmp-%d" % os.getpid())
with open(tmp, "wb") as f:
    f.write(data)
os.rename(tmp, os.path.join(d, "msg-%05d" % n))
'''


def strip_fetchmail_received(data):
    """fetchmail prepends its own Received: header (with continuation lines)."""
    m = re.match(rb"Received: from [^\n]*\n(?:[ \t][^\n]*\n)*", data)
    return data[m.end():] if m else data


def make_cert(directory, name, san="IP:127.0.0.1", cn="127.0.0.1"):
    """Self-signed certificate (EC P-256) + key as PEM files in directory."""
    cert = os.path.join(directory, name + "-cert.pem")
    key = os.path.join(directory, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                    "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san,
                    "-keyout", key, "-out", cert], check=True, capture_output=True,
                   timeout=30)
    os.chmod(key, 0o644)         # Dovecot reads it as root; the dir is private /tmp
    return cert, key


def make_expired_cert(directory, name, san="IP:127.0.0.1", cn="127.0.0.1"):
    """Self-signed certificate + key valid only on 2020-01-01 (openssl ca
    -selfsign is the CLI way to set the dates)."""
    work = os.path.join(directory, name + "-ca")
    os.makedirs(os.path.join(work, "db"), exist_ok=True)
    key = os.path.join(directory, name + "-key.pem")
    cert = os.path.join(directory, name + "-cert.pem")
    csr = os.path.join(work, "req.csr")
    with open(os.path.join(work, "db", "index"), "w"):
        pass
    with open(os.path.join(work, "db", "serial"), "w") as f:
        f.write("01\n")
    cnf = os.path.join(work, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca = s\n[s]\ndir = %s\ndatabase = $dir/db/index\n"
                "serial = $dir/db/serial\nnew_certs_dir = $dir/db\ndefault_md = sha256\n"
                "policy = p\ncopy_extensions = copy\nunique_subject = no\n"
                "[p]\ncommonName = supplied\n" % work)
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, timeout=30)
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    run("openssl", "req", "-new", "-key", key, "-subj", "/CN=" + cn,
        "-addext", "subjectAltName=" + san, "-out", csr)
    run("openssl", "ca", "-batch", "-config", cnf, "-selfsign", "-keyfile", key,
        "-in", csr, "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
        "-out", cert)
    return cert, key


def cert_der(cert_path):
    """DER bytes of the (first) certificate in a PEM file, to compare with
    SSLSocket.getpeercert(binary_form=True)."""
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def tls_client_context(cafile=None, min_version=None, max_version=None, ciphers=None):
    """Client SSLContext: with cafile, chain and host name (IP SAN) are
    verified against it; without, nothing is verified."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


# ---------------------------------------------------------------- IMAP helper

_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class Imap:
    """imaplib wrapper used to compare what POP3 returns with the upstream."""

    def __init__(self, port, user, password, timeout=30):
        self.c = imaplib.IMAP4(HOST, port, timeout=timeout)
        self.c.login(user, password)
        typ, _ = self.c.select("INBOX")
        if typ != "OK":
            raise RuntimeError("SELECT failed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.c.logout()
        except Exception:
            pass

    def uidvalidity(self):
        typ, data = self.c.status("INBOX", "(UIDVALIDITY)")
        m = re.search(rb"UIDVALIDITY (\d+)", data[0])
        return int(m.group(1))

    def messages(self):
        """[(uid, frozenset(flags), rfc822_size)] in UID order (all messages)."""
        self.c.noop()
        typ, data = self.c.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE)")
        out = {}
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):
                item = item[0]
            u = _FETCH_UID.search(item)
            if not u:
                continue
            fl = _FETCH_FLAGS.search(item)
            sz = _FETCH_SIZE.search(item)
            out[int(u.group(1))] = (frozenset(fl.group(1).decode().split()) if fl else frozenset(),
                                    int(sz.group(1)) if sz else None)
        return [(u, out[u][0], out[u][1]) for u in sorted(out)]

    def listing(self):
        """What the POP3 listing must be: UIDs in order minus \\Deleted."""
        return [u for u, fl, _ in self.messages() if "\\Deleted" not in fl]

    def flags(self, uid):
        typ, data = self.c.uid("FETCH", str(uid), "(FLAGS)")
        for item in data:
            if isinstance(item, tuple):
                item = item[0]
            if item and _FETCH_UID.search(item) and int(_FETCH_UID.search(item).group(1)) == uid:
                fl = _FETCH_FLAGS.search(item)
                return frozenset(fl.group(1).decode().split()) if fl else frozenset()
        raise KeyError(uid)

    def body(self, uid):
        typ, data = self.c.uid("FETCH", str(uid), "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and _FETCH_UID.search(item[0]) \
                    and int(_FETCH_UID.search(item[0]).group(1)) == uid:
                return item[1]
        raise KeyError(uid)

    def store(self, uid, op, flags):
        typ, data = self.c.uid("STORE", str(uid), op, "(%s)" % flags)
        if typ != "OK":
            raise RuntimeError("STORE failed: %r" % data)

    def append(self, data, flags=None):
        typ, resp = self.c.append("INBOX", flags, None, data)
        if typ != "OK":
            raise RuntimeError("APPEND failed: %r" % resp)
        m = re.search(rb"APPENDUID \d+ (\d+)", resp[0] or b"")
        return int(m.group(1)) if m else None

    def expunge_all(self):
        self.c.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
        self.c.expunge()

    def message_ids(self):
        """{uid: Message-ID} from the headers."""
        typ, data = self.c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                u = _FETCH_UID.search(item[0])
                m = re.search(rb"(?i)message-id:\s*(\S+)", item[1])
                if u and m:
                    out[int(u.group(1))] = m.group(1).decode("ascii", "replace")
        return out


# ---------------------------------------------------------------- messages

def crlf(data):
    """Bare LF -> CRLF (CRLF untouched)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def expected_retr(imap_body):
    """Octets a POP3 RETR must deliver (after un-dot-stuffing) for a message
    whose IMAP BODY[] is imap_body: CRLF line ends, and a final CRLF added
    when the message does not end with one (the terminating '.' line must
    start a line)."""
    d = crlf(imap_body)
    if d and not d.endswith(b"\r\n"):
        d += b"\r\n"
    return d


def expected_top(imap_body, nlines):
    """RFC 1939 TOP: the header, the blank line, then nlines body lines."""
    d = expected_retr(imap_body)
    end = d.find(b"\r\n\r\n")
    if end < 0:
        return d                      # header only: everything is header
    head, body = d[:end + 4], d[end + 4:]
    lines = body.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return head + b"".join(l + b"\r\n" for l in lines[:nlines])


def _hdr(name, subject, extra=(), nl="\r\n"):
    mid = "<%s.e2e@popgate.test>" % name
    h = ["Return-Path: <sender@example.org>",
         "From: Sender <sender@example.org>",
         "To: Alice <alice@popgate.test>",
         "Subject: %s" % subject,
         "Date: Tue, 14 Nov 2023 22:13:20 +0000",
         "Message-ID: %s" % mid,
         "X-Test-Name: %s" % name] + list(extra)
    return mid, nl.join(h) + nl


def _text_lines(rng, n, width=72):
    words = ("popgate gateway mailbox upstream octet literal session dovecot "
             "the of and to in is that for it as with be by on not").split()
    out = []
    for _ in range(n):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))[:width])
    return out


def build_messages(big_mb=5):
    """Return [(name, kind, bytes)] with kind 'append' (CRLF, via IMAP APPEND)
    or 'file' (stored verbatim as a Maildir file, bare LF etc.)."""
    rng = random.Random(1939)
    msgs = []

    mid, h = _hdr("plain", "plain text")
    body = "\r\n".join(_text_lines(rng, 40)) + "\r\n"
    msgs.append(("plain", "append", (h + "\r\n" + body).encode()))

    mid, h = _hdr("dots", "dot stuffing")
    body = "\r\n".join(["first line", ".", "..", ".text", "...", ". leading dot space",
                        "middle", ".", "x.", "..double", "last before dot", "."]) + "\r\n"
    msgs.append(("dots", "append", (h + "\r\n" + body).encode()))

    mid, h = _hdr("multipart", "multipart with attachment",
                  ["MIME-Version: 1.0",
                   'Content-Type: multipart/mixed; boundary="b1"'])
    att = base64.encodebytes(bytes(rng.randrange(256) for _ in range(6000))).decode()
    body = ("This is a multi-part message.\r\n\r\n--b1\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\nSee attachment.\r\n.\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + att.replace("\n", "\r\n") +
            "--b1--\r\n")
    msgs.append(("multipart", "append", (h + "\r\n" + body).encode()))

    mid, h = _hdr("utf8", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=",
                  ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                   "Content-Transfer-Encoding: 8bit", "X-Raw-8bit: Grüße aus Köln"])
    body = "Grüße, naïve café – 日本語のテキスト – ✓\r\n.ümlaut at line start\r\n" * 20
    msgs.append(("utf8", "append", (h + "\r\n").encode() + body.encode("utf-8")))

    mid, h = _hdr("latin1", "latin-1 body",
                  ["MIME-Version: 1.0", "Content-Type: text/plain; charset=iso-8859-1",
                   "Content-Transfer-Encoding: 8bit"])
    body = "D\xe9j\xe0 vu, \xe7a va? \xbfQu\xe9? \xff\xfe end\r\n" * 30
    msgs.append(("latin1", "append", (h + "\r\n").encode() + body.encode("latin-1")))

    mid, h = _hdr("binaryish", "binary-ish, no NUL", ["Content-Transfer-Encoding: binary"])
    raw = bytearray()
    allowed = [b for b in range(1, 256) if b not in (10, 13)]
    for i in range(120):
        line = bytes(rng.choice(allowed) for _ in range(rng.randint(0, 90)))
        if i % 17 == 0:
            line = b"." + line            # stuffing needed on some lines
        raw += line + b"\r\n"
    msgs.append(("binaryish", "append", (h + "\r\n").encode() + bytes(raw)))

    mid, h = _hdr("longline", "one 6000-octet line")
    body = "A" * 6000 + "\r\n" + "short\r\n"
    msgs.append(("longline", "append", (h + "\r\n" + body).encode()))

    mid, h = _hdr("emptybody", "empty body")
    msgs.append(("emptybody", "append", (h + "\r\n").encode()))

    # --- Maildir files written verbatim (bare LF line ends)
    mid, h = _hdr("lf", "bare LF", nl="\n")
    body = "\n".join(["bare LF line one", ".", "..", ".text", "", "after blank"] +
                     _text_lines(rng, 30)) + "\n"
    msgs.append(("lf", "file", (h + "\n" + body).encode()))

    mid, h = _hdr("lf_nofinal", "no final line end", nl="\n")
    body = "line one\nline two\n.\nlast line without end"
    msgs.append(("lf_nofinal", "file", (h + "\n" + body).encode()))

    mid, h = _hdr("headeronly", "header only, no body", nl="\n")
    msgs.append(("headeronly", "file", h.encode()))

    mid, h = _hdr("mixed_eol", "mixed CRLF and LF", nl="\n")
    body = "crlf line\r\nlf line\n.\r\n..\n.crlf-dot\r\nend\n"
    msgs.append(("mixed_eol", "file", (h + "\n" + body).encode()))

    mid, h = _hdr("lf_8bit", "latin-1 and utf-8 with LF", nl="\n")
    body = "caf\xe9 latin-1\n".encode("latin-1") + "café utf-8\n.dot\n".encode("utf-8")
    msgs.append(("lf_8bit", "file", (h + "\n").encode() + body))

    # --- the big one (~big_mb MB), bare LF, dot lines sprinkled in
    mid, h = _hdr("big", "big message", ["MIME-Version: 1.0"], nl="\n")
    parts = [h.encode(), b"\n"]
    size = len(parts[0]) + 1
    target = int(big_mb * 1024 * 1024)
    i = 0
    line_pool = [l.encode() for l in _text_lines(rng, 500, 76)]
    while size < target:
        if i % 997 == 0:
            line = b"."
        elif i % 1009 == 0:
            line = b"..leading dots"
        else:
            line = line_pool[i % len(line_pool)]
        parts.append(line + b"\n")
        size += len(line) + 1
        i += 1
    msgs.append(("big", "file", b"".join(parts)))
    return msgs


def message_id(name):
    return "<%s.e2e@popgate.test>" % name


def dovecot_session_limits(sessions):
    """Dovecot settings for `sessions` concurrent IMAP (and POP3) sessions:
    many clients per process, login processes in high-performance mode."""
    procs = max(64, sessions // 50 + 16)
    return """
default_client_limit = %(all)d
default_process_limit = %(procs)d
default_vsz_limit = 1G
service imap-login {
  service_count = 0
  client_limit = %(all)d
  process_min_avail = 2
  process_limit = 8
}
service pop3-login {
  service_count = 0
  client_limit = %(all)d
  process_min_avail = 1
  process_limit = 8
}
service imap {
  service_count = 0
  client_limit = 100
  process_limit = %(procs)d
}
service pop3 {
  service_count = 0
  client_limit = 100
  process_limit = %(procs)d
}
service auth {
  client_limit = %(all)d
}
service anvil {
  client_limit = %(all)d
}
protocol imap {
  mail_max_userip_connections = %(all)d
}
protocol pop3 {
  mail_max_userip_connections = %(all)d
}
""" % {"all": sessions * 2 + 1000, "procs": procs}


def fill_small_maildir(maildir, n, uid, gid, seed):
    """n small messages (LF line ends, 200 B - 3 KB) as Maildir files at
    maildir (e.g. one Maildir shared by every user: mail_location), names
    in order; owned by uid:gid."""
    rng = random.Random(seed)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    t0 = 1700000000
    for i in range(n):
        body = "".join("line %d of message %d %s\n" % (k, i, "x" * rng.randint(10, 60))
                       for k in range(rng.randint(5, 40)))
        data = ("From: s%d@popgate.bench\nTo: u@popgate.bench\nSubject: m %d\n"
                "Message-ID: <sess-%06d@popgate.bench>\n\n%s" % (i % 50, i, i, body)).encode()
        name = "%d.M%06dP1.bench:2," % (t0 + i, i)
        path = os.path.join(maildir, "cur", name)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, gid)
    for dirpath, _dirs, _files in os.walk(os.path.dirname(maildir)):
        os.chown(dirpath, uid, gid)


def fill_mailbox(dovecot, user="alice", big_mb=5, names=None):
    """Put the test messages into user's INBOX. Returns {name: Message-ID}.
    The order of UIDs is not guaranteed across kinds; tests map through
    Message-ID (Imap.message_ids())."""
    out = {}
    msgs = build_messages(big_mb)
    if names is not None:
        msgs = [m for m in msgs if m[0] in names]
    with dovecot.imap(user) as im:
        for name, kind, data in msgs:
            if kind == "append":
                im.append(data)
            out[name] = message_id(name)
    for name, kind, data in msgs:
        if kind == "file":
            dovecot.deliver_file(user, data)
    # let Dovecot index the new files now (assigns UIDs)
    with dovecot.imap(user) as im:
        im.messages()
    return out


# ---------------------------------------------------------------- popgate

def popgate_conf(listen_port, upstream_port, server=None, upstream=None, log=None,
                 extra_listen=(), tls=None, listen_tls=(), cache=None, policy=None,
                 extra="", listen_suffix="", listen_tls_suffix=""):
    """Config text. tls: {"cert_file": ..., "key_file": ...} for a [tls]
    section (client side: STLS on listen, implicit TLS on listen_tls).
    upstream=False leaves out [upstream]; extra is appended verbatim
    (e.g. [route ...] sections); listen_suffix follows the first listen
    address (e.g. "proxy_protocol")."""
    s = {"idle_timeout": "10m", "max_connections": "1000", "max_connections_per_ip": "0",
         "max_bad_commands": "10",
         "auth_fail_delay": "0", "greeting": "popgate ready"}
    u = {"host": HOST, "port": str(upstream_port), "tls": "none", "verify": "yes",
         "timeout": "30s", "mailbox": "INBOX"}
    lg = {"target": "stderr", "level": "info"}
    s.update(server or {})
    if upstream is not False:
        u.update(upstream or {})
    lg.update(log or {})
    lines = ["# generated by tests/e2e/harness.py", "[server]",
             ("listen = %s:%d %s" % (HOST, listen_port, listen_suffix)).rstrip()]
    lines += ["listen = %s:%d" % (HOST, p) for p in extra_listen]
    lines += [("listen_tls = %s:%d %s" % (HOST, p, listen_tls_suffix)).rstrip()
              for p in listen_tls]
    lines += ["%s = %s" % kv for kv in s.items()]
    if upstream is not False:
        lines += ["", "[upstream]"] + ["%s = %s" % kv for kv in u.items()]
    if tls is not None:
        lines += ["", "[tls]"] + ["%s = %s" % kv for kv in tls.items()]
    if cache:
        lines += ["", "[cache]"] + ["%s = %s" % kv for kv in cache.items()]
    if policy:
        lines += ["", "[policy]"] + ["%s = %s" % kv for kv in policy.items()]
    lines += ["", "[log]"] + ["%s = %s" % kv for kv in lg.items()]
    if extra:
        lines += ["", extra]
    return "\n".join(lines) + "\n"


def redis_cli_args(gw):
    """redis-cli's arguments to reach gw's state store (auto, unix:, redis://)."""
    url = gw.cache_url or "auto"
    if url == "auto":
        return ["-s", os.path.join(gw.state_dir, "redis.sock")]
    if url.startswith("unix:"):
        return ["-s", url[5:].split("?")[0]]
    hostport = url.split("://", 1)[1].split("/")[0].split("@")[-1]
    host, _, port = hostport.partition(":")
    return ["-h", host, "-p", port or "6379"]


def strace_calls(pid, fn):
    """fn() with strace -c -f attached to pid: (fn's result, {syscall:
    calls}), or (result, None) where strace cannot attach."""
    if shutil.which("strace") is None:
        return fn(), None
    out = os.path.join(make_tempdir("pgt-st-"), "strace.txt")
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out],
                          stderr=subprocess.PIPE, start_new_session=True)
    attached = False
    t_end = time.monotonic() + 10
    while time.monotonic() < t_end:
        line = st.stderr.readline().decode()
        if not line:
            break
        if "attached" in line:
            attached = True
            break
    time.sleep(0.2)
    try:
        res = fn()
    finally:
        time.sleep(0.2)
        os.kill(st.pid, signal.SIGINT)
        st.wait(timeout=30)
    if not attached or not os.path.exists(out):
        return res, None
    calls = {}
    with open(out) as f:
        for line in f:
            p = line.split()
            if len(p) >= 5 and p[3].isdigit():
                calls[p[-1]] = int(p[3])
    return res, calls


def listing_poll(tc, gw, user="alice", password="secret", timeout=60):
    """USER, PASS, STAT, LIST, UIDL, QUIT through gw, each answered +OK
    (tc's assertions; the gateway's log with a refused login): (the STAT
    reply, the LIST lines, the UIDL lines)."""
    c = gw.pop3(timeout=timeout)
    try:
        r = c.login(user, password)
        tc.assertTrue(r.startswith("+OK"), r + "\n" + gw.log_text()[-3000:])
        stat = c.cmd("STAT")
        tc.assertTrue(c.cmd("LIST").startswith("+OK"))
        lst = c.multi_lines()
        tc.assertTrue(c.cmd("UIDL").startswith("+OK"))
        uidl = c.multi_lines()
        tc.assertTrue(c.cmd("QUIT").startswith("+OK"))
        return stat, lst, uidl
    finally:
        c.close()


def drop_shared_listings(gw):
    """Deletes the listing copies gateways share (popgate:{...}:listing:*)
    from gw's state store: its next cold login fetches the listing whole.
    Returns how many there were."""
    base = ["redis-cli"] + redis_cli_args(gw)
    keys = subprocess.run(base + ["--scan", "--pattern", "popgate:*:listing:*"],
                          capture_output=True, timeout=20).stdout.decode().split()
    for k in keys:
        subprocess.run(base + ["DEL", k], capture_output=True, timeout=20)
    return len(keys)


class Popgate:
    """The daemon under test, in the foreground, stderr captured to a file."""

    def __init__(self, upstream_port, server=None, upstream=None, log=None,
                 binary=None, workdir=None, extra_listen=0, tls=None, tls_listen=0,
                 cache=None, policy=None, extra="", nofile=None, listen_suffix="",
                 listen_tls_suffix="", port=None):
        self.binary = binary or binary_path()
        self.nofile = nofile            # RLIMIT_NOFILE (soft and hard) to run with
        self.dir = workdir or make_tempdir("pgt-gw-")
        self.own_dir = workdir is None
        self.port = port or free_port()  # port: one another process listens on too
        self.extra_ports = [free_port() for _ in range(extra_listen)]
        self.tls_ports = [free_port() for _ in range(tls_listen)]   # listen_tls
        self.tls_port = self.tls_ports[0] if self.tls_ports else None
        self.conf = os.path.join(self.dir, "popgate-%d.conf" % self.port)
        self.log_path = os.path.join(self.dir, "popgate-%d.log" % self.port)
        # Every instance its own managed redis-server (cache = auto) in its
        # work dir, unless the test says otherwise.
        c = {"url": "auto", "state_dir": os.path.join(self.dir, "state")}
        c.update(cache or {})
        self.state_dir = c.get("state_dir")
        self.cache_url = c.get("url")
        self.conf_text = popgate_conf(self.port, upstream_port, server, upstream, log,
                                      extra_listen=self.extra_ports, tls=tls,
                                      listen_tls=self.tls_ports, cache=c, policy=policy,
                                      extra=extra, listen_suffix=listen_suffix,
                                      listen_tls_suffix=listen_tls_suffix)
        self.proc = None

    def start(self, timeout=10.0):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("daemon binary %s does not exist or is not executable"
                               % self.binary)
        with open(self.conf, "w") as f:
            f.write(self.conf_text)
        self._log = open(self.log_path, "ab")
        limit = None
        if self.nofile is not None:
            import resource
            n = self.nofile
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))  # noqa: E731
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log,
                                     start_new_session=True, cwd=self.dir,
                                     env=dict(os.environ, **SANITIZER_ENV),
                                     preexec_fn=limit)
        register(self)
        for p in [self.port] + self.extra_ports + self.tls_ports:
            if not wait_listening(p, timeout, self.proc):
                rc = self.proc.poll()
                self.stop()
                raise RuntimeError("popgate did not listen on %d (exit status %s); stderr:\n%s"
                                   % (p, rc, self.log_text()[-3000:]))
        return self

    def stop(self, term_timeout=5.0):
        """Stop the daemon (the work dir with config and log stays)."""
        if self.proc is not None:
            self.returncode = kill_group(self.proc, term_timeout)
            self.proc = None
            try:
                self._log.close()
            except Exception:
                pass

    def cleanup(self):
        """Stop the daemon and remove its work dir (unless POPGATE_E2E_KEEP)."""
        try:
            self.stop()
            if self.own_dir and not os.environ.get("POPGATE_E2E_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            unregister(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        """Send sig to the daemon process only (e.g. SIGHUP: reload)."""
        os.kill(self.proc.pid, sig)

    def rewrite_conf(self, text):
        """Replace the config file (then signal(SIGHUP) to reload it)."""
        tmp = self.conf + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf)
        self.conf_text = text

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_bytes(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def wait_probed(self, timeout=30.0):
        """Until the start-up probe of the upstream(s) has ended: a test that
        counts upstream connections starts counting after it."""
        return self.wait_log(r"event=upstream_(un)?reachable", timeout)

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait until regex pattern matches the log (from byte offset start,
        see log_size())."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_bytes()[start:].decode("utf-8", "replace"))
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.05)

    def log_since(self, start):
        return self.log_bytes()[start:].decode("utf-8", "replace")

    def log_size(self):
        """Current log size in bytes (an offset for wait_log/log_since)."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def status(self):
        """{'VmRSS': kB, 'VmHWM': kB} of the daemon process."""
        out = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "VmSize", "Threads"):
                    out[k] = int(v.split()[0])
        return out

    def rss_kb(self):
        return self.status()["VmRSS"]

    def pop3(self, timeout=10, **kw):
        return Pop3(self.port, timeout=timeout, **kw)

    def pop3s(self, context, timeout=10, **kw):
        """A raw client on the first listen_tls port (implicit TLS)."""
        return Pop3(self.tls_port, timeout=timeout, tls=context, **kw)


def parse_kv(line):
    """key=value fields of a log line (values may be "quoted")."""
    out = {}
    for m in re.finditer(r'(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1]
        out[m.group(1)] = v
    return out


# ---------------------------------------------------------------- POP3 client

class Truncated(Exception):
    """The server closed the connection inside a multi-line response."""


class Closed(Exception):
    """The server closed the connection where a status line was expected."""


class Pop3:
    """Raw POP3 client: exact bytes, bounded waits (socket timeouts)."""

    def __init__(self, port, host=HOST, timeout=10, rcvbuf=None, source=None, tls=None,
                 server_hostname=HOST, preamble=None):
        """source: local address to bind (e.g. "127.0.0.2"); tls: an
        SSLContext for implicit TLS (handshake done here); preamble: bytes
        sent first, before TLS (a PROXY protocol header)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.timeout = timeout
            self.sock.settimeout(timeout)
            if source:
                self.sock.bind((source, 0))
            self.sock.connect((host, port))
            if preamble:
                self.sock.sendall(preamble)
            if tls is not None:
                self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.greeting = None
        self.tail = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except Exception:
            pass

    def settimeout(self, t):
        self.timeout = t
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _recv(self, n=1 << 18):
        """One recv into the buffer; False at EOF. Raises socket.timeout."""
        if self.eof:
            return False
        try:
            d = self.sock.recv(n)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            d = b""
        if not d:
            self.eof = True
            return False
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += d
        return True

    def readline(self, limit=1 << 22):
        """One line including its LF; b"" at EOF (a partial last line is
        returned as is)."""
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i + 1])
                self.pos = i + 1
                return line
            if len(self.buf) - self.pos > limit:
                raise AssertionError("line longer than %d octets" % limit)
            if not self._recv():
                line = bytes(self.buf[self.pos:])
                self.pos = len(self.buf)
                return line

    def line(self):
        l = self.readline()
        if not l:
            raise Closed("connection closed by server")
        return l

    def status(self):
        """One status line as str (CRLF stripped)."""
        l = self.line()
        return l.rstrip(b"\r\n").decode("utf-8", "replace")

    def read_greeting(self):
        self.greeting = self.status()
        return self.greeting

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.status()

    def multi_raw(self):
        """Lines of a multi-line response as sent (with line ends), without
        the terminating '.' line. Raises Truncated if the connection ends
        first."""
        lines = []
        while True:
            l = self.readline()
            if not l or not l.endswith(b"\n"):
                raise Truncated("connection closed after %d lines without terminating '.'"
                                % len(lines))
            if l == b".\r\n":
                return lines
            lines.append(l)

    def multi(self):
        """Un-dot-stuffed octets of a multi-line response."""
        return b"".join(l[1:] if l.startswith(b".") else l for l in self.multi_raw())

    def multi_lines(self):
        return [l.rstrip(b"\r\n").decode("utf-8", "replace") for l in
                (x[1:] if x.startswith(b".") else x for x in self.multi_raw())]

    def login(self, user="alice", password="secret"):
        if self.greeting is None:
            self.read_greeting()
        r = self.cmd("USER " + user)
        if not r.startswith("+OK"):
            return r
        return self.cmd("PASS " + password)

    def capa(self):
        """CAPA: the capability lines (AssertionError unless +OK)."""
        r = self.cmd("CAPA")
        if not r.startswith("+OK"):
            raise AssertionError("CAPA -> %s" % r)
        return self.multi_lines()

    def stls(self, context, server_hostname=HOST):
        """STLS; on +OK the TLS handshake (raises ssl.SSLError if it fails).
        Octets the server sent after the +OK line before the handshake
        (plaintext that must not exist) raise AssertionError. Returns the
        status line."""
        r = self.cmd("STLS")
        if r.startswith("+OK"):
            if self.pos < len(self.buf):
                raise AssertionError("plaintext after STLS +OK: %r" % bytes(self.buf[self.pos:]))
            self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        return r

    def tls_version(self):
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    def peer_cert_der(self):
        return self.sock.getpeercert(binary_form=True)

    def retr(self, n):
        r = self.cmd("RETR %d" % n)
        if not r.startswith("+OK"):
            raise AssertionError("RETR %d -> %s" % (n, r))
        return self.multi()

    def expect_closed(self, timeout=5.0):
        """True if the server closes the connection within timeout; data
        that arrived before the close (unread so far) is in self.tail."""
        old = self.sock.gettimeout()
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    self._recv()
                except (socket.timeout, TimeoutError):
                    return False
            return True
        finally:
            self.tail = bytes(self.buf[self.pos:])
            self.sock.settimeout(old)

    def is_open(self, wait=0.3):
        """True if no data and no close arrives within wait seconds; False
        if the server closed; None if data arrived (left in the buffer)."""
        if self.pos < len(self.buf):
            return None
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            if self._recv():
                return None
            return False
        except (socket.timeout, TimeoutError):
            return True
        except OSError:
            return False
        finally:
            self.sock.settimeout(old)


class Relay:
    """TCP relay on 127.0.0.1 to a local port (popgate -> Dovecot, popgate ->
    redis-server): one thread per direction of each connection accepted.
    Subclasses see each chunk in relay(data, src, upward, cid) before it is
    passed on (upward: from the side that connected to the relay) and may
    count it, hold it, or read more from src; None ends that direction.
    accepted(cid) runs once per connection before its threads start."""

    def __init__(self, to_port, source=None, connect_timeout=30):
        self.to_port = to_port
        self.source = source     # the address it connects from (default: any)
        self.connect_timeout = connect_timeout
        self.closing = False
        self.conns = []
        self.count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        register(self)
        threading.Thread(target=self._accept, daemon=True, name="relay").start()

    def accepted(self, cid):
        pass

    def relay(self, data, src, upward, cid):
        return data

    def stop(self):
        self.close()

    def close(self):
        self.closing = True
        for s in [self.sock] + self.conns:
            try:
                s.close()
            except OSError:
                pass
        unregister(self)

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(
                    (HOST, self.to_port), timeout=self.connect_timeout,
                    source_address=(self.source, 0) if self.source else None)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            self.conns += [c, u]
            cid = self.count
            self.count += 1
            self.accepted(cid)
            for src, dst, upward in ((c, u, True), (u, c, False)):
                threading.Thread(target=self._pump, args=(src, dst, upward, cid),
                                 daemon=True, name="relay-pump").start()

    def _pump(self, src, dst, upward, cid):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                d = self.relay(d, src, upward, cid)
                if d is None:
                    break
                dst.sendall(d)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def auth_plain_b64(user, password, authzid=b""):
    def b(x):
        return x.encode("utf-8") if isinstance(x, str) else x
    return base64.b64encode(b(authzid) + b"\0" + b(user) + b"\0" + b(password)).decode()


# ---------------------------------------------------------------- fake IMAP

class FakeConn:
    """One connection to the fake server: what it received, parsed."""

    def __init__(self, sock):
        self.sock = sock
        self.raw = bytearray()       # every byte received, in order
        self.commands = []           # dicts: tag, name, args (tokens), text
        self.logins = []             # (method, user bytes, password bytes)
        self.errors = []             # protocol errors seen by the parser
        self.buf = b""
        self.closed = False
        self.selected = False
        self.authenticated = False


class FakeImapMessage:
    def __init__(self, uid, data, flags=()):
        self.uid = uid
        self.data = data
        self.flags = set(flags)


class FakeImap:
    """Scripted IMAP4rev1 server on 127.0.0.1 for fault injection.

    Supports: greeting with CAPABILITY; CAPABILITY, ID, ENABLE, NOOP, LOGIN
    (atoms, quoted strings, literals {n} and {n+}), AUTHENTICATE PLAIN (with
    SASL-IR or continuation) and LOGIN, SELECT/EXAMINE, FETCH/UID FETCH of
    UID FLAGS RFC822.SIZE BODY[...]/BODY.PEEK[...] (sections '', HEADER, TEXT,
    partial <o.n>), STORE/UID STORE, LOGOUT, IDLE.

    Knobs (attributes, may be changed between sessions):
      capabilities   str
      credentials    None (accept any) or set of (user bytes, password bytes)
      greeting       bytes or None (None: never greet; the connection hangs)
      login_reply    None (decided by credentials) or 'NO' / 'BAD' / raw bytes
      select_reply   None or raw bytes to send instead of a normal SELECT answer
      drop_body      {uid: n}: announce the full BODY[] literal, send n octets, close
                     (not for BODY[HEADER.FIELDS ...], which fingerprints use)
      header_fields  False: BODY[HEADER.FIELDS (...)] is answered BAD (a server
                     that cannot give the fields fingerprints are made of)
      hooks          {COMMAND NAME: fn(server, conn, tag, cmd) -> True if handled}
    """

    def __init__(self, messages=None, uidvalidity=1700000001,
                 capabilities="IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ID ENABLE IDLE"):
        self.capabilities = capabilities
        self.credentials = None
        self.greeting = None
        self.greeting_default = True
        self.login_reply = None
        self.select_reply = None
        self.drop_body = {}
        self.header_fields = True
        self.hooks = {}
        self.lag = 0.0       # seconds each answer is held (a server across a network)
        self.uidvalidity = uidvalidity
        self.messages = []
        for i, m in enumerate(messages or []):
            if isinstance(m, FakeImapMessage):
                self.messages.append(m)
            else:
                self.messages.append(FakeImapMessage(i + 1, m))
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]

    # -- lifecycle
    def start(self):
        t = threading.Thread(target=self._accept_loop, daemon=True, name="fakeimap-accept")
        t.start()
        self.threads.append(t)
        register(self)
        return self

    def stop(self):
        unregister(self)
        self.stopping.set()
        try:
            self.lsock.close()
        except Exception:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            self._close(c)
        for t in self.threads:
            t.join(2)

    def reset(self):
        with self.lock:
            conns = list(self.conns)
            self.conns = []
        for c in conns:
            self._close(c)

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            c = FakeConn(s)
            with self.lock:
                self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True,
                                 name="fakeimap-conn")
            t.start()
            self.threads.append(t)

    # -- I/O primitives
    def _close(self, c):
        if not c.closed:
            c.closed = True
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.sock.close()
            except OSError:
                pass

    def send(self, c, data):
        if isinstance(data, str):
            data = data.encode()
        if self.lag:
            time.sleep(self.lag)
        c.sock.sendall(data)

    def _fill(self, c):
        d = c.sock.recv(65536)
        if not d:
            raise EOFError
        c.raw += d
        c.buf += d

    def readline(self, c, limit=1 << 16):
        while b"\r\n" not in c.buf:
            if len(c.buf) > limit:
                c.errors.append("line longer than %d" % limit)
                raise EOFError
            self._fill(c)
        line, _, c.buf = c.buf.partition(b"\r\n")
        if b"\n" in line or b"\r" in line:
            c.errors.append("bare CR or LF inside a command line: %r" % line[:200])
        return line

    def readexact(self, c, n):
        while len(c.buf) < n:
            self._fill(c)
        d, c.buf = c.buf[:n], c.buf[n:]
        return d

    # -- command parsing
    def read_command(self, c):
        """A full command: [('text', bytes) | ('literal', bytes)] segments."""
        segs = []
        line = self.readline(c)
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not m:
                segs.append(("text", line))
                return segs
            n = int(m.group(1))
            if n > 1 << 20:
                c.errors.append("literal too large: %d" % n)
                raise EOFError
            segs.append(("text", line[:m.start()]))
            if not m.group(2):
                if c.buf:
                    time.sleep(0.05)
                if c.buf:
                    c.errors.append("literal data sent before the continuation request "
                                    "(synchronizing literal {%d})" % n)
                self.send(c, b"+ go ahead\r\n")
            elif "LITERAL+" not in self.capabilities.upper():
                c.errors.append("non-synchronizing literal without LITERAL+")
            segs.append(("literal", self.readexact(c, n)))
            line = self.readline(c)

    @staticmethod
    def tokenize(segs, errors):
        """Tokens: ('atom', b), ('quoted', b), ('literal', b), ('(',), (')',)."""
        toks = []
        for kind, data in segs:
            if kind == "literal":
                toks.append(("literal", data))
                continue
            i, n = 0, len(data)
            while i < n:
                ch = data[i:i + 1]
                if ch == b" ":
                    i += 1
                elif ch in (b"(", b")"):
                    toks.append((ch.decode(),))
                    i += 1
                elif ch == b'"':
                    j, out = i + 1, bytearray()
                    while j < n and data[j:j + 1] != b'"':
                        if data[j:j + 1] == b"\\":
                            if j + 1 >= n or data[j + 1:j + 2] not in (b'"', b"\\"):
                                errors.append("bad escape in quoted string: %r" % data)
                            j += 1
                        out += data[j:j + 1]
                        j += 1
                    if j >= n:
                        errors.append("unterminated quoted string: %r" % data)
                    toks.append(("quoted", bytes(out)))
                    i = j + 1
                else:
                    j = i
                    depth = 0
                    while j < n:
                        cj = data[j:j + 1]
                        if cj == b"[":
                            depth += 1
                        elif cj == b"]":
                            depth -= 1
                        elif depth <= 0 and cj in (b" ", b"(", b")"):
                            break
                        elif depth <= 0 and cj in (b'"', b"{"):
                            errors.append("special character in atom: %r" % data)
                        j += 1
                    toks.append(("atom", data[i:j]))
                    i = j
        return toks

    @staticmethod
    def astring(tok):
        if tok[0] in ("atom", "quoted", "literal"):
            return tok[1]
        return None

    # -- serving
    def _serve(self, c):
        c.sock.settimeout(30)
        try:
            if self.greeting is not None:
                self.send(c, self.greeting)
            elif self.greeting_default:
                self.send(c, "* OK [CAPABILITY %s] fake IMAP ready\r\n" % self.capabilities)
            else:
                # never greet: wait for the peer to give up
                while not self.stopping.is_set():
                    try:
                        self._fill(c)
                    except (socket.timeout, TimeoutError):
                        continue
                return
            while not c.closed and not self.stopping.is_set():
                segs = self.read_command(c)
                toks = self.tokenize(segs, c.errors)
                text = b"".join(d if k == "text" else b"{%d}" % len(d) for k, d in segs)
                if len(toks) < 2 or toks[0][0] != "atom" or toks[1][0] != "atom":
                    c.errors.append("malformed command: %r" % text[:200])
                    self.send(c, b"* BAD malformed command\r\n")
                    continue
                tag = toks[0][1].decode("latin-1")
                name = toks[1][1].decode("latin-1").upper()
                args = toks[2:]
                if name == "UID" and args and args[0][0] == "atom":
                    name = "UID " + args[0][1].decode("latin-1").upper()
                    args = args[1:]
                cmd = {"tag": tag, "name": name, "args": args, "text": text, "segs": segs}
                c.commands.append(cmd)
                hook = self.hooks.get(name)
                if hook and hook(self, c, tag, cmd):
                    continue
                handler = getattr(self, "cmd_" + name.replace(" ", "_").lower(), None)
                if handler is None:
                    self.send(c, "%s BAD unknown command\r\n" % tag)
                else:
                    handler(c, tag, cmd)
        except (EOFError, OSError, socket.timeout):
            pass
        finally:
            self._close(c)

    # -- command handlers
    def cmd_capability(self, c, tag, cmd):
        self.send(c, "* CAPABILITY %s\r\n%s OK done\r\n" % (self.capabilities, tag))

    def cmd_noop(self, c, tag, cmd):
        self.send(c, "%s OK NOOP done\r\n" % tag)

    cmd_check = cmd_noop

    def cmd_id(self, c, tag, cmd):
        self.send(c, '* ID ("name" "fakeimap")\r\n%s OK ID done\r\n' % tag)

    def cmd_enable(self, c, tag, cmd):
        self.send(c, "* ENABLED\r\n%s OK enabled\r\n" % tag)

    def cmd_logout(self, c, tag, cmd):
        try:
            self.send(c, "* BYE bye\r\n%s OK logged out\r\n" % tag)
        finally:
            self._close(c)

    def _login_result(self, c, tag, method, user, password):
        c.logins.append((method, user, password))
        if self.login_reply is not None:
            r = self.login_reply
            if isinstance(r, bytes):
                self.send(c, r)
            else:
                self.send(c, "%s %s [AUTHENTICATIONFAILED] refused by script\r\n" % (tag, r))
            return
        if self.credentials is None or (user, password) in self.credentials:
            c.authenticated = True
            self.send(c, "%s OK [CAPABILITY %s] logged in\r\n" % (tag, self.capabilities))
        else:
            self.send(c, "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n" % tag)

    def cmd_login(self, c, tag, cmd):
        a = cmd["args"]
        if len(a) != 2 or self.astring(a[0]) is None or self.astring(a[1]) is None:
            c.errors.append("LOGIN with %d arguments: %r" % (len(a), cmd["text"][:200]))
            self.send(c, "%s BAD bad arguments\r\n" % tag)
            return
        self._login_result(c, tag, "LOGIN", self.astring(a[0]), self.astring(a[1]))

    def _b64(self, c, line):
        try:
            return base64.b64decode(line, validate=True)
        except Exception:
            c.errors.append("invalid base64: %r" % line[:200])
            return None

    def cmd_authenticate(self, c, tag, cmd):
        a = cmd["args"]
        mech = a[0][1].upper() if a else b""
        if mech == b"PLAIN":
            if len(a) > 1:
                if "SASL-IR" not in self.capabilities.upper():
                    c.errors.append("SASL-IR used but not advertised")
                resp = a[1][1]
            else:
                self.send(c, b"+ \r\n")
                resp = self.readline(c)
            if resp == b"*":
                self.send(c, "%s BAD cancelled\r\n" % tag)
                return
            raw = b"" if resp == b"=" else self._b64(c, resp)
            if raw is None or raw.count(b"\0") != 2:
                c.errors.append("bad PLAIN response %r" % raw)
                self.send(c, "%s BAD bad PLAIN response\r\n" % tag)
                return
            authz, user, pw = raw.split(b"\0")
            self._login_result(c, tag, "PLAIN", user, pw)
        elif mech == b"LOGIN":
            self.send(c, b"+ VXNlcm5hbWU6\r\n")
            u = self._b64(c, self.readline(c))
            self.send(c, b"+ UGFzc3dvcmQ6\r\n")
            p = self._b64(c, self.readline(c))
            self._login_result(c, tag, "AUTH-LOGIN", u, p)
        else:
            self.send(c, "%s NO unsupported mechanism\r\n" % tag)

    def cmd_select(self, c, tag, cmd):
        if self.select_reply is not None:
            self.send(c, self.select_reply.replace(b"$TAG", tag.encode()))
            return
        msgs = self.messages
        c.selected = True
        uidnext = (msgs[-1].uid + 1) if msgs else 1
        self.send(c, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                     "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok\r\n"
                     "* %d EXISTS\r\n* 0 RECENT\r\n"
                     "* OK [UIDVALIDITY %d] UIDs valid\r\n"
                     "* OK [UIDNEXT %d] next\r\n"
                     "%s OK [%s] selected\r\n"
                     % (len(msgs), self.uidvalidity, uidnext, tag,
                        "READ-ONLY" if cmd["name"] == "EXAMINE" else "READ-WRITE"))

    cmd_examine = cmd_select

    def cmd_close(self, c, tag, cmd):
        c.selected = False
        self.send(c, "%s OK closed\r\n" % tag)

    cmd_unselect = cmd_close

    def cmd_idle(self, c, tag, cmd):
        self.send(c, b"+ idling\r\n")
        while self.readline(c).upper() != b"DONE":
            pass
        self.send(c, "%s OK IDLE done\r\n" % tag)

    def _seqset(self, spec, by_uid):
        msgs = self.messages
        if not msgs:
            return []
        top = msgs[-1].uid if by_uid else len(msgs)
        chosen = set()
        for part in spec.split(","):
            if ":" in part:
                a, b = part.split(":", 1)
                a = top if a == "*" else int(a)
                b = top if b == "*" else int(b)
                lo, hi = min(a, b), max(a, b)
            else:
                lo = hi = top if part == "*" else int(part)
            for i, m in enumerate(msgs):
                key = m.uid if by_uid else i + 1
                if lo <= key <= hi:
                    chosen.add(i)
        return sorted(chosen)

    _ITEM = re.compile(rb"(?i)(BODY(?:\.PEEK)?\[([^\]]*)\](?:<(\d+)\.(\d+)>)?|RFC822\.SIZE|"
                       rb"RFC822\.HEADER|RFC822\.TEXT|RFC822|UID|FLAGS|INTERNALDATE|MODSEQ)")

    def _section(self, data, section):
        section = section.upper()
        end = data.find(b"\r\n\r\n")
        if section == b"":
            return data
        if section == b"HEADER":
            return data[:end + 4] if end >= 0 else data
        if section == b"TEXT":
            return data[end + 4:] if end >= 0 else b""
        m = re.match(rb"HEADER\.FIELDS \(([^)]*)\)$", section)
        if m and self.header_fields:
            # RFC 3501: the named fields (unfolded lines kept as they are)
            # and the blank line that ends the header.
            want = set(m.group(1).split())
            head = data[:end + 2] if end >= 0 else data
            out, keep = [], False
            for line in re.split(rb"(?<=\n)", head):
                if not line:
                    continue
                if line[:1] in (b" ", b"\t"):
                    if keep:
                        out.append(line)
                    continue
                keep = line.split(b":", 1)[0].strip().upper() in want
                if keep:
                    out.append(line)
            return b"".join(out) + b"\r\n"
        raise ValueError(section)

    def cmd_fetch(self, c, tag, cmd):
        by_uid = cmd["name"] == "UID FETCH"
        a = cmd["args"]
        if not a or a[0][0] != "atom":
            self.send(c, "%s BAD fetch syntax\r\n" % tag)
            return
        spec = a[0][1].decode("latin-1")
        m0 = re.match(rb"(?is)\S+ +(?:UID +)?FETCH +\S+ *(.*)$", cmd["text"])
        after = m0.group(1) if m0 else b""
        items = self._ITEM.findall(after)
        for i in self._seqset(spec, by_uid):
            m = self.messages[i]
            parts = []
            if by_uid:
                parts.append(b"UID %d" % m.uid)
            drop_at = None
            literal = None
            for full, section, p_off, p_len in items:
                up = full.upper()
                if up == b"UID":
                    if not by_uid:
                        parts.append(b"UID %d" % m.uid)
                elif up == b"FLAGS":
                    continue
                elif up == b"RFC822.SIZE":
                    parts.append(b"RFC822.SIZE %d" % len(m.data))
                elif up == b"INTERNALDATE":
                    parts.append(b'INTERNALDATE "14-Nov-2023 22:13:20 +0000"')
                elif up == b"MODSEQ":
                    parts.append(b"MODSEQ (1)")
                elif up.startswith(b"BODY") or up.startswith(b"RFC822"):
                    if up == b"RFC822":
                        name, data = b"RFC822", m.data
                    elif up == b"RFC822.HEADER":
                        name, data = b"RFC822.HEADER", self._section(m.data, b"HEADER")
                    elif up == b"RFC822.TEXT":
                        name, data = b"RFC822.TEXT", self._section(m.data, b"TEXT")
                    else:
                        try:
                            data = self._section(m.data, section)
                        except ValueError:
                            self.send(c, "%s BAD unsupported section\r\n" % tag)
                            return
                        name = b"BODY[" + section + b"]"
                        if p_off:
                            o, n = int(p_off), int(p_len)
                            data = data[o:o + n]
                            name += b"<%d>" % o
                    if not up.startswith(b"BODY.PEEK"):
                        m.flags.add("\\Seen")
                    # the fields of a fingerprint (login, QUIT) come whole
                    if m.uid in self.drop_body and \
                            not section.upper().startswith(b"HEADER.FIELDS"):
                        drop_at = self.drop_body[m.uid]
                    literal = (name, data)
            if any(x.upper() == b"FLAGS" for x, _, _, _ in items) or (
                    literal is not None and "\\Seen" in m.flags):
                parts.append(b"FLAGS (" + " ".join(sorted(m.flags)).encode() + b")")
            head = b"* %d FETCH (" % (i + 1) + b" ".join(parts)
            if literal is None:
                self.send(c, head + b")\r\n")
                continue
            name, data = literal
            head += (b" " if parts else b"") + name + b" {%d}\r\n" % len(data)
            if drop_at is not None:
                self.send(c, head + data[:drop_at])
                time.sleep(0.2)
                self._close(c)
                raise EOFError
            self.send(c, head + data + b")\r\n")
        self.send(c, "%s OK fetch done\r\n" % tag)

    cmd_uid_fetch = cmd_fetch

    def cmd_store(self, c, tag, cmd):
        by_uid = cmd["name"] == "UID STORE"
        a = cmd["args"]
        spec = a[0][1].decode("latin-1")
        op = a[1][1].decode("latin-1").upper()
        flags = {t[1].decode("latin-1") for t in a[2:] if t[0] == "atom"}
        for i in self._seqset(spec, by_uid):
            m = self.messages[i]
            if op.startswith("+"):
                m.flags |= flags
            elif op.startswith("-"):
                m.flags -= flags
            else:
                m.flags = set(flags)
            if not op.endswith(".SILENT"):
                self.send(c, "* %d FETCH (UID %d FLAGS (%s))\r\n"
                          % (i + 1, m.uid, " ".join(sorted(m.flags))))
        self.send(c, "%s OK store done\r\n" % tag)

    cmd_uid_store = cmd_store

    def cmd_expunge(self, c, tag, cmd):
        self.send(c, "%s OK expunge done\r\n" % tag)

    # -- inspection
    def all_conns(self):
        with self.lock:
            return list(self.conns)

    def wait_conns(self, n, timeout=5.0):
        return wait_until(lambda: len(self.all_conns()) >= n, timeout)

    def login_conns(self):
        """The connections that tried a login (not popgate's start-up probe,
        which connects, reads the greeting and capabilities and closes)."""
        return [c for c in self.all_conns() if c.logins]


def fake_message(name, body_lines=5, size=None):
    mid, h = _hdr(name, "fake " + name)
    body = "".join("line %d of %s\r\n" % (i, name) for i in range(body_lines))
    data = (h + "\r\n" + body).encode()
    i = 0
    while size and len(data) < size:
        data += b"filler line %08d ........................................\r\n" % i
        i += 1
    return data


# ---------------------------------------------------------------- fixtures

NATIVE = bool(os.environ.get("POPGATE_E2E_NATIVE"))


class NativeStandIn:
    """POPGATE_E2E_NATIVE=1: point the protocol tests at Dovecot's own POP3
    (a reference server) to check the tests themselves. popgate-specific
    tests skip themselves in this mode."""

    def __init__(self, dovecot):
        self.port = dovecot.pop3_port
        self.log_path = os.devnull

    def start(self):
        return self

    def stop(self):
        pass

    cleanup = stop

    def alive(self):
        return True

    def log_text(self):
        return ""

    log_bytes = lambda self: b""

    def log_size(self):
        return 0

    def wait_probed(self, timeout=30.0):
        """Until the start-up probe of the upstream(s) has ended: a test that
        counts upstream connections starts counting after it."""
        return self.wait_log(r"event=upstream_(un)?reachable", timeout)

    def wait_log(self, pattern, timeout=5.0, start=0):
        return None

    def log_since(self, start):
        return ""

    def pop3(self, timeout=10):
        return Pop3(self.port, timeout=timeout)


def popgate_module(users, binaries=("redis-server",)):
    """The setUpModule of a popgate-specific module with a private Dovecot
    (users) and popgate's managed redis-server: skips under
    POPGATE_E2E_NATIVE or without each of binaries; the started Dovecot."""
    import unittest
    if NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    for b in binaries:
        if shutil.which(b) is None:
            raise unittest.SkipTest("%s not installed" % b)
    return Dovecot(users=users).start()


def tagged_message(tag, topic):
    """A small message for tag: (its Message-ID <tag.topic@popgate.test>,
    its bytes, Subject "topic tag")."""
    mid = "<%s.%s@popgate.test>" % (tag, topic)
    return mid, ("From: Sender <sender@example.org>\r\nTo: x@popgate.test\r\n"
                 "Subject: %s %s\r\nMessage-ID: %s\r\n\r\nbody of %s\r\n"
                 % (topic, tag, mid, tag)).encode()


def popgate_only(fn):
    import functools
    import unittest

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        if NATIVE:
            raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
        return fn(*a, **kw)
    return wrapper


class Env:
    """A module fixture: private Dovecot, alice's mailbox filled, one popgate
    in front of its IMAP port."""

    def __init__(self, fill_users=("alice",), gateway=None, big_mb=5, pop3=False):
        self.dc = None
        self.gw = None
        self.gws = []
        try:
            self.dc = Dovecot(pop3=pop3 or NATIVE).start()
            self.names = {}
            for u in fill_users:
                self.names = fill_mailbox(self.dc, u, big_mb=big_mb)
            self.gw = self.gateway(**(gateway or {}))
        except BaseException:
            self.close()
            raise

    def gateway(self, server=None, upstream=None, log=None, upstream_port=None,
                extra_listen=0, tls=None, tls_listen=0):
        """Start one more popgate (all stopped by close())."""
        if NATIVE:
            g = NativeStandIn(self.dc)
        else:
            g = Popgate(upstream_port or self.dc.imap_port, server=server,
                        upstream=upstream, log=log, extra_listen=extra_listen,
                        tls=tls, tls_listen=tls_listen).start()
        self.gws.append(g)
        return g

    def close(self):
        for g in reversed(self.gws):
            try:
                g.cleanup()
            except Exception:
                pass
        self.gws = []
        if self.dc is not None:
            self.dc.stop()
            self.dc = None

    def imap(self, user="alice"):
        return self.dc.imap(user)

    def uid_of(self, name, user="alice"):
        with self.imap(user) as im:
            for u, mid in im.message_ids().items():
                if mid == message_id(name):
                    return u
        raise KeyError(name)

    def msgno_of(self, name, user="alice"):
        """POP3 message number of a named test message (listing order)."""
        uid = self.uid_of(name, user)
        with self.imap(user) as im:
            return im.listing().index(uid) + 1

    def clear_flags(self, user="alice", flags="\\Seen \\Deleted"):
        with self.imap(user) as im:
            if im.messages():
                im.c.uid("STORE", "1:*", "-FLAGS.SILENT", "(%s)" % flags)
