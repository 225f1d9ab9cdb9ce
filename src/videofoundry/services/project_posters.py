"""A still for each project card of the list: the poster of the project's first segment that
has a clip, else the poster of its latest final video. One statement for the whole page,
whatever the number of projects or segments (a window per project picks the first of each)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, bindparam, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from videofoundry.models import Asset, RenderJob, Segment
from videofoundry.schemas.project import ProjectCard, ProjectPublic
from videofoundry.services import assets, sql_lists
from videofoundry.services.project_views import ViewContext
from videofoundry.storage import keys

# Stands for a segment's spec hash in a key built by `keys`, so that the SQL below joins on
# exactly the keys segment_state looks up (the format is written in one place only).
_MARK = "0spec0hash0"


def _around_spec(key: str) -> tuple[str, str]:
    before, mark, after = key.partition(_MARK)
    if not mark:
        raise ValueError(f"no spec hash in the key {key!r}")
    return before, after


async def with_posters(
    session: AsyncSession, context: ViewContext, owner_id: str, projects: Sequence[ProjectPublic]
) -> list[ProjectCard]:
    """The owner's `projects` as cards, each with its poster's signed link (or null)."""
    posters: dict[str, Any] = {}
    if projects:
        clip_before, clip_after = _around_spec(keys.clip(owner_id, _MARK))
        poster_before, poster_after = _around_spec(keys.clip_poster(owner_id, _MARK))
        rows = await session.execute(
            _statement(sql_lists.dialect_of(session)),
            {
                "projects": [p.id for p in projects],
                "clip_before": clip_before,
                "clip_after": clip_after,
                "poster_before": poster_before,
                "poster_after": poster_after,
            },
        )
        # A segment's poster (choice 0) before a final's (choice 1).
        for row in sorted(rows, key=lambda r: r.choice, reverse=True):
            posters[row.project_id] = row
    links = await assets.urls_for(
        context.settings, context.storage, [posters.get(p.id) for p in projects]
    )
    return [
        ProjectCard.model_validate({**p.model_dump(), "poster_url": link})
        for p, link in zip(projects, links, strict=True)
    ]


def _key(before: str, column: Any, after: str) -> Any:
    return bindparam(before, type_=String) + column + bindparam(after, type_=String)


@functools.cache
def _statement(dialect: str) -> Any:
    clip, poster = aliased(Asset), aliased(Asset)
    first_shot = (
        select(
            Segment.project_id,
            literal(0).label("choice"),
            poster.id,
            poster.storage_key,
            func.row_number()
            .over(partition_by=Segment.project_id, order_by=Segment.position)
            .label("rank"),
        )
        .join(clip, clip.storage_key == _key("clip_before", Segment.spec_hash, "clip_after"))
        .join(
            poster, poster.storage_key == _key("poster_before", Segment.spec_hash, "poster_after")
        )
        .where(sql_lists.one_of(Segment.project_id, "projects", dialect))
    )
    final = aliased(Asset)
    latest_final = (
        select(
            RenderJob.project_id,
            literal(1).label("choice"),
            final.id,
            final.storage_key,
            func.row_number()
            .over(
                partition_by=RenderJob.project_id,
                order_by=(RenderJob.created_at.desc(), RenderJob.id.desc()),
            )
            .label("rank"),
        )
        .join(final, final.id == RenderJob.poster_asset_id)
        .where(
            sql_lists.one_of(RenderJob.project_id, "projects", dialect),
            RenderJob.status == "completed",
        )
    )
    ranked = union_all(first_shot, latest_final).subquery()
    return select(ranked.c.project_id, ranked.c.choice, ranked.c.id, ranked.c.storage_key).where(
        ranked.c.rank == 1
    )
