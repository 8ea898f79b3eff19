"""Private Cyrus IMAP and Courier-IMAP instances for the compatibility tests.

Their Debian packages conflict with dovecot-imapd, so they are never
installed: debroot.unpacked() fetches and unpacks them into a tree of their
own, and each instance here gets a private configuration, its own ports on
127.0.0.1 and its own data directory under /tmp/pgt-*. Mail processes run as
the suite's system user `popgatetest`. Every process is started in a new
process group and registered with the harness, which kills the group at
teardown (and on the suite's deadline).

Cyrus IMAP (cyrus-imapd, cyrus-common; saslpasswd2 from sasl2-bin): `master`
with -C/-M pointing at a private imapd.conf and cyrus.conf; users in a
private sasldb (auxprop); Debian's namespace settings (altnamespace: no,
unixhierarchysep: no), so the personal namespace is "INBOX." and the INBOX
(with INBOX.Trash, no special-use flag) is created at the first login.

Courier-IMAP (courier-imap, courier-base, courier-authdaemon, courier-authlib,
courier-authlib-userdb): Courier's authentication library has its paths
compiled in (/etc/courier/authdaemonrc, /etc/courier/userdb.dat,
/run/courier/authdaemon/socket, modules in /usr/lib/courier-authlib). So the
instance runs in a mount namespace of its own (unshare -m): there, /run is a
fresh tmpfs and /etc and /usr are read-only overlays of the private config
and the unpacked tree over the real ones; nothing changes outside. authdaemond
(module authuserdb, users in a private userdb) and couriertcpd with
imaplogin/imapd run as Debian's init script runs them, with Debian's
/etc/courier/imapd settings; LOGIN in plaintext (no TLS, as shipped).
"""
import os
import shutil
import signal
import subprocess
import time

import debroot
import harness as h
from debroot import Unavailable

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _login_works(port, user, password, timeout):
    """Bounded: an IMAP LOGIN succeeds within timeout seconds."""
    deadline = time.monotonic() + timeout
    err = None
    while time.monotonic() < deadline:
        try:
            with h.Imap(port, user, password, timeout=5):
                return None
        except (OSError, EOFError, h.imaplib.IMAP4.error) as e:
            err = e
            time.sleep(0.1)
    return err or "timeout"


class _Server:
    """What Cyrus and Courier share: data dir, process, users, IMAP helper."""

    name = "server"

    def __init__(self, users=None):
        self.users = dict(users or h.USERS)
        self.dir = h.make_tempdir("pgt-%s-" % self.name)
        self.imap_port = h.free_port()
        self.proc = None
        self.root = None
        self.version = None
        self.log_path = os.path.join(self.dir, "%s.log" % self.name)

    def _spawn(self, args, env):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                                     start_new_session=True)
        h.register(self)

    def _wait_ready(self, timeout):
        if not h.wait_listening(self.imap_port, timeout, self.proc):
            log = self.log_text()[-2000:]
            self.stop()
            raise RuntimeError("%s did not listen on %d; log:\n%s" % (self.name, self.imap_port, log))
        user = next(iter(self.users))
        err = _login_works(self.imap_port, user, self.users[user], timeout)
        if err is not None:
            log = self.log_text()[-2000:]
            self.stop()
            raise RuntimeError("%s: LOGIN %s fails: %s; log:\n%s" % (self.name, user, err, log))

    def start(self, timeout=20.0):
        """Unpack (first time: download), configure, start; bounded by
        timeout once the packages are there. Raises Unavailable when the
        server cannot run here, RuntimeError when it does not come up."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        try:
            if self.proc is not None:
                h.kill_group(self.proc, 10)
                self.proc = None
                self._log.close()
            if not os.environ.get("POPGATE_E2E_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            h.unregister(self)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def imap(self, user="alice", password=None):
        return h.Imap(self.imap_port, user, self.users[user] if password is None else password)

    def chown_tree(self, path):
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, self.uid, self.gid)
            for fn in filenames:
                os.chown(os.path.join(dirpath, fn), self.uid, self.gid)


class Cyrus(_Server):
    name = "cyrus"
    PACKAGES = ["cyrus-imapd", "cyrus-common", "sasl2-bin"]
    PROGRAMS = ["usr/lib/cyrus/bin/master", "usr/lib/cyrus/bin/imapd",
                "usr/lib/cyrus/bin/ctl_cyrusdb", "usr/sbin/saslpasswd2"]
    SERVERNAME = "popgate-e2e-cyrus"
    TRASH = "INBOX.Trash"

    def _write_config(self):
        d = self.dir
        for sub in ("conf/proc", "conf/socket", "conf/lock", "conf/log", "spool"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        self.imapd_conf = os.path.join(d, "imapd.conf")
        with open(self.imapd_conf, "w") as f:
            f.write("""# private test instance generated by tests/e2e/compat.py
configdirectory: %(d)s/conf
proc_path: %(d)s/conf/proc
mboxname_lockpath: %(d)s/conf/lock
lmtpsocket: %(d)s/conf/socket/lmtp
idlesocket: %(d)s/conf/socket/idle
notifysocket: %(d)s/conf/socket/notify
defaultpartition: default
partition-default: %(d)s/spool
servername: %(name)s
syslog_prefix: %(name)s
cyrus_user: %(user)s
cyrus_group: %(user)s
# Debian's shipped namespace: personal folders under "INBOX."
altnamespace: no
unixhierarchysep: no
hashimapspool: true
# keep 8-bit header octets as appended (the default replaces them with X):
# the tests compare what POP3 delivers with what was appended
munge8bit: no
autocreate_quota: 0
autocreate_inbox_folders: Trash
autocreate_subscribe_folders: Trash
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: %(d)s/sasldb2
sasl_mech_list: PLAIN LOGIN
sasl_auto_transition: no
""" % {"d": d, "name": self.SERVERNAME, "user": h.MAIL_USER})
        bindir = os.path.join(self.root, "usr/lib/cyrus/bin")
        self.cyrus_conf = os.path.join(d, "cyrus.conf")
        with open(self.cyrus_conf, "w") as f:
            f.write("""START {
  recover cmd="%(bin)s/ctl_cyrusdb -C %(conf)s -r"
}
SERVICES {
  imap cmd="%(bin)s/imapd -C %(conf)s" listen="127.0.0.1:%(port)d" prefork=0 maxchild=50
}
EVENTS {
}
DAEMON {
}
""" % {"bin": bindir, "conf": self.imapd_conf, "port": self.imap_port})

    def _write_users(self):
        env = dict(os.environ, LD_LIBRARY_PATH=debroot.library_path(self.root))
        for u, p in self.users.items():
            r = subprocess.run([os.path.join(self.root, "usr/sbin/saslpasswd2"), "-f",
                                os.path.join(self.dir, "sasldb2"), "-p", "-c",
                                "-u", self.SERVERNAME, u],
                               input=p.encode(), capture_output=True, timeout=30, env=env)
            if r.returncode != 0:
                raise RuntimeError("saslpasswd2 %s: %s" % (u, r.stderr.decode(errors="replace")))

    def _start(self, timeout):
        self.root = debroot.unpacked("cyrus", self.PACKAGES, self.PROGRAMS)
        self.version = debroot.package_version(self.root, "cyrus-imapd")
        self.uid, self.gid = h.ensure_mail_user()
        self._write_config()
        self._write_users()
        self.chown_tree(self.dir)
        env = {"PATH": SYSTEM_PATH, "LD_LIBRARY_PATH": debroot.library_path(self.root)}
        self._spawn([os.path.join(self.root, "usr/lib/cyrus/bin/master"), "-C", self.imapd_conf,
                     "-M", self.cyrus_conf, "-p", os.path.join(self.dir, "master.pid")], env)
        self._wait_ready(timeout)


class Courier(_Server):
    name = "courier"
    PACKAGES = ["courier-imap", "courier-base", "courier-authdaemon", "courier-authlib",
                "courier-authlib-userdb", "gamin"]
    PROGRAMS = ["usr/sbin/couriertcpd", "usr/lib/courier/courier/imaplogin", "usr/bin/imapd",
                "usr/lib/courier/courier-authlib/authdaemond",
                "usr/lib/courier-authlib/libauthuserdb.so.0",
                "usr/lib/courier/courier-authlib/makedatprog", "usr/bin/deliverquota.courier",
                "usr/libexec/gam_server"]
    TRASH = "INBOX.Trash"

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user, "Maildir")

    def _check_namespace_support(self):
        if shutil.which("unshare") is None:
            raise Unavailable("unshare (util-linux) is missing")
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                raise Unavailable("the kernel has no overlay file system")
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /run"], capture_output=True, timeout=30)
        if r.returncode != 0:
            raise Unavailable("cannot mount in a private mount namespace (needed for Courier's "
                              "compiled-in paths): %s" % r.stderr.decode(errors="replace").strip())

    def _makedat(self, lines, name):
        etc = os.path.join(self.dir, "etc", "courier")
        r = subprocess.run([os.path.join(self.root, "usr/lib/courier/courier-authlib/makedatprog"),
                            "-", os.path.join(etc, name + ".tmp"), os.path.join(etc, name + ".dat")],
                           input=("".join(lines) + ".\n").encode(), capture_output=True,
                           timeout=30, env={"PATH": SYSTEM_PATH,
                                            "LD_LIBRARY_PATH": debroot.library_path(self.root)})
        if r.returncode != 0:
            raise RuntimeError("makedatprog %s: %s" % (name, r.stderr.decode(errors="replace")))

    def _write_config(self):
        etc = os.path.join(self.dir, "etc", "courier")
        os.makedirs(etc)
        with open(os.path.join(etc, "authdaemonrc"), "w") as f:
            f.write('authmodulelist="authuserdb"\ndaemons=3\n'
                    'authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\n'
                    'DEFAULTOPTIONS=""\nLOGGEROPTS=""\n')
        db, shadow = [], []
        for u, p in self.users.items():
            home = os.path.join(self.dir, "mail", u)
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(self.maildir(u), sub), exist_ok=True)
            crypted = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=p.encode(),
                                     capture_output=True, timeout=30, check=True).stdout
            db.append("%s\tuid=%d|gid=%d|home=%s|mail=%s|_=\n" % (u, self.uid, self.gid, home,
                                                                   self.maildir(u)))
            shadow.append("%s\tsystempw=%s\n" % (u, crypted.decode().strip()))
        self._makedat(db, "userdb")
        self._makedat(shadow, "userdbshadow")
        os.chmod(os.path.join(etc, "userdbshadow.dat"), 0o600)
        self.chown_tree(os.path.join(self.dir, "mail"))
        self.script = os.path.join(self.dir, "run.sh")
        with open(self.script, "w") as f:
            # Inside the new mount namespace only. The overlays are read-only
            # (no upper layer): the private files first, then the unpacked
            # packages, then the real tree.
            f.write("""set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/courier/authdaemon
mount -t overlay overlay -o lowerdir=%(d)s/etc:%(root)s/etc:/etc /etc
mount -t overlay overlay -o lowerdir=%(root)s/usr:/usr /usr
/usr/lib/courier/courier-authlib/authdaemond >>%(d)s/authdaemond.log 2>&1 &
# listen only once authdaemond does (at most 10 s)
i=0; while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
set -a
. /etc/courier/imapd-ssl
. /etc/courier/imapd
exec /usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=$MAXDAEMONS -maxperip=$MAXDAEMONS \\
    $TCPDOPTS -stderr=%(d)s/imapd.log %(port)d \\
    /usr/lib/courier/courier/imaplogin /usr/bin/imapd $MAILDIRPATH
""" % {"d": self.dir, "root": self.root, "port": self.imap_port})

    def _start(self, timeout):
        self._check_namespace_support()
        self.root = debroot.unpacked("courier", self.PACKAGES, self.PROGRAMS)
        self.version = debroot.package_version(self.root, "courier-imap")
        self.uid, self.gid = h.ensure_mail_user()
        self._write_config()
        # imapd watches Maildirs through gamin, whose gam_server it starts
        # on demand (a process of its own session, outside our process
        # group); a client id of our own gives this instance its own one.
        self._spawn(["unshare", "--mount", "--propagation", "private", "sh", self.script],
                    {"PATH": SYSTEM_PATH, "GAM_CLIENT_ID": os.path.basename(self.dir)})
        self._wait_ready(timeout)

    def _namespace_pids(self):
        """Processes in this instance's mount namespace (gam_server too)."""
        try:
            ns = os.readlink("/proc/%d/ns/mnt" % self.proc.pid)
        except OSError:
            return []
        if ns == os.readlink("/proc/self/ns/mnt"):
            return []                 # unshare has not run yet
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) != self.proc.pid:
                try:
                    if os.readlink("/proc/%s/ns/mnt" % p) == ns:
                        out.append(int(p))
                except OSError:
                    pass
        return out

    def stop(self):
        stray = self._namespace_pids() if self.proc is not None else []
        super().stop()
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log_text(self):
        out = []
        for n in ("courier.log", "authdaemond.log", "imapd.log"):
            try:
                with open(os.path.join(self.dir, n), "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def deliver(self, user, data):
        """Deliver data with Courier's own delivery agent (deliverquota, as
        the MTA would): stored as given, LF line ends expected."""
        r = subprocess.run([os.path.join(self.root, "usr/bin/deliverquota.courier"),
                            self.maildir(user)], input=data, capture_output=True, timeout=30,
                           user=self.uid, group=self.gid, cwd=self.dir,
                           env={"PATH": SYSTEM_PATH,
                                "LD_LIBRARY_PATH": debroot.library_path(self.root)})
        if r.returncode != 0:
            raise RuntimeError("deliverquota: %s" % r.stderr.decode(errors="replace"))
