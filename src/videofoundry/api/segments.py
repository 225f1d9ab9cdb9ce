from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.api.versions import IfMatch, bump, etag, expected_version
from videofoundry.models import Segment
from videofoundry.schemas.project import (
    SegmentConflict,
    SegmentCreate,
    SegmentPublic,
    SegmentUpdate,
)
from videofoundry.services import projects as service
from videofoundry.services.project_views import segment_public

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
    segment_id: str,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
) -> SegmentPublic:
    """One segment; its ETag is its version."""
    segment = await service.get_segment(session, user.id, segment_id)
    response.headers["ETag"] = etag(segment.version)
    return await segment_public(session, runtime, segment)


@router.put(
    "/segments/{segment_id}",
    response_model=SegmentPublic,
    responses={412: {"model": SegmentConflict, "description": "Changed since If-Match"}},
)
async def update_segment(
    segment_id: str,
    body: SegmentUpdate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> SegmentPublic | JSONResponse:
    """Edit a segment; only the fields sent change. Each edit bumps its `version`."""
    expected = expected_version(if_match)
    owner_id = user.id  # read now: the rollback below expires every loaded object
    await service.get_segment(session, owner_id, segment_id)  # 404 for someone else's
    if not await bump(session, Segment, segment_id, expected):
        await session.rollback()
        current = await segment_public(
            session, runtime, await service.get_segment(session, owner_id, segment_id)
        )
        conflict = SegmentConflict(
            detail=f"segment {segment_id} was changed elsewhere since version {expected}; "
            f"it is now at version {current.version}",
            current=current,
        )
        return JSONResponse(
            conflict.model_dump(mode="json"),
            status_code=412,
            headers={"ETag": etag(current.version)},
        )
    segment = await service.update_segment(session, runtime.registry, owner_id, segment_id, body)
    await session.commit()
    public = await segment_public(session, runtime, segment)
    response.headers["ETag"] = etag(public.version)
    return public


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
