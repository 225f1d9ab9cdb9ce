"""Shared helpers of the adapter contract tests."""

from __future__ import annotations

import io
import itertools
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import av
from PIL import Image

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
)
from videofoundry.adapters.hosted import HostedAdapter, RetryPolicy
from videofoundry.core.config import Settings
from videofoundry.media.format import OutputFormat
from videofoundry.testing.fakes import FakeServer

# Fake timings: short enough for a fast suite, long enough that a poll sees each state.
FAKE_TIMINGS: dict[str, Any] = {
    "pending_seconds": 0.02,
    "running_seconds": 0.1,
    "concurrency": 2,
    "video_scale": 0.125,
    "wait_scale": 0.02,
}
POLL = 0.03
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)


A = TypeVar("A", bound=HostedAdapter[Any])


class AdapterFactory(Generic[A]):
    """Builds one provider's adapters against its fake with test timings, and closes every one
    it built (`aclose`).

    `key=` and `base_url=` override the fake's; upper-case keywords are settings (e.g.
    `STABILITY_ENABLE_DEPRECATED=False`); the rest go to the adapter, after `defaults`.
    """

    def __init__(
        self,
        cls: type[A],
        fake: FakeServer,
        prefix: str,
        settings: dict[str, Any] | None = None,
        **defaults: Any,
    ) -> None:
        self.cls, self.fake, self.prefix = cls, fake, prefix
        self.settings = settings or {}
        self.defaults = {"poll_interval": POLL, "retry": FAST_RETRY, **defaults}
        self.made: list[A] = []

    def __call__(self, **kwargs: Any) -> A:
        values = {
            self.prefix + ("_API_TOKEN" if self.prefix == "REPLICATE" else "_API_KEY"): kwargs.pop(
                "key", self.fake.key
            ),
            self.prefix + "_BASE_URL": kwargs.pop("base_url", self.fake.base_url),
            **self.settings,
        }
        values.update({name: kwargs.pop(name) for name in list(kwargs) if name.isupper()})
        adapter = self.cls(Settings(**values), **{**self.defaults, **kwargs})
        self.made.append(adapter)
        return adapter

    async def aclose(self) -> None:
        for adapter in self.made:
            await adapter.aclose()


class SimulatedCrash(Exception):
    """Stands for the worker process dying right after the provider accepted the task."""


@dataclass
class Recorder:
    """A `GenerationContext` that records what the adapter reports."""

    workdir: Path
    cancel_after_polls: int | None = None
    crash_on_save: bool = False
    events: list[tuple[float, str | None]] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    cancelled: bool = False
    checks: int = 0

    async def progress(self, fraction: float, message: str | None) -> None:
        self.events.append((fraction, message))

    async def save_task_id(self, task_id: str) -> None:
        self.saved.append(task_id)
        if self.crash_on_save:
            raise SimulatedCrash(task_id)

    async def is_cancelled(self) -> bool:
        self.checks += 1
        if self.cancel_after_polls is not None and self.checks >= self.cancel_after_polls:
            self.cancelled = True
        return self.cancelled

    @property
    def context(self) -> GenerationContext:
        return GenerationContext(
            workdir=self.workdir,
            progress=self.progress,
            save_task_id=self.save_task_id,
            is_cancelled=self.is_cancelled,
        )

    @property
    def messages(self) -> list[str]:
        return [m for _, m in self.events if m]


def request(
    model: str,
    *,
    prompt: str = "a lighthouse at dusk, waves",
    duration: float = 5.0,
    seed: int = 7,
    output: OutputFormat | None = None,
    init_image: bytes | None = None,
    init_image_url: str | None = None,
    params: dict[str, Any] | None = None,
    provider_task_id: str | None = None,
    negative_prompt: str | None = None,
    segment: str = "sr-1",
) -> GenerationRequest:
    return GenerationRequest(
        segment_render_id=segment,
        spec_hash="0" * 64,
        model=model,
        prompt=prompt,
        duration=duration,
        seed=seed,
        output=output or OutputFormat(),
        negative_prompt=negative_prompt,
        params=params or {},
        init_image=init_image,
        init_image_url=init_image_url,
        provider_task_id=provider_task_id,
    )


def png(width: int = 64, height: int = 36, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


@dataclass(frozen=True)
class Clip:
    width: int
    height: int
    frames: int


def decode(path: Path) -> Clip:
    """Decode every frame with PyAV (fails the test if the file is not a playable video)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return Clip(stream.codec_context.width, stream.codec_context.height, count)


def assert_secret_absent(exc: BaseException, secret: str) -> None:
    """The key is in neither the message, the repr, nor anything in the traceback chain."""
    rendered = "".join(traceback.format_exception(exc))
    assert secret not in str(exc)
    assert secret not in repr(exc)
    assert secret not in rendered
    message = getattr(exc, "message", "")
    assert secret not in message


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def request_times(requests: list[dict[str, Any]], method: str, prefix: str) -> list[float]:
    return [r["time"] for r in requests if r["method"] == method and r["path"].startswith(prefix)]
