"""The segment row a worker holds: what its claim learned, and writes fenced by its lease."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from videofoundry.models import SegmentRender
from videofoundry.runtime import Runtime


class LeaseLost(Exception):
    """The row is no longer held with our lease: another worker owns it, or it was cancelled."""


@dataclass(frozen=True)
class Claim:
    """What the claim transaction learned, so generation needs no second read."""

    lease: str
    row_id: str
    job_id: str
    owner_id: str
    segment_id: str
    spec: dict[str, Any]
    spec_hash: str
    provider_task_id: str | None
    attempts: int
    estimated_cost: Decimal
    twins: int
    """Rows of this job with the same spec, completed together with this one."""


async def update_row(runtime: Runtime, row_id: str, lease: str, **values: Any) -> bool:
    """Update our row if we still hold its lease; False means we lost it."""
    async with runtime.sessions() as session, session.begin():
        result = await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id == row_id, SegmentRender.lease_token == lease)
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(runtime: Runtime, row_id: str, lease: str) -> None:
    """Give the segment back for the next delivery to claim."""
    await update_row(runtime, row_id, lease, status="pending", lease_token=None)


async def mark_cancelled(runtime: Runtime, row_id: str, lease: str) -> None:
    await update_row(runtime, row_id, lease, status="cancelled", lease_token=None)
