"""A small OAuth 2.0 authorization server for the end-to-end tests, on
127.0.0.1 in a thread of the test process: authorization with automatic
consent (code grant with PKCE, RFC 7636), device authorization (RFC 8628),
a token endpoint with short-lived access tokens and refresh-token rotation,
and token introspection (RFC 7662) for Dovecot's oauth2 passdb, which then
decides whether popgate's token is good.

Faults a test can ask for: mode = "ok" | "down" (connection closed without
an answer) | "slow" (the token endpoint waits `slow_secs`) | "invalid_grant"
(every refresh refused as revoked)."""
import base64
import hashlib
import json
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "popgate-test-client"


class AuthServer:
    def __init__(self, access_ttl=3600):
        self.lock = threading.Lock()
        self.access_ttl = access_ttl
        self.mode = "ok"
        self.slow_secs = 30
        self.access = {}       # token -> (user, expiry)
        self.refresh = {}      # token -> user (only the current one per grant)
        self.codes = {}        # code -> (user, redirect_uri, challenge)
        self.devices = {}      # device_code -> {"user_code", "user", "approved"}
        self.issued_refresh = []   # every refresh token ever issued
        self.issued_access = []
        self.refresh_calls = 0
        self.refresh_ok = 0
        self.introspections = 0
        self.default_user = "alice"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- what tests use directly ---
    def expire_access_tokens(self):
        with self.lock:
            for t in list(self.access):
                self.access[t] = (self.access[t][0], 0)

    def revoke_refresh_tokens(self):
        with self.lock:
            self.refresh.clear()

    def approve_device(self, user_code, user="alice"):
        with self.lock:
            for d in self.devices.values():
                if d["user_code"] == user_code:
                    d["approved"] = True
                    d["user"] = user
                    return True
        return False

    def config(self):
        return {"client_id": CLIENT_ID,
                "authorization_endpoint": self.base + "/authorize",
                "token_endpoint": self.base + "/token",
                "device_endpoint": self.base + "/device"}

    # --- the server ---
    def _issue(self, user):
        at = "at." + secrets.token_urlsafe(24)
        rt = "rt." + secrets.token_urlsafe(24)
        self.access[at] = (user, time.time() + self.access_ttl)
        self.refresh[rt] = user
        self.issued_access.append(at)
        self.issued_refresh.append(rt)
        return {"access_token": at, "token_type": "Bearer", "expires_in": self.access_ttl,
                "refresh_token": rt, "scope": "mail"}

    def _handler(self):
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code, obj=None, headers=None, body=None):
                data = body if body is not None else json.dumps(obj).encode()
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _form(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n).decode()
                return {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
                if u.path == "/authorize":
                    user = q.get("login_hint", srv.default_user)
                    if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" \
                            or q.get("code_challenge_method") != "S256":
                        return self._send(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    with srv.lock:
                        srv.codes[code] = (user, q.get("redirect_uri"), q.get("code_challenge"))
                    loc = q["redirect_uri"] + "?" + urllib.parse.urlencode(
                        {"code": code, "state": q.get("state", "")})
                    return self._send(302, headers={"Location": loc}, body=b"")
                if u.path == "/activate":
                    ok = srv.approve_device(q.get("user_code", ""), q.get("user", "alice"))
                    return self._send(200 if ok else 404, body=b"approved\n" if ok else b"no\n")
                self._send(404, {"error": "not_found"})

            def do_POST(self):
                u = urllib.parse.urlsplit(self.path)
                f = self._form()
                if u.path == "/introspect":
                    with srv.lock:
                        srv.introspections += 1
                        user, exp = srv.access.get(f.get("token", ""), (None, 0))
                    if user is None or exp < time.time():
                        return self._send(200, {"active": False})
                    return self._send(200, {"active": True, "username": user,
                                            "exp": int(exp)})
                if u.path == "/device":
                    if f.get("client_id") != CLIENT_ID:
                        return self._send(401, {"error": "invalid_client"})
                    dc = secrets.token_urlsafe(24)
                    uc = secrets.token_hex(4).upper()
                    with srv.lock:
                        srv.devices[dc] = {"user_code": uc, "user": None, "approved": False}
                    return self._send(200, {
                        "device_code": dc, "user_code": uc,
                        "verification_uri": srv.base + "/activate",
                        "verification_uri_complete": srv.base + "/activate?user_code=" + uc,
                        "expires_in": 600, "interval": 1})
                if u.path == "/token":
                    return self._token(f)
                self._send(404, {"error": "not_found"})

            def _token(self, f):
                grant = f.get("grant_type")
                if grant == "refresh_token":
                    with srv.lock:
                        srv.refresh_calls += 1
                    if srv.mode == "down":
                        # No answer at all: the connection just ends.
                        self.close_connection = True
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return
                    if srv.mode == "slow":
                        time.sleep(srv.slow_secs)
                if f.get("client_id") != CLIENT_ID:
                    return self._send(401, {"error": "invalid_client"})
                with srv.lock:
                    if grant == "refresh_token":
                        user = srv.refresh.pop(f.get("refresh_token", ""), None)
                        if srv.mode == "invalid_grant" or user is None:
                            return self._send(400, {"error": "invalid_grant",
                                                    "error_description": "revoked"})
                        srv.refresh_ok += 1
                        return self._send(200, srv._issue(user))
                    if grant == "authorization_code":
                        c = srv.codes.pop(f.get("code", ""), None)
                        if c is None or c[1] != f.get("redirect_uri"):
                            return self._send(400, {"error": "invalid_grant"})
                        want = base64.urlsafe_b64encode(hashlib.sha256(
                            f.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
                        if want != c[2]:
                            return self._send(400, {"error": "invalid_grant",
                                                    "error_description": "PKCE"})
                        return self._send(200, srv._issue(c[0]))
                    if grant == "urn:ietf:params:oauth:grant-type:device_code":
                        d = srv.devices.get(f.get("device_code", ""))
                        if d is None:
                            return self._send(400, {"error": "invalid_grant"})
                        if not d["approved"]:
                            return self._send(400, {"error": "authorization_pending"})
                        del srv.devices[f["device_code"]]
                        return self._send(200, srv._issue(d["user"]))
                return self._send(400, {"error": "unsupported_grant_type"})

        return H
