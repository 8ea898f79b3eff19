"""OAuth2 upstream end to end: a real Dovecot with an oauth2 passdb whose
token introspection points at the test authorization server
(oauth_server.py), so Dovecot, not popgate, decides whether a token is
good; `popgate account add` enrols through the device grant and the code
grant with PKCE (loopback redirect and pasted URL); POP3 clients (poplib,
curl, the raw client) log in with the gateway password. Faults: expired
access tokens, a revoked refresh token, a token endpoint down or hanging,
a wrong gateway password, two gateways refreshing one account at once.
Finally every token and password used is looked for in the Redis data and
in every log."""
import os
import poplib
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness as h
import oauth_server
from test_devices import RedisServer

ALICE = "alice@oauth.test"          # XOAUTH2 route
BOB = "bob@bearer.test"             # OAUTHBEARER route
PASSWORDS = {ALICE: "Gw-pass alice 1!", BOB: "Gw-pass bob 2?"}
SRV = RDS = DC = GW = None
DIR = None
USED_PASSWORDS = set()
ALL_GATEWAYS = []


def route(domain, mech):
    return ("[route %s]\nhost = 127.0.0.1\nport = %d\ntls = imaps\nca_file = %s\n"
            "login_name = local-part\nauth = oauth2\noauth_mechanism = %s\n"
            "client_id = %s\ntoken_endpoint = %s/token\ndevice_endpoint = %s/device\n"
            "authorization_endpoint = %s/authorize\nscope = mail offline_access\n"
            "token_timeout = 3s\n" % (domain, DC.imaps_port, DC.cert, mech,
                                      oauth_server.CLIENT_ID, SRV.base, SRV.base, SRV.base))


def gateway(metrics_port=None, enrol_port=None, tls=None, enrol=""):
    extra = route("oauth.test", "xoauth2") + "\n" + route("bearer.test", "oauthbearer")
    if metrics_port:
        extra += "\n[metrics]\nlisten = 127.0.0.1:%d\n" % metrics_port
    if enrol_port:
        extra += "\n[enrol]\nlisten = 127.0.0.1:%d\n%s" % (enrol_port, enrol)
    g = h.Popgate(0, upstream=False, cache={"url": "unix:" + RDS.sock},
                  server={"auth_fail_delay": "700ms"}, extra=extra, tls=tls)
    ALL_GATEWAYS.append(g)
    return g.start()


def setUpModule():
    global SRV, RDS, DC, GW, DIR
    if shutil.which("redis-server") is None or shutil.which("dovecot") is None:
        raise unittest.SkipTest("needs dovecot and redis-server")
    SRV = oauth_server.AuthServer().start()
    DIR = h.make_tempdir("pgt-oauth-")
    RDS = RedisServer(DIR).start()
    dcdir = h.make_tempdir("pgt-dco-")
    with open(os.path.join(dcdir, "oauth2.conf.ext"), "w") as f:
        f.write("introspection_mode = post\nintrospection_url = %s/introspect\n"
                "username_attribute = username\nactive_attribute = active\n"
                "active_value = true\n" % SRV.base)
    DC = h.Dovecot(tmpdir=dcdir, ssl=True, extra_conf="""
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %s/oauth2.conf.ext
}
""" % dcdir).start()
    h.fill_mailbox(DC, "alice", big_mb=0.2)
    h.fill_mailbox(DC, "bob", big_mb=0.1)
    GW = gateway(metrics_port=h.free_port())
    enrol_device(GW, ALICE, "alice")
    enrol_code(GW, BOB, "bob", pasted=False)


def tearDownModule():
    for x in (GW, DC, RDS):
        if x is not None:
            try:
                x.cleanup() if hasattr(x, "cleanup") else x.stop()
            except Exception:
                pass
    if SRV is not None:
        SRV.stop()


def account(g, *args, stdin=""):
    return subprocess.run([g.binary, "account", "-c", g.conf] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=60)


def start_add(g, address, *extra):
    p = subprocess.Popen([g.binary, "account", "-c", g.conf, "add", "--password-stdin"] +
                         list(extra) + [address], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write(PASSWORDS[address] + "\n")
    p.stdin.flush()
    USED_PASSWORDS.add(PASSWORDS[address])
    return p


def read_until(p, pattern, timeout=30):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m, seen
    raise AssertionError("no %r in the output of popgate account add:\n%s%s" %
                         (pattern, "".join(seen), p.stderr.read() if p.poll() is not None
                          else ""))


def finish(p):
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, "popgate account add: exit %s\n%s\n%s" % (p.returncode, out, err)
    assert "enrolled" in out, out
    return out


def enrol_device(g, address, user):
    p = start_add(g, address, "--method", "device")
    m, _ = read_until(p, r"enter the code (\S+)")
    assert SRV.approve_device(m.group(1), user)
    return finish(p)


def no_redirect_get(url):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code == 302:
            return e.headers["Location"]
        raise
    raise AssertionError("the authorization endpoint did not redirect")


def enrol_code(g, address, user, pasted):
    SRV.default_user = user
    p = start_add(g, address, "--method", "code")
    m, seen = read_until(p, r"^(http://127\.0\.0\.1:\d+/authorize\?\S+)")
    location = no_redirect_get(m.group(1))
    assert location.startswith("http://127.0.0.1:"), location
    if pasted:
        p.stdin.write(location + "\n")
        p.stdin.flush()
    else:
        # The browser comes back to popgate's loopback listener.
        with urllib.request.urlopen(location, timeout=10) as r:
            assert r.status == 200
    return "".join(seen) + finish(p)


def pop_login(g, address, password=None):
    c = g.pop3()
    c.read_greeting()
    r = c.login(address, password or PASSWORDS[address])
    return c, r


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class TestEnrolAndLogin(unittest.TestCase):
    def test_device_grant_then_poplib_full_session(self):
        p = poplib.POP3("127.0.0.1", GW.port, timeout=30)
        p.user(ALICE)
        self.assertTrue(p.pass_(PASSWORDS[ALICE]).startswith(b"+OK"))
        count, size = p.stat()
        with DC.imap("alice") as im:
            uids = im.listing()
            first = im.body(uids[0])
        self.assertEqual(count, len(uids))
        resp, lines, octets = p.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", h.expected_retr(first))
        p.quit()
        # Dovecot logged in alice with the token, not a password.
        self.assertRegex(DC.log_text(), r"Login: user=<alice>, method=XOAUTH2")

    def test_code_grant_loopback_then_oauthbearer_login_with_curl(self):
        out = subprocess.run(["curl", "-sS", "--max-time", "30", "-u",
                              "%s:%s" % (BOB, PASSWORDS[BOB]),
                              "pop3://127.0.0.1:%d/" % GW.port], capture_output=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        with DC.imap("bob") as im:
            n = len(im.listing())
        self.assertEqual(len(out.stdout.splitlines()), n)
        self.assertRegex(DC.log_text(), r"Login: user=<bob>, method=OAUTHBEARER")

    def test_code_grant_pasted_url_replaces_enrolment(self):
        before = SRV.refresh_calls
        out = enrol_code(GW, BOB, "bob", pasted=True)
        self.assertIn("enrolled already", out)
        c, r = pop_login(GW, BOB)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")
        # The new enrolment's fresh access token was used as it is.
        self.assertEqual(SRV.refresh_calls, before)

    def test_list_and_remove(self):
        r = account(GW, "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("alice@oauth.test route=oauth.test", r.stdout)
        self.assertIn("bob@bearer.test route=bearer.test", r.stdout)
        for t in SRV.issued_refresh + SRV.issued_access:
            self.assertNotIn(t, r.stdout)
        r = account(GW, "remove", "nobody@oauth.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not enrolled", r.stderr)


class TestGatewayPassword(unittest.TestCase):
    def test_wrong_password_is_auth_and_delayed(self):
        t0 = time.monotonic()
        c, r = pop_login(GW, ALICE, "not the gateway password")
        USED_PASSWORDS.add("not the gateway password")
        took = time.monotonic() - t0
        self.assertTrue(r.startswith("-ERR [AUTH] Authentication failed"), r)
        self.assertGreaterEqual(took, 0.6)
        c.close()
        # Dovecot never saw it: nothing went upstream for a wrong password.
        self.assertNotIn("not the gateway password", DC.log_text())

    def test_unenrolled_account_is_auth(self):
        c, r = pop_login(GW, "carol@oauth.test", "whatever")
        self.assertTrue(r.startswith("-ERR [AUTH] Authentication failed"), r)
        c.close()

    def test_password_change(self):
        new = "Gw-pass alice NEW"
        r = account(GW, "password", ALICE, stdin="wrong old\n%s\n" % new)
        self.assertEqual(r.returncode, 1)
        r = account(GW, "password", ALICE, stdin="%s\n%s\n" % (PASSWORDS[ALICE], new))
        self.assertEqual(r.returncode, 0, r.stderr)
        USED_PASSWORDS.add(new)
        old = PASSWORDS[ALICE]
        try:
            c, r = pop_login(GW, ALICE, old)
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
            c.close()
            c, r = pop_login(GW, ALICE, new)
            self.assertTrue(r.startswith("+OK"), r)
            c.cmd("QUIT")
        finally:
            r = account(GW, "password", ALICE, stdin="%s\n%s\n" % (new, old))
            self.assertEqual(r.returncode, 0, r.stderr)


class TestRefresh(unittest.TestCase):
    def test_expired_between_sessions_refresh_rotates(self):
        ok0 = SRV.refresh_ok
        SRV.expire_access_tokens()
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")
        self.assertEqual(SRV.refresh_ok, ok0 + 1)
        # The rotated refresh token was stored: the next expiry refreshes
        # again with it (the old one is dead at the server).
        SRV.expire_access_tokens()
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")
        self.assertEqual(SRV.refresh_ok, ok0 + 2)
        # Dovecot refused the stale token with its error challenge, which
        # popgate answered (RFC 7628 3.2.3) before the NO.
        m = re.search(r"event=upstream_token_refused status=(\S+)", GW.log_text())
        self.assertIsNotNone(m)
        self.assertNotIn(m.group(1), ("-", "?"))

    def test_expiry_during_session(self):
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        SRV.expire_access_tokens()
        # The session goes on: its IMAP connection is authenticated.
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assertTrue(c.retr(1))
        c.cmd("QUIT")
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")

    def test_two_sessions_one_gateway_one_refresh(self):
        ok0 = SRV.refresh_ok
        SRV.expire_access_tokens()
        results = {}

        def run(dev):
            c, r = pop_login(GW, ALICE + "#" + dev, PASSWORDS[ALICE])
            results[dev] = r
            c.cmd("QUIT")
        ts = [threading.Thread(target=run, args=(d,)) for d in ("pc1", "pc2", "pc3")]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(sorted(results), ["pc1", "pc2", "pc3"])
        for r in results.values():
            self.assertTrue(r.startswith("+OK"), results)
        # At most one refresh in flight per account: one at the server.
        self.assertEqual(SRV.refresh_ok, ok0 + 1)

    def test_two_gateways_refresh_one_account_at_once(self):
        g2 = gateway()
        try:
            ok0 = SRV.refresh_ok
            SRV.expire_access_tokens()
            results = {}

            def run(name, g):
                c, r = pop_login(g, ALICE)
                results[name] = r
                c.cmd("QUIT")
            ts = [threading.Thread(target=run, args=(n, g)) for n, g in (("a", GW), ("b", g2))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            self.assertTrue(results.get("a", "").startswith("+OK"), results)
            self.assertTrue(results.get("b", "").startswith("+OK"), results)
            # One refresh between them (the lease), and neither lost the
            # rotated token: another expiry refreshes fine from either.
            self.assertEqual(SRV.refresh_ok, ok0 + 1)
            SRV.expire_access_tokens()
            c, r = pop_login(g2, ALICE)
            self.assertTrue(r.startswith("+OK"), r)
            c.cmd("QUIT")
            self.assertEqual(SRV.refresh_ok, ok0 + 2)
        finally:
            g2.cleanup()


class TestFaults(unittest.TestCase):
    def tearDown(self):
        SRV.mode = "ok"

    def test_token_endpoint_down_is_temp_others_unaffected(self):
        SRV.mode = "down"
        SRV.expire_access_tokens()
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        c.close()
        SRV.mode = "ok"
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")

    def test_token_endpoint_hanging_is_bounded(self):
        # bob gets a fresh token first, so his login needs no refresh.
        SRV.expire_access_tokens()
        c, r = pop_login(GW, BOB)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")
        SRV.mode = "slow"
        with SRV.lock:
            for t, (user, exp) in list(SRV.access.items()):
                if user == "alice":
                    SRV.access[t] = (user, 0)
        result = {}

        def slow_login():
            t0 = time.monotonic()
            c, r = pop_login(GW, ALICE)
            result["r"], result["t"] = r, time.monotonic() - t0
            c.close()
        t = threading.Thread(target=slow_login)
        t.start()
        time.sleep(0.5)
        # Meanwhile another account logs in and works: the loop is free.
        c, r = pop_login(GW, BOB)
        self.assertTrue(r.startswith("+OK"), r)
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        c.cmd("QUIT")
        t.join(60)
        self.assertTrue(result["r"].startswith("-ERR [SYS/TEMP]"), result)
        self.assertLess(result["t"], 30)   # token_timeout 3s, far from the 30 s hang

    def test_revoked_refresh_token_asks_for_reauthorisation(self):
        port = int(re.search(r"listen = 127\.0\.0\.1:(\d+)", GW.conf_text.split("[metrics]")[1]).group(1))
        before = metric(metrics(port), "popgate_oauth_reauth_needed_total")
        SRV.revoke_refresh_tokens()
        SRV.expire_access_tokens()
        try:
            c, r = pop_login(GW, ALICE)
            c.close()
            self.assertTrue(r.startswith("-ERR [AUTH] This account must be authorized again: "),
                            r)
            self.assertIn("popgate account add alice@oauth.test", r)
            self.assertIn("event=oauth_reauth_needed", GW.log_text())
            text = metrics(port)
            self.assertEqual(metric(text, "popgate_oauth_reauth_needed_total"), before + 1)
            self.assertGreater(metric(text, 'popgate_oauth_refreshes_total{result="invalid_grant"}'),
                               0)
        finally:
            # Enrolling again brings it back (bob's grant went too).
            enrol_device(GW, ALICE, "alice")
            enrol_code(GW, BOB, "bob", pasted=False)
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")


def chromium():
    """Headless Chromium through chromedriver (Debian's python3-selenium,
    which lives in the system's dist-packages)."""
    try:
        from selenium import webdriver
    except ImportError:
        import sys
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            from selenium import webdriver
        except ImportError:
            raise unittest.SkipTest("python3-selenium not installed")
    from selenium.webdriver.chrome.service import Service
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        raise unittest.SkipTest("chromium and chromium-driver not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--user-data-dir=" + h.make_tempdir("pgt-chromium-")):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


class TestEnrolPage(unittest.TestCase):
    """The enrolment page, driven in a real browser against the test
    provider: the whole flow, a forged state, a state of another browser,
    a replayed callback."""

    @classmethod
    def setUpClass(cls):
        cls.port = h.free_port()
        cls.mport = h.free_port()
        cls.gw = gateway(metrics_port=cls.mport, enrol_port=cls.port)
        cls.base = "http://127.0.0.1:%d" % cls.port
        try:
            cls.drv = chromium()
        except BaseException:
            cls.gw.cleanup()
            raise
        cls.drv.set_page_load_timeout(30)

    @classmethod
    def tearDownClass(cls):
        cls.drv.quit()
        cls.gw.cleanup()

    def wait_for(self, by, what, timeout=30):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            return WebDriverWait(self.drv, timeout).until(
                lambda d: d.find_elements(by, what))[0]
        except TimeoutException:
            self.fail("no %s %s at %s:\n%s" % (by, what, self.drv.current_url,
                                               self.drv.page_source[:2000]))

    def test_whole_flow_then_pop3_login(self):
        d = self.drv
        SRV.default_user = "alice"
        before = metric(metrics(self.mport), 'popgate_oauth_enrolments_total{result="ok"}')
        d.get(self.base + "/")
        self.assertIn("Connect a mailbox", d.title)
        d.find_element("id", "address").send_keys(ALICE)
        d.find_element("css selector", "button[type=submit]").click()
        # The provider consents at once and sends the browser back.
        pw = self.wait_for("id", "password")
        callback = d.current_url
        self.assertTrue(callback.startswith(self.base + "/callback?"), callback)
        self.assertIn(ALICE, d.page_source)
        pw.send_keys(PASSWORDS[ALICE])
        d.find_element("id", "password2").send_keys(PASSWORDS[ALICE])
        d.find_element("css selector", "button[type=submit]").click()
        self.wait_for("xpath", "//h1[text()='Done']")
        self.assertIn(ALICE, d.page_source)
        self.assertNotIn(PASSWORDS[ALICE], d.page_source)
        # The legacy client logs in (through the other gateway: one store).
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")
        self.assertEqual(metric(metrics(self.mport),
                                'popgate_oauth_enrolments_total{result="ok"}'), before + 1)
        # Replaying the callback changes nothing.
        d.get(callback)
        self.assertIn("Not accepted", d.page_source)
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")

    def test_generated_password(self):
        d = self.drv
        SRV.default_user = "bob"
        d.get(self.base + "/")
        d.find_element("id", "address").send_keys(BOB)
        d.find_element("css selector", "button[type=submit]").click()
        self.wait_for("id", "password")
        d.find_element("css selector", "button[type=submit]").click()
        self.wait_for("xpath", "//h1[text()='Done']")
        m = re.search(r"<dt>Password</dt><dd>([A-Za-z0-9]{20})</dd>", d.page_source)
        self.assertIsNotNone(m, d.page_source)
        USED_PASSWORDS.add(m.group(1))
        c, r = pop_login(GW, BOB, m.group(1))
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")
        # Back to the password the other tests use.
        r = account(GW, "password", BOB, stdin="%s\n%s\n" % (m.group(1), PASSWORDS[BOB]))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_forged_state(self):
        self.drv.get(self.base + "/callback?code=abc&state=forgedstate0123456789")
        self.assertIn("Not accepted", self.drv.page_source)
        self.assertIn("unknown or has expired", self.drv.page_source)

    def test_state_of_another_browser(self):
        # Another client starts a sign-in; its state is no good in this browser.
        req = urllib.request.Request(self.base + "/start", data=("address=" + ALICE).encode(),
                                     method="POST")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        try:
            urllib.request.build_opener(NoRedirect).open(req, timeout=10)
            self.fail("no redirect")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 303)
            location = e.headers["Location"]
        state = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["state"][0]
        self.drv.get(self.base + "/callback?code=abc&state=" + state)
        self.assertIn("does not belong to a sign-in started in this browser",
                      self.drv.page_source)


class TestEnrolPageTls(unittest.TestCase):
    """With [tls] the page is HTTPS only, and its cookie is Secure."""

    def test_https_and_secure_cookie(self):
        d = h.make_tempdir("pgt-enrol-tls-")
        cert, key = h.make_cert(d, "enrol")
        port = h.free_port()
        g = gateway(enrol_port=port, tls={"cert_file": cert, "key_file": key})
        try:
            r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", cert,
                                "https://127.0.0.1:%d/" % port], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Connect a mailbox", r.stdout)
            r = subprocess.run(["curl", "-sS", "-i", "--max-time", "20", "--cacert", cert,
                                "-d", "address=" + ALICE, "https://127.0.0.1:%d/start" % port],
                               capture_output=True, text=True, timeout=60)
            self.assertIn("303", r.stdout.splitlines()[0])
            self.assertRegex(r.stdout, r"Set-Cookie: pg_enrol=[A-Za-z0-9_-]{22}; Path=/; "
                             r"HttpOnly; SameSite=Lax; Secure")
            self.assertIn("redirect_uri=https%3A%2F%2F127.0.0.1%3A" + str(port), r.stdout)
            # No plain HTTP on that port.
            r = subprocess.run(["curl", "-sS", "--max-time", "10",
                                "http://127.0.0.1:%d/" % port], capture_output=True,
                               text=True, timeout=60)
            self.assertNotIn("Connect a mailbox", r.stdout)
        finally:
            g.cleanup()


def enrol_in_page(base, address, password):
    """The enrolment page as a browser without scripts goes through it:
    the form, /start, the provider (which consents at once), /callback,
    the password form. Each request on a connection of its own."""
    jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with jar.open(base + "/", timeout=20) as r:
        assert b"Connect a mailbox" in r.read()
    data = urllib.parse.urlencode({"address": address}).encode()
    with jar.open(base + "/start", data=data, timeout=30) as r:
        assert r.geturl().startswith(base + "/callback?"), r.geturl()
        page = r.read().decode()
    m = re.search(r'name="ticket" value="([^"]+)"', page)
    assert m, page
    data = urllib.parse.urlencode({"ticket": m.group(1), "password": password,
                                   "password2": password}).encode()
    with jar.open(base + "/password", data=data, timeout=30) as r:
        page = r.read().decode()
    assert "<h1>Done</h1>" in page, page


class Dribbler:
    """A slowloris client: a request header begun, then a byte every
    100 ms from a thread; notes when the server closes it."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        self.sock.setblocking(False)
        self.started = time.monotonic()
        self.closed_after = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        deadline = self.started + 30
        while time.monotonic() < deadline:
            try:
                if self.sock.recv(4096) == b"":
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                self.sock.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                break
            time.sleep(0.1)
        else:
            return
        self.closed_after = time.monotonic() - self.started

    def join(self, timeout):
        self.thread.join(timeout)
        self.sock.close()
        return self.closed_after


def raw_reply(port, timeout=10):
    """What the page says to a connection that sends nothing."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                return out.decode("latin-1")
            out += b
    finally:
        s.close()


def page_serves(port):
    """The form, or False while the page answers 503."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
            return b"Connect a mailbox" in r.read()
    except urllib.error.HTTPError as e:
        assert e.code == 503, e
        return False


class TestEnrolPageBounds(unittest.TestCase):
    """[enrol] max_connections and request_timeout: slowloris clients are
    closed within the deadline while a whole enrolment goes through beside
    them; with the cap filled one more connection gets 503 at once; over
    HTTPS too, once its request is read."""

    @classmethod
    def setUpClass(cls):
        cls.port = h.free_port()
        cls.gw = gateway(enrol_port=cls.port,
                         enrol="max_connections = 5\nrequest_timeout = 2s\n")
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def test_slowloris_closed_while_enrolment_works(self):
        SRV.default_user = "alice"
        slow = [Dribbler(self.port) for _ in range(3)]
        enrol_in_page(self.base, ALICE, PASSWORDS[ALICE])
        closed = [d.join(15) for d in slow]
        for after in closed:
            self.assertIsNotNone(after, "a slowloris client stays past request_timeout")
            self.assertGreaterEqual(after, 1.5)
            self.assertLess(after, 8)
        self.assertTrue(self.gw.wait_log(r"event=enrol_request_timeout request_timeout_ms=2000",
                                         10), self.gw.log_text()[-2000:])
        c, r = pop_login(GW, ALICE)
        self.assertTrue(r.startswith("+OK"), r)
        c.cmd("QUIT")

    def test_cap_filled_is_503(self):
        idle = [socket.create_connection(("127.0.0.1", self.port), timeout=5)
                for _ in range(5)]
        try:
            time.sleep(0.2)   # the page has taken them (not an assertion)
            t = time.monotonic()
            out = raw_reply(self.port)
            self.assertLess(time.monotonic() - t, 3)
            self.assertTrue(out.startswith("HTTP/1.1 503 Service Unavailable\r\n"), out)
            self.assertIn("\r\n\r\ntoo many connections to the enrolment page\n", out)
            self.assertTrue(self.gw.wait_log(r"event=enrol_refused reason=max_connections "
                                             r"max_connections=5", 10))
        finally:
            for s in idle:
                s.close()
        # Once they are gone the page serves again (bounded retries).
        self.assertTrue(h.wait_until(lambda: page_serves(self.port), 10, 0.2),
                        "still 503 10 s after the idle ones closed")

    def test_reload_changes_the_cap(self):
        """max_connections is read again on SIGHUP (listen is not)."""
        import signal
        port = h.free_port()
        g = gateway(enrol_port=port, enrol="max_connections = 4\nrequest_timeout = 1m\n")
        try:
            start = g.log_size()
            g.rewrite_conf(g.conf_text.replace("\nmax_connections = 4\n",
                                               "\nmax_connections = 1\n"))
            g.signal(signal.SIGHUP)
            self.assertTrue(g.wait_log("event=reloaded", 10, start), g.log_since(start))
            held = socket.create_connection(("127.0.0.1", port), timeout=5)
            try:
                time.sleep(0.2)
                out = raw_reply(port)
                self.assertTrue(out.startswith("HTTP/1.1 503 "), out)
            finally:
                held.close()
            self.assertTrue(h.wait_until(lambda: page_serves(port), 10, 0.2),
                            "not served once the held connection closed")
        finally:
            g.cleanup()

    def test_cap_filled_over_https_is_503_after_the_request(self):
        d = h.make_tempdir("pgt-enrol-cap-")
        cert, key = h.make_cert(d, "enrol")
        port = h.free_port()
        g = gateway(enrol_port=port, tls={"cert_file": cert, "key_file": key},
                    enrol="max_connections = 1\nrequest_timeout = 5s\n")
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            time.sleep(0.2)
            r = subprocess.run(["curl", "-sS", "-i", "--max-time", "20", "--cacert", cert,
                                "https://127.0.0.1:%d/" % port], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("HTTP/1.1 503 Service Unavailable"), r.stdout)
            self.assertIn("Retry-After: 1", r.stdout)
            self.assertIn("too many connections to the enrolment page", r.stdout)
        finally:
            idle.close()
            g.cleanup()


class TestZNoSecrets(unittest.TestCase):
    """Last (Z): every token the server issued and every password used."""

    def test_no_token_or_password_in_redis_or_logs(self):
        keys = RDS.cli("--scan").split()
        self.assertTrue(any(k.endswith("}:oauth") for k in keys), keys)
        dump = []
        for k in keys:
            t = RDS.cli("TYPE", k).strip()
            dump.append(RDS.cli("HGETALL", k) if t == "hash" else
                        RDS.cli("GET", k) if t == "string" else RDS.cli("SMEMBERS", k))
        data = "\n".join(dump)
        aof = ""
        for root, _, files in os.walk(DIR):
            for fn in files:
                if "appendonly" in fn or fn.endswith(".aof"):
                    with open(os.path.join(root, fn), "rb") as f:
                        aof += f.read().decode("latin-1")
        logs = GW.log_text() + DC.log_text()
        for g in ALL_GATEWAYS:
            logs += g.log_text()
        secrets_used = SRV.issued_access + SRV.issued_refresh + list(USED_PASSWORDS) + \
            list(PASSWORDS.values())
        self.assertGreater(len(SRV.issued_refresh), 3)
        for s in secrets_used:
            for where, text in (("redis", data), ("aof", aof), ("logs", logs)):
                self.assertNotIn(s, text, "a secret in the %s" % where)


if __name__ == "__main__":
    unittest.main()
