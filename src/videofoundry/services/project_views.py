"""What the API answers about projects: the list, the project view with its segments, one
segment. Each view is read in a fixed number of queries whatever the number of segments. The
project view's validator (`etag`) comes from one aggregate query over what the view shows, so
a client that already has the current view gets 304 without a single segment row being read;
the full view reads plain column values (no ORM objects) and is serialised once, unvalidated."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson
from sqlalchemy import (
    BindParameter,
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.adapters.registry import Registry
from videofoundry.core.config import Settings
from videofoundry.models import Asset, Project, RenderJob, Segment, SegmentRender
from videofoundry.models.render_job import ACTIVE_JOB_STATES, TERMINAL_JOB_STATES
from videofoundry.schemas.project import ProjectDetail, ProjectPublic, SegmentPublic
from videofoundry.services import assets, segment_state, trims
from videofoundry.services.projects import get_project
from videofoundry.storage import keys
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
    """A project as read, before links are signed: plain column values, as the API shows
    them; `etag` names this content (or an older one: it is computed first)."""

    project: dict[str, Any]
    segments: list[dict[str, Any]]
    state: segment_state.ProjectState
    etag: str


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
    session: AsyncSession,
    registry: Registry,
    owner_id: str,
    project_id: str,
    etag: str | None = None,
) -> ProjectView:
    """The project, its segments with their links, and their states: three queries (four when
    a segment has no clip), whatever the segment count. `etag` is the validator just computed,
    if any (it must be computed before the rows; without it, one query more)."""
    if etag is None:
        etag = await project_etag(session, owner_id, project_id)
    project = (await session.execute(_PROJECT_ROW, {"id": project_id, "owner": owner_id})).first()
    if project is None:
        raise await _not_found(session, owner_id, project_id)
    result = await session.execute(_SEGMENT_ROWS, {"project": project_id, "owner": owner_id})
    shown = list(result.keys())[: -len(_LINKED)]  # zip() stops there: the links follow
    segments, specs, clips, posters = [], [], [], []
    for row in result:
        values = dict(zip(shown, row, strict=False))
        clip_id, clip_key, poster_id, poster_key = row[-len(_LINKED) :]
        clips.append(_Link(clip_id, clip_key) if clip_id is not None else None)
        posters.append(_Link(poster_id, poster_key) if poster_id is not None else None)
        # Only a segment without its clip is priced, so only its params are decoded.
        params = orjson.loads(values["params"]) if clip_id is None else {}
        # From the dict: an attribute of a SQLAlchemy row costs ten times a key lookup.
        specs.append(
            _Spec(values["id"], values["spec_hash"], values["model"], values["duration"], params)
        )
        for name in _JSON_COLUMNS:
            if values[name] is not None:
                values[name] = orjson.Fragment(values[name])
        segments.append(values)
    state = await segment_state.states_with(session, registry, specs, clips, posters)
    return ProjectView(dict(project._mapping), segments, state, etag)


class _Spec(NamedTuple):
    id: str
    spec_hash: str
    model: str
    duration: float
    params: dict[str, Any]


class _Link(NamedTuple):
    id: str
    storage_key: str


async def _not_found(session: AsyncSession, owner_id: str, project_id: str) -> Exception:
    try:
        await get_project(session, owner_id, project_id)
    except Exception as error:  # the same NotFound, with its message, as every other route
        return error
    return RuntimeError(f"project {project_id} vanished while read")


def _public_columns(model: type[Any], schema: type[Any]) -> list[Any]:
    table = model.__table__
    return [table.c[name] for name in schema.model_fields if name in table.c]


_PROJECT_ROW = select(*_public_columns(Project, ProjectPublic)).where(
    Project.id == bindparam("id"), Project.owner_id == bindparam("owner")
)
_PROJECT: BindParameter[str] = bindparam("project", type_=String)
_OWNER: BindParameter[str] = bindparam("owner", type_=String)


def _stored_key(key_of: Callable[[str, str], str]) -> Any:
    """`key_of(owner, the segment's spec hash)` as SQL, so the database finds each segment's
    stored clip and poster by their unique key (the key's format stays in storage/keys.py)."""
    owner, spec = "0owner0", "0spec0"
    before, rest = key_of(owner, spec).split(owner)
    between, after = rest.split(spec)
    return literal(before) + _OWNER + literal(between) + Segment.spec_hash + literal(after)


_CLIP, _POSTER = Asset.__table__.alias("clip"), Asset.__table__.alias("poster")
_LINKED = ("clip_id", "clip_key", "poster_id", "poster_key")
# Read as the stored JSON text and put into the answer as it is (decoding 400 documents only to
# encode them again was a tenth of a 200-segment view).
_JSON_COLUMNS = ("params", "transition")
# Only what the answer shows (every column of SegmentPublic is one of the table's), and the
# id and key of the clip and poster of each segment's current spec, joined on their key: the
# same query, where looking up 400 keys afterwards was a fifth of a 200-segment view.
_SEGMENT_ROWS = (
    select(
        *(
            cast(column, Text).label(column.key) if column.key in _JSON_COLUMNS else column
            for column in _public_columns(Segment, SegmentPublic)
        ),
        _CLIP.c.id.label("clip_id"),
        _CLIP.c.storage_key.label("clip_key"),
        _POSTER.c.id.label("poster_id"),
        _POSTER.c.storage_key.label("poster_key"),
    )
    .select_from(
        Segment.__table__.outerjoin(_CLIP, _CLIP.c.storage_key == _stored_key(keys.clip)).outerjoin(
            _POSTER, _POSTER.c.storage_key == _stored_key(keys.clip_poster)
        )
    )
    .where(Segment.project_id == _PROJECT)
    .order_by(Segment.position)
)


def _status_counts(column: Any, statuses: tuple[str, ...]) -> list[Any]:
    return [
        func.coalesce(func.sum(case((column == status, 1), else_=0)), 0).label(status)
        for status in statuses
    ]


_OWN_SEGMENT_IDS = select(Segment.id).where(Segment.project_id == _PROJECT)
_SEGMENT_FIGURES = select(
    func.count().label("segments"),
    func.sum(Segment.version).label("segment_versions"),
    func.max(Segment.updated_at).label("segment_updated"),
).where(Segment.project_id == _PROJECT)
_RENDER_FIGURES = select(
    func.count().label("renders"),
    func.sum(SegmentRender.progress).label("progress"),
    # A reason rewritten in place (a retry failing differently) changes its length, most likely.
    func.sum(func.length(SegmentRender.error)).label("errors"),
    func.sum(SegmentRender.attempts).label("attempts"),
    func.max(SegmentRender.finished_at).label("render_finished"),
    *_status_counts(SegmentRender.status, ("pending", "running", "completed", "failed")),
).where(SegmentRender.segment_id.in_(_OWN_SEGMENT_IDS))
_JOB_FIGURES = select(
    func.count().label("jobs"),
    func.sum(RenderJob.event_seq).label("job_events"),
    *_status_counts(RenderJob.status, ACTIVE_JOB_STATES + TERMINAL_JOB_STATES),
).where(RenderJob.project_id == _PROJECT)
_ASSET_FIGURES = select(
    func.count().label("assets"), func.max(Asset.created_at).label("asset_created")
).where(Asset.owner_id == _OWNER)
_FIGURES = [q.subquery() for q in (_SEGMENT_FIGURES, _RENDER_FIGURES, _JOB_FIGURES, _ASSET_FIGURES)]
# One row (aggregates without GROUP BY always give one) that changes whenever anything the view
# shows does: a project edit (version, updated_at); a segment added, edited, moved or deleted
# (count, versions, newest update); a render row's status, progress or error, and its job's
# status (each job change appends an event); a clip or poster of the owner stored or removed.
_VALIDATOR = functools.reduce(
    lambda query, figures: query.join(figures, true()),
    _FIGURES,
    select(Project.version, Project.updated_at, *_FIGURES).select_from(Project),
).where(Project.id == _PROJECT, Project.owner_id == _OWNER)


async def project_etag(session: AsyncSession, owner_id: str, project_id: str) -> str:
    """The view's weak validator from one aggregate query: no segment row is read. Links are
    renewed every period, so the period is part of it."""
    figures = (
        await session.execute(_VALIDATOR, {"project": project_id, "owner": owner_id})
    ).first()
    if figures is None:
        raise await _not_found(session, owner_id, project_id)
    period = int(time.time()) // assets.LINK_PERIOD_SECONDS
    digest = hashlib.blake2b(repr((tuple(figures), period)).encode(), digest_size=16)
    return f'W/"{digest.hexdigest()}"'


def detail_body(view: ProjectView, links: list[str | None]) -> dict[str, Any]:
    segments = view.segments
    total = sum(
        trims.trimmed_length(s["duration"], s["trim_start"], s["trim_end"]) for s in segments
    )
    states = view.state.segments
    return {
        **view.project,
        "segment_count": len(segments),
        "total_duration": float(total),
        "segments": [
            _segment(values, states[values["id"]], links[2 * i], links[2 * i + 1])
            for i, values in enumerate(segments)
        ],
        "needs_render_count": view.state.needs_render_count,
        "render_estimate": view.state.render_estimate,
    }


async def _links(context: ViewContext, view: ProjectView) -> list[str | None]:
    states = [view.state.segments[values["id"]] for values in view.segments]
    return await assets.urls_for(
        context.settings, context.storage, [a for s in states for a in (s.clip, s.poster)]
    )


async def project_detail_json(context: ViewContext, view: ProjectView) -> bytes:
    """The view as the API answers it, serialised once from plain values (the dicts hold
    exactly ProjectDetail's fields; validating 200 segments on the way out cost more than
    reading them). The route keeps ProjectDetail as its documented response_model. Timestamps
    in UTC end in `Z`, as pydantic writes them."""
    body = detail_body(view, await _links(context, view))
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


async def project_detail(context: ViewContext, view: ProjectView) -> ProjectDetail:
    """The view as a model, for answers that embed it (a 412 conflict)."""
    return ProjectDetail.model_validate_json(await project_detail_json(context, view))


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
