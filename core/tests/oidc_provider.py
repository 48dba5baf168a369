"""A small OpenID Connect provider for tests: a real HTTP server on 127.0.0.1.

It speaks what a relying party uses: discovery, an authorize endpoint with a login form
that sends the browser back with a code, a token endpoint (client secret and PKCE checked,
the code good once) answering a fresh RS256-signed id_token, the JWKS to check it with, and
userinfo for the access token. Users and their groups are given when it starts.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class _Grant:
    username: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None


@dataclass
class StandInProvider:
    """``with StandInProvider(users, client_id=..., client_secret=...) as idp: idp.issuer``."""

    users: dict[str, dict[str, Any]]
    client_id: str = "routescope"
    client_secret: str = "stand-in-secret"
    kid: str = "stand-in-key-1"
    token_requests: list[dict[str, str]] = field(default_factory=list)
    #: Every access token and id_token handed out (tests check none is stored or logged).
    issued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StandInProvider:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # What the endpoints answer -------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def claims(self, username: str) -> dict[str, Any]:
        user = self.users[username]
        return {
            "sub": f"sub-{username}",
            "preferred_username": username,
            "email": f"{username}@example.test",
            **user,
        }

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "sub": self.claims(grant.username)["sub"],
        }
        if grant.nonce:
            payload["nonce"] = grant.nonce
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": self.kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self,
                status: int,
                body: Any,
                content_type: str = "application/json",
                headers: dict[str, str] | None = None,
            ) -> None:
                data = (json.dumps(body) if content_type == "application/json" else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length") or 0)
                fields = parse_qs(self.rfile.read(length).decode())
                return {key: values[0] for key, values in fields.items()}

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, provider.discovery())
                elif url.path == "/jwks":
                    self._send(200, provider.jwks())
                elif url.path == "/authorize":
                    self._authorize_form(query)
                elif url.path == "/userinfo":
                    auth = self.headers.get("Authorization", "")
                    username = provider._access.get(auth.removeprefix("Bearer "))
                    if not auth.startswith("Bearer ") or username is None:
                        self._send(401, {"error": "invalid_token"})
                    else:
                        self._send(200, provider.claims(username))
                else:
                    self._send(404, {"error": "not_found"})

            def _authorize_form(self, query: dict[str, str]) -> None:
                if (
                    query.get("client_id") != provider.client_id
                    or query.get("response_type") != "code"
                    or "openid" not in query.get("scope", "").split()
                ):
                    self._send(400, {"error": "invalid_request"})
                    return
                hidden = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" ' f'value="{html.escape(v)}">'
                    for k, v in query.items()
                )
                page = (
                    "<!DOCTYPE html><html><head><title>Stand-in IdP</title>"
                    '<link rel="icon" href="data:,"></head><body>'
                    '<h1>Stand-in IdP</h1><form method="post" action="/authorize">'
                    f'{hidden}<label>Username <input name="login"></label>'
                    '<button type="submit">Sign in</button></form></body></html>'
                )
                self._send(200, page, "text/html; charset=utf-8")

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                if path == "/authorize":
                    self._authorize(self._form())
                elif path == "/token":
                    self._token(self._form())
                else:
                    self._send(404, {"error": "not_found"})

            def _authorize(self, form: dict[str, str]) -> None:
                if (
                    form.get("login") not in provider.users
                    or form.get("client_id") != provider.client_id
                ):
                    self._send(403, "<p>Unknown user</p>", "text/html")
                    return
                code = secrets.token_urlsafe(24)
                provider._grants[code] = _Grant(
                    username=form["login"],
                    client_id=form["client_id"],
                    redirect_uri=form["redirect_uri"],
                    nonce=form.get("nonce"),
                    challenge=form.get("code_challenge"),
                )
                back = urlencode({"code": code, "state": form.get("state", "")})
                self._send(
                    302, "", "text/plain", headers={"Location": f"{form['redirect_uri']}?{back}"}
                )

            def _token(self, form: dict[str, str]) -> None:
                provider.token_requests.append(
                    {k: v for k, v in form.items() if k in ("grant_type", "redirect_uri")}
                )
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                else:
                    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
                grant = provider._grants.pop(form.get("code", ""), None)
                if (client_id, secret) != (provider.client_id, provider.client_secret):
                    self._send(401, {"error": "invalid_client"})
                elif (
                    grant is None
                    or form.get("grant_type") != "authorization_code"
                    or form.get("redirect_uri") != grant.redirect_uri
                ):
                    self._send(400, {"error": "invalid_grant"})
                elif (
                    grant.challenge
                    and base64.urlsafe_b64encode(
                        hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    )
                    .rstrip(b"=")
                    .decode()
                    != grant.challenge
                ):
                    self._send(400, {"error": "invalid_grant", "error_description": "PKCE"})
                else:
                    access, id_token = secrets.token_urlsafe(24), provider._id_token(grant)
                    provider._access[access] = grant.username
                    provider.issued += [access, id_token]
                    self._send(
                        200,
                        {
                            "access_token": access,
                            "token_type": "Bearer",
                            "expires_in": 300,
                            "id_token": id_token,
                        },
                    )

        return Handler
