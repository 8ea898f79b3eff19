"""Debian packages unpacked into a private tree, never installed.

Some servers the suite runs (Cyrus IMAP, Courier-IMAP) conflict with
dovecot-imapd, which the suite needs installed. unpacked() fetches their
.deb files with `apt-get download` into a cache, unpacks them with
`dpkg -x` into a tree of their own, and adds the shared libraries the
unpacked programs need that the machine lacks (found with ldd, taken from
the packages' Depends). Nothing is configured or started here and nothing
outside the cache is written.

Cache: $POPGATE_E2E_DEB_CACHE, default /var/cache/popgate-e2e: debs/ the
downloaded files (kept, so later runs need no network), root/<name>-<hash>/
the unpacked trees (read-only once complete; a tree is built under a
temporary name and renamed, and a lock file serialises concurrent suites).
"""
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

CACHE = os.environ.get("POPGATE_E2E_DEB_CACHE", "/var/cache/popgate-e2e")
ARCH_LIBDIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "lib")


class Unavailable(Exception):
    """The packages cannot be fetched or their programs cannot run."""


def _run(args, timeout, cwd=None, env=None):
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, cwd=cwd, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Unavailable("%s took longer than %ds" % (" ".join(args[:3]), timeout))
    except OSError as e:
        raise Unavailable("%s: %s" % (args[0], e))


_installed = {}


def installed(pkg):
    if pkg not in _installed:
        r = _run(["dpkg-query", "-W", "-f=${Status}", pkg], 30)
        _installed[pkg] = r.returncode == 0 and b"install ok installed" in r.stdout
    return _installed[pkg]


class _Lock:
    """flock on the cache's lock file, waited for at most timeout seconds."""

    def __init__(self, path, timeout):
        self.path, self.timeout = path, timeout

    def __enter__(self):
        self.f = open(self.path, "a")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.f.close()
                    raise Unavailable("%s is locked for more than %ds" % (self.path, self.timeout))
                time.sleep(0.2)

    def __exit__(self, *exc):
        self.f.close()


class _Fetcher:
    def __init__(self, debs, timeout):
        self.debs = debs
        self.timeout = timeout
        self.updated = False

    def cached(self, pkg):
        """The newest cached .deb of pkg, or None."""
        files = glob.glob(os.path.join(self.debs, "%s_*.deb" % pkg))
        files = [f for f in files if os.path.basename(f).split("_")[0] == pkg]
        if not files:
            return None
        newest = files[0]
        for f in files[1:]:
            if subprocess.run(["dpkg", "--compare-versions", _version(f), "gt", _version(newest)],
                              timeout=30).returncode == 0:
                newest = f
        return newest

    def get(self, pkgs, update=True):
        """Paths of the .debs of pkgs, downloading the ones not cached. On a
        fresh machine the package lists may be missing or stale: one
        `apt-get update` and a second try."""
        want = [p for p in pkgs if self.cached(p) is None]
        if want:
            args = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root"] + want
            r = _run(args, self.timeout, cwd=self.debs)
            if r.returncode != 0 and update and not self.updated:
                self.updated = True
                _run(["apt-get", "update", "-qq"], self.timeout)
                r = _run(args, self.timeout, cwd=self.debs)
            if r.returncode != 0:
                raise Unavailable("apt-get download %s failed: %s" % (
                    " ".join(want), r.stderr.decode(errors="replace").strip()[-500:]))
        out = []
        for p in pkgs:
            f = self.cached(p)
            if f is None:
                raise Unavailable("apt-get download %s left no .deb" % p)
            out.append(f)
        return out


def _version(deb):
    r = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, timeout=30)
    return r.stdout.decode().strip()


def _depends(deb):
    """[[alternative package names]] of a .deb's Depends and Pre-Depends."""
    out = []
    for field in ("Pre-Depends", "Depends"):
        r = _run(["dpkg-deb", "-f", deb, field], 30)
        for group in r.stdout.decode().split(","):
            alts = [re.sub(r"[\s(:].*", "", a.strip()) for a in group.split("|")]
            alts = [a for a in alts if a]
            if alts:
                out.append(alts)
    return out


def _missing_sonames(root, programs):
    env = dict(os.environ, LD_LIBRARY_PATH=library_path(root))
    missing = set()
    for prog in programs:
        path = os.path.join(root, prog.lstrip("/"))
        if not os.path.exists(path):
            raise Unavailable("%s is not in the unpacked packages" % prog)
        r = _run(["ldd", path], 30, env=env)
        for m in re.finditer(rb"^\s*(\S+) => not found", r.stdout, re.M):
            missing.add(m.group(1).decode())
    return missing


def _soname_package(soname):
    """Debian's library package name for a soname (policy 8.1):
    libfoo.so.3 -> libfoo3, libfoo-1.2.so.0 -> libfoo-1.2-0."""
    m = re.match(r"(.+)\.so\.(\d+)", soname)
    if not m:
        return None
    base, n = m.group(1).lower(), m.group(2)
    return base + ("-" if base[-1].isdigit() else "") + n


def _provides(deb, sonames):
    """The sonames of the set that the .deb holds (as a file or symlink)."""
    r = _run(["dpkg-deb", "-c", deb], 30)
    names = set()
    for line in r.stdout.decode(errors="replace").splitlines():
        f = line.split()
        if len(f) >= 3 and f[-2] == "->":     # symlink: "path -> target"
            names.add(os.path.basename(f[-3]))
        elif f:
            names.add(os.path.basename(f[-1]))
    return sonames & names


def library_path(root):
    """LD_LIBRARY_PATH for programs of the unpacked tree."""
    return ":".join(os.path.join(root, d) for d in ARCH_LIBDIRS)


def unpacked(name, packages, programs, timeout=300):
    """The root of a tree holding packages unpacked (dpkg -x), plus the
    missing shared libraries that programs (paths inside the tree) need.
    Raises Unavailable with the reason when that cannot be done."""
    debs = os.path.join(CACHE, "debs")
    try:
        os.makedirs(debs, exist_ok=True)
        os.makedirs(os.path.join(CACHE, "root"), exist_ok=True)
        os.chmod(CACHE, 0o755)
    except OSError as e:
        raise Unavailable("cannot create %s: %s" % (CACHE, e))
    with _Lock(os.path.join(CACHE, "lock"), timeout):
        _clean_leftovers(os.path.join(CACHE, "root"))
        fetch = _Fetcher(debs, timeout)
        files = fetch.get(packages)
        key = hashlib.sha1("\n".join(sorted(os.path.basename(f) for f in files))
                           .encode()).hexdigest()[:12]
        root = os.path.join(CACHE, "root", "%s-%s" % (name, key))
        if os.path.exists(os.path.join(root, ".complete")):
            if not _missing_sonames(root, programs):
                return root
            # a library the machine had when the tree was built is gone
            os.rename(root, tempfile.mkdtemp(prefix=".stale-%s-" % name,
                                             dir=os.path.join(CACHE, "root")) + "/tree")
        shutil.rmtree(root, ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=".%s-" % name, dir=os.path.join(CACHE, "root"))
        try:
            _build(tmp, files, programs, fetch)
            os.chmod(tmp, 0o755)
            os.rename(tmp, root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return root


def _clean_leftovers(roots):
    """Under the lock: half-built trees of an interrupted run, and stale
    trees replaced more than an hour ago (a suite may still use them)."""
    for n in os.listdir(roots):
        path = os.path.join(roots, n)
        if n.startswith(".stale-"):
            if time.time() - os.path.getmtime(path) < 3600:
                continue
        elif not n.startswith("."):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _build(tree, files, programs, fetch):
    unpacked_debs = []

    def unpack(deb):
        r = _run(["dpkg", "-x", deb, tree], 120)
        if r.returncode != 0:
            raise Unavailable("dpkg -x %s: %s" % (deb, r.stderr.decode(errors="replace")))
        unpacked_debs.append(deb)

    for f in files:
        unpack(f)
    added = []
    for _ in range(6):
        missing = _missing_sonames(tree, programs)
        if not missing:
            break
        # candidates: library packages in the Depends of what is unpacked
        # that are neither installed nor unpacked yet
        have = {os.path.basename(d).split("_")[0] for d in unpacked_debs}
        cands = []
        for d in unpacked_debs:
            for alts in _depends(d):
                if any(a in have or installed(a) for a in alts):
                    continue
                cands += [a for a in alts if a.startswith("lib") and a not in cands]
        by_name = [c for c in cands if c in {_soname_package(s) for s in missing}]
        progress = False
        for c in by_name:
            try:
                deb = fetch.get([c], update=False)[0]
            except Unavailable:
                continue              # a virtual package (libfam0): no .deb
            unpack(deb)
            added.append(c)
            progress = True
        if not progress:
            # names that do not follow the soname (libfam.so.0 is in
            # libgamin0): look inside the candidates' files
            for c in cands:
                try:
                    deb = fetch.get([c], update=False)[0]
                except Unavailable:
                    continue
                got = _provides(deb, missing)
                if got:
                    unpack(deb)
                    added.append(c)
                    missing -= got
                    progress = True
                if not missing:
                    break
        if not progress:
            raise Unavailable("no package found for %s (needed by %s)"
                              % (", ".join(sorted(missing)), ", ".join(programs)))
    else:
        raise Unavailable("libraries still missing: %s" % ", ".join(
            sorted(_missing_sonames(tree, programs))))
    with open(os.path.join(tree, ".complete"), "w") as f:
        json.dump({"debs": [os.path.basename(d) for d in unpacked_debs],
                   "added_libraries": added}, f, indent=1)


def manifest(root):
    with open(os.path.join(root, ".complete")) as f:
        return json.load(f)


def package_version(root, pkg):
    for d in manifest(root)["debs"]:
        if d.split("_")[0] == pkg:
            return d.split("_")[1].replace("%3a", ":")
    return None
