"""Dashboard access: open on loopback, otherwise a bearer token or HTTP basic auth.

A browser can also open ``/?token=...`` once: the token is checked and kept in
an HttpOnly cookie, because EventSource cannot send an Authorization header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from starlette.datastructures import Headers, QueryParams
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.config import HttpSection, read_secret

COOKIE = "kazoe_token"


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None

    @classmethod
    def from_config(cls, http: HttpSection) -> Credentials:
        token = read_secret(http.token_file, "http.token_file") if http.token_file else None
        password = (
            read_secret(http.basic_password_file, "http.basic_password_file")
            if http.basic_password_file
            else None
        )
        return cls(token, http.basic_user, password)

    @property
    def required(self) -> bool:
        return self.token is not None or self.basic_user is not None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class AuthGuard:
    """Pure ASGI middleware, so server-sent event streams pass through untouched."""

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    def allowed(self, headers: Headers) -> bool:
        creds = self.credentials
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if creds.token is not None:
            if scheme.lower() == "bearer" and _same(value.strip(), creds.token):
                return True
            for part in headers.get("cookie", "").split(";"):
                name, _, cookie = part.strip().partition("=")
                if name == COOKIE and _same(cookie, creds.token):
                    return True
        if (
            creds.basic_user is not None
            and creds.basic_password is not None
            and scheme.lower() == "basic"
        ):
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return _same(user, creds.basic_user) & _same(password, creds.basic_password)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.credentials.required:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.allowed(headers):
            await self.app(scope, receive, send)
            return
        response: Response
        offered = QueryParams(scope.get("query_string", b"")).get("token")
        token = self.credentials.token
        if (
            scope["path"] == "/"
            and offered is not None
            and token is not None
            and _same(offered, token)
        ):
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        else:
            challenge = 'Basic realm="kazoe"' if self.credentials.basic_user else "Bearer"
            response = PlainTextResponse(
                "authentication required", status_code=401, headers={"WWW-Authenticate": challenge}
            )
        await response(scope, receive, send)
