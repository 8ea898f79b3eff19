"""libcurl is loaded only for OAuth2 (issue 13, the daemon's RSS): a gateway
whose configuration has no auth = oauth2 route and no enrolment page does
not map libcurl (/proc/PID/maps) and serves password logins; a SIGHUP that
adds an oauth2 route loads it, and an enrolled account then logs in with
its gateway password through the new route. When libcurl.so.4 cannot be
used (a dynamic loader path, LD_LIBRARY_PATH, that finds a broken file
first; no test hook in the product) the daemon says why in its log, keeps
serving password routes, and answers an oauth2 login with a true temporary
error until a reload finds a usable library; `popgate account` says why and
fails; `--check` warns and passes.

Reuses test_oauth's world (authorization server, Dovecot with an oauth2
passdb, the shared Redis, alice enrolled through its gateway)."""
import ctypes
import os
import subprocess
import unittest

import harness as h
import test_oauth as o


def setUpModule():
    o.setUpModule()


def tearDownModule():
    o.tearDownModule()


def libcurl_maps(g):
    """The lines of libcurl in the daemon's /proc/PID/maps."""
    with open("/proc/%d/maps" % g.proc.pid) as f:
        return [line.split()[-1] for line in f if "libcurl" in line]


def lazy_gateway(extra=""):
    """Password logins to the default [upstream] (Dovecot's plain IMAP port),
    the shared Redis (where alice's OAuth2 record is)."""
    g = h.Popgate(o.DC.imap_port, cache={"url": "unix:" + o.RDS.sock}, extra=extra)
    o.ALL_GATEWAYS.append(g)
    return g


def system_libcurl():
    """The path of the system's libcurl.so.4, as this process maps it."""
    ctypes.CDLL("libcurl.so.4")
    with open("/proc/self/maps") as f:
        for line in f:
            if "/libcurl.so.4" in line:
                return line.split()[-1]
    raise unittest.SkipTest("no libcurl.so.4 on this system")


def start_with_library_path(g, path):
    old = os.environ.get("LD_LIBRARY_PATH")
    os.environ["LD_LIBRARY_PATH"] = path
    try:
        return g.start()
    finally:
        if old is None:
            del os.environ["LD_LIBRARY_PATH"]
        else:
            os.environ["LD_LIBRARY_PATH"] = old


def lists_alices_mailbox(test, c, r):
    """A logged-in session (login answer r) whose STAT counts alice's IMAP
    INBOX; then QUIT."""
    test.assertTrue(r.startswith("+OK"), r)
    stat = c.cmd("STAT")
    with o.DC.imap("alice") as im:
        count = len(im.listing())
    test.assertTrue(stat.startswith("+OK %d " % count), (stat, count))
    test.assertTrue(c.cmd("QUIT").startswith("+OK"))


def password_login_works(test, g):
    c = g.pop3()
    c.read_greeting()
    lists_alices_mailbox(test, c, c.login("alice", "secret"))


def reload(test, g, generation):
    """SIGHUP, until the reload to generation is logged; its log lines."""
    mark = g.log_size()
    g.signal(1)
    test.assertTrue(g.wait_log(r"event=reloaded generation=%d" % generation, 30, mark),
                    g.log_since(mark))
    return g.log_since(mark)


class TestLoadedOnDemand(unittest.TestCase):
    def test_no_oauth_route_no_libcurl_then_reload_adds_one(self):
        g = lazy_gateway().start()
        try:
            password_login_works(self, g)
            self.assertEqual(libcurl_maps(g), [])
            self.assertNotIn("event=oauth_", g.log_text())
            # An enrolled account's address, before its route exists: the
            # default upstream gets it as a password login, and refuses.
            c, r = o.pop_login(g, o.ALICE)
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
            c.close()
            self.assertEqual(libcurl_maps(g), [])

            g.rewrite_conf(g.conf_text + "\n" + o.route("oauth.test", "xoauth2"))
            self.assertIn("event=oauth_ready", reload(self, g, 2))
            self.assertTrue(any("libcurl.so.4" in m for m in libcurl_maps(g)), libcurl_maps(g))
            lists_alices_mailbox(self, *o.pop_login(g, o.ALICE))
            # Password routes go on as before.
            password_login_works(self, g)
            # A second reload does not set OAuth2 up twice.
            self.assertNotIn("event=oauth_", reload(self, g, 3))
        finally:
            g.cleanup()

    def test_enrol_page_alone_loads_libcurl(self):
        g = lazy_gateway(extra="[enrol]\nlisten = 127.0.0.1:%d\n" % h.free_port()).start()
        try:
            self.assertTrue(g.wait_log(r"event=enrol_listening", 10), g.log_text())
            self.assertTrue(any("libcurl.so.4" in m for m in libcurl_maps(g)), libcurl_maps(g))
        finally:
            g.cleanup()


class TestLibcurlUnusable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = h.make_tempdir("pgt-nocurl-")
        # Found before the system's copy: an empty file (dlopen fails, in
        # the daemon's test) and a shared object without libcurl's functions.
        cls.stub = os.path.join(cls.dir, "stub")
        os.mkdir(cls.stub)
        src = os.path.join(cls.dir, "stub.c")
        with open(src, "w") as f:
            f.write("int popgate_test_not_curl;\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libcurl.so.4", "-o",
                        os.path.join(cls.stub, "libcurl.so.4"), src], check=True, timeout=60)

    def test_daemon_says_why_and_serves_password_routes_until_reload(self):
        libdir = os.path.join(self.dir, "fixed-later")
        os.mkdir(libdir)
        lib = os.path.join(libdir, "libcurl.so.4")
        open(lib, "w").close()
        g = lazy_gateway(extra=o.route("oauth.test", "xoauth2"))
        start_with_library_path(g, libdir)
        try:
            self.assertTrue(g.wait_log(r"event=oauth_setup_failed", 10), g.log_text())
            log = g.log_text()
            self.assertRegex(log, r'event=oauth_setup_failed error="cannot use libcurl\.so\.4 '
                             r'\([^)]*libcurl\.so\.4: file too short\); OAuth2 needs libcurl, '
                             r'Debian package libcurl4"')
            self.assertNotIn("event=oauth_ready", log)
            password_login_works(self, g)
            c, r = o.pop_login(g, o.ALICE)
            self.assertEqual(r, "-ERR [SYS/TEMP] OAuth2 is not available on this gateway now")
            c.close()
            self.assertTrue(g.alive())
            self.assertEqual(libcurl_maps(g), [])
            # The library "installed" where the loader looks, then a reload:
            # loaded now, and the login works.
            os.unlink(lib)
            os.symlink(system_libcurl(), lib)
            self.assertIn("event=oauth_ready", reload(self, g, 2))
            lists_alices_mailbox(self, *o.pop_login(g, o.ALICE))
        finally:
            g.cleanup()

    def test_check_warns(self):
        g = lazy_gateway(extra=o.route("oauth.test", "xoauth2"))
        self.addCleanup(g.cleanup)
        with open(g.conf, "w") as f:
            f.write(g.conf_text)
        env = dict(os.environ, LD_LIBRARY_PATH=self.stub)
        r = subprocess.run([g.binary, "-c", g.conf, "--check"], env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        self.assertIn(": warning: cannot use libcurl.so.4 (no function curl_global_init: ",
                      r.stderr)
        self.assertIn("auth = oauth2 logins will answer -ERR [SYS/TEMP]", r.stderr)
        # With the system's libcurl: no warning.
        r = subprocess.run([g.binary, "-c", g.conf, "--check"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("libcurl", r.stderr)

    def test_account_tool_says_why(self):
        env = dict(os.environ, LD_LIBRARY_PATH=self.stub)
        r = subprocess.run([o.GW.binary, "account", "-c", o.GW.conf, "list"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("popgate: cannot use libcurl.so.4 (no function curl_global_init: ",
                      r.stderr)
        self.assertIn("Debian package libcurl4", r.stderr)
        # The same command with the real library lists alice.
        r = subprocess.run([o.GW.binary, "account", "-c", o.GW.conf, "list"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(o.ALICE, r.stdout)
