"""A `GenerationContext` for local models: records progress, answers cancellation checks."""

from __future__ import annotations

from pathlib import Path

from videofoundry.adapters.base import GenerationContext


class Recorder:
    def __init__(self, workdir: Path, cancel: bool = False) -> None:
        self.workdir = workdir
        self.events: list[tuple[float, str | None]] = []
        self.cancel = cancel

    async def progress(self, fraction: float, message: str | None) -> None:
        self.events.append((fraction, message))

    async def save(self, task_id: str) -> None:
        raise AssertionError("a local model has no provider task")

    async def is_cancelled(self) -> bool:
        return self.cancel

    @property
    def context(self) -> GenerationContext:
        return GenerationContext(self.workdir, self.progress, self.save, self.is_cancelled)
