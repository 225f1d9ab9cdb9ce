"""Takes of a segment and variations: HTTP only, the work is in services/takes.py."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Response

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.api.rate_limits import limit_render
from videofoundry.schemas.project import SegmentPublic
from videofoundry.schemas.render import RenderJobPublic
from videofoundry.schemas.takes import TakePublic, VariationsRequest
from videofoundry.services import job_events, job_views, takes, task_publisher
from videofoundry.services.project_views import segment_public

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["takes"])


@router.get("/segments/{segment_id}/takes", response_model=list[TakePublic])
async def list_takes(
    segment_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> list[TakePublic]:
    """Every clip generated for the segment (one per distinct spec), newest first."""
    found = await takes.list_takes(session, user.id, segment_id)
    return [await takes.take_public(runtime, take) for take in found]


@router.post("/segments/{segment_id}/takes/{take_id}/use", response_model=SegmentPublic)
async def use_take(
    segment_id: str,
    take_id: str,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
) -> SegmentPublic:
    """Set the segment's generative fields back to the take's: the next render reuses its
    clip at no cost. Bumps the segment's `version` like any edit."""
    segment = await takes.use_take(session, runtime, user.id, segment_id, take_id)
    await session.commit()
    public = await segment_public(session, runtime, segment)
    response.headers["ETag"] = f'"{public.version}"'
    return public


@router.post(
    "/segments/{segment_id}/variations",
    status_code=202,
    response_model=RenderJobPublic,
    dependencies=[Depends(limit_render)],
)
async def make_variations(
    segment_id: str,
    body: VariationsRequest,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RenderJobPublic:
    """Generate `count` new takes of the segment with new seeds, without changing it: a job
    in the project's render history, priced and budgeted like a render (402 over budget)."""
    events = job_events.Events()
    job = await takes.start_variations(session, runtime, user.id, segment_id, body.count, events)
    await session.commit()
    await job_events.publish(runtime, events)
    try:
        await task_publisher.relay(runtime.sessions, runtime.broker)
    except Exception:  # the outbox keeps the tasks; the background relay retries
        log.exception("publishing variation tasks failed; they stay in the outbox")
    return await job_views.job_view(session, runtime, job)
