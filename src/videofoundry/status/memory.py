"""In-process status bus for the embedded run and tests: same contract as Redis, no server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from videofoundry.status.base import StatusBus

log = logging.getLogger(__name__)

# Events a slow subscriber may fall behind by before new ones are dropped for it; pub/sub is
# at most once anyway, and the event seq lets the client notice and reload.
SUBSCRIBER_BUFFER = 1000


class MemoryStatusBus(StatusBus):
    def __init__(self) -> None:
        # job id -> (monotonic expiry, JSON text); JSON so callers never share mutable state.
        self._snapshots: dict[str, tuple[float, str]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = {}

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._snapshots.clear()

    async def set_snapshot(self, job_id: str, snapshot: dict[str, Any], ttl: int) -> None:
        if ttl < 1:
            raise ValueError("ttl must be at least one second")
        self._purge_expired()
        self._snapshots[job_id] = (time.monotonic() + ttl, json.dumps(snapshot))

    async def get_snapshot(self, job_id: str) -> dict[str, Any] | None:
        entry = self._snapshots.get(job_id)
        if entry is None:
            return None
        expires, text = entry
        if time.monotonic() >= expires:
            del self._snapshots[job_id]
            return None
        snapshot: dict[str, Any] = json.loads(text)
        return snapshot

    def _purge_expired(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, (expires, _) in self._snapshots.items() if now >= expires]:
            del self._snapshots[job_id]

    async def publish(self, job_id: str, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        for queue in self._subscribers.get(job_id, ()):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                log.warning("status subscriber of job %s is too slow; event dropped", job_id)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)
        self._subscribers.setdefault(job_id, set()).add(queue)
        events = _events(queue)
        try:
            yield events
        finally:
            await events.aclose()
            subscribers = self._subscribers.get(job_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[job_id]


async def _events(queue: asyncio.Queue[str]) -> AsyncGenerator[dict[str, Any], None]:
    while True:
        event: dict[str, Any] = json.loads(await queue.get())
        yield event
