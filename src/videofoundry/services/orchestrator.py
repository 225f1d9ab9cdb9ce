"""Render job lifecycle: starting a job, cancelling it, finishing and failing it.

Every state change happens inside the caller's transaction and appends a numbered event
(`job_events`); callers publish the events after committing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core import metrics
from videofoundry.database.base import utcnow
from videofoundry.models import Asset, RenderJob, SegmentRender
from videofoundry.models.render_job import ACTIVE_JOB_STATES, TERMINAL_JOB_STATES
from videofoundry.models.segment_render import TERMINAL_SEGMENT_STATES
from videofoundry.services import fair_share, integrity, quotas, task_publisher
from videofoundry.services.job_events import Events, emit, segment_event
from videofoundry.services.job_views import get_job, segment_rows
from videofoundry.services.render_plan import (
    HasRegistry,
    plan_project,
    refund_unspent,
    reserve_budget,
)
from videofoundry.storage import keys


async def start_render(
    session: AsyncSession, runtime: HasRegistry, owner_id: str, project_id: str, events: Events
) -> RenderJob:
    """Create the job, its segment rows and the outbox tasks in the caller's transaction."""
    await quotas.check_renders_in_flight(session, owner_id, runtime.settings)
    planned = await plan_project(session, runtime, owner_id, project_id)
    quotas.check_render_size(planned.work(), runtime.settings)
    await integrity.mark_damaged(session, planned.damaged or {})
    project, final = planned.project, planned.final
    now = utcnow()
    job = RenderJob(
        project_id=project.id,
        owner_id=owner_id,
        status="generating",
        output={
            "width": project.width,
            "height": project.height,
            "fps": project.fps,
            "aspect_mode": project.aspect_mode,
            "default_transition": project.default_transition,
            "soundtrack_key": await _storage_key(session, project.soundtrack_asset_id),
        },
        composition_hash=planned.composition_hash,
        segment_count=len(planned.segments),
        created_at=now,
        started_at=now,
        event_seq=0,
    )
    session.add(job)
    await session.flush()

    first_of_hash: dict[str, SegmentRender] = {}
    to_generate: list[SegmentRender] = []
    estimate = Decimal(0)
    for p in planned.segments:
        row = SegmentRender(
            job_id=job.id,
            segment_id=p.segment.id,
            position=p.segment.position,
            spec_hash=p.spec_hash,
            spec={
                **p.spec,
                "caption": p.segment.caption,
                "burn_caption": p.segment.burn_caption,
                "transition": p.segment.transition,
                # Applied when composing; not part of the clip's spec (or its hash).
                "trim_start": p.segment.trim_start,
                "trim_end": p.segment.trim_end,
                "init_image_key": await _storage_key(session, p.segment.init_image_asset_id),
                # A continued shot's init image is the last frame of this clip.
                "previous_clip_key": (
                    keys.clip(owner_id, p.previous.spec_hash) if p.previous else None
                ),
            },
            provider=p.segment.model.split("/", 1)[0],
        )
        if p.clip is not None:
            row.status, row.reused, row.progress = "completed", True, 1.0
            row.clip_asset_id, row.finished_at = p.clip.id, now
        elif p.spec_hash in first_of_hash:
            # The same spec twice in one timeline: generate once, the twin waits for it.
            row.reused = True
        else:
            row.estimated_cost = p.cost
            estimate += p.cost
            first_of_hash[p.spec_hash] = row
            to_generate.append(row)
        if p.clip is None and p.waits_for is not None:
            # Generated after the clip it continues from; its completion queues this row.
            row.waits_for = p.waits_for.spec_hash
            row.message = f"starts when segment {p.waits_for.segment.position + 1} is done"
        elif row in to_generate:
            row.message = fair_share.WAITING_NOTE  # until its share of the queue frees it
        session.add(row)
    job.estimated_cost = estimate
    metrics.SEGMENTS_PLANNED.labels("reuse").inc(len(planned.segments) - len(to_generate))
    metrics.SEGMENTS_PLANNED.labels("generate").inc(len(to_generate))
    metrics.RENDERS.labels("started").inc()
    job.completed_count = sum(1 for p in planned.segments if p.clip is not None)
    unpriced = next((p.unpriced_model for p in planned.segments if p.unpriced_model), None)
    await reserve_budget(session, owner_id, estimate, unpriced)
    await session.flush()

    if final is not None and not to_generate:
        # Nothing changed since a previous render: the same final video, no work at all.
        job.status, job.final_asset_id, job.finished_at = "completed", final.id, now
        job.duration = final.duration
        emit(session, job, {"type": "job", "status": "completed", "progress": 1.0}, events)
        return job
    emit(session, job, {"type": "job", "status": "generating", "progress": 0.0}, events)
    # Queued up to the owner's share; the rest follow as their segments finish.
    queued = set(
        await fair_share.release(session, owner_id, runtime.settings.SEGMENTS_IN_FLIGHT_PER_USER)
    )
    for row in to_generate:
        if row.id in queued:  # as the release wrote it, for the view this request answers
            row.dispatched_at = now
            row.message = None
    if not to_generate:
        job.status = "composing"
        task_publisher.enqueue_composition(session, job.id)
        emit(session, job, {"type": "job", "status": "composing"}, events)
    return job


async def _storage_key(session: AsyncSession, asset_id: str | None) -> str | None:
    asset = await session.get(Asset, asset_id) if asset_id else None
    return asset.storage_key if asset else None


async def cancel(
    session: AsyncSession, owner_id: str, job_id: str, events: Events
) -> tuple[RenderJob, list[SegmentRender]]:
    """Mark the job and its unfinished segments cancelled; returns rows with provider tasks to
    cancel. Workers notice between steps."""
    job = await get_job(session, owner_id, job_id, for_update=True)
    if job.status in TERMINAL_JOB_STATES:
        return job, []
    rows = await segment_rows(session, job.id)
    to_cancel = []
    for row in rows:
        if row.status not in TERMINAL_SEGMENT_STATES:
            if row.provider_task_id:
                to_cancel.append(row)
            row.status, row.lease_token, row.finished_at = "cancelled", None, utcnow()
            emit(session, job, segment_event(row), events)
    finish_job(session, job, "cancelled", events, error="cancelled by the user")
    await _refund_unspent(session, job, rows)
    return job, to_cancel


def finish_job(
    session: AsyncSession,
    job: RenderJob,
    status: str,
    events: Events,
    error: str | None = None,
) -> None:
    job.status, job.error, job.finished_at = status, error, utcnow()
    job.composition_lease = None
    payload: dict[str, Any] = {"type": "job", "status": status, "error": error}
    if status == "completed":
        payload["progress"] = 1.0
    emit(session, job, payload, events)


async def _refund_unspent(session: AsyncSession, job: RenderJob, rows: list[SegmentRender]) -> None:
    """Return reserved budget of segments that were never paid for."""
    unspent = sum(
        (r.estimated_cost for r in rows if r.status != "completed" or r.reused), Decimal(0)
    )
    await refund_unspent(session, job.owner_id, unspent)


async def fail_job(session: AsyncSession, job: RenderJob, error: str, events: Events) -> None:
    if job.status not in ACTIVE_JOB_STATES:
        return
    rows = await segment_rows(session, job.id)
    for row in rows:
        if row.status not in TERMINAL_SEGMENT_STATES and row.status != "running":
            row.status, row.finished_at = "cancelled", utcnow()
            emit(session, job, segment_event(row), events)
    finish_job(session, job, "failed", events, error=error)
    await _refund_unspent(session, job, rows)


def new_lease() -> str:
    return secrets.token_hex(16)


def lease_deadline(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
