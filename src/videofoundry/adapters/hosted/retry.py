"""The one retry policy of every hosted call, built on tenacity.

An API call or a result download that fails in a way worth repeating (429, 5xx, a connection
problem, a malformed answer to a read) raises `RetryableAnswer` from its single try; `retrying`
repeats the try under the adapter's `RetryPolicy`. The wait honours the provider's
`Retry-After` / `retry-after-ms` hint and otherwise backs off exponentially with up to 50 %
jitter, as Runway's docs ask (https://docs.dev.runwayml.com/api-details/errors).

This is one of three layers that repeat a paid call; docs/providers.md ("Retry layers") gives
their numbers and the cap on all of them together (`base.MAX_TRIES_PER_PAID_CALL`).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import tenacity

from videofoundry.core.errors import ProviderUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
_RNG = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Parameters:
        attempts: total tries of one call (first one included).
        base_delay: delay before the first retry when the provider gives no hint.
        max_delay: cap of the computed backoff.
        jitter: up to this fraction added at random (0.5 = up to 50 %, per Runway's docs).
        max_retry_after: a `Retry-After` longer than this is not slept in-process: the call fails
            with `ProviderUnavailable(retry_after=...)` and the worker fails the segment, naming
            the wait (a daily quota 429 would otherwise hold a worker slot for hours).
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry_number` (0 = first retry)."""
        draw = (rng or _RNG).random()
        delay = min(self.max_delay, self.base_delay * (2.0**retry_number))
        return delay * (1.0 + self.jitter * draw)

    def honour(self, retry_after: float, rng: random.Random | None = None) -> float:
        """Delay for a provider hint: never shorter than the hint, a little jitter above it so
        many workers told the same value do not come back in lockstep."""
        return retry_after * (1.0 + 0.1 * (rng or _RNG).random())


class RetryableAnswer(Exception):
    """One try failed in a way another try may fix; carries the provider's wait hint."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (Runway SDK) or `Retry-After` (seconds or HTTP date).

    Returns None when absent or unparsable; never negative.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return max(0.0, value) if math.isfinite(value) else None


class _WaitForHintOrBackoff(tenacity.wait.wait_base):
    """tenacity wait: the provider's hint when the failed try carried one, else the backoff."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        hint = failure.retry_after if isinstance(failure, RetryableAnswer) else None
        if hint is not None:
            return self.policy.honour(hint, self.rng)
        return self.policy.backoff(retry_state.attempt_number - 1, self.rng)


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    provider: str,
    what: str,
    sleep: Sleep,
    rng: random.Random | None = None,
) -> T:
    """Run `attempt` until it returns, raises anything but `RetryableAnswer`, or runs out of
    tries; then `ProviderUnavailable` naming `what` and the last problem (with its hint)."""

    def announce(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        failure = outcome.exception() if outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s: %s failed (%s); retry %d/%d in %.2f s",
            provider,
            what,
            failure,
            state.attempt_number,
            policy.attempts - 1,
            delay,
        )

    controller = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_WaitForHintOrBackoff(policy, rng or _RNG),
        retry=tenacity.retry_if_exception_type(RetryableAnswer),
        sleep=sleep,
        before_sleep=announce,
        reraise=True,
    )
    try:
        return await controller(attempt)
    except RetryableAnswer as last:
        raise ProviderUnavailable(
            f"{provider}: {what} still failing after {policy.attempts} attempts ({last.problem})",
            retry_after=last.retry_after,
        ) from None
