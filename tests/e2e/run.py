#!/usr/bin/env python3
"""Run popgate's end-to-end tests (tests/e2e/test_*.py, unittest).

usage: run.py --binary build/popgate [-k PATTERN ...] [-v] [--keep] [--jobs N]

Prints one line per test with its outcome and ends with exactly one line
    e2e: N passed, N failed[, N skipped]
Exit status 1 if anything failed (errors count as failures). Every process
the tests started (Dovecot, popgate, fake servers) is stopped on the way out,
also on failure, Ctrl-C, SIGTERM or the global deadline.

With --jobs N (or E2E_JOBS=N) N test modules run at a time, each in its
own process with its own block of ports (harness.free_port()); a module's
lines are printed together when it ends, the summary line sums them all.

Environment: POPGATE_E2E_KEEP=1 keeps the temp dirs (logs) for inspection;
POPGATE_E2E_NATIVE=1 points the protocol tests at Dovecot's own POP3 to check
the tests themselves (popgate-specific tests are skipped then).
"""
import argparse
import collections
import fnmatch
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Result(unittest.TestResult):
    def __init__(self, stream, verbose):
        super().__init__()
        self.out = stream
        self.verbose = verbose
        self.npass = 0
        self.nfail = 0
        self.nskip = 0
        self.t0 = {}

    def _name(self, test):
        return test.id().replace("__main__.", "")

    def startTest(self, test):
        super().startTest(test)
        self.t0[test.id()] = time.monotonic()
        if self.verbose:
            self.out.write("%s ... " % self._name(test))
            self.out.flush()

    def _line(self, test, outcome, detail=None):
        dt = time.monotonic() - self.t0.get(test.id(), time.monotonic())
        if not self.verbose:
            self.out.write("%s ... " % self._name(test))
        self.out.write("%s (%.2fs)\n" % (outcome, dt))
        if detail:
            self.out.write("    " + detail.rstrip().replace("\n", "\n    ") + "\n")
        self.out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.npass += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.nfail += 1
        self._line(test, "FAIL", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self.nfail += 1
        if isinstance(test, unittest.TestCase):
            self._line(test, "ERROR", self._exc_info_to_string(err, test))
        else:  # setUpModule / setUpClass failure (_ErrorHolder)
            self.out.write("%s ... ERROR\n    %s\n" % (
                test.description, self._exc_info_to_string(err, test)
                .rstrip().replace("\n", "\n    ")))
            self.out.flush()

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.nskip += 1
        self._line(test, "skipped: %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.npass += 1
        self._line(test, "expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.nfail += 1
        self._line(test, "UNEXPECTED SUCCESS")

    def addSubTest(self, test, subtest, err):
        # Sub-test failures mark the whole test failed once (counted in
        # stopTest); print each failing sub-test.
        if err is not None:
            self.out.write("  %s ... FAIL\n    %s\n" % (
                subtest.id().replace("__main__.", ""),
                self._exc_info_to_string(err, test).rstrip().replace("\n", "\n    ")))
            self.out.flush()
            self._subfail = getattr(self, "_subfail", set())
            self._subfail.add(test.id())
        super().addSubTest(test, subtest, err)

    def stopTest(self, test):
        sub = getattr(self, "_subfail", set())
        if test.id() in sub:
            sub.discard(test.id())
            # addSuccess was called if the body itself passed: undo it
            if not any(t is test for t, _ in self.failures + self.errors):
                self.npass -= 1
                self.nfail += 1
                self.out.write("%s ... FAIL (sub-tests failed)\n" % self._name(test))
                self.failures.append((test, "sub-tests failed"))
        super().stopTest(test)


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def filter_suite(suite, patterns):
    """unittest -k semantics: substring (or fnmatch if it has a wildcard) of
    the test id."""
    if not patterns:
        return suite

    def keep(t):
        tid = t.id()
        for p in patterns:
            if any(ch in p for ch in "*?["):
                if fnmatch.fnmatchcase(tid, p) or fnmatch.fnmatchcase(tid, "*%s*" % p):
                    return True
            elif p in tid:
                return True
        return False

    def walk(s):
        out = unittest.TestSuite()
        for t in s:
            if isinstance(t, unittest.TestSuite):
                sub = walk(t)
                if sub.countTestCases():
                    out.addTest(sub)
            elif keep(t) or not isinstance(t, unittest.TestCase):
                out.addTest(t)
        return out
    return walk(suite)


# Ports for the modules of a parallel run: each its own block, all below
# the ephemeral range (32768 on), which outgoing connections take from.
PORTS_LOW, PORTS_HIGH = 10000, 32000
SUMMARY = re.compile(r"^e2e: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")


def module_of(test):
    return test.id().split(".", 1)[0]


def run_parallel(a, suite, result, out, deadline_at):
    """Every module of suite in its own run.py, a.jobs at a time (largest
    first), each one's counts added to result as it ends (so an interrupted
    run still sums the modules that ended)."""
    counts = collections.Counter(module_of(t) for t in iter_tests(suite))
    names = sorted(counts)
    span = (PORTS_HIGH - PORTS_LOW) // max(len(names), 1)
    blocks = {m: (PORTS_LOW + i * span, PORTS_LOW + (i + 1) * span - 1)
              for i, m in enumerate(names)}
    queue = sorted(names, key=lambda m: -counts[m])
    running = []   # (module, Popen, output file)

    def finish(module, proc, f):
        f.seek(0)
        text = f.read()
        f.close()
        got = None
        for line in text.splitlines():
            m = SUMMARY.match(line)
            if m:
                got = m
            elif not line.startswith("(") or not line.endswith("s)"):
                out.write(line + "\n")
        if got is None:
            out.write("%s ... ERROR: the module's run ended (status %s) without a summary\n"
                      % (module, proc.returncode))
            result.nfail += 1
        else:
            result.npass += int(got.group(1))
            result.nfail += int(got.group(2))
            result.nskip += int(got.group(3) or 0)
            if proc.returncode != 0 and int(got.group(2)) == 0:
                out.write("%s ... ERROR: exit status %d\n" % (module, proc.returncode))
                result.nfail += 1
        out.flush()

    try:
        while queue or running:
            while queue and len(running) < a.jobs:
                module = queue.pop(0)
                f = tempfile.TemporaryFile(mode="w+")
                env = dict(os.environ, E2E_PORTS="%d-%d" % blocks[module])
                cmd = [sys.executable, os.path.abspath(__file__),
                       "--binary", os.environ["POPGATE_BINARY"], "--module", module,
                       "--deadline", "%.0f" % max(deadline_at - time.monotonic(), 1)]
                for k in a.k:
                    cmd += ["-k", k]
                running.append((module, subprocess.Popen(
                    cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True), f))
            time.sleep(0.1)
            for item in [r for r in running if r[1].poll() is not None]:
                running.remove(item)
                finish(*item)
            if time.monotonic() > deadline_at + 30:
                out.write("\nDEADLINE: the e2e run exceeded %.0fs; stopping every module\n"
                          % a.deadline)
                result.nfail += 1
                break
    finally:
        for module, proc, f in running:
            # Each cleans up after itself on SIGTERM (its own deadline
            # has passed by now, or this run was interrupted).
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
        for module, proc, f in running:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            finish(module, proc, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=None, help="the popgate binary (default build/popgate)")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="only tests whose id contains PATTERN (repeatable; wildcards ok)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print the test name before it runs")
    ap.add_argument("--keep", action="store_true", help="keep temp dirs (logs)")
    ap.add_argument("--deadline", type=float, default=float(os.environ.get("E2E_DEADLINE", 900)),
                    help="hard limit for the whole run in seconds (default 900)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("E2E_JOBS", 1)),
                    help="test modules run at a time, each in its own process (default 1)")
    ap.add_argument("--module", default=None, help=argparse.SUPPRESS)   # a worker of --jobs
    a = ap.parse_args()

    root = os.path.dirname(os.path.dirname(HERE))
    binary = a.binary or os.path.join(root, "build", "popgate")
    os.environ["POPGATE_BINARY"] = os.path.abspath(binary)
    if a.keep:
        os.environ["POPGATE_E2E_KEEP"] = "1"

    import harness  # noqa: E402  (after POPGATE_BINARY is set)

    out = sys.stdout
    result = Result(out, a.verbose)
    done = threading.Event()

    def summary():
        line = "e2e: %d passed, %d failed" % (result.npass, result.nfail)
        if result.nskip:
            line += ", %d skipped" % result.nskip
        out.write(line + "\n")
        out.flush()

    def on_deadline():
        if done.is_set():
            return
        out.write("\nDEADLINE: the e2e run exceeded %.0fs; stopping everything\n" % a.deadline)
        harness.cleanup_all()
        result.nfail += 1
        summary()
        os._exit(1)

    timer = threading.Timer(a.deadline, on_deadline)
    timer.daemon = True

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # also when started in background

    harness_ok = True
    if not harness.NATIVE and not os.access(os.environ["POPGATE_BINARY"], os.X_OK):
        out.write("popgate binary %s does not exist or is not executable (run make)\n"
                  % os.environ["POPGATE_BINARY"])
        harness_ok = False

    t_start = time.monotonic()
    try:
        if not harness_ok:
            result.nfail += 1
        else:
            loader = unittest.TestLoader()
            suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
            suite = filter_suite(suite, a.k)
            if a.module:
                suite = unittest.TestSuite(
                    [x for x in iter_tests(suite) if module_of(x) == a.module])
            if a.jobs > 1 and not a.module:
                run_parallel(a, suite, result, out, t_start + a.deadline)
            else:
                timer.start()
                suite.run(result)
    except KeyboardInterrupt as e:
        out.write("\ninterrupted (%s); cleaning up\n" % (str(e) or "SIGINT"))
        result.nfail += 1
    except Exception:
        out.write("run.py internal error:\n" + traceback.format_exc())
        result.nfail += 1
    finally:
        done.set()
        timer.cancel()
        # ignore further signals while cleaning up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        harness.cleanup_all()
    out.write("(%.1fs)\n" % (time.monotonic() - t_start))
    summary()
    return 1 if result.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
