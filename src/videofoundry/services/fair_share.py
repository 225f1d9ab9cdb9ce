"""Fair scheduling: each user has at most SEGMENTS_IN_FLIGHT_PER_USER segment tasks queued or
generating at once, over all their renders.

A render's segment rows are created with `dispatched_at` empty; `release` queues (through the
outbox) as many of its owner's waiting rows as the cap allows, oldest render first. It runs in
the transaction that starts a render and in every transaction that ends a segment, so a user's
next segment enters the queue behind whatever other users queued meanwhile: the queue
interleaves users whatever its kind (in-process or RabbitMQ), and a crash cannot lose a release
(the outbox carries it, and `release_everyone` in the reconciler's sweep catches up on anything
missed). Waiting rows are plain database rows, so nothing is held in memory.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.database.base import utcnow
from videofoundry.models import RenderJob, SegmentRender, User
from videofoundry.services import task_publisher

_SR = cast(Table, SegmentRender.__table__)
_JOB = cast(Table, RenderJob.__table__)
_OF_GENERATING_JOBS = _SR.join(_JOB, and_(_JOB.c.id == _SR.c.job_id, _JOB.c.status == "generating"))

_WAITING = and_(
    _SR.c.dispatched_at.is_(None),
    _SR.c.status == "pending",
    # A twin is completed by its first's clip; a continued shot is freed by its previous clip.
    _SR.c.reused.is_(False),
    _SR.c.waits_for.is_(None),
)
"""Rows ready to be queued that have not been."""
WAITING_NOTE = "waiting for your earlier segments: each account has a few generated at a time"
"""Shown on a row while it waits for its owner's share (set by the render, cleared on release),
so a pending segment that does not start says why."""


async def release(session: AsyncSession, owner_id: str, cap: int) -> list[str]:
    """Queue the owner's waiting segments up to `cap` in flight; returns the ids queued.

    Call it in the transaction that changed what is in flight, after the change."""
    # The owner's row serialises releases, so two finishing segments cannot both fill the one
    # free place. FOR NO KEY UPDATE (key_share): it must not wait on the key-share lock that
    # inserting the owner's assets takes while that transaction waits for our job row.
    # Segment rows another transaction holds are skipped (SKIP LOCKED): waiting for them while
    # holding the owner's row could deadlock with a completion of that job, and the next
    # release or the sweep picks them up.
    await session.execute(
        select(User.id).where(User.id == owner_id).with_for_update(key_share=True)
    )
    in_flight = await session.scalar(
        select(func.count())
        .select_from(_OF_GENERATING_JOBS)
        .where(
            _JOB.c.owner_id == owner_id,
            _SR.c.dispatched_at.is_not(None),
            _SR.c.status.in_(("pending", "running")),
        )
    )
    free = cap - int(in_flight or 0)
    if free <= 0:
        return []
    chosen = list(
        (
            await session.execute(
                select(_SR.c.id, _SR.c.job_id)
                .select_from(_OF_GENERATING_JOBS)
                .where(_JOB.c.owner_id == owner_id, _WAITING)
                .order_by(_JOB.c.created_at, _JOB.c.id, _SR.c.position)
                .limit(free)
                .with_for_update(of=_SR, skip_locked=True)
            )
        ).all()
    )
    if not chosen:
        return []
    await session.execute(
        update(_SR)
        .where(_SR.c.id.in_([row.id for row in chosen]))
        .values(
            dispatched_at=utcnow(),
            message=case((_SR.c.message == WAITING_NOTE, None), else_=_SR.c.message),
        )
    )
    for row in chosen:
        task_publisher.enqueue_segment(session, row.id, row.job_id)
    return [row.id for row in chosen]


async def owners_waiting(session: AsyncSession) -> list[str]:
    """Users with segments waiting for their share of the queue."""
    rows = await session.scalars(
        select(_JOB.c.owner_id).select_from(_OF_GENERATING_JOBS).where(_WAITING).distinct()
    )
    return list(rows)


async def release_everyone(session: AsyncSession, cap: int) -> int:
    """The sweep's catch-up: release for every user with waiting segments."""
    released = 0
    for owner_id in await owners_waiting(session):
        released += len(await release(session, owner_id, cap))
    return released
