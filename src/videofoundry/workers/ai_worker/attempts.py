"""The worker's layer of retries: how many times one segment render calls its model, and how
long it waits in between. The numbers of every layer are in docs/design.md ("Retries").

Attempts are counted on the segment row, across queue deliveries and worker restarts (each
claim adds one), so neither a redelivery nor the reconciler can buy more calls than the cap:
the lower of `SEGMENT_MAX_ATTEMPTS` and `Adapter.max_generation_attempts()`, which keeps the
tries of one paid call, HTTP retries included, within `MAX_TRIES_PER_PAID_CALL`.
"""

from __future__ import annotations

from videofoundry.adapters.base import Adapter
from videofoundry.adapters.hosted.retry import RetryPolicy
from videofoundry.core.config import Settings
from videofoundry.core.errors import PermanentError, RetryableError


def segment_policy(settings: Settings, adapter: Adapter) -> RetryPolicy:
    """The same backoff as the HTTP layer's (one implementation), with the worker's numbers."""
    return RetryPolicy(
        attempts=min(settings.SEGMENT_MAX_ATTEMPTS, adapter.max_generation_attempts()),
        base_delay=settings.RETRY_BASE_SECONDS,
    )


def check_before_calling(policy: RetryPolicy, attempts: int, task_id: str | None) -> None:
    """Refuse a call the cap has no room for. `attempts` counts this one (the claim added it);
    resuming a task already created costs nothing, so only a new task is refused."""
    if task_id is None and attempts > policy.attempts:
        raise PermanentError(
            f"gave up after {attempts - 1} attempts (at most {policy.attempts} for this model, "
            "counted across deliveries and worker restarts)"
        )


def delay_before_retry(policy: RetryPolicy, failure: RetryableError, attempts: int) -> float:
    """Seconds to wait before attempt `attempts + 1`: the provider's hint when it gave one,
    else the backoff. A hint longer than a worker should hold a segment fails it instead
    (a daily quota answers with hours); rendering again later retries it."""
    hint = failure.retry_after
    if hint is None:
        return policy.backoff(attempts - 1)
    if hint > policy.max_retry_after:
        raise PermanentError(
            f"{failure.message}; the provider asks to wait {hint:.0f} s, longer than a worker "
            f"holds a segment ({policy.max_retry_after:.0f} s): render again later"
        )
    return policy.honour(hint)
