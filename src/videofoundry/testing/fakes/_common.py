"""What every fake provider shares: clock, tasks, ledger, faults, media and the control API.

A fake keeps its whole world in one `FakeState` guarded by a lock, so the test thread may read
the ledger while the server thread answers requests. Task progress is computed lazily from the
(injectable) clock on every request: no background timers, nothing to leak between tests.

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
import io
import json
import logging
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SEGMENT_HEADER = "x-videofoundry-segment"

Phase = Literal["throttled", "pending", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


# --------------------------------------------------------------------------------------------
# Faults


class HttpFault(BaseModel):
    """Answer the next `times` matching requests with an error instead of the real answer.

    `on` names a route family: `create` (paid video create), `image` (paid still, Stability),
    `poll`, `download`, `cancel`, or `any`.
    """

    on: str = "any"
    times: int = Field(default=1, ge=1)
    status: int = 503
    retry_after: float | None = None
    """Sent as `Retry-After` (whole seconds when integral)."""
    retry_after_ms: float | None = None
    """Sent as `retry-after-ms`."""
    body: Any = None
    """JSON body; None means the provider's usual error body for `status`."""
    malformed: bool = False
    """Answer 200 with a cut-off JSON document instead."""
    truncate: bool = False
    """Downloads: declare the full length, send half, then drop the connection."""
    delay: float = 0.0
    """Seconds to stall before answering (client timeouts)."""
    echo_key: bool = False
    """Put the caller's Authorization value into the error message (redaction tests)."""


class TaskFault(BaseModel):
    """How the next created tasks behave (all of them unless `times` is set)."""

    fail: bool = False
    failure: str | None = None
    """Human failure text (Runway `failure`, Luma `failure_reason`, Replicate `error`)."""
    failure_code: str | None = None
    """Runway `failureCode`; omitted from the answer when None."""
    throttled_seconds: float = 0.0
    """Held in THROTTLED (Runway) / queued this long before starting."""
    pending_seconds: float | None = None
    running_seconds: float | None = None
    never_finish: bool = False
    content_filtered: bool = False
    """Stability: finish with CONTENT_FILTERED."""
    times: int | None = None


class Faults(BaseModel):
    http: list[HttpFault] = Field(default_factory=list)
    task: TaskFault | None = None
    output_ttl: float | None = None
    """Seconds a result URL stays valid (overrides the config)."""
    extra_fields: bool = False
    """Add unknown members to answers (clients must ignore them)."""
    discontinued: bool = False
    """Stability: the video endpoint answers 404, as after 2025-07-24."""
    poll_min_interval: float | None = None
    """Answer 429 to polls of one task closer together than this (Stability's 10 s rule)."""


# --------------------------------------------------------------------------------------------
# Config, clock, tasks


@dataclass
class FakeConfig:
    """Timings and limits of one fake. Defaults follow providers.md ("How the fake should
    behave"); tests shorten them."""

    keys: set[str] = field(default_factory=set)
    pending_seconds: float = 0.2
    running_seconds: float = 1.0
    concurrency: int = 2
    """Active tasks per key before new ones wait (Runway THROTTLED)."""
    output_ttl: float = 24 * 3600.0
    video_scale: float = 1.0
    """1.0 serves clips at the model's real pixel size; tests use e.g. 0.125 (160x90)."""
    fps: int = 24
    wait_scale: float = 1.0
    """Replicate `Prefer: wait=N` blocks at most N * wait_scale real seconds."""


class Clock:
    """Monotonic time plus an offset tests can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class FakeTask:
    id: str
    key: str
    model: str
    created: float
    created_wall: float
    seconds: float
    width: int
    height: int
    request: dict[str, Any]
    pending_seconds: float
    running_seconds: float
    fps: int = 24
    frames: int | None = None
    throttle_until: float = 0.0
    started: float | None = None
    fault: TaskFault | None = None
    cancelled_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def phase(self, now: float) -> tuple[Phase, float]:
        """Current phase and progress (0..1)."""
        if self.cancelled_at is not None:
            return "cancelled", 0.0
        if self.started is None:
            return "throttled", 0.0
        elapsed = now - self.started
        if elapsed < self.pending_seconds:
            return "pending", 0.0
        if self.fault is not None and self.fault.never_finish:
            return "running", 0.5
        run = elapsed - self.pending_seconds
        if run < self.running_seconds:
            return "running", min(0.99, run / self.running_seconds if self.running_seconds else 0)
        if self.fault is not None and self.fault.fail:
            return "failed", 1.0
        return "succeeded", 1.0

    def finished_at(self) -> float | None:
        if self.started is None or (self.fault is not None and self.fault.never_finish):
            return None
        return self.started + self.pending_seconds + self.running_seconds

    def active(self, now: float) -> bool:
        return self.started is not None and self.phase(now)[0] not in TERMINAL


class FakeState:
    """The fake's world. All mutation happens under `lock`."""

    def __init__(self, provider: str, config: FakeConfig) -> None:
        self.provider = provider
        self.config = config
        self.clock = Clock()
        self.lock = threading.RLock()
        self.faults = Faults()
        self.tasks: dict[str, FakeTask] = {}
        self.ledger: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.media: dict[str, tuple[str, float]] = {}
        self.last_poll: dict[str, float] = {}
        self._task_fault_uses = 0

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.tasks.clear()
            self.ledger.clear()
            self.requests.clear()
            self.media.clear()
            self.last_poll.clear()
            self._task_fault_uses = 0

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self._task_fault_uses = 0

    # -- faults ----------------------------------------------------------------------------

    def take_http_fault(self, route: str) -> HttpFault | None:
        with self.lock:
            for fault in self.faults.http:
                if fault.times > 0 and fault.on in (route, "any"):
                    fault.times -= 1
                    return fault.model_copy()
        return None

    def next_task_fault(self) -> TaskFault | None:
        with self.lock:
            fault = self.faults.task
            if fault is None:
                return None
            if fault.times is not None and self._task_fault_uses >= fault.times:
                return None
            self._task_fault_uses += 1
            return fault

    @property
    def output_ttl(self) -> float:
        ttl = self.faults.output_ttl
        return self.config.output_ttl if ttl is None else ttl

    # -- tasks -----------------------------------------------------------------------------

    def add_task(
        self,
        *,
        key: str,
        model: str,
        seconds: float,
        width: int,
        height: int,
        request: dict[str, Any],
        endpoint: str,
        segment: str | None,
        task_id: str | None = None,
        frames: int | None = None,
        fps: int | None = None,
        paid: bool = True,
    ) -> FakeTask:
        """Create a task and record the paid create in the ledger."""
        fault = self.next_task_fault()
        now = self.clock()
        scale = self.config.video_scale
        task = FakeTask(
            id=task_id or str(uuid.uuid4()),
            key=key,
            model=model,
            created=now,
            created_wall=time.time(),
            seconds=seconds,
            width=scaled(width, scale),
            height=scaled(height, scale),
            request=request,
            pending_seconds=(
                fault.pending_seconds
                if fault is not None and fault.pending_seconds is not None
                else self.config.pending_seconds
            ),
            running_seconds=(
                fault.running_seconds
                if fault is not None and fault.running_seconds is not None
                else self.config.running_seconds
            ),
            fps=fps or self.config.fps,
            frames=frames,
            throttle_until=now + (fault.throttled_seconds if fault is not None else 0.0),
            fault=fault,
        )
        with self.lock:
            self.tasks[task.id] = task
            if paid:
                self.ledger.append(
                    {
                        "seq": len(self.ledger) + 1,
                        "endpoint": endpoint,
                        "task_id": task.id,
                        "model": model,
                        "segment": segment,
                        "body": summarise(request),
                        "time": task.created_wall,
                    }
                )
            self.advance()
        return task

    def advance(self) -> None:
        """Promote waiting tasks FIFO per key while the key has free concurrency."""
        now = self.clock()
        with self.lock:
            active: dict[str, int] = {}
            for task in self.tasks.values():
                if task.active(now):
                    active[task.key] = active.get(task.key, 0) + 1
            for task in self.tasks.values():  # dicts keep insertion (= submission) order
                if task.started is not None or task.cancelled_at is not None:
                    continue
                if task.throttle_until > now:
                    continue
                if active.get(task.key, 0) < self.config.concurrency:
                    task.started = now
                    active[task.key] = active.get(task.key, 0) + 1

    def get_task(self, task_id: str, key: str) -> FakeTask | None:
        with self.lock:
            self.advance()
            task = self.tasks.get(task_id)
            return task if task is not None and task.key == key else None

    def media_url(self, base_url: str, task: FakeTask, suffix: str = "mp4") -> str:
        """A fresh signed URL for the task's result, valid for `output_ttl`."""
        token = f"{task.id}.{secrets.token_hex(8)}"
        with self.lock:
            self.media[token] = (task.id, self.clock())
        return f"{base_url.rstrip('/')}/_fake/media/{token}.{suffix}"


def scaled(size: int, scale: float) -> int:
    """Scale a dimension, keeping it even (yuv420p) and at least 16."""
    return max(16, round(size * scale / 2) * 2)


def summarise(value: Any) -> Any:
    """Ledger copy of a request body with data URIs and long strings shortened."""
    if isinstance(value, dict):
        return {k: summarise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [summarise(v) for v in value]
    if isinstance(value, str) and len(value) > 200:
        if value.startswith("data:"):
            return f"{value.split(',', 1)[0]},<{len(value)} chars>"
        return value[:200] + f"…<{len(value)} chars>"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


# --------------------------------------------------------------------------------------------
# Media


@lru_cache(maxsize=32)
def make_mp4(width: int, height: int, frames: int, fps: int) -> bytes:
    """A real, tiny H.264 MP4: a moving bar over a colour ramp (low bitrate, ultrafast)."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "38", "tune": "zerolatency"}
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[..., 2] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
        for index in range(frames):
            image = base.copy()
            image[..., 0] = (index * 7) % 256
            x = (index * 4) % width
            image[:, x : x + max(2, width // 20), 1] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def task_video(task: FakeTask) -> bytes:
    frames = task.frames or max(1, math.ceil(task.seconds * task.fps))
    return make_mp4(task.width, task.height, frames, task.fps)


@lru_cache(maxsize=16)
def make_image(width: int, height: int, fmt: str = "PNG") -> bytes:
    from PIL import Image

    image = Image.new("RGB", (width, height), (90, 120, 200))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


class DeliberateDisconnect(Exception):
    """Raised mid-body to cut a download short; filtered out of uvicorn's error log."""


class _QuietDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DeliberateDisconnect) and not (
            isinstance(exc, BaseExceptionGroup)
            and any(isinstance(e, DeliberateDisconnect) for e in exc.exceptions)
        )


logging.getLogger("uvicorn.error").addFilter(_QuietDisconnects())


def truncated_response(content: bytes, media_type: str) -> Response:
    """Declares the full length, sends half, then breaks the connection."""
    from fastapi.responses import StreamingResponse

    async def body() -> Any:
        yield content[: len(content) // 2]
        await asyncio.sleep(0.01)
        raise DeliberateDisconnect("truncated on purpose")

    return StreamingResponse(
        body(), media_type=media_type, headers={"content-length": str(len(content))}
    )


# --------------------------------------------------------------------------------------------
# HTTP helpers shared by the provider apps


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
