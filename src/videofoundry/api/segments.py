from __future__ import annotations

from fastapi import APIRouter, Response

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.api.projects import segment_public
from videofoundry.schemas.project import SegmentCreate, SegmentPublic, SegmentUpdate
from videofoundry.services import projects as service

router = APIRouter(prefix="/api", tags=["segments"])


@router.post("/projects/{project_id}/segments", status_code=201, response_model=SegmentPublic)
async def add_segment(
    project_id: str,
    body: SegmentCreate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SegmentPublic:
    """Add a segment at the end of the timeline (or at `position`)."""
    segment = await service.add_segment(
        session,
        runtime.registry,
        user.id,
        project_id,
        body,
        runtime.settings.MAX_SEGMENTS_PER_PROJECT,
    )
    await session.commit()
    return await segment_public(session, runtime, segment)


@router.get("/segments/{segment_id}", response_model=SegmentPublic)
async def get_segment(
    segment_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> SegmentPublic:
    """One segment."""
    segment = await service.get_segment(session, user.id, segment_id)
    return await segment_public(session, runtime, segment)


@router.put("/segments/{segment_id}", response_model=SegmentPublic)
async def update_segment(
    segment_id: str,
    body: SegmentUpdate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SegmentPublic:
    """Edit a segment; only the fields sent change."""
    segment = await service.update_segment(session, runtime.registry, user.id, segment_id, body)
    await session.commit()
    return await segment_public(session, runtime, segment)


@router.post("/segments/{segment_id}/duplicate", status_code=201, response_model=SegmentPublic)
async def duplicate_segment(
    segment_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> SegmentPublic:
    """Copy a segment (same seed, so the same clip) right after the original."""
    segment = await service.duplicate_segment(
        session, runtime.registry, user.id, segment_id, runtime.settings.MAX_SEGMENTS_PER_PROJECT
    )
    await session.commit()
    return await segment_public(session, runtime, segment)


@router.delete("/segments/{segment_id}", status_code=204)
async def delete_segment(segment_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Remove a segment from its timeline."""
    await service.delete_segment(session, user.id, segment_id)
    await session.commit()
    return Response(status_code=204)
