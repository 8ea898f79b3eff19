#!/usr/bin/env python3
"""Packaging checks of make check (issue 6).

    python3 tests/packaging/run.py [-k PATTERN]

Builds the Debian package (make deb), inspects it (dpkg-deb -I, dpkg -x into
a scratch root), runs systemd-analyze verify on its unit, renders both man
pages with warnings on, compares the keys of conf/popgate.conf, of the key
table (conf/conf_keys.c, listed by build/tests/test_conf_keys --list) and of
popgate.conf(5), and the table's defaults and ranges with those the sample,
the man page and the README show, tries make install with
DESTDIR and PREFIX, and runs make demo twice on free ports in a scratch
demo directory: in CI mode, and left running then stopped by make
demo-stop, each time checking that nothing is left running.

Prints "ok - NAME", "FAIL - NAME: why" or "skip - NAME: why" (a skip counts
neither way) per check, and at the end "packaging: N passed, N failed".
Exit status 1 if anything failed.
"""
import glob
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
os.chdir(ROOT)

passed = failed = skipped = 0
only = None
T0 = time.monotonic()


def report(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - %s" % name, flush=True)
    else:
        failed += 1
        print("FAIL - %s: %s" % (name, why), flush=True)
    return ok


def skip(name, why):
    global skipped
    skipped += 1
    print("skip - %s: %s" % (name, why), flush=True)


def run(cmd, timeout=300, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=e, **kw)


def tail(text, n=15):
    return "\n".join(text.rstrip().splitlines()[-n:])


def wanted(name):
    return only is None or any(p in name for p in only)


# ------------------------------------------------------------ config keys

def sample_keys(path="conf/popgate.conf"):
    """{(section, key)} of the sample: "key =" and "#key =" lines."""
    keys, section = set(), None
    with open(path) as f:
        for line in f:
            m = re.match(r"^#?\[([a-z_]+)(?: [^\]]+)?\]\s*$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^#?([a-z][a-z0-9_]*)\s*=", line)
            if m and section:
                keys.add((section, m.group(1)))
    return keys


def man_keys(path="packaging/popgate.conf.5"):
    """{(section, key)} of popgate.conf(5): a ".SH "[section] SECTION""
    heading, then entries ".TP" + "\\fBkey =\\fP ..."."""
    keys, section, after_tp = set(), None, False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r'^\.SH "?\[([a-z_]+)(?: [A-Z]+)?\] SECTION"?$', line)
            if m:
                section = m.group(1)
                continue
            if line.startswith(".SH "):
                section = None
            if after_tp and section:
                m = re.match(r"^\\fB([a-z][a-z0-9_]*) =\\fP", line)
                if m:
                    keys.add((section, m.group(1)))
            after_tp = line == ".TP"
    return keys


TABLE_LISTER = "build/tests/test_conf_keys"


def table_rows():
    """The rows of the key table as the daemon has them: a list of dicts
    (section, name, type, default, min, max, repeatable, required, implied;
    the [upstream] keys again with section "route"), or a string saying why
    not. Built with the project's own make rule."""
    r = run(["make", "--no-print-directory", TABLE_LISTER], timeout=600)
    if r.returncode != 0:
        return "make %s failed:\n%s" % (TABLE_LISTER, tail(r.stdout + r.stderr))
    r = run([TABLE_LISTER, "--list"], timeout=30)
    if r.returncode != 0:
        return "%s --list: exit status %d\n%s" % (TABLE_LISTER, r.returncode, r.stderr)
    try:
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    except ValueError as e:
        return "%s --list: %s" % (TABLE_LISTER, e)


def code_keys(rows):
    """{(section, key)} of the key table."""
    return set((r["section"], r["name"]) for r in rows)


def fmt(keys):
    return ", ".join("[%s] %s" % k for k in sorted(keys)) or "none"


# What the documents show as a key's default. A default is the text of the
# table (conf_keys.c): "10m", "" (an empty value: none) or None (no value:
# none, required or implied by other keys). The documents say "none" or
# "empty" for the last two kinds of none.

NONE_WORDS = ("none", "empty")
RANGED = ("number", "duration", "milliseconds")   # types whose range is documented


def default_word(text):
    """The value a "Default X" remark names: X unquoted, with one trailing
    punctuation mark dropped; "none"/"empty" are ""."""
    m = re.match(r'\s*(?:"([^"]*)"|(\S+))', text)
    if not m:
        return None
    if m.group(1) is not None:
        return m.group(1)
    word = m.group(2)
    if len(word) > 1 and word[-1] in ".,:;":
        word = word[:-1]
    return "" if word.lower() in NONE_WORDS else word


def shown(value):
    return "(none)" if value in ("", None) else repr(value)


def same_default(row, value):
    """Whether value ("" for none) is the row's default."""
    return (row["default"] or "") == value


def sample_entries(path="conf/popgate.conf"):
    """{(section, key): (value, commented, remark)} of the sample, outside
    the commented-out [route] example: the key's line and the comment block
    above it (the previous key's when it has none, as key_file after
    cert_file), joined into one line."""
    entries, section, block, last = {}, None, [], ""
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^(#?)\[([a-z_]+)(?: [^\]]+)?\]\s*$", line)
            if m:
                section = None if m.group(1) else m.group(2)
                block, last = [], ""
                continue
            m = re.match(r"^(#?)([a-z][a-z0-9_]*)\s*=\s*(.*?)\s*$", line)
            if m and section:
                remark = " ".join(block) if block else last
                entries[(section, m.group(2))] = (m.group(3), m.group(1) == "#", remark)
                block, last = [], remark
            elif line.startswith("#"):
                block.append(line.lstrip("#").strip())
            elif not line.strip():
                block = []
    return entries


def remark_default(remark):
    """The X of "Default X" in a remark, "required", or None."""
    m = re.search(r"\bDefault\b(.*)", remark)
    if m:
        return default_word(m.group(1))
    return "required" if re.search(r"\bRequired\b", remark) else None


def stated_problems(row, where, said, text, range_form):
    """What is wrong with a document's statement of a row's default (said:
    the X of "Default X", "required" or None) and, for a number, with its
    range (range_form % (min, max) must be in text)."""
    bad = []
    if row["implied"]:
        pass    # "Default 993 with tls = imaps, 143 with ..."
    elif row["required"]:
        if said != "required":
            bad.append("%s does not say Required" % where)
    elif said is None or said == "required" or not same_default(row, said):
        bad.append("%s says 'Default %s', the default is %s"
                   % (where, said, shown(row["default"])))
    want = range_form % (row["min"], row["max"])
    if row["min"] is not None and row["type"] in RANGED and want not in text:
        bad.append("%s lacks the range '%s'" % (where, want))
    return bad


def check_sample_defaults(rows):
    """The sample sets each key to its default: its line shows it ("key =
    " for an empty default; commented out for a key with no value), its
    remark says "Default X" (or "Required"), and numbers give their range as
    "MIN..MAX". A line set otherwise for the local test setup says so:
    "This sample: VALUE"."""
    entries, bad = sample_entries(), []
    for row in rows:
        key = (row["section"], row["name"])
        if row["section"] == "route" or key not in entries:
            continue   # the route example; missing keys: check_keys
        value, commented, remark = entries[key]
        m = re.search(r"\bThis sample: (\S+?)[,.;]?(?:\s|$)", remark)
        where = "[%s] %s" % key
        if m:
            if commented or value != m.group(1):
                bad.append("%s = %s, but the remark says 'This sample: %s'"
                           % (where, value, m.group(1)))
        elif commented:
            if row["default"] not in ("", None) or row["required"] or row["implied"]:
                bad.append("%s is commented out, but its default is %s"
                           % (where, shown(row["default"])))
        elif row["required"] or row["implied"]:
            bad.append("%s = %s has no default to show: say 'This sample: %s'"
                       % (where, value, value))
        elif not same_default(row, value):
            bad.append("%s = %s, but the default is %s" % (where, value, shown(row["default"])))
        bad += stated_problems(row, where + ": the remark", remark_default(remark), remark,
                               "%s..%s")
    report(not bad, "every default and range of the key table is the one conf/popgate.conf "
           "shows", "; ".join(bad))


def roff_text(line):
    """A roff line as text: font escapes dropped, \\- and \\e resolved; a
    macro line (.B, .BR, ...) as its arguments, "quoted" ones kept together
    and returned as a list."""
    line = re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-").replace("\\e", "\\")
    line = line.replace("\\~", " ")
    if line.startswith("."):
        return re.findall(r'"([^"]*)"|(\S+)', line.split(None, 1)[1] if " " in line else "")
    return line


def man_entries(path="packaging/popgate.conf.5"):
    """{(section, key): (default, text)} of popgate.conf(5): for each entry,
    what follows "Default" (the first argument of the next macro line, all
    of a .B/.I line, else the next word: "none" and "empty" are ""),
    "required" for an entry that says "Required", else None; and the
    entry's text."""
    entries, section, key, body = {}, None, None, []

    def close():
        if section and key:
            entries[(section, key)] = man_default(body)

    with open(path) as f:
        lines = [l.rstrip("\n") for l in f]
    for i, line in enumerate(lines):
        m = re.match(r'^\.SH "?\[([a-z_]+)(?: [A-Z]+)?\] SECTION"?$', line)
        if m or line.startswith((".SH ", ".TP", ".SS ")):
            close()
            key, body = None, []
            if m:
                section = m.group(1)
            elif line.startswith(".SH "):
                section = None
            continue
        m = re.match(r"^\\fB([a-z][a-z0-9_]*) =\\fP", line)
        if m and i > 0 and lines[i - 1] == ".TP":
            key = m.group(1)
            continue
        body.append(line)
    close()
    return entries


def man_default(body):
    text, default = [], None
    for j, line in enumerate(body):
        t = roff_text(line)
        if isinstance(t, list):
            words = [a or b for a, b in t]
            text.append(" ".join(words))
            continue
        text.append(t)
        m = re.search(r"\bDefault\b(.*)$", t)
        if m and default is None:
            rest = m.group(1)
            if rest.strip():
                default = default_word(rest)
            elif j + 1 < len(body) and body[j + 1].startswith("."):
                args = roff_text(body[j + 1])
                words = [a or b for a, b in args]
                macro = body[j + 1].split()[0]
                default = " ".join(words) if macro in (".B", ".I") else (words or [""])[0]
        elif default is None and re.search(r"\bRequired\b", t):
            default = "required"
    return default, " ".join(text)


def check_man_defaults(rows):
    """popgate.conf(5) states each key's default ("Default X", "Default
    none", "Required") and each number's "range MIN to MAX"; the [route]
    entries point to [upstream]."""
    entries, bad = man_entries(), []
    for row in rows:
        key = (row["section"], row["name"])
        if row["section"] == "route" or key not in entries:
            continue
        said, text = entries[key]
        bad += stated_problems(row, "[%s] %s" % key, said, text, "range %s to %s")
    report(not bad, "every default and range of the key table is the one popgate.conf(5) "
           "states", "; ".join(bad))


def readme_tables(path="README.md"):
    """The defaults the README shows: {(section, key): default} of the
    configuration table ("| section | key | default | meaning |"; a
    default in backticks is a value, other text means none), and
    [(keys, defaults)] of the Limits table ("| limit | default | ...")."""
    conf, limits, mode, section = {}, [], None, None
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("|"):
                mode = None
                continue
            if cells[:3] == ["section", "key", "default"]:
                mode = "conf"
                continue
            if cells[:2] == ["limit", "default"]:
                mode = "limits"
                continue
            if set(line.strip()) <= set("|-: "):
                continue
            names = re.findall(r"`([a-z][a-z0-9_]*)`", cells[1 if mode == "conf" else 0])
            if mode == "conf":
                m = re.match(r"`\[([a-z_]+)(?: [A-Z]+)?\]`", cells[0])
                if m:
                    section = m.group(1)
                d = re.match(r"`([^`]*)`", cells[2])
                for name in names:
                    conf[(section, name)] = (d.group(1) if d else None, cells[2])
            elif mode == "limits":
                limits.append((names, [d.strip() for d in cells[1].split(",")]))
    return conf, limits


def check_readme_defaults(rows):
    conf, limits = readme_tables()
    table = {(r["section"], r["name"]): r for r in rows if r["section"] != "route"}
    bad = ["[%s] %s is not in the key table" % k for k in sorted(set(conf) - set(table))
           if k[0] != "route"]
    bad += ["[%s] %s is missing from the README's table" % k
            for k in sorted(set(table) - set(conf))]
    for key, (value, cell) in sorted(conf.items()):
        row = table.get(key)
        if row is None:
            continue
        if value is None:
            if row["default"] not in ("", None):
                bad.append("[%s] %s: '%s', the default is %s" % (key + (cell, shown(row["default"]))))
        elif row["required"] or row["implied"] or not same_default(row, value):
            bad.append("[%s] %s: `%s`, the default is %s" % (key + (value, shown(row["default"]))))
    for names, values in limits:
        for name, value in zip(names, values):
            row = table.get(("server", name))
            value = re.sub(r"\s*\(.*\)$", "", value)
            if row is None or not same_default(row, value):
                bad.append("Limits: %s %s, the default is %s"
                           % (name, value, shown(row["default"] if row else None)))
        if len(names) != len(values):
            bad.append("Limits: %s with %d defaults" % (", ".join(names), len(values)))
    report(not bad, "every default of the key table is the one the README's tables show",
           "; ".join(bad))


def check_keys():
    s, m = sample_keys(), man_keys()
    report(len(m) > 0 and not (s - m),
           "every key of conf/popgate.conf is in popgate.conf(5)",
           "missing from the man page: " + fmt(s - m))
    report(len(s) > 0 and not (m - s),
           "every key of popgate.conf(5) is in conf/popgate.conf",
           "missing from the sample: " + fmt(m - s))
    rows = table_rows()
    if isinstance(rows, str) or not rows:
        report(False, "the key table (conf_keys.c) matches popgate.conf(5)", rows or "no rows")
        return
    c = code_keys(rows)
    report(c == m, "the key table (conf_keys.c) matches popgate.conf(5)",
           "only in the table: %s; only in the man page: %s" % (fmt(c - m), fmt(m - c)))
    check_sample_defaults(rows)
    check_man_defaults(rows)
    check_readme_defaults(rows)


# ------------------------------------------------------------ man pages

def man_warnings(path):
    """Warnings of groff -ww and of man --warnings (empty: clean)."""
    out = []
    if path.endswith(".gz"):
        with gzip.open(path, "rt") as f:
            r = subprocess.run(["groff", "-man", "-ww", "-z"], input=f.read(),
                               capture_output=True, text=True, timeout=60)
    else:
        r = run(["groff", "-man", "-ww", "-z", path], timeout=60)
    out.append(r.stderr.strip())
    if r.returncode != 0:
        out.append("groff exit status %d" % r.returncode)
    r = run(["man", "--warnings", "-l", path], timeout=60, env={"MANWIDTH": "80"})
    out.append(r.stderr.strip())
    if r.returncode != 0:
        out.append("man exit status %d" % r.returncode)
    if len(r.stdout) < 500:
        out.append("rendered only %d characters" % len(r.stdout))
    return "\n".join(x for x in out if x)


def check_man_sources():
    for p in ("packaging/popgate.8", "packaging/popgate.conf.5"):
        w = man_warnings(p)
        report(not w, "%s renders without warnings (groff -ww, man --warnings -l)" % p, w)
    r = run(["make", "--no-print-directory", "man"], timeout=60)
    report(r.returncode == 0, "make man", tail(r.stdout + r.stderr))


# ------------------------------------------------------------ the .deb

def changelog_version():
    r = run(["dpkg-parsechangelog", "-l", "packaging/debian/changelog", "-S", "Version"])
    return r.stdout.strip()


def check_deb(scratch):
    ver = changelog_version()
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = "build/deb/popgate_%s_%s.deb" % (ver, arch)
    t = time.monotonic()
    start = time.time()
    r = run(["make", "--no-print-directory", "deb"], timeout=600)
    secs = time.monotonic() - t
    out = r.stdout + r.stderr
    built = os.path.exists(deb) and os.path.getmtime(deb) >= start - 1
    if not report(built and r.returncode in (0, 3),
                  "make deb builds %s (%.0f s)" % (deb, secs),
                  "exit status %d\n%s" % (r.returncode, tail(out, 40))):
        return None
    lint = ""
    if os.path.exists("build/deb/lintian.txt"):
        with open("build/deb/lintian.txt") as f:
            lint = f.read()
    errors = [l for l in lint.splitlines() if l.startswith("E: ")]
    warnings = [l for l in lint.splitlines() if l.startswith("W: ")]
    report(r.returncode == 0 and lint != "" and not errors,
           "lintian: no errors (%d warnings)" % len(warnings),
           "\n".join(errors) or tail(out))
    for w in warnings:
        print("    lintian " + w)

    # control fields
    r = run(["dpkg-deb", "-I", deb])
    fields = dict(re.findall(r"^ (Package|Version|Depends|Recommends): (.*)$", r.stdout, re.M))
    dep = fields.get("Depends", "")
    missing = [lib for lib in (r"libevent-2\.1-\d", r"libevent-openssl-2\.1-\d", r"libssl\d",
                               r"libhiredis\d", r"libinih\d", r"libjansson\d", r"\badduser\b",
                               r"\blibcurl4\b")
               if not re.search(lib, dep)]
    report(fields.get("Package") == "popgate" and fields.get("Version") == ver and not missing,
           "dpkg-deb -I: Depends from shlibs (libevent, libssl, libhiredis, libinih, libjansson), "
           "adduser and libcurl4 (dlopen()ed)",
           "fields %r; missing %s" % (fields, missing))
    report(re.search(r"\bredis-server\b", fields.get("Recommends", "")) is not None,
           "dpkg-deb -I: Recommends redis-server", "Recommends: %r" % fields.get("Recommends"))

    # files, extracted into a scratch root
    r = run(["dpkg", "-x", deb, scratch])
    if not report(r.returncode == 0, "dpkg -x into a scratch root", r.stderr):
        return None
    expect = {"usr/sbin/popgate": 0o755, "usr/share/man/man8/popgate.8.gz": 0o644,
              "usr/share/man/man5/popgate.conf.5.gz": 0o644,
              "lib/systemd/system/popgate.service": 0o644,
              "etc/popgate/popgate.conf": 0o644, "usr/share/doc/popgate/copyright": 0o644}
    bad = []
    for rel, mode in expect.items():
        p = os.path.join(scratch, rel)
        if not os.path.isfile(p):
            bad.append("%s missing" % rel)
        elif os.stat(p).st_mode & 0o7777 != mode:
            bad.append("%s mode %o" % (rel, os.stat(p).st_mode & 0o7777))
    report(not bad, "the package holds the binary, both man pages, the unit, the "
           "configuration and the copyright", "; ".join(bad))
    with open(os.path.join(scratch, "etc/popgate/popgate.conf"), "rb") as a, \
            open("conf/popgate.conf", "rb") as b:
        report(a.read() == b.read(), "/etc/popgate/popgate.conf is conf/popgate.conf",
               "they differ")
    ctrl = os.path.join(scratch, "DEBIAN")
    r = run(["dpkg-deb", "-e", deb, ctrl])
    conffiles = postinst = ""
    try:
        with open(os.path.join(ctrl, "conffiles")) as f:
            conffiles = f.read()
        with open(os.path.join(ctrl, "postinst")) as f:
            postinst = f.read()
    except OSError as e:
        conffiles = conffiles or str(e)
    report("/etc/popgate/popgate.conf" in conffiles.split(),
           "/etc/popgate/popgate.conf is a conffile", "conffiles: %r" % conffiles)
    report("adduser --system" in postinst and "/var/lib/popgate" in postinst
           and "-m 0700" in postinst and "deb-systemd-helper" in postinst,
           "postinst creates the user popgate and /var/lib/popgate (0700), enables the unit",
           tail(postinst, 30))
    binary = os.path.join(scratch, "usr/sbin/popgate")
    r = run([binary, "-V"], timeout=10)
    report(r.returncode == 0 and r.stdout.strip() == "popgate %s" % ver,
           "the packaged popgate -V prints the package version %s" % ver,
           "%r (rc %d): update packaging/debian/changelog (dch -v)"
           % (r.stdout.strip(), r.returncode))
    th = []
    for page in ("packaging/popgate.8", "packaging/popgate.conf.5"):
        with open(page) as f:
            m = re.search(r'^\.TH .*"popgate ([^"]+)"', f.read(), re.M)
        if not m or m.group(1) != ver:
            th.append("%s: %s" % (page, m.group(1) if m else "no version in .TH"))
    report(not th, "the man pages' .TH names version %s" % ver, "; ".join(th))
    r = run([binary, "-c", os.path.join(scratch, "etc/popgate/popgate.conf"), "--check"],
            timeout=10)
    report(r.returncode == 0 and "configuration OK" in r.stdout,
           "the packaged popgate accepts the packaged configuration (--check)",
           r.stdout + r.stderr)
    for page in ("usr/share/man/man8/popgate.8.gz", "usr/share/man/man5/popgate.conf.5.gz"):
        w = man_warnings(os.path.join(scratch, page))
        report(not w, "packaged %s renders without warnings (groff -ww, man --warnings -l)"
               % os.path.basename(page), w)
    return deb


# ------------------------------------------------------------ systemd unit

UNIT_MUST = [
    "Type=exec", "User=popgate", "StateDirectory=popgate", "StateDirectoryMode=0700",
    "ExecStart=/usr/sbin/popgate -c /etc/popgate/popgate.conf",
    "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "NoNewPrivileges=yes",
    "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service",
    "SystemCallArchitectures=native", "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes", "ProtectControlGroups=yes", "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes", "RestrictNamespaces=yes", "RestrictRealtime=yes",
    "KillMode=mixed", "WantedBy=multi-user.target",
]


def check_unit(scratch):
    unit = os.path.join(scratch, "lib/systemd/system/popgate.service") if scratch else None
    with open("packaging/popgate.service") as f:
        lines = set(l.strip() for l in f)
    missing = [d for d in UNIT_MUST if d not in lines]
    report(not missing, "the unit has the user, state directory, reload and hardening "
           "settings", "missing: %s" % missing)
    name = "systemd-analyze verify on the packaged unit"
    if unit is None or not os.path.exists(unit):
        skip(name, "no packaged unit (the package did not build)")
        return
    if shutil.which("systemd-analyze") is None:
        # The systemd package alone starts nothing (no PID 1 change);
        # tests/deps.sh also blocks service starts with policy-rc.d.
        r = run(["tests/deps.sh", "systemd"], timeout=300)
        if shutil.which("systemd-analyze") is None:
            skip(name, "systemd-analyze not available and systemd could not be installed: "
                 + tail(r.stdout + r.stderr, 3))
            return
    # Verify the unit as packaged, with its ExecStart pointing into the
    # scratch root (verify needs the binary) and the packaged man pages
    # on MANPATH (verify checks Documentation=man:...).
    d = tempfile.mkdtemp(prefix="pgt-unit-")
    try:
        with open(unit) as f:
            text = f.read().replace("/usr/sbin/popgate",
                                    os.path.join(scratch, "usr/sbin/popgate"))
        with open(os.path.join(d, "popgate.service"), "w") as f:
            f.write(text)
        r = run(["systemd-analyze", "verify", os.path.join(d, "popgate.service")], timeout=60,
                env={"MANPATH": os.path.join(scratch, "usr/share/man"),
                     "SYSTEMD_LOG_COLOR": "0"})
        out = (r.stdout + r.stderr).strip()
        report(r.returncode == 0 and not out, name, out or "exit status %d" % r.returncode)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------ make install

def check_install():
    d = tempfile.mkdtemp(prefix="pgt-install-")
    try:
        r = run(["make", "--no-print-directory", "install", "DESTDIR=" + d, "PREFIX=/usr"])
        files = ["usr/sbin/popgate", "usr/share/man/man8/popgate.8",
                 "usr/share/man/man5/popgate.conf.5", "lib/systemd/system/popgate.service",
                 "etc/popgate/popgate.conf"]
        missing = [f for f in files if not os.path.isfile(os.path.join(d, f))]
        report(r.returncode == 0 and not missing,
               "make install DESTDIR=... PREFIX=/usr installs binary, man pages, unit, config",
               "missing %s\n%s" % (missing, tail(r.stdout + r.stderr)))
        if missing:
            return
        with open(os.path.join(d, "lib/systemd/system/popgate.service")) as f:
            unit = f.read()
        report("ExecStart=/usr/sbin/popgate -c /etc/popgate/popgate.conf" in unit,
               "make install PREFIX=/usr: the unit runs /usr/sbin/popgate", unit[:300])
        conf = os.path.join(d, "etc/popgate/popgate.conf")
        with open(conf, "a") as f:
            f.write("# local change\n")
        r = run(["make", "--no-print-directory", "install", "DESTDIR=" + d, "PREFIX=/usr"])
        with open(conf) as f:
            kept = f.read().endswith("# local change\n")
        report(r.returncode == 0 and kept,
               "make install again keeps an existing /etc/popgate/popgate.conf",
               "overwritten" if not kept else tail(r.stdout + r.stderr))
        d2 = os.path.join(d, "local")
        r = run(["make", "--no-print-directory", "install", "DESTDIR=" + d2])
        u = os.path.join(d2, "usr/local/lib/systemd/system/popgate.service")
        ok = (r.returncode == 0 and os.path.isfile(os.path.join(d2, "usr/local/sbin/popgate"))
              and os.path.isfile(os.path.join(d2, "usr/local/share/man/man8/popgate.8"))
              and os.path.isfile(os.path.join(d2, "etc/popgate/popgate.conf"))
              and os.path.isfile(u))
        if ok:
            with open(u) as f:
                ok = "ExecStart=/usr/local/sbin/popgate " in f.read()
        report(ok, "make install with the default PREFIX=/usr/local: /usr/local/sbin, "
               "/usr/local/lib/systemd/system (ExecStart adjusted), /etc/popgate",
               tail(r.stdout + r.stderr))
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------ make demo

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    with open("/proc/net/tcp") as f:
        return any(l.split()[1] in want and l.split()[3] == "0A" for l in list(f)[1:])


def procs_matching(marks):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                c = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if c and any(m in c for m in marks):
            out.append("%s %s" % (pid, c.strip()))
    return out


def demo_marks(demo_dir, output):
    m = re.search(r"in (/tmp/popgate-demo-[^)\s]+)\)", output)
    marks = [demo_dir]
    if m:
        marks.append(os.path.basename(m.group(1)))
    return marks


def check_demo():
    base = tempfile.mkdtemp(prefix="pgt-demo-")
    demo_dir = os.path.join(base, "demo")
    imap, pop3 = free_port(), free_port()
    args = ["make", "--no-print-directory", "demo", "DEMO_IMAP_PORT=%d" % imap,
            "DEMO_POP3_PORT=%d" % pop3]
    try:
        t = time.monotonic()
        r = run(args, timeout=300, env={"CI": "true", "DEMO_DIR": demo_dir,
                                         "DEMO_NONINTERACTIVE": ""})
        out = r.stdout + r.stderr
        secs = time.monotonic() - t
        m = re.search(r"^demo: (\d+) passed, 0 failed$", out, re.M)
        report(r.returncode == 0 and m is not None,
               "make demo in CI mode runs its scripted two-device run to the end (%s checks, "
               "%.1f s)" % (m.group(1) if m else "?", secs),
               "exit status %d\n%s" % (r.returncode, tail(out, 30)))
        left = procs_matching(demo_marks(demo_dir, out))
        report(not left and not listening(imap) and not listening(pop3),
               "make demo in CI mode leaves no process behind",
               "; ".join(left) or "a demo port still listens")

        r = run(args, timeout=300, env={"CI": "", "DEMO_DIR": demo_dir,
                                         "DEMO_NONINTERACTIVE": "0"})
        out = r.stdout + r.stderr
        running = listening(imap) and listening(pop3)
        report(r.returncode == 0 and running and "make demo-stop" in out
               and "demo#" in out and str(pop3) in out,
               "make demo leaves popgate and Dovecot running and says how to connect and stop",
               "exit status %d, listening %s\n%s" % (r.returncode, running, tail(out, 20)))
        marks = demo_marks(demo_dir, out)
        r = run(["make", "--no-print-directory", "demo-stop"], timeout=120,
                env={"DEMO_DIR": demo_dir})
        time.sleep(0.2)
        left = procs_matching(marks)
        report(r.returncode == 0 and not left and not listening(imap) and not listening(pop3),
               "make demo-stop stops everything the demo started",
               "; ".join(left) or tail(r.stdout + r.stderr))
    finally:
        # Whatever a failed check left: stop it by the demo's own records.
        if os.path.exists(os.path.join(demo_dir, "demo.json")):
            run(["tests/demo/demo.sh", "stop"], timeout=120, env={"DEMO_DIR": demo_dir})
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------ main

def main():
    global only
    if "-k" in sys.argv:
        only = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-k"]
    # man, groff and the Debian build tools (make deb installs its own).
    r = run(["tests/deps.sh", "man-db", "groff-base"], timeout=300)
    if r.returncode != 0:
        print(tail(r.stdout + r.stderr))
    scratch = tempfile.mkdtemp(prefix="pgt-root-")
    try:
        if wanted("man"):
            check_man_sources()
        if wanted("keys"):
            check_keys()
        deb = None
        if wanted("deb"):
            deb = check_deb(scratch)
        if wanted("unit"):
            check_unit(scratch if deb else None)
        if wanted("install"):
            check_install()
        if wanted("demo"):
            check_demo()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("packaging: %d passed, %d failed%s (%.0f s)" % (
        passed, failed, (", %d skipped" % skipped) if skipped else "",
        time.monotonic() - T0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
