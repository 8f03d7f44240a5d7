"""A small, real OpenID Connect provider for the tests, on 127.0.0.1 in a thread.

Discovery, authorize (consents at once for :attr:`OIDCProvider.user`), token (a one-time
code for an access token and an HS256 id_token signed with the client secret) and
userinfo (``sub``, ``preferred_username``, ``email``, ``name``, ``groups``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt


class OIDCProvider:
    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.user: dict[str, Any] = {}  # the claims of whoever "logs in" next
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []  # "METHOD path" of every request, for assertions
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                provider.handle(self, "GET")

            def do_POST(self) -> None:
                provider.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/oidc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> OIDCProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- HTTP

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        self.requests.append(f"{method} {url.path}")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path.removeprefix("/oidc")
        if method == "GET" and path == "/.well-known/openid-configuration":
            return self.reply(h, 200, self.discovery())
        if method == "GET" and path == "/authorize":
            return self.authorize(h, query)
        if method == "POST" and path == "/token":
            length = int(h.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(h.rfile.read(length).decode()).items()}
            return self.token(h, form)
        if method == "GET" and path == "/userinfo":
            return self.userinfo(h)
        return self.reply(h, 404, {"error": "not_found"})

    def reply(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def authorize(self, h: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return self.reply(h, 400, {"error": "invalid_request"})
        if query.get("redirect_uri") != self.redirect_uri:
            return self.reply(h, 400, {"error": "invalid_request", "error_description": "uri"})
        if "openid" not in query.get("scope", "").split():
            return self.reply(h, 400, {"error": "invalid_scope"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"user": dict(self.user), "redirect_uri": query["redirect_uri"]}
        back = {"code": code}
        if "state" in query:
            back["state"] = query["state"]
        h.send_response(302)
        h.send_header("Location", query["redirect_uri"] + "?" + urlencode(back))
        h.send_header("Content-Length", "0")
        h.end_headers()

    def token(self, h: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = h.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return self.reply(h, 401, {"error": "invalid_client"})
        grant = self.codes.pop(form.get("code", ""), None)  # one use only
        if form.get("grant_type") != "authorization_code" or grant is None:
            return self.reply(h, 400, {"error": "invalid_grant"})
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self.reply(h, 400, {"error": "invalid_grant", "error_description": "uri"})
        access = secrets.token_urlsafe(24)
        self.tokens[access] = grant["user"]
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": self.issuer,
                "aud": self.client_id,
                "sub": grant["user"]["sub"],
                "iat": now,
                "exp": now + 300,
            },
            self.client_secret,
            algorithm="HS256",
        )
        body = {"access_token": access, "token_type": "Bearer", "expires_in": 300}
        self.reply(h, 200, {**body, "id_token": id_token}, {"Cache-Control": "no-store"})

    def userinfo(self, h: BaseHTTPRequestHandler) -> None:
        header = h.headers.get("Authorization", "")
        claims = self.tokens.get(header.removeprefix("Bearer ")) if header else None
        if claims is None:
            return self.reply(h, 401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"})
        self.reply(h, 200, claims)
