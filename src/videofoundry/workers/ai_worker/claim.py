"""Taking a segment: one transaction that leases the row, numbers its event, and completes it
at once when its clip already exists."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update

from videofoundry.database.base import utcnow
from videofoundry.models import RenderJob
from videofoundry.runtime import Runtime
from videofoundry.services import job_events, orchestrator, task_publisher
from videofoundry.storage import keys
from videofoundry.workers.ai_worker.completion import complete
from videofoundry.workers.ai_worker.segment_row import Claim
from videofoundry.workers.ai_worker.statements import CLAIM_ROW, CLIP_ID, EVENT_COLUMNS, SR

WAITING_NOTE = "waiting for the same clip, being generated for another render"


class _NothingToDo(Exception):
    """Rolls back a claim that found its segment taken (and its reserved event number)."""


class GeneratingElsewhere(Exception):
    """Rolls back a claim whose clip another render of the same owner is generating now."""


async def claim(runtime: Runtime, row_id: str, job_id: str) -> Claim | None:
    """Take the segment if nobody holds it; None means there is nothing to do.

    A few statements and no ORM loading: this runs once per segment, and with fast or cached
    models it is most of the product's own cost."""
    events = job_events.Events()
    lease = orchestrator.new_lease()
    now = utcnow()
    clip_id: str | None = None
    composing = False
    try:
        async with runtime.sessions() as session, session.begin():
            # The job row first, then its segment rows: the lock order of every writer (cancel,
            # completion), so two transactions never deadlock. Events number from it.
            job = await job_events.reserve_events(session, job_id, 1, only_generating=True)
            if job is None:
                return None  # cancelled, failed or deleted meanwhile
            params = {
                "p_row": row_id,
                "p_job": job_id,
                "p_now": now,
                "p_lease": lease,
                "p_deadline": orchestrator.lease_deadline(runtime.settings.LEASE_SECONDS),
            }
            row = (await session.execute(CLAIM_ROW, params)).one_or_none()
            if row is None:
                # Finished, or a live worker holds it (if that one dies, the reconciler acts).
                raise _NothingToDo
            await job_events.append_events(
                session, job_id, job.event_seq, [job_events.segment_event(row)], events
            )
            claimed = Claim(
                lease=lease,
                row_id=row.id,
                job_id=job_id,
                owner_id=job.owner_id,
                segment_id=row.segment_id,
                spec=dict(row.spec),
                spec_hash=row.spec_hash,
                provider_task_id=row.provider_task_id,
                attempts=row.attempts,
                estimated_cost=row.estimated_cost,
                twins=row.twins,
            )
            # This check before the clip lookup: a generation that ends between the two has
            # committed its clip before the lookup reads (READ COMMITTED reads per statement).
            if row.running_elsewhere and await _generating_elsewhere(session, claimed, now):
                raise GeneratingElsewhere
            clip_id = await session.scalar(
                CLIP_ID, {"p_key": keys.clip(job.owner_id, row.spec_hash)}
            )
            if clip_id is not None:
                # Another job made this clip meanwhile: nothing to generate.
                composing = await complete(
                    session,
                    claimed,
                    clip_id,
                    Decimal(0),
                    events,
                    True,
                    runtime.settings.SEGMENTS_IN_FLIGHT_PER_USER,
                )
    except _NothingToDo:
        return None
    await job_events.publish(runtime, events)
    if clip_id is None:
        return claimed
    if composing:
        await task_publisher.relay(runtime.sessions, runtime.broker)
    return None


async def _generating_elsewhere(session: Any, claimed: Claim, now: datetime) -> bool:
    """Whether a live worker generates this clip (same owner, same spec) for another job."""
    other = await session.scalar(
        select(SR.c.id)
        .join(RenderJob, RenderJob.id == SR.c.job_id)
        .where(
            SR.c.spec_hash == claimed.spec_hash,
            SR.c.job_id != claimed.job_id,
            SR.c.status == "running",
            SR.c.lease_expires_at >= now,
            RenderJob.owner_id == claimed.owner_id,
            RenderJob.status == "generating",  # a cancelled job's generation stores nothing
        )
        .limit(1)
    )
    return other is not None


async def hold_wait(
    runtime: Runtime, row_id: str, job_id: str, waiter: str, announce: bool
) -> bool:
    """Hold the pending segment for this delivery while it waits for the same clip, until a
    lease period from now: meanwhile the reconciler sends its task no copy, and another
    delivery of it leaves at once instead of taking a second worker slot to wait too. Hold it
    again before that passes. `announce` (the first hold) says on the segment why it does not
    start, in one event. False: another delivery holds it, or there is nothing to wait for."""
    now = utcnow()
    held = update(SR).where(
        SR.c.id == row_id,
        SR.c.status == "pending",
        or_(SR.c.lease_token.is_(None), SR.c.lease_token == waiter, SR.c.lease_expires_at < now),
    )
    hold = {
        "lease_token": waiter,
        "lease_expires_at": orchestrator.lease_deadline(runtime.settings.LEASE_SECONDS),
    }
    if not announce:
        async with runtime.sessions() as session, session.begin():
            return bool((await session.execute(held.values(hold))).rowcount)  # type: ignore[attr-defined]
    events = job_events.Events()
    try:
        async with runtime.sessions() as session, session.begin():
            job = await job_events.reserve_events(session, job_id, 1, only_generating=True)
            if job is None:
                return False
            row = (
                await session.execute(
                    held.values(message=WAITING_NOTE, **hold).returning(*EVENT_COLUMNS)
                )
            ).one_or_none()
            if row is None:
                raise _NothingToDo
            await job_events.append_events(
                session, job_id, job.event_seq, [job_events.segment_event(row)], events
            )
    except _NothingToDo:
        return False
    await job_events.publish(runtime, events)
    return True
