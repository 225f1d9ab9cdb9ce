"""Finds work whose worker died and hands it out again.

RabbitMQ redelivers the message of a worker that died, but the redelivery finds the dead
worker's lease still live and leaves it alone; once the lease expires this sweep re-queues the
task. A task nobody has taken within a lease period is sent again too, segment or composition:
its message may have been lost or dead-lettered before any worker claimed it (a broker losing
it, a database outage outlasting its deliveries), and then no lease would ever expire. A
duplicate finds its row taken or done and is acked, so nothing is generated twice. The embedded
run loses its in-process queue with the process, so at start-up it re-queues everything
unfinished (`recover_all`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.database.base import utcnow
from videofoundry.models import RenderJob, SegmentRender
from videofoundry.runtime import Runtime
from videofoundry.services import fair_share, job_events, orchestrator, task_publisher

log = logging.getLogger(__name__)


async def sweep(runtime: Runtime) -> int:
    """Re-queue segments and compositions whose lease expired, and send again those nobody
    took in time. Returns how many."""
    requeued = 0
    events = job_events.Events()
    lease_seconds = runtime.settings.LEASE_SECONDS
    async with runtime.sessions() as session, session.begin():
        now = utcnow()
        expired = (
            SegmentRender.status == "running",
            SegmentRender.lease_expires_at < now,
        )
        candidates = await session.execute(
            select(SegmentRender.id, SegmentRender.job_id)
            .where(*expired)
            .order_by(SegmentRender.job_id)  # two sweeps lock jobs in one order
        )
        for row_id, job_id in candidates.all():
            # The job row first, then the segment: the lock order of a claim, which holds the
            # job while it takes the row (the other order deadlocks with it).
            job = await session.get_one(RenderJob, job_id, with_for_update=True)
            row = await session.scalar(
                select(SegmentRender)
                .where(SegmentRender.id == row_id, *expired)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                continue  # claimed or finished meanwhile
            if row.attempts >= runtime.settings.QUEUE_DELIVERY_LIMIT:
                # A segment that keeps killing its workers must not be retried forever.
                row.status, row.lease_token, row.finished_at = "failed", None, now
                row.error = f"workers stopped responding {row.attempts} times while generating it"
                job_events.emit(session, job, job_events.segment_event(row), events)
                await orchestrator.fail_job(
                    session, job, f"segment {row.position + 1}: {row.error}", events
                )
                continue
            row.status, row.lease_token = "pending", None
            row.lease_expires_at = orchestrator.lease_deadline(lease_seconds)
            row.message = "the worker stopped responding; handed to another worker"
            job_events.emit(session, job, job_events.segment_event(row), events)
            task_publisher.enqueue_segment(session, row.id, row.job_id)
            requeued += 1
        requeued += await _resend_untaken_segments(session, now, lease_seconds)
        jobs = await session.scalars(
            select(RenderJob)
            .where(
                RenderJob.status == "composing",
                or_(
                    RenderJob.composition_lease_expires_at < now,
                    RenderJob.composition_lease_expires_at.is_(None),
                ),
            )
            .with_for_update(skip_locked=True)
        )
        for job in jobs:
            if job.composition_lease_expires_at is None:
                # Not taken since it was queued (or released): send it again if nobody takes
                # it within a lease period.
                job.composition_lease_expires_at = orchestrator.lease_deadline(lease_seconds)
                continue
            _requeue_composition(session, job, lease_seconds)
            requeued += 1
    if requeued:
        log.info("reconciler re-queued %d task(s)", requeued)
        await job_events.publish(runtime, events)
    await release_waiting(runtime)
    return requeued


async def release_waiting(runtime: Runtime) -> int:
    """Queue segments waiting for their owner's share whose places were freed without a
    release: a failed or cancelled job, a completion that lost its lease, a crash."""
    async with runtime.sessions() as session, session.begin():
        released = await fair_share.release_everyone(
            session, runtime.settings.SEGMENTS_IN_FLIGHT_PER_USER
        )
    if released:
        log.info("released %d waiting segment task(s)", released)
    return released


async def _resend_untaken_segments(
    session: AsyncSession, now: datetime, lease_seconds: float
) -> int:
    """Send again the queued segments no worker has taken or waited on for a lease period.

    A pending row's `lease_expires_at` is when that happens (empty: a lease period after it was
    queued); a delivery waiting for the same clip from another render keeps pushing it back
    (`claim.hold_wait`), so such a row gets no copy to wait on too."""
    rows = await session.scalars(
        select(SegmentRender)
        .join(RenderJob, RenderJob.id == SegmentRender.job_id)
        .where(
            RenderJob.status == "generating",
            SegmentRender.status == "pending",
            SegmentRender.dispatched_at.is_not(None),  # else it waits for its owner's share
            SegmentRender.reused.is_(False),
            SegmentRender.waits_for.is_(None),
            or_(
                SegmentRender.lease_expires_at < now,
                and_(
                    SegmentRender.lease_expires_at.is_(None),
                    SegmentRender.dispatched_at < now - timedelta(seconds=lease_seconds),
                ),
            ),
        )
        .with_for_update(of=SegmentRender, skip_locked=True)
    )
    sent = 0
    period = timedelta(seconds=lease_seconds)
    for row in rows:
        # The next one waits as long as the row has been queued, from one lease period up to
        # ten, so a queue backed up for longer than a lease period does not fill with copies.
        queued_for = now - (row.dispatched_at or now)
        row.lease_token = None
        row.lease_expires_at = now + min(max(queued_for, period), 10 * period)
        task_publisher.enqueue_segment(session, row.id, row.job_id)
        sent += 1
    return sent


def _requeue_composition(session: AsyncSession, job: RenderJob, lease_seconds: float) -> None:
    """Drop the dead composer's lease and queue the composition again (in the caller's
    transaction, through the outbox), to be sent once more if nobody takes it in time."""
    job.composition_lease = None
    job.composition_lease_expires_at = orchestrator.lease_deadline(lease_seconds)
    task_publisher.enqueue_composition(session, job.id)


async def recover_all(runtime: Runtime) -> int:
    """Embedded start-up: the in-process queue is empty, so queue every unfinished task again."""
    count = 0
    async with runtime.sessions() as session, session.begin():
        rows = await session.scalars(
            select(SegmentRender)
            .join(RenderJob, RenderJob.id == SegmentRender.job_id)
            .where(
                RenderJob.status == "generating",
                SegmentRender.status.in_(("pending", "running")),
                # Twins of a spec wait for their first: queueing them would generate twice.
                SegmentRender.reused.is_(False),
                # Rows still waiting for their owner's share are released below instead.
                SegmentRender.dispatched_at.is_not(None),
            )
        )
        for row in rows:
            row.status, row.lease_token = "pending", None
            row.lease_expires_at = orchestrator.lease_deadline(runtime.settings.LEASE_SECONDS)
            task_publisher.enqueue_segment(session, row.id, row.job_id)
            count += 1
        jobs = await session.scalars(select(RenderJob).where(RenderJob.status == "composing"))
        for job in jobs:
            _requeue_composition(session, job, runtime.settings.LEASE_SECONDS)
            count += 1
    if count:
        log.info("recovered %d unfinished task(s) from the database", count)
    return count + await release_waiting(runtime)
