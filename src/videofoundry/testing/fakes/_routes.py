"""What the provider apps share over HTTP: auth header parsing, injected faults, the poll and
cancel routes of task-based fakes, and the control API with its request log.

Control API (test-only, not part of any provider's protocol; no auth):

    GET  /_fake/ledger         {"creates": n, "entries": [...]}: every paid create
    GET  /_fake/requests       every request: method, path, status, time, auth sent or not
    POST /_fake/faults         replace the injected faults (`Faults` JSON)
    POST /_fake/reset          forget tasks, ledger, requests and faults
    POST /_fake/clock/advance  {"seconds": x}: jump the fake's clock forward
    GET  /_fake/media/{token}  result files (the fake's "CDN"; signed, expiring URLs)
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videofoundry.testing.fakes._common import (
    SEGMENT_HEADER,
    FakeState,
    FakeTask,
    Faults,
    HttpFault,
)
from videofoundry.testing.fakes._media import task_video, truncated_response


def bearer(request: Request, schemes: tuple[str, ...] = ("Bearer",)) -> str | None:
    header = request.headers.get("authorization", "")
    for scheme in schemes:
        prefix = f"{scheme} "
        if header[: len(prefix)].lower() == prefix.lower():
            return header[len(prefix) :].strip()
    return None


ErrorBody = Callable[[int, str], Any]


def fault_response(fault: HttpFault, request: Request, error_body: ErrorBody) -> Response:
    """The answer an injected HTTP fault stands for."""
    if fault.malformed:
        return Response(b'{"id": "3f0c', status_code=200, media_type="application/json")
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        ra = fault.retry_after
        headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = str(fault.retry_after_ms)
    if fault.body is not None:
        body = fault.body
    else:
        message = DEFAULT_MESSAGES.get(fault.status, "Injected fault")
        if fault.echo_key:
            message = f"{message} (credential: {request.headers.get('authorization', '')})"
        body = error_body(fault.status, message)
    return JSONResponse(body, status_code=fault.status, headers=headers)


DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    413: "Payload too large",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


async def apply_fault(
    state: FakeState, route: str, request: Request, error_body: ErrorBody
) -> Response | None:
    fault = state.take_http_fault(route)
    if fault is None:
        return None
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.truncate:
        return None  # handled by the download route
    return fault_response(fault, request, error_body)


def add_task_routes(
    app: FastAPI,
    state: FakeState,
    *,
    poll_path: str,
    cancel_route: tuple[str, str],
    auth: Callable[[Request], str | Response],
    error_body: ErrorBody,
    not_found: Callable[[], Response],
    show: Callable[[FakeTask, Request], dict[str, Any]],
    cancel: Callable[[FakeTask, Request], Response],
) -> None:
    """The poll and cancel routes every task-based fake has, written once.

    Both check the key, take an injected fault (`poll` / `cancel`) and find the caller's task
    (another key's task is not found). `show` renders a task; `cancel` (called under the state's
    lock) applies the provider's cancel semantics and gives its answer. Paths carry `{task_id}`;
    `cancel_route` is `(method, path)`.
    """

    async def lookup(request: Request, route: str, task_id: str) -> FakeTask | Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        faulted = await apply_fault(state, route, request, error_body)
        if faulted is not None:
            return faulted
        task = state.get_task(task_id, key)
        return not_found() if task is None else task

    async def get_task(task_id: str, request: Request) -> Response:
        found = await lookup(request, "poll", task_id)
        return found if isinstance(found, Response) else JSONResponse(show(found, request))

    async def cancel_task(task_id: str, request: Request) -> Response:
        found = await lookup(request, "cancel", task_id)
        if isinstance(found, Response):
            return found
        with state.lock:
            answer = cancel(found, request)
            state.advance()
        return answer

    app.add_api_route(poll_path, get_task, methods=["GET"])
    method, path = cancel_route
    app.add_api_route(path, cancel_task, methods=[method])


def iso(wall: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}Z"
    )


# --------------------------------------------------------------------------------------------
# Control API and request log


class AdvanceBody(BaseModel):
    seconds: float


def control_router(
    state: FakeState,
    *,
    media_status_expired: int,
    expired_body: Callable[[], Response] | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/_fake", include_in_schema=False)

    @router.get("/ledger")
    def ledger() -> dict[str, Any]:
        with state.lock:
            return {"creates": len(state.ledger), "entries": list(state.ledger)}

    @router.get("/requests")
    def requests() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.requests)

    @router.post("/faults")
    def faults(body: Faults) -> dict[str, Any]:
        state.set_faults(body)
        return body.model_dump()

    @router.post("/reset")
    def reset() -> dict[str, str]:
        state.reset()
        return {"status": "ok"}

    @router.post("/clock/advance")
    def advance(body: AdvanceBody) -> dict[str, float]:
        state.clock.advance(body.seconds)
        return {"offset": state.clock.offset}

    @router.get("/media/{name}")
    async def media(name: str, request: Request) -> Response:
        token = name.rsplit(".", 1)[0]
        with state.lock:
            entry = state.media.get(token)
        now = state.clock()
        if entry is None or now - entry[1] > state.output_ttl:
            if expired_body is not None:
                return expired_body()
            return Response(status_code=media_status_expired)
        task = state.tasks.get(entry[0])
        if task is None:
            return Response(status_code=media_status_expired)
        fault = state.take_http_fault("download")
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        content = await asyncio.to_thread(task_video, task)
        if fault is not None and fault.truncate:
            return truncated_response(content, "video/mp4")
        if fault is not None:
            return fault_response(fault, request, lambda s, m: {"error": m})
        return Response(content, media_type="video/mp4")

    return router


class RequestLog:
    """ASGI middleware appending every request to `state.requests` (with its final status)."""

    def __init__(self, app: ASGIApp, state: FakeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "time": time.monotonic(),
            "status": None,
            "auth": "authorization" in headers,
            "segment": headers.get(SEGMENT_HEADER),
        }
        if not scope["path"].startswith(("/_fake/ledger", "/_fake/requests", "/_fake/faults")):
            with self.state.lock:
                self.state.requests.append(entry)

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, send_logged)


def build_app(
    state: FakeState,
    *,
    title: str,
    media_status_expired: int,
    expired_body: Callable[[], Response] | None = None,
) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(
        control_router(state, media_status_expired=media_status_expired, expired_body=expired_body)
    )
    app.add_middleware(RequestLog, state=state)
    app.state.fake = state
    return app


async def read_json(request: Request) -> tuple[Any, str | None]:
    """Decoded JSON body, or an error text."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null"), None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "Body is not valid JSON"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
