"""Where each segment stands, derived from the database rather than from the last job a client
saw: `ready` when a clip of its current spec exists, `generating` while an active job works on
that spec, `failed` when the latest attempt at that spec failed, `needs_render` otherwise."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.adapters.registry import Registry
from videofoundry.core.errors import VideoFoundryError
from videofoundry.models import RenderJob, SegmentRender
from videofoundry.models.render_job import ACTIVE_JOB_STATES
from videofoundry.services import assets, sql_lists
from videofoundry.storage import keys

_WORKING = ("pending", "running")


class SegmentSpec(Protocol):
    """What a state needs of a segment: a model instance or a row of its columns."""

    @property
    def id(self) -> str: ...
    @property
    def spec_hash(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def params(self) -> dict[str, Any]: ...


class SegmentState(NamedTuple):
    """A segment's state (a tuple: a view makes one per segment, and a frozen dataclass costs
    twice as much to build)."""

    state: str
    progress: float | None = None
    error: str | None = None
    clip: assets.Linked | None = None
    poster: assets.Linked | None = None


@dataclass(frozen=True)
class ProjectState:
    segments: dict[str, SegmentState]
    needs_render_count: int
    render_estimate: float


async def states_of(
    session: AsyncSession, registry: Registry, owner_id: str, segments: Sequence[SegmentSpec]
) -> ProjectState:
    """The state of every segment (of one owner), and what rendering them now would cost."""
    clip_keys = [keys.clip(owner_id, s.spec_hash) for s in segments]
    poster_keys = [keys.clip_poster(owner_id, s.spec_hash) for s in segments]
    found = await assets.links_by_keys(session, clip_keys + poster_keys)
    clips = [found.get(key) for key in clip_keys]
    return await states_with(
        session, registry, segments, clips, [found.get(k) for k in poster_keys]
    )


async def states_with(
    session: AsyncSession,
    registry: Registry,
    segments: Sequence[SegmentSpec],
    clips: Sequence[assets.Linked | None],
    posters: Sequence[assets.Linked | None],
) -> ProjectState:
    """`states_of`, given each segment's stored clip and poster of its current spec (None where
    there is none), as a view that read them with its segments has them."""
    unready = [s for s, clip in zip(segments, clips, strict=True) if clip is None]
    latest = await _latest_attempts(session, unready)

    states: dict[str, SegmentState] = {}
    estimate = Decimal(0)
    priced: set[str] = set()
    needs = 0
    for segment, clip, poster in zip(segments, clips, posters, strict=True):
        if clip is not None:
            states[segment.id] = SegmentState("ready", 1.0, None, clip, poster)
            continue
        row = latest.get(segment.id)
        if row is not None and row.status in _WORKING and row.job_status in ACTIVE_JOB_STATES:
            states[segment.id] = SegmentState("generating", row.progress)
            continue
        if row is not None and row.status == "failed":
            states[segment.id] = SegmentState("failed", None, row.error or "failed")
        else:
            states[segment.id] = SegmentState("needs_render")
        needs += 1
        if segment.spec_hash not in priced:
            priced.add(segment.spec_hash)
            estimate += _cost(registry, segment)
    return ProjectState(states, needs, round(float(estimate), 4))


async def _latest_attempts(
    session: AsyncSession, segments: Sequence[SegmentSpec]
) -> dict[str, Any]:
    """Per segment, its newest render row for its current spec (the columns a state needs, and
    its job's status as `job_status`)."""
    if not segments:
        return {}
    current = {s.id: s.spec_hash for s in segments}
    statement = _attempts(sql_lists.dialect_of(session))
    latest: dict[str, Any] = {}
    for row in await session.execute(statement, {"segments": list(current)}):
        if current.get(row.segment_id) == row.spec_hash:
            latest[row.segment_id] = row  # later jobs overwrite earlier ones
    return latest


@functools.cache
def _attempts(dialect: str) -> Any:
    return (
        select(
            SegmentRender.segment_id,
            SegmentRender.spec_hash,
            SegmentRender.status,
            SegmentRender.progress,
            SegmentRender.error,
            RenderJob.status.label("job_status"),
        )
        .join(RenderJob, RenderJob.id == SegmentRender.job_id)
        .where(sql_lists.one_of(SegmentRender.segment_id, "segments", dialect))
        .order_by(RenderJob.created_at, SegmentRender.id)
    )


def _cost(registry: Registry, segment: SegmentSpec) -> Decimal:
    try:
        adapter, model = registry.resolve(segment.model)
    except VideoFoundryError:  # an unknown model costs nothing until it can be rendered
        return Decimal(0)
    return Decimal(str(adapter.estimate_cost(model, segment.duration, segment.params)))
