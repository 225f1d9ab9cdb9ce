from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.api.deps import CurrentUser, PageDep, RuntimeDep, SessionDep
from videofoundry.models import Asset, Project, Segment
from videofoundry.runtime import Runtime
from videofoundry.schemas.common import Page
from videofoundry.schemas.project import (
    ProjectCreate,
    ProjectDetail,
    ProjectPublic,
    ProjectUpdate,
    SegmentOrder,
    SegmentPublic,
)
from videofoundry.services import assets, segment_state
from videofoundry.services import projects as service

router = APIRouter(prefix="/api/projects", tags=["projects"])


async def project_public(session: AsyncSession, project: Project) -> ProjectPublic:
    count, total = (
        await session.execute(
            select(func.count(Segment.id), func.coalesce(func.sum(Segment.duration), 0.0)).where(
                Segment.project_id == project.id
            )
        )
    ).one()
    return ProjectPublic.model_validate(
        {**_columns(project), "segment_count": count, "total_duration": float(total)}
    )


async def segment_public(
    session: AsyncSession, runtime: Runtime, segment: Segment
) -> SegmentPublic:
    """The segment with its state and the URLs of its current spec's clip and poster."""
    project = await session.get_one(Project, segment.project_id)
    state = await segment_state.states_of(session, runtime.registry, project.owner_id, [segment])
    return await _segment_public(runtime, segment, state.segments[segment.id])


async def _segment_public(
    runtime: Runtime, segment: Segment, state: segment_state.SegmentState
) -> SegmentPublic:
    return SegmentPublic.model_validate(
        {
            **_columns(segment),
            "state": state.state,
            "state_progress": state.progress,
            "state_error": state.error,
            "clip_url": await _url(runtime, state.clip),
            "poster_url": await _url(runtime, state.poster),
        }
    )


async def _url(runtime: Runtime, asset: Asset | None) -> str | None:
    return await assets.url_for(runtime.settings, runtime.storage, asset)


async def project_detail(
    session: AsyncSession, runtime: Runtime, project: Project
) -> ProjectDetail:
    public = await project_public(session, project)
    rows = await service.segments_of(session, project.id)
    state = await segment_state.states_of(session, runtime.registry, project.owner_id, rows)
    segments = [await _segment_public(runtime, s, state.segments[s.id]) for s in rows]
    return ProjectDetail(
        **public.model_dump(),
        segments=segments,
        needs_render_count=state.needs_render_count,
        render_estimate=state.render_estimate,
    )


def _columns(row: object) -> dict[str, object]:
    table = row.__table__  # type: ignore[attr-defined]
    return {c.key: getattr(row, c.key) for c in table.columns}


@router.post("", status_code=201, response_model=ProjectPublic)
async def create_project(
    body: ProjectCreate, user: CurrentUser, session: SessionDep
) -> ProjectPublic:
    """Create a project (an empty timeline)."""
    project = await service.create_project(session, user.id, body)
    await session.commit()
    return await project_public(session, project)


@router.get("", response_model=Page[ProjectPublic])
async def list_projects(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ProjectPublic]:
    """The user's projects, newest first."""
    rows, total = await service.list_projects(session, user.id, page.limit, page.offset)
    return Page(
        items=[await project_public(session, p) for p in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{project_id}", response_model=ProjectDetail)
async def get_project(
    project_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> ProjectDetail:
    """A project with its segments in timeline order."""
    project = await service.get_project(session, user.id, project_id)
    return await project_detail(session, runtime, project)


@router.put("/{project_id}", response_model=ProjectDetail)
async def update_project(
    project_id: str,
    body: ProjectUpdate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ProjectDetail:
    """Rename a project or change its output format."""
    project = await service.update_project(session, user.id, project_id, body)
    await session.commit()
    return await project_detail(session, runtime, project)


@router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Delete a project, its segments and its render history."""
    await service.delete_project(session, user.id, project_id)
    await session.commit()
    return Response(status_code=204)


@router.put("/{project_id}/segments/order", response_model=ProjectDetail)
async def reorder_segments(
    project_id: str,
    body: SegmentOrder,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ProjectDetail:
    """Reorder the timeline: `segment_ids` lists every segment once, in the new order."""
    project = await service.reorder_segments(session, user.id, project_id, body.segment_ids)
    await session.commit()
    return await project_detail(session, runtime, project)
