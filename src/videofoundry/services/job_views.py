"""The job view: a job, its segment renders and links to its outputs, cached on the status bus
while its event number is current."""

from __future__ import annotations

import contextlib
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.errors import NotFound
from videofoundry.models import Asset, RenderJob, SegmentRender
from videofoundry.schemas.render import RenderJobPublic, SegmentStatus
from videofoundry.services import assets
from videofoundry.status.base import StatusBus
from videofoundry.storage.base import Storage

# Share of the job's progress bar that generation covers; composition covers the rest.
GENERATION_SHARE = 0.9


class ViewContext(Protocol):
    """What the views need: settings and storage to sign links, the bus to cache snapshots
    (a `Runtime` has them all)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def status(self) -> StatusBus: ...


async def get_job(
    session: AsyncSession, owner_id: str, job_id: str, for_update: bool = False
) -> RenderJob:
    query = select(RenderJob).where(RenderJob.id == job_id, RenderJob.owner_id == owner_id)
    job = await session.scalar(query.with_for_update() if for_update else query)
    if job is None:
        raise NotFound(f"render job {job_id} not found")
    return job


async def segment_rows(session: AsyncSession, job_id: str) -> list[SegmentRender]:
    rows = await session.scalars(
        select(SegmentRender)
        .where(SegmentRender.job_id == job_id)
        .order_by(SegmentRender.position, SegmentRender.id)
    )
    return list(rows)


def job_progress(job: RenderJob, rows: list[SegmentRender]) -> float:
    if job.status == "completed":
        return 1.0
    if not rows:
        return 0.0
    generated = sum(1.0 if r.status == "completed" else r.progress for r in rows) / len(rows)
    share = generated * GENERATION_SHARE
    return round(share + (0.05 if job.status == "composing" else 0.0), 4)


async def cached_view(
    session: AsyncSession, context: ViewContext, job: RenderJob
) -> RenderJobPublic:
    """The job view, from the status cache while its sequence number is current."""
    try:
        cached = await context.status.get_snapshot(job.id)
    except Exception:  # the cache is down: the database answers alone
        cached = None
    if cached is not None and cached.get("seq") == job.event_seq:
        return RenderJobPublic.model_validate(cached)
    view = await job_view(session, context, job)
    with contextlib.suppress(Exception):
        await context.status.set_snapshot(
            job.id, view.model_dump(mode="json"), context.settings.STATUS_TTL_SECONDS
        )
    return view


async def job_view(session: AsyncSession, context: ViewContext, job: RenderJob) -> RenderJobPublic:
    rows = await segment_rows(session, job.id)
    final = await session.get(Asset, job.final_asset_id) if job.final_asset_id else None
    poster = await session.get(Asset, job.poster_asset_id) if job.poster_asset_id else None
    captions = await session.get(Asset, job.captions_asset_id) if job.captions_asset_id else None
    settings, storage = context.settings, context.storage
    return RenderJobPublic(
        id=job.id,
        project_id=job.project_id,
        status=job.status,
        progress=job_progress(job, rows),
        seq=job.event_seq,
        segments=[
            SegmentStatus(
                segment_id=r.segment_id,
                position=r.position,
                status=r.status,
                progress=1.0 if r.status == "completed" else r.progress,
                reused=r.reused,
                error=r.error,
                message=r.message,
            )
            for r in rows
        ],
        error=job.error,
        video_url=await assets.url_for(settings, storage, final),
        poster_url=await assets.url_for(settings, storage, poster),
        captions_url=await assets.url_for(settings, storage, captions),
        duration=job.duration,
        estimated_cost=float(job.estimated_cost),
        actual_cost=float(job.actual_cost),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
