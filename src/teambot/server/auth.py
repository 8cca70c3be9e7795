"""Token authentication and request size limits, as plain ASGI middleware (no state beyond the token).

A request is let in with `Authorization: Bearer <token>` or with the cookie the dashboard's
first visit (`/?token=<token>`) sets. Tokens are compared in constant time and never logged
(the access log is off: its lines would hold `?token=`). A request that changes something
and relies on the cookie must come from the dashboard's own origin (the cookie is also
SameSite=Strict): another site cannot make the browser act on a run.
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs

MAX_BODY = 2 << 20  # bytes: an objective is at most 1 MiB, JSON-escaped it stays under this
_SAFE = {"GET", "HEAD", "OPTIONS"}


def cookie_name(port: int | None) -> str:
    """One cookie per port: browsers share cookies between the ports of a host."""
    return f"teambot_token_{port or 0}"


def same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


class TokenAuth:
    """401 for every request without the token; `/?token=` sets the cookie and redirects to `/`."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        port = (scope.get("server") or (None, None))[1]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"] == "/" and "token" in query:
            if same(query["token"][0], self.token):
                cookie = f"{cookie_name(port)}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                return await _send(send, 303, b"", [(b"location", b"/"), (b"set-cookie", cookie.encode("latin-1"))])
            return await _refuse(send, scope["path"])
        bearer = headers.get("authorization", "")
        if bearer[:7].lower() == "bearer " and same(bearer[7:].strip(), self.token):
            return await self.app(scope, receive, send)
        if same(_cookie(headers.get("cookie", ""), cookie_name(port)), self.token):
            if scope["method"] not in _SAFE and not _own_origin(headers, scope):
                return await _json(send, 403, {"error": "a request that changes a run must come from the dashboard's origin"})
            return await self.app(scope, receive, send)
        return await _refuse(send, scope["path"])


class BodyLimit:
    """413 for a request body over `limit` bytes; 411 for a body without a length (chunked).

    With a Content-Length the HTTP parser delivers no more than announced, so checking the
    header bounds what any handler can read.
    """

    def __init__(self, app, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return await _json(send, 411, {"error": "a request body needs a Content-Length"})
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _json(send, 413, {"error": f"request body over {self.limit:,} bytes"})
        await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _own_origin(headers: dict[str, str], scope) -> bool:
    origin = headers.get("origin")
    if origin is None:  # not sent by a cross-site form post in any current browser
        return True
    return origin == f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"


async def _refuse(send, path: str) -> None:
    body = {"error": "missing or wrong token",
            "hint": "send `Authorization: Bearer TOKEN`, or open the URL `teambot serve` printed (it holds ?token=)"}
    if path.startswith("/api/"):
        return await _json(send, 401, body, [(b"www-authenticate", b"Bearer")])
    page = ("<!doctype html><title>teambot</title><p>This teambot dashboard needs its access token: open the "
            "URL that <code>teambot serve</code> printed (it ends with <code>?token=...</code>).</p>")
    await _send(send, 401, page.encode(), [(b"content-type", b"text/html; charset=utf-8"),
                                           (b"www-authenticate", b"Bearer")])


async def _json(send, status: int, body: dict, headers: list | None = None) -> None:
    await _send(send, status, json.dumps(body).encode(), [(b"content-type", b"application/json"), *(headers or [])])


async def _send(send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
