"""Projects and their segments. Every lookup is scoped to the owner: another user's object is
indistinguishable from a missing one."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.adapters.registry import Registry
from videofoundry.core.errors import InvalidInput, NotFound
from videofoundry.models import Asset, Project, Segment
from videofoundry.schemas.project import (
    ProjectCreate,
    ProjectUpdate,
    SegmentCreate,
    SegmentUpdate,
)
from videofoundry.services import continuity, trims
from videofoundry.services import spec_hash as hashing


async def get_project(
    session: AsyncSession, owner_id: str, project_id: str, lock: bool = False
) -> Project:
    """The user's project, else NotFound. `lock` holds the row until the transaction ends:
    every change to a project's segment positions takes it first, so concurrent appends,
    duplicates, deletions and reorders of one project run one at a time (PostgreSQL; SQLite
    writers are serialised by BEGIN IMMEDIATE already)."""
    query = select(Project).where(Project.id == project_id, Project.owner_id == owner_id)
    project = await session.scalar(query.with_for_update() if lock else query)
    if project is None:
        raise NotFound(f"project {project_id} not found")
    return project


async def list_projects(
    session: AsyncSession, owner_id: str, limit: int, offset: int
) -> tuple[list[Project], int]:
    total = await session.scalar(
        select(func.count()).select_from(Project).where(Project.owner_id == owner_id)
    )
    rows = await session.scalars(
        select(Project)
        .where(Project.owner_id == owner_id)
        .order_by(Project.created_at.desc(), Project.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def segments_of(session: AsyncSession, project_id: str) -> list[Segment]:
    rows = await session.scalars(
        select(Segment).where(Segment.project_id == project_id).order_by(Segment.position)
    )
    return list(rows)


async def create_project(session: AsyncSession, owner_id: str, data: ProjectCreate) -> Project:
    await check_asset(session, owner_id, data.soundtrack_asset_id, "audio", "soundtrack_asset_id")
    values = data.model_dump()
    project = Project(owner_id=owner_id, **values)
    session.add(project)
    await session.flush()
    return project


async def update_project(
    session: AsyncSession, owner_id: str, project_id: str, data: ProjectUpdate
) -> Project:
    project = await get_project(session, owner_id, project_id)
    changes = data.model_dump(exclude_unset=True)
    await check_asset(
        session, owner_id, changes.get("soundtrack_asset_id"), "audio", "soundtrack_asset_id"
    )
    for key, value in changes.items():
        if value is None and key not in ("default_transition", "soundtrack_asset_id"):
            raise InvalidInput(f"{key} cannot be null", key)
        setattr(project, key, value)
    await session.flush()
    if {"width", "height", "fps", "aspect_mode"} & changes.keys():
        # The output format is part of every clip's spec.
        await refresh_hashes(session, project)
    return project


async def delete_project(session: AsyncSession, owner_id: str, project_id: str) -> None:
    project = await get_project(session, owner_id, project_id)
    await session.delete(project)


async def get_segment(session: AsyncSession, owner_id: str, segment_id: str) -> Segment:
    segment = await session.scalar(
        select(Segment)
        .join(Project, Project.id == Segment.project_id)
        .where(Segment.id == segment_id, Project.owner_id == owner_id)
    )
    if segment is None:
        raise NotFound(f"segment {segment_id} not found")
    return segment


async def clip_spec_of(
    session: AsyncSession, project: Project, segment: Segment, previous_hash: str | None = None
) -> dict[str, Any]:
    """Everything that determines the segment's pixels (the input of its spec_hash).

    `previous_hash` is the spec_hash of the segment before it, which a continued shot starts
    from."""
    init_sha = None
    if segment.init_image_asset_id:
        image = await session.get(Asset, segment.init_image_asset_id)
        init_sha = image.sha256 if image else None
    return hashing.clip_spec(
        model=segment.model,
        prompt=segment.prompt,
        negative_prompt=segment.negative_prompt,
        params=segment.params,
        duration=segment.duration,
        seed=segment.seed,
        init_image_sha256=init_sha,
        width=project.width,
        height=project.height,
        fps=project.fps,
        aspect_mode=project.aspect_mode,
        continues_from=previous_hash if segment.continue_from_previous else None,
    )


async def refresh_hashes(session: AsyncSession, project: Project) -> None:
    """Recompute every segment's spec_hash in timeline order: a continued shot's hash includes
    the one before it, so an edit, a move or a deletion can change the hashes after it."""
    await session.flush()
    previous: str | None = None
    for segment in await segments_of(session, project.id):
        spec = await clip_spec_of(session, project, segment, previous)
        segment.spec_hash = previous = hashing.spec_hash(spec)
    await session.flush()


def check_model_inputs(registry: Registry, segment: Segment | SegmentCreate, position: int) -> None:
    """422 when the segment's model cannot start it (an image it needs, a shot to continue)."""
    _, model = registry.resolve(segment.model)
    continuity.check_inputs(
        model,
        has_image=segment.init_image_asset_id is not None,
        continues=bool(segment.continue_from_previous),
        is_first=position == 0,
    )


async def check_asset(
    session: AsyncSession, owner_id: str, asset_id: str | None, kind: str, field: str
) -> None:
    """An asset a body refers to must be the user's own upload of the right kind."""
    if asset_id is None:
        return
    asset = await session.get(Asset, asset_id)
    if asset is None or asset.owner_id != owner_id or asset.kind != kind:
        raise InvalidInput(f"{field}: no {kind} upload with id {asset_id}", field)


async def add_segment(
    session: AsyncSession,
    registry: Registry,
    owner_id: str,
    project_id: str,
    data: SegmentCreate,
    max_segments: int,
) -> Segment:
    project = await get_project(session, owner_id, project_id, lock=True)
    registry.validate_segment(data.model, data.prompt, data.duration, data.params)
    trims.check(project.fps, data.duration, data.trim_start, data.trim_end)
    segments = await segments_of(session, project.id)
    _check_room(project.id, len(segments), max_segments)
    position = len(segments) if data.position is None else min(data.position, len(segments))
    check_model_inputs(registry, data, position)
    values = data.model_dump(exclude={"position"})
    if values["transition"] is not None:
        values["transition"] = data.transition.model_dump() if data.transition else None
    if values["seed"] is None:
        # A drawn seed is stored, so the spec (and its clip) is reproducible.
        values["seed"] = secrets.randbelow(2**32 - 1)
    await check_asset(session, owner_id, data.init_image_asset_id, "image", "init_image_asset_id")
    segment = Segment(project_id=project.id, position=position, spec_hash="", **values)
    for later in segments[position:]:
        later.position += 1
    session.add(segment)
    await refresh_hashes(session, project)
    return segment


# Columns a duplicate gets afresh; every other column is copied from the original.
_FRESH_ON_DUPLICATE = frozenset({"id", "position", "version", "created_at", "updated_at"})


async def duplicate_segment(
    session: AsyncSession, registry: Registry, owner_id: str, segment_id: str, max_segments: int
) -> Segment:
    """Insert a copy of the segment right after it. Copies the row's columns rather than a list
    of fields, so a field added to `Segment` later is carried over too."""
    original = await get_segment(session, owner_id, segment_id)
    await get_project(session, owner_id, original.project_id, lock=True)
    await session.refresh(original)  # its position as of the lock, not as first read
    registry.validate_segment(original.model, original.prompt, original.duration, original.params)
    segments = await segments_of(session, original.project_id)
    _check_room(original.project_id, len(segments), max_segments)
    values = {
        column.key: copy.deepcopy(getattr(original, column.key))
        for column in Segment.__table__.columns
        if column.key not in _FRESH_ON_DUPLICATE
    }
    position = original.position + 1
    for later in segments[position:]:
        later.position += 1
    duplicate = Segment(position=position, **values)
    session.add(duplicate)
    if duplicate.continue_from_previous:
        # It continues from the original now, not from the original's predecessor.
        await refresh_hashes(session, await session.get_one(Project, original.project_id))
    await session.flush()
    return duplicate


def _check_room(project_id: str, count: int, max_segments: int) -> None:
    if count >= max_segments:
        raise InvalidInput(
            f"project {project_id} already has {count} segments, the maximum", "segments"
        )


async def update_segment(
    session: AsyncSession, registry: Registry, owner_id: str, segment_id: str, data: SegmentUpdate
) -> Segment:
    segment = await get_segment(session, owner_id, segment_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for key in (
        "prompt",
        "model",
        "duration",
        "params",
        "seed",
        "burn_caption",
        "continue_from_previous",
    ):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", key)
    await check_asset(
        session, owner_id, changes.get("init_image_asset_id"), "image", "init_image_asset_id"
    )
    for key, value in changes.items():
        setattr(segment, key, value)
    registry.validate_segment(segment.model, segment.prompt, segment.duration, segment.params)
    check_model_inputs(registry, segment, segment.position)
    project = await session.get_one(Project, segment.project_id)
    trims.check(project.fps, segment.duration, segment.trim_start, segment.trim_end)
    await refresh_hashes(session, project)
    return segment


async def delete_segment(session: AsyncSession, owner_id: str, segment_id: str) -> None:
    segment = await get_segment(session, owner_id, segment_id)
    project_id = segment.project_id
    await get_project(session, owner_id, project_id, lock=True)
    await session.delete(segment)
    await session.flush()
    for index, remaining in enumerate(await segments_of(session, project_id)):
        remaining.position = index
    # The shot after the deleted one may continue from a different clip now.
    await refresh_hashes(session, await session.get_one(Project, project_id))


async def reorder_segments(
    session: AsyncSession, owner_id: str, project_id: str, segment_ids: list[str]
) -> Project:
    project = await get_project(session, owner_id, project_id, lock=True)
    segments = await segments_of(session, project.id)
    current = {s.id: s for s in segments}
    if len(set(segment_ids)) != len(segment_ids):
        raise InvalidInput("segment_ids contains duplicates", "segment_ids")
    unknown = [i for i in segment_ids if i not in current]
    if unknown:
        raise InvalidInput(
            f"segment_ids: not segments of this project: {', '.join(unknown)}", "segment_ids"
        )
    missing = [i for i in current if i not in set(segment_ids)]
    if missing:
        raise InvalidInput(
            f"segment_ids must list every segment of the project; missing: {', '.join(missing)}",
            "segment_ids",
        )
    for index, segment_id in enumerate(segment_ids):
        current[segment_id].position = index
    await refresh_hashes(session, project)
    return project
