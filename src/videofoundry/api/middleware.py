"""ASGI middleware in front of every route: body-size limits, input no database can store,
and security headers.

The size limit is enforced on the bytes as they arrive, before FastAPI parses anything or a
dependency authenticates the caller, so an anonymous 300 MB body costs at most the limit.
JSON bodies are checked once, whatever model a route reads them into: NaN and Infinity are
not JSON, and NUL characters and lone surrogates cannot be stored (PostgreSQL refuses NUL in
text, no encoder takes a lone surrogate); each answers 422 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The web UI's policy: its own scripts and styles, media from the API or presigned storage
# URLs, the WebSocket to this host, and never inside another site's frame.
WEB_UI_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob: http: https:",
        "media-src 'self' blob: http: https:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The interactive API docs load Swagger UI and ReDoc from their CDN; they keep the frame
# and sniffing protections but not the web UI's script policy.
DOCS_PATHS = ("/docs", "/redoc")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {limit} bytes allowed")


class BodySizeLimit:
    """413 for a body over the limit: at once when Content-Length says so, else as soon as
    the bytes read pass it. `routes` maps (method, path) to a larger cap (uploads)."""

    def __init__(self, app: ASGIApp, limit: int, routes: Mapping[tuple[str, str], int]) -> None:
        self.app = app
        self.limit = limit
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get((scope["method"], scope["path"].rstrip("/")), self.limit)
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, BodyTooLarge(limit).detail)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


class CleanInput:
    """422 for JSON bodies holding NaN/Infinity, NUL characters or lone surrogates, and 400
    for URLs holding a NUL. Sits inside BodySizeLimit, so it buffers at most the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw_url = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in raw_url or b"\x00" in raw_url:
            if scope["type"] == "http":
                await _answer(send, 400, "NUL characters are not allowed in URLs")
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            body, more = await _read_body(receive)
        except BodyTooLarge as exc:
            await _answer(send, 413, exc.detail)
            return
        problem = _json_problem(body)
        if problem is not None:
            where, message = problem
            detail = [{"loc": ["body", *where], "msg": message, "type": "value_error"}]
            await _answer(send, 422, detail)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive() if more else {"type": "http.disconnect"}

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return False
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind: bytes = value.split(b";")[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body; `more` is False once the client said it was done."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


class _NonFinite:
    """Where json.loads met NaN, Infinity or -Infinity (kept to report the field)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _json_problem(body: bytes) -> tuple[list[str | int], str] | None:
    """Where and what the first unstorable value is, or None (also for malformed JSON,
    which FastAPI reports itself)."""
    if not body:
        return None
    try:
        document = json.loads(body, parse_constant=_NonFinite)
    except RecursionError:
        return [], "the document is nested too deeply"
    except ValueError:
        return None
    stack: list[tuple[list[str | int], Any]] = [([], document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, _NonFinite):
            return where, f"{value.name} is not a number JSON allows; send a finite number"
        if isinstance(value, str):
            found = _unstorable(value)
            if found:
                return where, f"this text contains {found}"
        elif isinstance(value, dict):
            for key, item in value.items():
                found = _unstorable(key)
                if found:
                    return where, f"a key contains {found}"
                stack.append(([*where, key], item))
        elif isinstance(value, list):
            stack.extend(([*where, index], item) for index, item in enumerate(value))
    return None


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character, which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (\\ud800-\\udfff), which is not valid Unicode"
    return None


class SecurityHeaders:
    """nosniff and frame protection on every answer; the CSP on the web UI's pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not docs:
                    extra.append((b"content-security-policy", WEB_UI_CSP.encode()))
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent, -1 when unreadable."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1
    return None


async def _answer(send: Send, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
