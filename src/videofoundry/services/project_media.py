"""What deleting a project removes from storage: the clips, finals and uploads it used that
nothing the owner keeps still uses.

Clips and finals are stored once per owner under their content address, so two projects (or a
project and the render history of another) may share one; those stay. `delete_project` deletes
the project and those asset rows in one transaction; the caller removes the stored objects after
the commit (a failure there leaves a file, never a row pointing at nothing). Signed links name the
asset row, so they answer 404 as soon as the transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.errors import Conflict, NotFound
from videofoundry.models import Asset, Project, RenderJob, Segment, SegmentRender
from videofoundry.models.render_job import ACTIVE_JOB_STATES
from videofoundry.services import contact_sheets
from videofoundry.storage import keys
from videofoundry.storage.base import Storage

log = logging.getLogger(__name__)


@dataclass
class ProjectMedia:
    """Content addresses and uploads a project used."""

    clip_hashes: set[str] = field(default_factory=set)
    composition_hashes: set[str] = field(default_factory=set)
    upload_ids: set[str] = field(default_factory=set)


async def check_no_render_running(session: AsyncSession, project: Project) -> None:
    """A render in flight would store clips for a project that no longer exists."""
    running = await session.scalar(
        select(RenderJob.id)
        .where(RenderJob.project_id == project.id, RenderJob.status.in_(ACTIVE_JOB_STATES))
        .limit(1)
    )
    if running is not None:
        raise Conflict(f"render {running} of this project is still running; cancel it first")


async def used_by(session: AsyncSession, project: Project) -> ProjectMedia:
    """Everything the project's timeline and render history point at."""
    media = ProjectMedia()
    segments = list(await session.scalars(select(Segment).where(Segment.project_id == project.id)))
    media.clip_hashes.update(s.spec_hash for s in segments if s.spec_hash)
    media.upload_ids.update(s.init_image_asset_id for s in segments if s.init_image_asset_id)
    if project.soundtrack_asset_id:
        media.upload_ids.add(project.soundtrack_asset_id)
    jobs = select(RenderJob.id).where(RenderJob.project_id == project.id)
    media.clip_hashes.update(
        await session.scalars(select(SegmentRender.spec_hash).where(SegmentRender.job_id.in_(jobs)))
    )
    media.composition_hashes.update(
        await session.scalars(
            select(RenderJob.composition_hash).where(RenderJob.project_id == project.id)
        )
    )
    return media


async def _kept(session: AsyncSession, project: Project, media: ProjectMedia) -> ProjectMedia:
    """The part of `media` that the owner's other projects and their history still use."""
    owner, gone = project.owner_id, project.id
    others = select(Project.id).where(Project.owner_id == owner, Project.id != gone)
    other_jobs = select(RenderJob.id).where(RenderJob.project_id.in_(others))
    kept = ProjectMedia()
    if media.clip_hashes:
        hashes = list(media.clip_hashes)
        kept.clip_hashes.update(
            await session.scalars(
                select(Segment.spec_hash).where(
                    Segment.project_id.in_(others), Segment.spec_hash.in_(hashes)
                )
            )
        )
        kept.clip_hashes.update(
            await session.scalars(
                select(SegmentRender.spec_hash).where(
                    SegmentRender.job_id.in_(other_jobs), SegmentRender.spec_hash.in_(hashes)
                )
            )
        )
    if media.composition_hashes:
        kept.composition_hashes.update(
            await session.scalars(
                select(RenderJob.composition_hash).where(
                    RenderJob.project_id.in_(others),
                    RenderJob.composition_hash.in_(list(media.composition_hashes)),
                )
            )
        )
    if media.upload_ids:
        ids = list(media.upload_ids)
        kept.upload_ids.update(
            await session.scalars(
                select(Project.soundtrack_asset_id).where(
                    Project.id.in_(others), Project.soundtrack_asset_id.in_(ids)
                )
            )
        )
        kept.upload_ids.update(
            await session.scalars(
                select(Segment.init_image_asset_id).where(
                    Segment.project_id.in_(others), Segment.init_image_asset_id.in_(ids)
                )
            )
        )
    return kept


async def delete_project(session: AsyncSession, project: Project) -> list[str]:
    """Delete the project and the asset rows of media only it used (in the caller's
    transaction); returns the storage keys to remove after the commit."""
    media = await used_by(session, project)
    kept = await _kept(session, project, media)
    owner = project.owner_id
    try:  # the stored sheet of its current clips (made again if another project shows them)
        sheets = [(await contact_sheets.sheet_of(session, owner, project)).key]
    except NotFound:
        sheets = []
    clips = media.clip_hashes - kept.clip_hashes
    finals = media.composition_hashes - kept.composition_hashes
    uploads = media.upload_ids - kept.upload_ids
    # A clip's poster, last frame and preview pieces share its key's stem; a final's poster and
    # captions share the final's. Hashes are hex, so the prefixes match nothing else.
    prefixes = [keys.clip(owner, h).removesuffix(".mp4") for h in clips]
    prefixes += [keys.final(owner, h).removesuffix(".mp4") for h in finals]
    conditions = [Asset.storage_key.startswith(p, autoescape=True) for p in prefixes]
    conditions += [Asset.storage_key == key for key in sheets]
    if uploads:
        conditions.append(Asset.id.in_(list(uploads)))
    await session.delete(project)
    await session.flush()  # its rows pointing at the assets go first
    stored: list[str] = []
    if conditions:
        rows = list(
            (
                await session.execute(
                    select(Asset.id, Asset.storage_key).where(
                        Asset.owner_id == owner, or_(*conditions)
                    )
                )
            ).all()
        )
        stored = [row.storage_key for row in rows]
        if rows:
            await session.execute(delete(Asset).where(Asset.id.in_([row.id for row in rows])))
    # Objects stored without a row of their own (a continued shot's last frame).
    stored += [keys.clip_last_frame(owner, h) for h in clips] + sheets  # rows or not
    return sorted(set(stored))


async def remove_stored(storage: Storage, stored: list[str]) -> None:
    """Remove the objects of a deleted project (after its commit); one that fails is logged
    and left, as its row is already gone."""
    for key in stored:
        try:
            await storage.delete(key)
        except Exception:
            log.warning("could not delete %s of a deleted project", key, exc_info=True)
