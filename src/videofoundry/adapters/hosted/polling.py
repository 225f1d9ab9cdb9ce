"""The poll loop every hosted task goes through, and the view of a task it needs."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from videofoundry.adapters.base import GenerationContext
from videofoundry.adapters.hosted.retry import Sleep
from videofoundry.core.errors import Cancelled, GenerationError, ProviderUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class TaskView:
    """What the shared flow needs to know of one provider task answer.

    `finished` with neither `error` nor `url` is a success without a result (an error too).
    """

    finished: bool
    progress: float = 0.0
    message: str | None = None
    error: GenerationError | None = None
    """Why a finished task gives no clip (failed, refused, cancelled)."""
    url: str | None = None
    """Where the clip of a successful task is."""
    cost: float | None = None
    """USD the provider says the task cost, when it says."""
    estimated_cost: float | None = None
    """USD the provider expects the task to cost, when it says."""


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    provider: str,
    task_id: str,
    interval: float,
    timeout: float,
    context: GenerationContext,
    on_cancel: Callable[[], Awaitable[None]] | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Fetch until `is_done`, no faster than `interval` (jittered upwards only).

    Checks `context.is_cancelled()` between polls: forwards the cancel through `on_cancel` and
    raises Cancelled. Past `timeout` seconds raises ProviderUnavailable: the task id is already
    stored, so the worker's retry resumes the same task rather than paying for a new one.
    """
    rng = rng or random.Random()
    started = time.monotonic()
    while True:
        state = await fetch()
        if is_done(state):
            return state
        if await context.is_cancelled():
            if on_cancel is not None:
                await on_cancel()
            raise Cancelled(f"{provider} task {task_id} cancelled")
        delay = interval * (1.0 + 0.25 * rng.random())
        if time.monotonic() - started + delay > timeout:
            raise ProviderUnavailable(
                f"{provider} task {task_id} did not finish within {timeout:.0f} s; "
                "it is still stored and a retry resumes it"
            )
        await sleep(delay)
