"""How a segment ends: completed with its clip (and its twins with it, and the shots that
continue from it queued), or failed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import NoResultFound

from videofoundry.database.base import utcnow
from videofoundry.models import Project, RenderJob, SegmentRender, User
from videofoundry.runtime import Runtime
from videofoundry.services import fair_share, job_events, orchestrator, task_publisher
from videofoundry.workers.ai_worker.segment_row import Claim, LeaseLost
from videofoundry.workers.ai_worker.statements import DONE_OWN, DONE_TWINS, RELEASE_CONTINUED


async def complete(
    session: Any,
    claim: Claim,
    clip_id: str,
    cost: Decimal,
    events: job_events.Events,
    reused: bool,
    in_flight_cap: int,
) -> bool:
    """Mark our row (and its twins) done; the last one moves the job to composing, once.
    Returns True when it wrote a task: the composition, or the owner's next segments (those
    that continue from this clip among them) released into the place this one leaves, up to
    `in_flight_cap` (services/fair_share.py), for the caller to relay after the commit.

    Raises LeaseLost, for the caller to roll back, when the row is no longer held with our
    lease; NoResultFound when the job is gone."""
    job = await job_events.reserve_events(session, claim.job_id, 1, completed=1, cost=cost)
    if job is None:
        raise NoResultFound(f"render job {claim.job_id} is gone")
    done = {"p_row": claim.row_id, "p_clip": clip_id, "p_now": utcnow()}
    owned = await _rows(
        session, DONE_OWN, done | {"p_lease": claim.lease, "p_reused": reused, "p_cost": cost}
    )
    if not owned:
        raise LeaseLost()
    own = owned[0]
    rows = [own]
    if claim.twins:
        twins = await _rows(
            session, DONE_TWINS, done | {"p_job": claim.job_id, "p_spec": claim.spec_hash}
        )
        if twins:
            rows.extend(sorted(twins, key=lambda r: r.position))
            job = await job_events.reserve_events(
                session, claim.job_id, len(twins), completed=len(twins)
            )
            assert job is not None  # locked by this transaction since the first UPDATE
    # Shots continuing from this clip become ready; fair_share.release queues them with the
    # owner's other waiting segments (a twin among them waits for its first instead).
    await _rows(session, RELEASE_CONTINUED, {"p_job": claim.job_id, "p_spec": claim.spec_hash})
    payloads = [job_events.segment_event(row) for row in rows]
    if cost != own.estimated_cost:
        # The budget reserved the estimate at render time; settle it to what was charged.
        await session.execute(
            update(User)
            .where(User.id == job.owner_id)
            .values(spent_usd=User.spent_usd + cost - own.estimated_cost)
        )
    # completed_count is exact without a count(*): each completion adds only the rows its own
    # UPDATE moved to completed, under the job row's lock.
    composing = bool(job.status == "generating" and job.completed_count == job.segment_count)
    if composing:
        job = await job_events.reserve_events(session, claim.job_id, 1, status="composing")
        assert job is not None
        task_publisher.enqueue_composition(session, claim.job_id)
        payloads.append({"type": "job", "status": "composing"})
    await job_events.append_events(session, claim.job_id, job.event_seq, payloads, events)
    released = await fair_share.release(session, job.owner_id, in_flight_cap)
    return composing or bool(released)


async def _rows(session: Any, statement: Any, params: dict[str, Any]) -> list[Any]:
    return list((await session.execute(statement, params)).all())


async def fail(runtime: Runtime, row_id: str, lease: str, error: str) -> None:
    """Mark the segment failed and its job with it, naming the segment and its project."""
    events = job_events.Events()
    async with runtime.sessions() as session, session.begin():
        row = await session.get_one(SegmentRender, row_id)
        job = await session.get_one(RenderJob, row.job_id, with_for_update=True)
        if row.lease_token != lease:
            return
        project = await session.get(Project, job.project_id)
        where = f"segment {row.position + 1}"
        if project is not None:
            where += f" of {project.name!r}"
        row.status, row.error, row.lease_token, row.finished_at = "failed", error, None, utcnow()
        job_events.emit(session, job, job_events.segment_event(row), events)
        await orchestrator.fail_job(session, job, f"{where}: {error}", events)
    await job_events.publish(runtime, events)
