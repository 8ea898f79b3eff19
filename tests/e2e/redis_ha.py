"""Real Redis high-availability set-ups for the end-to-end tests: redis-server
on loopback TCP ports (master, replicas, cluster nodes) and redis-sentinel
processes, each with its own config and data directory under a temp dir,
started and stopped by the test (never a system service)."""
import os
import shutil
import signal
import socket
import subprocess
import time

import harness as h


def ping(port, password=None, timeout=1.0):
    """First reply line to (AUTH and) PING on 127.0.0.1:port, or None."""
    try:
        s = socket.create_connection((h.HOST, port), timeout=timeout)
    except OSError:
        return None
    try:
        s.settimeout(timeout)
        if password:
            s.sendall(b"AUTH %s\r\n" % password.encode())
            s.recv(256)
        s.sendall(b"PING\r\n")
        data = s.recv(256)
        return data.split(b"\r\n")[0].decode("latin-1") if data else None
    except OSError:
        return None
    finally:
        s.close()


class RedisProc:
    """One redis-server (or redis-sentinel) on a loopback TCP port."""

    def __init__(self, directory, port=None, password=None, lines=(), sentinel=False):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.port = port or h.free_port()
        self.password = password
        self.sentinel = sentinel
        self.conf = os.path.join(directory, "redis.conf")
        self.log_path = os.path.join(directory, "redis.log")
        self.lines = list(lines)
        self.proc = None

    def write_conf(self):
        lines = ["port %d" % self.port, "bind 127.0.0.1", 'dir "%s"' % self.dir,
                 'logfile "%s"' % self.log_path, "daemonize no",
                 "always-show-logo no", "protected-mode no"]
        if not self.sentinel:
            lines += ["appendonly yes", "appendfsync always", 'save ""']
            if self.password:
                lines += ["requirepass %s" % self.password,
                          "masterauth %s" % self.password]
        lines += self.lines
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=15.0):
        # Sentinel rewrites the configs (its own, and a re-pointed
        # replica's): a restart keeps them.
        if not os.path.exists(self.conf):
            self.write_conf()
        binary = "redis-sentinel" if self.sentinel else "redis-server"
        self.proc = subprocess.Popen([binary, self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.dir)
        h.register(self)
        pw = None if self.sentinel else self.password
        ok = h.wait_until(lambda: (ping(self.port, pw) or "").startswith(("+PONG", "-LOADING", "-NOAUTH")),
                          timeout, 0.05)
        if not ok:
            self.stop()
            raise RuntimeError("%s did not answer on port %d; log:\n%s"
                               % (binary, self.port, self.log_text()[-2000:]))
        return self

    def stop(self):
        if self.proc is not None:
            h.kill_group(self.proc, 5)
            self.proc = None
        h.unregister(self)

    def cleanup(self):
        self.stop()

    def kill9(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
            self.proc = None
        h.unregister(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args, timeout=20, password=None):
        cmd = ["redis-cli", "-h", h.HOST, "-p", str(self.port)]
        pw = password if password is not None else (None if self.sentinel else self.password)
        if pw:
            cmd += ["--no-auth-warning", "-a", pw]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return r.stdout.decode("utf-8", "replace").strip()

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class SentinelSetup:
    """A master, `replicas` replicas and three sentinels watching it under
    the name `name`; quick failure detection (down-after 1 s)."""

    def __init__(self, name="pgmaster", replicas=1, password=None, sentinel_password=None,
                 down_after_ms=1000, failover_timeout_ms=10000):
        self.dir = h.make_tempdir("pgt-sentinel-")
        self.name = name
        self.password = password
        self.sentinel_password = sentinel_password
        self.master = RedisProc(os.path.join(self.dir, "m"), password=password)
        self.replicas = []
        for i in range(replicas):
            r = RedisProc(os.path.join(self.dir, "r%d" % i), password=password,
                          lines=["replicaof %s %d" % (h.HOST, self.master.port)])
            self.replicas.append(r)
        self.sentinels = []
        for i in range(3):
            lines = ["sentinel monitor %s %s %d 2" % (name, h.HOST, self.master.port),
                     "sentinel down-after-milliseconds %s %d" % (name, down_after_ms),
                     "sentinel failover-timeout %s %d" % (name, failover_timeout_ms),
                     "sentinel parallel-syncs %s 1" % name]
            if password:
                lines.append("sentinel auth-pass %s %s" % (name, password))
            if sentinel_password:
                lines.append("requirepass %s" % sentinel_password)
            self.sentinels.append(RedisProc(os.path.join(self.dir, "s%d" % i), lines=lines,
                                            sentinel=True))

    def start(self):
        try:
            self.master.start()
            for r in self.replicas:
                r.start()
            for s in self.sentinels:
                s.start()
            self.wait_synced()
            # every sentinel knows the replicas and the other sentinels
            h.wait_until(lambda: all(
                self.sentinel_cli(s, "SENTINEL", "replicas", self.name).count("slave")
                >= len(self.replicas) for s in self.sentinels), 30, 0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def sentinel_cli(self, s, *args):
        return s.cli(*args, password=self.sentinel_password or "")

    def wait_synced(self, timeout=30):
        def synced():
            info = self.current_master().cli("INFO", "replication")
            return info.count("state=online") >= len(self.live_replicas())
        if not h.wait_until(synced, timeout, 0.1):
            raise RuntimeError("replicas did not sync")

    def live_replicas(self):
        m = self.current_master()
        return [r for r in [self.master] + self.replicas if r is not m and r.alive()]

    def master_addr(self, sentinel=None):
        """(host, port) the sentinels report, or None."""
        for s in ([sentinel] if sentinel else self.sentinels):
            if not s.alive():
                continue
            out = self.sentinel_cli(s, "SENTINEL", "get-master-addr-by-name", self.name).split()
            if len(out) == 2:
                return out[0], int(out[1])
        return None

    def current_master(self):
        addr = self.master_addr()
        for r in [self.master] + self.replicas:
            if addr is not None and r.port == addr[1]:
                return r
        return self.master

    def url(self, db=None):
        auth = ":%s@" % self.password if self.password else ""
        q = []
        if db is not None:
            q.append("db=%d" % db)
        if self.sentinel_password:
            q.append("sentinel_password=%s" % self.sentinel_password)
        return "redis-sentinel://%s%s/%s%s" % (
            auth, ",".join("%s:%d" % (h.HOST, s.port) for s in self.sentinels), self.name,
            ("?" + "&".join(q)) if q else "")

    def stop(self):
        for p in self.sentinels + self.replicas + [self.master]:
            p.stop()
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def free_cluster_port():
    """A free port below 55535 whose cluster bus port (+10000) is free too."""
    import random
    for _ in range(200):
        p = random.randint(20000, 45000)
        ok = True
        for q in (p, p + 10000):
            t = socket.socket()
            try:
                t.bind((h.HOST, q))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return p
    raise RuntimeError("no free port pair")


class ClusterSetup:
    """A Redis Cluster of `masters` masters with `replicas` replicas each,
    made with `redis-cli --cluster create` on loopback ports."""

    def __init__(self, masters=3, replicas=1, password=None, node_timeout_ms=2000):
        self.dir = h.make_tempdir("pgt-cluster-")
        self.password = password
        self.want = masters
        self.replicas = replicas
        self.nodes = []
        for i in range(masters * (1 + replicas)):
            lines = ["cluster-enabled yes", "cluster-config-file nodes.conf",
                     "cluster-node-timeout %d" % node_timeout_ms,
                     "cluster-require-full-coverage yes"]
            self.nodes.append(RedisProc(os.path.join(self.dir, "n%d" % i), password=password,
                                        port=free_cluster_port(), lines=lines))

    def start(self):
        try:
            for n in self.nodes:
                n.start()
            cmd = ["redis-cli", "--cluster", "create"] + [
                "%s:%d" % (h.HOST, n.port) for n in self.nodes] + [
                "--cluster-replicas", str(self.replicas), "--cluster-yes"]
            if self.password:
                cmd += ["--no-auth-warning", "-a", self.password]
            r = subprocess.run(cmd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed:\n%s%s" % (
                    r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")))
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ok(self, timeout=60):
        """Every live node says cluster_state:ok, and each master has its
        live replicas online."""
        def ok():
            if not all("cluster_state:ok" in n.cli("CLUSTER", "INFO")
                       for n in self.nodes if n.alive()):
                return False
            online = sum(m.cli("INFO", "replication").count("state=online")
                         for m in self.masters())
            return online >= len([n for n in self.nodes if n.alive()]) - self.want
        if not h.wait_until(ok, timeout, 0.2):
            raise RuntimeError("cluster not ok")

    def node_of_port(self, port):
        for n in self.nodes:
            if n.port == port:
                return n
        return None

    def node_id(self, node):
        return node.cli("CLUSTER", "MYID")

    def masters(self):
        """The live masters, from CLUSTER NODES of a live node."""
        live = [n for n in self.nodes if n.alive()]
        out = []
        for line in live[0].cli("CLUSTER", "NODES").splitlines():
            f = line.split()
            if "master" in f[2] and "fail" not in f[2]:
                port = int(f[1].split("@")[0].rsplit(":", 1)[1])
                n = self.node_of_port(port)
                if n is not None and n.alive():
                    out.append(n)
        return out

    def keyslot(self, key):
        return int(self.nodes[0].cli("CLUSTER", "KEYSLOT", key))

    def owner(self, slot):
        for n in self.masters():
            for line in n.cli("CLUSTER", "NODES").splitlines():
                f = line.split()
                if "myself" not in f[2]:
                    continue
                for rng in f[8:]:
                    if rng.startswith("["):
                        continue
                    a, _, b = rng.partition("-")
                    if int(a) <= slot <= int(b or a):
                        return n
        return None

    def url(self, count=None):
        auth = ":%s@" % self.password if self.password else ""
        nodes = self.nodes[:count] if count else self.nodes
        return "redis-cluster://%s%s" % (auth, ",".join("%s:%d" % (h.HOST, n.port)
                                                         for n in nodes))

    def stop(self):
        for n in self.nodes:
            n.stop()
        if not os.environ.get("POPGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
