"""Render jobs: planning, starting, state transitions, events and the job view.

Every state change of a job happens here, inside the caller's transaction, and appends a
numbered `JobEvent`. Callers publish the returned events on the status bus after committing
(`publish`), so a client never sees an event for a change that was rolled back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Integer, Row, Table, Update, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core import metrics
from videofoundry.core.errors import BudgetExceeded, InvalidInput, NotFound
from videofoundry.database.base import utcnow
from videofoundry.models import (
    Asset,
    JobEvent,
    Project,
    RenderJob,
    Segment,
    SegmentRender,
    User,
)
from videofoundry.models.render_job import ACTIVE_JOB_STATES, TERMINAL_JOB_STATES
from videofoundry.models.segment_render import TERMINAL_SEGMENT_STATES
from videofoundry.runtime import Runtime
from videofoundry.schemas.render import (
    PlannedSegment,
    RenderJobPublic,
    RenderPlan,
    SegmentStatus,
)
from videofoundry.services import assets, task_publisher
from videofoundry.services import spec_hash as hashing
from videofoundry.services.projects import clip_spec_of, get_project, segments_of
from videofoundry.storage import keys

log = logging.getLogger(__name__)

# Share of the job's progress bar that generation covers; composition covers the rest.
GENERATION_SHARE = 0.9


@dataclass
class Events:
    """Events produced in a transaction, published after it commits."""

    job_ids: set[str] = field(default_factory=set)
    items: list[dict[str, Any]] = field(default_factory=list)


def composition_settings(project: Project, segments: list[Segment]) -> dict[str, Any]:
    return {
        "width": project.width,
        "height": project.height,
        "fps": project.fps,
        "default_transition": project.default_transition,
        "transitions": [s.transition for s in segments],
        "captions": [(s.caption, s.burn_caption) for s in segments],
        "soundtrack": project.soundtrack_asset_id,
    }


@dataclass
class _Planned:
    segment: Segment
    spec: dict[str, Any]
    spec_hash: str
    clip: Asset | None
    cost: Decimal


async def _plan(
    session: AsyncSession, runtime: Runtime, owner_id: str, project_id: str
) -> tuple[Project, list[_Planned], str, Asset | None]:
    project = await get_project(session, owner_id, project_id)
    segments = await segments_of(session, project.id)
    if not segments:
        raise InvalidInput(f"project {project.id} has no segments to render", "segments")
    specs: list[tuple[Segment, dict[str, Any], str, Decimal]] = []
    for segment in segments:
        adapter, model = runtime.registry.resolve(segment.model)
        reason = adapter.availability()
        if reason:
            raise InvalidInput(
                f"segment {segment.position + 1} uses {segment.model}, which is unavailable: "
                f"{reason}",
                "model",
            )
        spec = await clip_spec_of(session, project, segment)
        digest = hashing.spec_hash(spec)
        segment.spec_hash = digest
        cost = Decimal(str(adapter.estimate_cost(model, segment.duration, segment.params)))
        specs.append((segment, spec, digest, cost))
    # One query for every clip already made, not one per segment.
    made = await assets.by_keys(session, [keys.clip(owner_id, digest) for _, _, digest, _ in specs])
    planned: list[_Planned] = []
    for segment, spec, digest, cost in specs:
        clip = made.get(keys.clip(owner_id, digest))
        planned.append(_Planned(segment, spec, digest, clip, Decimal(0) if clip else cost))
    comp_hash = hashing.composition_hash(
        [p.spec_hash for p in planned], composition_settings(project, segments)
    )
    final = await assets.by_key(session, keys.final(owner_id, comp_hash))
    return project, planned, comp_hash, final


async def plan(
    session: AsyncSession, runtime: Runtime, owner_id: str, project_id: str
) -> RenderPlan:
    """What a render would do and cost, without doing it."""
    _, planned, _, final = await _plan(session, runtime, owner_id, project_id)
    generate_once: set[str] = set()
    items = []
    for p in planned:
        reuse = p.clip is not None or p.spec_hash in generate_once
        generate_once.add(p.spec_hash)
        items.append(
            PlannedSegment(
                segment_id=p.segment.id,
                position=p.segment.position,
                model=p.segment.model,
                action="reuse" if reuse else "generate",
                estimated_cost=0.0 if reuse else float(p.cost),
            )
        )
    return RenderPlan(
        segments=items,
        total_estimated_cost=round(sum(i.estimated_cost for i in items), 4),
        compose=final is None,
    )


async def start_render(
    session: AsyncSession, runtime: Runtime, owner_id: str, project_id: str, events: Events
) -> RenderJob:
    """Create the job, its segment rows and the outbox tasks in the caller's transaction."""
    project, planned, comp_hash, final = await _plan(session, runtime, owner_id, project_id)
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
        composition_hash=comp_hash,
        segment_count=len(planned),
        created_at=now,
        started_at=now,
        event_seq=0,
    )
    session.add(job)
    await session.flush()

    first_of_hash: dict[str, SegmentRender] = {}
    to_generate: list[SegmentRender] = []
    estimate = Decimal(0)
    for p in planned:
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
                "init_image_key": await _storage_key(session, p.segment.init_image_asset_id),
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
        session.add(row)
    job.estimated_cost = estimate
    metrics.SEGMENTS_PLANNED.labels("reuse").inc(len(planned) - len(to_generate))
    metrics.SEGMENTS_PLANNED.labels("generate").inc(len(to_generate))
    metrics.RENDERS.labels("started").inc()
    job.completed_count = sum(1 for p in planned if p.clip is not None)
    await _reserve_budget(session, owner_id, estimate)
    await session.flush()

    if final is not None and not to_generate:
        # Nothing changed since a previous render: the same final video, no work at all.
        job.status, job.final_asset_id, job.finished_at = "completed", final.id, now
        job.duration = final.duration
        emit(session, job, {"type": "job", "status": "completed", "progress": 1.0}, events)
        return job
    emit(session, job, {"type": "job", "status": "generating", "progress": 0.0}, events)
    for row in to_generate:
        task_publisher.enqueue_segment(session, row.id, job.id)
    if not to_generate:
        job.status = "composing"
        task_publisher.enqueue_composition(session, job.id)
        emit(session, job, {"type": "job", "status": "composing"}, events)
    return job


async def _storage_key(session: AsyncSession, asset_id: str | None) -> str | None:
    asset = await session.get(Asset, asset_id) if asset_id else None
    return asset.storage_key if asset else None


async def _reserve_budget(session: AsyncSession, owner_id: str, estimate: Decimal) -> None:
    if estimate <= 0:
        return
    # One conditional UPDATE: two racing renders cannot both pass the check.
    result = await session.execute(
        update(User)
        .where(
            User.id == owner_id,
            (User.budget_usd.is_(None)) | (User.spent_usd + estimate <= User.budget_usd),
        )
        .values(spent_usd=User.spent_usd + estimate)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        user = await session.get_one(User, owner_id)
        left = (user.budget_usd or Decimal(0)) - user.spent_usd
        raise BudgetExceeded(
            f"this render is estimated at ${estimate:.2f} but only ${left:.2f} of your "
            f"${user.budget_usd:.2f} budget is left; raise the budget or render fewer segments"
        )


def emit(session: AsyncSession, job: RenderJob, payload: dict[str, Any], events: Events) -> None:
    """Number an event, persist it with the job's change, and queue it for publishing.

    The caller must hold the job row locked (SELECT ... FOR UPDATE): the number comes from it."""
    job.event_seq += 1
    event = {**payload, "job_id": job.id, "seq": job.event_seq, "at": utcnow().isoformat()}
    session.add(JobEvent(job_id=job.id, seq=job.event_seq, payload=event))
    events.job_ids.add(job.id)
    events.items.append(event)


_JOB = cast(Table, RenderJob.__table__)
_EVENTS = cast(Table, JobEvent.__table__)
_INSERT_EVENTS = insert(_EVENTS)


@functools.cache
def _reserve_statement(only_generating: bool, tally: bool, new_status: bool) -> Update:
    """The job UPDATE of `reserve_events` for one shape, built once: building and hashing a
    statement costs several times what executing a prebuilt one does, per segment."""
    values: dict[str, Any] = {"event_seq": _JOB.c.event_seq + bindparam("p_count", type_=Integer)}
    if tally:
        values["completed_count"] = _JOB.c.completed_count + bindparam("p_done", type_=Integer)
        values["actual_cost"] = _JOB.c.actual_cost + bindparam(
            "p_cost", type_=_JOB.c.actual_cost.type
        )
    if new_status:
        values["status"] = bindparam("p_status", type_=_JOB.c.status.type)
    where = [_JOB.c.id == bindparam("p_job", type_=_JOB.c.id.type)]
    if only_generating:
        where.append(_JOB.c.status == "generating")
    return (
        update(_JOB)
        .where(*where)
        .values(values)
        .returning(
            _JOB.c.event_seq,
            _JOB.c.status,
            _JOB.c.owner_id,
            _JOB.c.project_id,
            _JOB.c.completed_count,
            _JOB.c.segment_count,
        )
    )


async def reserve_events(
    session: AsyncSession,
    job_id: str,
    count: int,
    *,
    only_generating: bool = False,
    completed: int = 0,
    cost: Decimal = Decimal(0),
    status: str | None = None,
) -> Row[Any] | None:
    """Lock the job row and take the next `count` event numbers in one UPDATE, adding
    `completed` segments and their `cost` and setting `status` if given; returns the row as
    updated, or None when there is no such job (or, with `only_generating`, it is no longer
    generating).

    The statement-level twin of `emit` for hot paths that do not load the job; the caller then
    persists the numbered events with `append_events` in the same transaction."""
    tally = bool(completed or cost)
    params: dict[str, Any] = {"p_job": job_id, "p_count": count}
    if tally:
        params |= {"p_done": completed, "p_cost": cost}
    if status is not None:
        params["p_status"] = status
    statement = _reserve_statement(only_generating, tally, status is not None)
    return (await session.execute(statement, params)).one_or_none()


async def append_events(
    session: AsyncSession,
    job_id: str,
    last_seq: int,
    payloads: list[dict[str, Any]],
    events: Events,
) -> None:
    """Persist events numbered up to `last_seq` (reserved by `reserve_events`) in one INSERT and
    queue them for publishing."""
    at = utcnow().isoformat()
    first = last_seq - len(payloads) + 1
    rows = []
    for seq, payload in enumerate(payloads, start=first):
        event = {**payload, "job_id": job_id, "seq": seq, "at": at}
        rows.append({"job_id": job_id, "seq": seq, "payload": event})
        events.items.append(event)
    events.job_ids.add(job_id)
    await session.execute(_INSERT_EVENTS, rows)


def segment_event(row: SegmentRender | Row[Any]) -> dict[str, Any]:
    return {
        "type": "segment",
        "segment_id": row.segment_id,
        "segment_render_id": row.id,
        "position": row.position,
        "status": row.status,
        "progress": row.progress,
        "reused": row.reused,
        "error": row.error,
        "message": row.message,
    }


async def publish(runtime: Runtime, events: Events) -> None:
    """After commit: ring the status bus. Snapshots are cached on read (`cached_view`), so
    workers never rebuild a whole job view per event."""
    for event in events.items:
        await ring(runtime, event)


async def ring(runtime: Runtime, event: dict[str, Any]) -> None:
    """Publish on the status bus, best effort: the change is already committed, and
    WebSockets fall back to reading the database, so a Redis outage only slows them down."""
    try:
        await runtime.status.publish(event["job_id"], event)
    except Exception as exc:
        log.warning("status bus unavailable (%s); event %s not pushed", exc, event.get("seq"))


async def cached_view(session: AsyncSession, runtime: Runtime, job: RenderJob) -> RenderJobPublic:
    """The job view, from the status cache while its sequence number is current."""
    try:
        cached = await runtime.status.get_snapshot(job.id)
    except Exception:  # the cache is down: the database answers alone
        cached = None
    if cached is not None and cached.get("seq") == job.event_seq:
        return RenderJobPublic.model_validate(cached)
    view = await job_view(session, runtime, job)
    with contextlib.suppress(Exception):
        await runtime.status.set_snapshot(
            job.id, view.model_dump(mode="json"), runtime.settings.STATUS_TTL_SECONDS
        )
    return view


async def get_job(
    session: AsyncSession, owner_id: str, job_id: str, for_update: bool = False
) -> RenderJob:
    query = select(RenderJob).where(RenderJob.id == job_id, RenderJob.owner_id == owner_id)
    job = await session.scalar(query.with_for_update() if for_update else query)
    if job is None:
        raise NotFound(f"render job {job_id} not found")
    return job


async def segment_rows(session: AsyncSession, job_id: str) -> list[SegmentRender]:
    rows = await session.scalars(
        select(SegmentRender)
        .where(SegmentRender.job_id == job_id)
        .order_by(SegmentRender.position, SegmentRender.id)
    )
    return list(rows)


def job_progress(job: RenderJob, rows: list[SegmentRender]) -> float:
    if job.status == "completed":
        return 1.0
    if not rows:
        return 0.0
    generated = sum(1.0 if r.status == "completed" else r.progress for r in rows) / len(rows)
    share = generated * GENERATION_SHARE
    return round(share + (0.05 if job.status == "composing" else 0.0), 4)


async def job_view(session: AsyncSession, runtime: Runtime, job: RenderJob) -> RenderJobPublic:
    rows = await segment_rows(session, job.id)
    final = await session.get(Asset, job.final_asset_id) if job.final_asset_id else None
    poster = await session.get(Asset, job.poster_asset_id) if job.poster_asset_id else None
    captions = await session.get(Asset, job.captions_asset_id) if job.captions_asset_id else None
    return RenderJobPublic(
        id=job.id,
        project_id=job.project_id,
        status=job.status,
        progress=job_progress(job, rows),
        seq=job.event_seq,
        segments=[
            SegmentStatus(
                segment_id=r.segment_id,
                position=r.position,
                status=r.status,
                progress=1.0 if r.status == "completed" else r.progress,
                reused=r.reused,
                error=r.error,
                message=r.message,
            )
            for r in rows
        ],
        error=job.error,
        video_url=await assets.url_for(runtime.settings, runtime.storage, final),
        poster_url=await assets.url_for(runtime.settings, runtime.storage, poster),
        captions_url=await assets.url_for(runtime.settings, runtime.storage, captions),
        duration=job.duration,
        estimated_cost=float(job.estimated_cost),
        actual_cost=float(job.actual_cost),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


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
    if unspent > 0:
        await session.execute(
            update(User).where(User.id == job.owner_id).values(spent_usd=User.spent_usd - unspent)
        )


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
