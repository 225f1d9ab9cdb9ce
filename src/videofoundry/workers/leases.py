"""Leases with fencing tokens: a worker holds a segment or a composition while it refreshes the
lease; a worker that stalls past it loses the work to another, and its late commit is refused
because it checks the token (`WHERE lease_token = :mine`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def heartbeat(
    refresh: Callable[[], Awaitable[bool]], every: float, on_lost: Callable[[], None]
) -> AsyncIterator[None]:
    """Call `refresh` every `every` seconds while the block runs; `on_lost` when it says the
    lease is gone (another worker took over)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if not await refresh():
                    log.warning("lease lost; abandoning the work")
                    on_lost()
                    return
            except Exception:
                # A database hiccup is not proof of loss; the lease is generous enough.
                log.exception("heartbeat failed; will retry")

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
