"""Taking a task while the database cannot be reached (a restart, a failover): both workers
wait for it here instead of failing their delivery at once. Failing at once spends a message's
deliveries within milliseconds and the broker dead-letters it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import text

from videofoundry.runtime import Runtime

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DATABASE_WAIT_SECONDS = 120.0
"""How long a claim waits for an unreachable database before giving its delivery back."""


async def claim_when_reachable(
    runtime: Runtime, claim: Callable[[], Awaitable[_T]], what: str
) -> _T:
    """`claim()`, tried again with backoff (0.25 s to 5 s) while it fails and `SELECT 1` fails
    too, for up to DATABASE_WAIT_SECONDS; any other error, or one past the wait, is raised."""
    waited, pause = 0.0, 0.25
    while True:
        try:
            return await claim()
        except Exception:
            if waited >= DATABASE_WAIT_SECONDS or await _reachable(runtime):
                raise
            log.warning("%s: database unreachable; claiming again", what)
        await asyncio.sleep(pause)
        waited += pause
        pause = min(pause * 2, 5.0)


async def _reachable(runtime: Runtime) -> bool:
    try:
        async with runtime.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
