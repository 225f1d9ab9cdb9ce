"""What every fake provider shares: its world (clock, tasks, ledger) and the faults it takes.

A fake keeps its whole world in one `FakeState` guarded by a lock, so the test thread may read
the ledger while the server thread answers requests. Task progress is computed lazily from the
(injectable) clock on every request: no background timers, nothing to leak between tests.
The HTTP side (auth, faults, shared routes, control API) is in `_routes.py`, result files in
`_media.py`; both are re-exported here for the provider modules and tests.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

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


# The HTTP side and the media, for the provider modules and tests that import them from here.
from videofoundry.testing.fakes._media import (  # noqa: E402
    make_image,
    make_mp4,
    task_video,
    truncated_response,
)
from videofoundry.testing.fakes._routes import (  # noqa: E402
    ErrorBody,
    add_task_routes,
    apply_fault,
    b64,
    bearer,
    build_app,
    fault_response,
    iso,
    read_json,
)

__all__ = [
    "SEGMENT_HEADER",
    "TERMINAL",
    "Clock",
    "ErrorBody",
    "FakeConfig",
    "FakeState",
    "FakeTask",
    "Faults",
    "HttpFault",
    "TaskFault",
    "add_task_routes",
    "apply_fault",
    "b64",
    "bearer",
    "build_app",
    "fault_response",
    "iso",
    "make_image",
    "make_mp4",
    "read_json",
    "scaled",
    "summarise",
    "task_video",
    "truncated_response",
]
