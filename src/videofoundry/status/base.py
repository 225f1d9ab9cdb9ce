"""Live status store and event bus.

A job's snapshot is a JSON object cached with a TTL; events are JSON objects with a per-job
`seq` published on the job's channel. Delivery is at most once (Redis pub/sub), so consumers
rebuild from the database when they see a gap or an empty cache.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any


class StatusBus(ABC):
    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def set_snapshot(self, job_id: str, snapshot: dict[str, Any], ttl: int) -> None: ...

    @abstractmethod
    async def get_snapshot(self, job_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    async def publish(self, job_id: str, event: dict[str, Any]) -> None: ...

    @abstractmethod
    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """`async with bus.subscribe(job) as events: async for e in events: ...`

        Subscribed when the context is entered, so nothing published after that is missed."""
