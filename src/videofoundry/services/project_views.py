"""What the API answers about projects: the list, the project view with its segments, one
segment. Each view is read in a fixed number of queries whatever the number of segments, and
the project view carries a validator (`etag`) computed before any link is signed, so a client
that already has the current view is answered without building it again."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.adapters.registry import Registry
from videofoundry.core.config import Settings
from videofoundry.models import Project, Segment
from videofoundry.schemas.project import ProjectDetail, ProjectPublic, SegmentPublic
from videofoundry.services import assets, segment_state, trims
from videofoundry.services.projects import get_project, segments_of
from videofoundry.storage.base import Storage


class ViewContext(Protocol):
    """What the views need: the registry to price segments, settings and storage to sign links
    (a `Runtime` has them all)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def registry(self) -> Registry: ...


@dataclass(frozen=True)
class ProjectView:
    """A project as read, before links are signed; `etag` names this exact content."""

    project: Project
    segments: list[Segment]
    state: segment_state.ProjectState
    etag: str
    segment_columns: list[dict[str, Any]]


# What each segment lasts in the timeline: its trimmed part of the clip.
_SHOWN = func.coalesce(Segment.trim_end, Segment.duration) - func.coalesce(Segment.trim_start, 0.0)


def columns(row: Any) -> dict[str, Any]:
    """The row's column values by name (from the instance's dict where loaded: an attribute
    read through SQLAlchemy's descriptor costs several times more, and a view reads thousands)."""
    model = type(row)
    names = _COLUMNS.get(model)
    if names is None:
        names = _COLUMNS[model] = tuple(c.key for c in model.__table__.columns)
    loaded = row.__dict__
    return {name: loaded[name] if name in loaded else getattr(row, name) for name in names}


_COLUMNS: dict[type, tuple[str, ...]] = {}


def _public(project: Project, count: int, total: float) -> ProjectPublic:
    return ProjectPublic.model_validate(
        {**columns(project), "segment_count": count, "total_duration": float(total)}
    )


async def project_public(session: AsyncSession, project: Project) -> ProjectPublic:
    count, total = (
        await session.execute(
            select(func.count(Segment.id), func.coalesce(func.sum(_SHOWN), 0.0)).where(
                Segment.project_id == project.id
            )
        )
    ).one()
    return _public(project, count, total)


async def list_projects(
    session: AsyncSession, owner_id: str, limit: int, offset: int
) -> tuple[list[ProjectPublic], int]:
    """A page of the owner's projects, newest first, with their segment counts: two queries."""
    total = await session.scalar(
        select(func.count()).select_from(Project).where(Project.owner_id == owner_id)
    )
    sums = (
        select(
            Segment.project_id,
            func.count(Segment.id).label("count"),
            func.sum(_SHOWN).label("total"),
        )
        .group_by(Segment.project_id)
        .subquery()
    )
    rows = await session.execute(
        select(Project, sums.c.count, sums.c.total)
        .outerjoin(sums, sums.c.project_id == Project.id)
        .where(Project.owner_id == owner_id)
        .order_by(Project.created_at.desc(), Project.id)
        .limit(limit)
        .offset(offset)
    )
    return [_public(p, count or 0, total or 0.0) for p, count, total in rows], int(total or 0)


async def read_project(
    session: AsyncSession, registry: Registry, owner_id: str, project_id: str
) -> ProjectView:
    """The project, its segments and their states: four queries, whatever the segment count."""
    project = await get_project(session, owner_id, project_id)
    segments = await segments_of(session, project.id)
    state = await segment_state.states_of(session, registry, owner_id, segments)
    seen = [columns(segment) for segment in segments]
    return ProjectView(project, segments, state, _etag(project, seen, state), seen)


def _etag(
    project: Project, segments: list[dict[str, Any]], state: segment_state.ProjectState
) -> str:
    """A weak validator over everything the view shows: the project's and segments' columns,
    each segment's state and the assets its links point at, and the link period."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(columns(project)).encode())
    for values in segments:
        s = state.segments[values["id"]]
        shown = (s.state, s.progress, s.error, s.clip and s.clip.id, s.poster and s.poster.id)
        digest.update(repr((values, shown)).encode())
    period = int(time.time()) // assets.LINK_PERIOD_SECONDS
    digest.update(repr((state.needs_render_count, state.render_estimate, period)).encode())
    return f'W/"{digest.hexdigest()}"'


async def project_detail(context: ViewContext, view: ProjectView) -> ProjectDetail:
    """The view as the API answers it, with every link of the view signed in one call."""
    total = sum(trims.trimmed_length(s.duration, s.trim_start, s.trim_end) for s in view.segments)
    public = _public(view.project, len(view.segments), total)
    states = [view.state.segments[values["id"]] for values in view.segment_columns]
    links = await assets.urls_for(
        context.settings, context.storage, [a for s in states for a in (s.clip, s.poster)]
    )
    segments = [
        _segment(values, state, links[2 * index], links[2 * index + 1])
        for index, (values, state) in enumerate(zip(view.segment_columns, states, strict=True))
    ]
    # One validation of the whole view: a model per segment costs several times more.
    return ProjectDetail.model_validate(
        {
            **dict(public),
            "segments": segments,
            "needs_render_count": view.state.needs_render_count,
            "render_estimate": view.state.render_estimate,
        }
    )


def _segment(
    values: dict[str, Any],
    state: segment_state.SegmentState,
    clip_url: str | None,
    poster_url: str | None,
) -> dict[str, Any]:
    return {
        **values,
        "state": state.state,
        "state_progress": state.progress,
        "state_error": state.error,
        "clip_url": clip_url,
        "poster_url": poster_url,
    }


async def segment_public(
    session: AsyncSession, context: ViewContext, segment: Segment
) -> SegmentPublic:
    """The segment with its state and the links of its current spec's clip and poster."""
    owner_id = await session.scalar(
        select(Project.owner_id).where(Project.id == segment.project_id)
    )
    state = await segment_state.states_of(session, context.registry, owner_id or "", [segment])
    return await _segment_public(context, segment, state.segments[segment.id])


async def _segment_public(
    context: ViewContext, segment: Segment, state: segment_state.SegmentState
) -> SegmentPublic:
    clip_url, poster_url = await assets.urls_for(
        context.settings, context.storage, [state.clip, state.poster]
    )
    return SegmentPublic.model_validate(
        {
            **columns(segment),
            "state": state.state,
            "state_progress": state.progress,
            "state_error": state.error,
            "clip_url": clip_url,
            "poster_url": poster_url,
        }
    )
