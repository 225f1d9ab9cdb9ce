"""Runs worker kinds inside a process: consumers, the reconciler and the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable

from videofoundry.core import tls
from videofoundry.queue.base import COMPOSITIONS, SEGMENTS, Consumer, Message
from videofoundry.runtime import Runtime
from videofoundry.services import task_publisher
from videofoundry.storage import keys
from videofoundry.workers import reconciler
from videofoundry.workers.ai_worker import worker as ai_worker
from videofoundry.workers.composition_worker import worker as composition_worker

log = logging.getLogger(__name__)
SWEEP_SECONDS = 2.0

KINDS: dict[str, tuple[str, Callable[[Runtime, Message], Awaitable[None]]]] = {
    "ai": (SEGMENTS, ai_worker.handle),
    "composition": (COMPOSITIONS, composition_worker.handle),
}


def _load_for_segments() -> None:
    """What an AI worker's first segments would otherwise load on the event loop, holding up
    every other segment and heartbeat of the process (seconds under load; bench/scaleout): the
    provider clients' TLS context (core/tls.py), anyio (httpcore imports it on a client's first
    request), and PyAV and Pillow to probe clips and cut posters (media imports them on first
    use so the CLI starts fast)."""
    tls.client_context()
    importlib.import_module("anyio")
    importlib.import_module("videofoundry.media.thumbnails")


async def _warm_for_segments(runtime: Runtime) -> None:
    """Before the first segments arrive: the imports above, one database connection per
    segment taken at once, which the first wave would otherwise open side by side (a round
    trip and PostgreSQL's authentication each) before its first statement, and the object
    store's client (its connection and, on AWS, the credentials it resolves on first use)."""
    await asyncio.to_thread(_load_for_segments)
    with contextlib.suppress(Exception):  # only a warm-up: the segments will say what fails
        await runtime.storage.exists(keys.clip("warm-up", "warm-up"))
    async with contextlib.AsyncExitStack() as connections:
        for _ in range(runtime.settings.AI_WORKER_CONCURRENCY):
            # Checked out, not used: no statement, so no transaction (on SQLite one would take
            # the write lock); returned to the pool open.
            await connections.enter_async_context(runtime.engine.connect())


async def run_workers(runtime: Runtime, kinds: tuple[str, ...], recover: bool = False) -> None:
    """Consume until cancelled; on cancel, stop taking work and let handlers in flight finish.

    `recover` re-queues every unfinished task first (the embedded run after a restart)."""
    if recover:
        await reconciler.recover_all(runtime)
        await task_publisher.relay(runtime.sessions, runtime.broker)
    if "ai" in kinds:
        await _warm_for_segments(runtime)
    consumers: list[Consumer] = []
    for kind in kinds:
        queue, handler = KINDS[kind]
        prefetch = runtime.settings.AI_WORKER_CONCURRENCY if kind == "ai" else 1

        async def bound(
            message: Message, handler: Callable[..., Awaitable[None]] = handler
        ) -> None:
            await handler(runtime, message)

        consumers.append(await runtime.broker.consume(queue, bound, prefetch=prefetch))
        log.info("worker %s consuming %s (prefetch %d)", kind, queue, prefetch)
    try:
        while True:
            try:
                await reconciler.sweep(runtime)
                await task_publisher.relay(runtime.sessions, runtime.broker)
            except Exception:
                log.exception("reconciler sweep failed; retrying")
            await asyncio.sleep(SWEEP_SECONDS)
    finally:
        for consumer in consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
