"""The Prometheus endpoint ([metrics] listen): scraped with curl before and
after real POP3 sessions; the counters must move by what the sessions did,
and the text must follow the exposition format 0.0.4."""
import re
import shutil
import signal
import subprocess
import unittest

import harness as h

ENV = None
GW = None          # popgate with [metrics] listen = 127.0.0.1:PORT
PORT = None
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RESULTS = ("ok", "auth_failed", "no_route", "upstream_unavailable", "upstream_error",
           "in_use", "state_store", "login_delay")


def setUpModule():
    global ENV, GW, PORT
    if h.NATIVE:
        raise unittest.SkipTest("popgate-specific (POPGATE_E2E_NATIVE=1)")
    if shutil.which("curl") is None:
        raise unittest.SkipTest("curl not installed")
    try:
        ENV = h.Env(fill_users=("alice",), big_mb=0.1)
        PORT = h.free_port()
        GW = h.Popgate(ENV.dc.imap_port,
                       extra="[metrics]\nlisten = 127.0.0.1:%d\n" % PORT).start()
        if not h.wait_listening(PORT, 10, GW.proc):
            raise RuntimeError("metrics endpoint not listening on %d; log:\n%s"
                               % (PORT, GW.log_text()[-3000:]))
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    global ENV, GW
    if GW is not None:
        GW.cleanup()
        GW = None
    if ENV is not None:
        ENV.close()
        ENV = None


# ---------------------------------------------------------------- scraping

def curl(path="/metrics", method=None):
    """(status, content type, body) of one request, curl bounded to 5 s."""
    args = ["curl", "-s", "-S", "--max-time", "5", "-w", "\n%{http_code}\n%{content_type}"]
    if method == "HEAD":
        args += ["-I"]
    elif method is not None:
        args += ["-X", method, "-d", "x=1"]
    out = subprocess.run(args + ["http://127.0.0.1:%d%s" % (PORT, path)],
                         stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
    if out.returncode != 0:
        raise AssertionError("curl exit %d: %s" % (out.returncode, out.stderr.decode()))
    body, code, ctype = out.stdout.decode("utf-8").rsplit("\n", 2)
    return int(code), ctype, body


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _labels(text, i):
    """Parses {a="x",b="y"} from text[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while text[i] != "}":
        m = _NAME.match(text, i)
        if not m or text[m.end():m.end() + 2] != '="':
            raise ValueError("bad label at %r" % text[i:])
        i = m.end() + 2
        value = []
        while text[i] != '"':
            if text[i] == "\\":
                i += 1
                if text[i] not in _ESCAPES:
                    raise ValueError("bad escape \\%s" % text[i])
                value.append(_ESCAPES[text[i]])
            else:
                value.append(text[i])
            i += 1
        labels[m.group(0)] = "".join(value)
        i += 1
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise ValueError("bad label list at %r" % text[i:])
    return labels, i + 1


def parse(text):
    """{(name, frozenset(labels)): value} plus {family: type}. Raises
    ValueError for a line that breaks the text format, a family declared
    twice, or a sample outside the family typed last."""
    samples, types, helps = {}, {}, set()
    family, ftype = None, None
    for line in text.split("\n"):
        if line == "":
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4:
                raise ValueError("bad comment %r" % line)
            name = parts[2]
            if line.startswith("# HELP "):
                if name in helps:
                    raise ValueError("HELP twice for %s" % name)
                helps.add(name)
            else:
                if name in types:
                    raise ValueError("TYPE twice for %s" % name)
                types[name] = parts[3]
                family, ftype = name, parts[3]
            continue
        if line.startswith("#"):
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError("bad line %r" % line)
        name, i = m.group(0), m.end()
        allowed = ({family + s for s in ("_bucket", "_sum", "_count")}
                   if ftype == "histogram" else {family})
        if name not in allowed:
            raise ValueError("%s outside its family %s" % (name, family))
        labels = {}
        if line[i] == "{":
            labels, i = _labels(line, i)
        if line[i] != " ":
            raise ValueError("no value in %r" % line)
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError("duplicate series %r" % line)
        samples[key] = float(line[i + 1:])
    return samples, types


def scrape():
    code, ctype, body = curl()
    if code != 200:
        raise AssertionError("GET /metrics -> %d" % code)
    return parse(body)[0]


def value(samples, name, **labels):
    return samples.get(("popgate_" + name, frozenset(labels.items())), 0.0)


# ---------------------------------------------------------------- tests

class TestMetrics(unittest.TestCase):
    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def connect(self):
        c = GW.pop3()
        self.clients.append(c)
        c.read_greeting()
        return c

    def quit(self, c):
        try:
            c.cmd("QUIT")
        except (h.Closed, ConnectionResetError, BrokenPipeError):
            pass

    def wait_idle(self):
        """Waits (bounded) until no session is open; returns that scrape."""
        last = [None]

        def idle():
            last[0] = scrape()
            return value(last[0], "sessions_current") == 0
        self.assertTrue(h.wait_until(idle, 10, 0.1), "sessions_current stays at %s"
                        % value(last[0], "sessions_current"))
        return last[0]

    def test_format_and_headers(self):
        code, ctype, body = curl()
        self.assertEqual(code, 200)
        self.assertEqual(ctype, CONTENT_TYPE)
        self.assertTrue(body.endswith("\n"))
        samples, types = parse(body)
        want = {"start_time_seconds": "gauge", "sessions_current": "gauge",
                "sessions_total": "counter", "connections_refused_total": "counter",
                "logins_total": "counter", "upstream_connect_seconds": "histogram",
                "upstream_connect_failures_total": "counter", "bytes_out_total": "counter",
                "commands_total": "counter", "redis_errors_total": "counter",
                "redis_failovers_total": "counter",
                "auth_delayed_total": "counter", "config_reloads_total": "counter",
                "metrics_connections": "gauge", "metrics_refused_total": "counter",
                "metrics_timeouts_total": "counter"}
        for name, t in want.items():
            self.assertEqual(types.get("popgate_" + name), t, name)
        self.assertGreater(value(samples, "start_time_seconds"), 1.6e9)
        self.assertGreaterEqual(value(samples, "metrics_connections"), 1)  # this scrape
        for reason in ("max_connections", "max_connections_per_ip", "shutting_down"):
            self.assertIn(("popgate_connections_refused_total",
                           frozenset({"reason": reason}.items())), samples)

    def test_session_counters(self):
        before = self.wait_idle()

        c = self.connect()
        self.assertTrue(c.login("alice#d1", "secret").startswith("+OK"))
        data = c.retr(1)
        self.assertGreater(len(data), 0)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

        c = self.connect()
        r = c.login("alice", "WrongPw-Zq82")
        self.assertTrue(r.startswith("-ERR"), r)
        self.quit(c)

        after = self.wait_idle()

        def grew(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(grew("sessions_total"), 2)
        self.assertEqual(value(after, "sessions_current"), 0)
        self.assertEqual(grew("logins_total", route="default", result="ok"), 1)
        self.assertEqual(grew("logins_total", route="default", result="auth_failed"), 1)
        for result in RESULTS:     # every result is shown, zeros included
            self.assertIn(("popgate_logins_total",
                           frozenset({"route": "default", "result": result}.items())), after)
        self.assertGreaterEqual(grew("bytes_out_total", route="default"), len(data))
        self.assertEqual(grew("commands_total", route="default", command="retr"), 1)
        self.assertEqual(grew("commands_total", route="default", command="dele"), 0)
        self.assertGreaterEqual(grew("upstream_connect_seconds_count", route="default"), 1)
        # the histogram is cumulative and its +Inf bucket is the count
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                         if k[0] == "popgate_upstream_connect_seconds_bucket"
                         and dict(k[1])["route"] == "default")
        self.assertEqual(len(buckets), 12)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1], (float("inf"),
                                       value(after, "upstream_connect_seconds_count",
                                             route="default")))

    def test_dele_and_top_counted(self):
        before = self.wait_idle()
        c = self.connect()
        self.assertTrue(c.login("alice#d2", "secret").startswith("+OK"))
        self.assertTrue(c.cmd("TOP 1 0").startswith("+OK"))
        c.multi()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("RSET").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        after = self.wait_idle()
        for cmd, n in (("top", 1), ("dele", 1), ("retr", 0)):
            self.assertEqual(value(after, "commands_total", route="default", command=cmd)
                             - value(before, "commands_total", route="default", command=cmd),
                             n, cmd)

    def test_reload_counted_and_counters_kept(self):
        before = self.wait_idle()
        start = GW.log_size()
        GW.signal(signal.SIGHUP)

        def reloaded():
            s = scrape()
            return s if value(s, "config_reloads_total", result="ok") > \
                value(before, "config_reloads_total", result="ok") else None
        after = h.wait_until(reloaded, 10, 0.1)
        self.assertTrue(after, "config_reloads_total{result=\"ok\"} did not grow; log:\n%s"
                        % GW.log_since(start))
        self.assertTrue(GW.alive())
        # counters do not go backwards across a reload
        for key, v in before.items():
            if key[0].endswith("_total") or key[0].endswith("_count"):
                self.assertGreaterEqual(after.get(key, 0.0), v, key)

    def test_other_paths_and_methods(self):
        code, _, body = curl("/nope")
        self.assertEqual(code, 404)
        self.assertNotIn("popgate_", body)
        code, _, _ = curl("/metrics", method="POST")
        self.assertEqual(code, 405)
        code, ctype, _ = curl("/metrics", method="HEAD")
        self.assertEqual(code, 200)
        self.assertEqual(ctype, CONTENT_TYPE)
        self.assertTrue(GW.alive())


class TestGrafanaDashboard(unittest.TestCase):
    """packaging/grafana/popgate-dashboard.json: valid JSON Grafana can
    import, and every query names metrics and labels that a running
    popgate serves (instance and le come from Prometheus)."""

    PATH = "packaging/grafana/popgate-dashboard.json"

    def load(self):
        import json
        import os
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        with open(os.path.join(root, self.PATH)) as f:
            return json.load(f)

    def test_shape(self):
        d = self.load()
        self.assertTrue(d["title"] and d["uid"])
        ids = [p["id"] for p in d["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        cells = set()
        for p in d["panels"]:
            self.assertTrue(p["targets"], p["title"])
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24)
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, "panels overlap: %s" % p["title"])
                    cells.add((x, y))

    def test_queries_name_served_metrics(self):
        # a good and a bad login, so that the labelled series exist
        with GW.pop3() as c:
            c.read_greeting()
            self.assertTrue(c.login("alice", "secret").startswith("+OK"))
            c.cmd("QUIT")
        with GW.pop3() as c:
            c.read_greeting()
            c.login("alice", "wrong")
        samples = scrape()
        labels = {}
        for name, ls in samples:
            labels.setdefault(name, set()).update(k for k, _ in ls)
        d = self.load()
        exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
        exprs.append(d["templating"]["list"][1]["definition"])
        for e in exprs:
            names = re.findall(r"\bpopgate_[a-z_]+", e)
            self.assertTrue(names, e)
            for n in names:
                self.assertIn(n, labels, "%s: %s is not served" % (e, n))
                for group in re.findall(r"by \(([^)]*)\)", e):
                    for lab in (x.strip() for x in group.split(",")):
                        if lab not in ("instance", "le"):
                            self.assertIn(lab, labels[n], "%s: %s has no label %s"
                                          % (e, n, lab))
