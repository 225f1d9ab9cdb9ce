"""Job events: numbering, persisting and publishing them.

Every state change of a job appends a numbered `JobEvent` inside the caller's transaction.
Callers publish the collected events on the status bus after committing (`publish`), so a client
never sees an event for a change that was rolled back.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import Integer, Row, Table, Update, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.database.base import utcnow
from videofoundry.models import JobEvent, RenderJob, SegmentRender
from videofoundry.services import job_views
from videofoundry.status.base import StatusBus

log = logging.getLogger(__name__)


class HasStatusBus(Protocol):
    """What publishing needs: the status bus (a `Runtime` has it)."""

    @property
    def status(self) -> StatusBus: ...


@dataclass
class Events:
    """Events produced in a transaction, published after it commits."""

    job_ids: set[str] = field(default_factory=set)
    items: list[dict[str, Any]] = field(default_factory=list)


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


async def publish(runtime: HasStatusBus, events: Events) -> None:
    """After commit: ring the status bus, each event carrying its job's progress as the job view
    gives it now (`job_progress`; a job event's `progress` too). Snapshots are cached on read
    (`job_views.cached_view`), so workers never rebuild a whole job view per event."""
    figures = await job_progress_now(runtime, events.job_ids)
    for event in events.items:
        await ring(runtime, with_job_progress(event, figures.get(event["job_id"])))


async def job_progress_now(runtime: HasStatusBus, job_ids: set[str]) -> dict[str, float]:
    """Each job's progress read after the commit (best effort: an event goes out without the
    figure rather than not at all)."""
    sessions = getattr(runtime, "sessions", None)
    figures: dict[str, float] = {}
    if sessions is None or not job_ids:
        return figures
    try:
        async with sessions() as session:
            for job_id in sorted(job_ids):
                figure = await job_views.current_progress(session, job_id)
                if figure is not None:
                    figures[job_id] = figure
    except Exception as exc:
        log.warning("job progress not read for events (%s)", exc)
    return figures


def with_job_progress(event: dict[str, Any], figure: float | None) -> dict[str, Any]:
    if figure is None:
        return event
    stamped = {**event, "job_progress": figure}
    if event.get("type") == "job":
        stamped["progress"] = max(figure, float(event.get("progress") or 0.0))
    return stamped


async def ring(runtime: HasStatusBus, event: dict[str, Any]) -> None:
    """Publish on the status bus, best effort: the change is already committed, and
    WebSockets fall back to reading the database, so a Redis outage only slows them down."""
    try:
        await runtime.status.publish(event["job_id"], event)
    except Exception as exc:
        log.warning("status bus unavailable (%s); event %s not pushed", exc, event.get("seq"))
