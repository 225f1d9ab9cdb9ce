from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from videofoundry.api.conditional import CACHE_CONTROL, IfNoneMatch, matches, not_modified
from videofoundry.api.deps import CurrentUser, PageDep, RuntimeDep, SessionDep
from videofoundry.api.versions import IfMatch, bump, expected_version
from videofoundry.models import Project
from videofoundry.schemas.common import Page
from videofoundry.schemas.project import (
    ProjectCard,
    ProjectConflict,
    ProjectCreate,
    ProjectDetail,
    ProjectPublic,
    ProjectUpdate,
    SegmentOrder,
)
from videofoundry.services import project_media, project_posters
from videofoundry.services import project_views as views
from videofoundry.services import projects as service

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectPublic)
async def create_project(
    body: ProjectCreate, user: CurrentUser, session: SessionDep
) -> ProjectPublic:
    """Create a project (an empty timeline)."""
    project = await service.create_project(session, user.id, body)
    await session.commit()
    return await views.project_public(session, project)


@router.get("", response_model=Page[ProjectCard])
async def list_projects(
    user: CurrentUser, session: SessionDep, runtime: RuntimeDep, page: PageDep
) -> Page[ProjectCard]:
    """The user's projects, newest first, each with a poster for its card."""
    items, total = await views.list_projects(session, user.id, page.limit, page.offset)
    cards = await project_posters.with_posters(session, runtime, user.id, items)
    return Page(items=cards, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{project_id}",
    response_model=ProjectDetail,
    responses={304: {"description": "Unchanged since the ETag sent in If-None-Match"}},
)
async def get_project(
    project_id: str,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A project with its segments in timeline order. Answers an `ETag`; send it back in
    `If-None-Match` to get 304 while nothing in the view changed."""
    # The validator first, from one aggregate query: a 304 reads no segment.
    etag = await views.project_etag(session, user.id, project_id)
    if matches(if_none_match, etag):
        return not_modified(etag)
    view = await views.read_project(session, runtime.registry, user.id, project_id, etag)
    return await _answer(runtime, view)


async def _answer(runtime: RuntimeDep, view: views.ProjectView) -> Response:
    body = await views.project_detail_json(runtime, view)
    return Response(
        body,
        media_type="application/json",
        headers={"ETag": view.etag, "Cache-Control": CACHE_CONTROL},
    )


async def _detail(
    session: SessionDep, runtime: RuntimeDep, owner_id: str, project_id: str
) -> Response:
    return await _answer(
        runtime, await views.read_project(session, runtime.registry, owner_id, project_id)
    )


@router.put(
    "/{project_id}",
    response_model=ProjectDetail,
    responses={412: {"model": ProjectConflict, "description": "Changed since If-Match"}},
)
async def update_project(
    project_id: str,
    body: ProjectUpdate,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    if_match: IfMatch = None,
) -> Response:
    """Rename a project or change its output format. Each edit bumps its `version`; send the
    one the edit is based on in `If-Match` to be told (412) instead of overwriting a change
    made elsewhere."""
    owner_id = user.id
    expected = expected_version(if_match)
    await service.get_project(session, owner_id, project_id)  # 404 for someone else's
    if not await bump(session, Project, project_id, expected):
        await session.rollback()
        view = await views.read_project(session, runtime.registry, owner_id, project_id)
        current = await views.project_detail(runtime, view)
        conflict = ProjectConflict(
            detail=f"project {project_id} was changed elsewhere since version {expected}; "
            f"it is now at version {current.version}",
            current=current,
        )
        return JSONResponse(conflict.model_dump(mode="json"), status_code=412)
    await service.update_project(session, owner_id, project_id, body)
    await session.commit()
    return await _detail(session, runtime, owner_id, project_id)


@router.delete(
    "/{project_id}",
    status_code=204,
    responses={409: {"description": "A render of the project is running: cancel it first"}},
)
async def delete_project(
    project_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Delete a project, its segments and its render history, and the stored clips, videos and
    uploads no other project of yours uses; their links stop working (404)."""
    project = await service.get_project(session, user.id, project_id)
    await project_media.check_no_render_running(session, project)
    stored = await project_media.delete_project(session, project)
    await session.commit()
    await project_media.remove_stored(runtime.storage, stored)
    return Response(status_code=204)


@router.put("/{project_id}/segments/order", response_model=ProjectDetail)
async def reorder_segments(
    project_id: str,
    body: SegmentOrder,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Reorder the timeline: `segment_ids` lists every segment once, in the new order."""
    owner_id = user.id
    await service.reorder_segments(session, owner_id, project_id, body.segment_ids)
    await session.commit()
    return await _detail(session, runtime, owner_id, project_id)
