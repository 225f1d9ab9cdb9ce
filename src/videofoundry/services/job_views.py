"""The job view: a job, its segment renders and links to its outputs, cached on the status bus
while its validator (`job_etag`) is current."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from datetime import UTC
from typing import Any, Protocol

from sqlalchemy import ColumnElement, String, Text, bindparam, cast, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.errors import NotFound
from videofoundry.database.base import utcnow
from videofoundry.models import Asset, RenderJob, SegmentRender
from videofoundry.schemas.render import RenderJobPublic
from videofoundry.services import assets
from videofoundry.services.projects import get_project
from videofoundry.status.base import StatusBus
from videofoundry.storage import keys
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


def segment_weights(rows: list[SegmentRender]) -> list[float]:
    """Each segment's share of the generation progress: its duration over the job's total, so
    a 10 s shot at half way counts five times a 1 s shot at half way (equal shares when the
    durations are unknown)."""
    return _weights([(row.spec or {}).get("duration") for row in rows])


def _weights(durations: list[object]) -> list[float]:
    seconds = [float(d) if isinstance(d, int | float) and d > 0 else 0.0 for d in durations]
    total = sum(seconds)
    if total <= 0:
        return [1.0 / len(seconds)] * len(seconds) if seconds else []
    return [d / total for d in seconds]


def _segment_progress(status: str, progress: float | None) -> float:
    return 1.0 if status == "completed" else max(0.0, min(1.0, progress or 0.0))


def job_progress(job: RenderJob, rows: list[SegmentRender]) -> float:
    """Duration-weighted generation progress scaled to GENERATION_SHARE, then composition.

    Never 0 once any segment has moved (rounding cannot hide a small start); the web UI applies
    the same formula to the live events (frontend/src/api/jobProgress.ts)."""
    return _progress(
        job.status,
        job.composition_progress,
        [(r.spec or {}).get("duration") for r in rows],
        [_segment_progress(r.status, r.progress) for r in rows],
    )


def _progress(
    status: str, composition: float, durations: list[object], fractions: list[float]
) -> float:
    if status == "completed":
        return 1.0
    if status == "composing":
        return composing_progress(composition)
    generated = sum(w * f for w, f in zip(_weights(durations), fractions, strict=True))
    if generated <= 0:
        return 0.0
    return max(0.0001, round(min(generated, 1.0) * GENERATION_SHARE, 4))


def composing_progress(fraction: float) -> float:
    """The job's progress once `fraction` of its composition is done (saved on the job row by
    the composition worker, so the view, its ETag and the WebSocket agree)."""
    return round(GENERATION_SHARE + (1 - GENERATION_SHARE) * max(0.0, min(1.0, fraction)), 4)


async def current_progress(session: AsyncSession, job_id: str) -> float | None:
    """The job's progress as its view gives it, read now (None when there is no such job): what
    every published event carries as `job_progress`. Workers call this after every claim and
    completion, so it reads only the columns the figure needs, not whole rows."""
    job = (
        await session.execute(
            select(RenderJob.status, RenderJob.composition_progress).where(RenderJob.id == job_id)
        )
    ).first()
    if job is None:
        return None
    rows = (
        await session.execute(
            select(SegmentRender.status, SegmentRender.progress, SegmentRender.spec["duration"])
            .where(SegmentRender.job_id == job_id)
            .order_by(SegmentRender.position, SegmentRender.id)
        )
    ).all()
    return _progress(
        job.status,
        job.composition_progress,
        [duration for _, _, duration in rows],
        [_segment_progress(status, progress) for status, progress, _ in rows],
    )


# Remaining time is only guessed once this many generated segments (or all of them) are done.
ETA_AFTER_SEGMENTS = 2


def eta_seconds(job: RenderJob, rows: list[SegmentRender], progress: float) -> float | None:
    """Time left at the pace so far, once a few segments have finished generating."""
    if job.status not in ("generating", "composing") or job.started_at is None or progress <= 0:
        return None
    generated = [r for r in rows if not r.reused]
    done = sum(1 for r in generated if r.status == "completed")
    if done < min(ETA_AFTER_SEGMENTS, len(generated)) or progress >= 1:
        return None
    started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    elapsed = (utcnow() - started).total_seconds()
    return round(max(0.0, elapsed * (1 - progress) / progress), 1)


async def cached_view(
    session: AsyncSession, context: ViewContext, job: RenderJob, etag: str
) -> RenderJobPublic:
    """The job view, from the status cache while it was built under the same validator
    (`job_etag`, read just before)."""
    try:
        cached = await context.status.get_snapshot(job.id)
    except Exception:  # the cache is down: the database answers alone
        cached = None
    if cached is not None and cached.get("etag") == etag and _fresh(job, cached):
        return RenderJobPublic.model_validate(cached)
    view = await job_view(session, context, job)
    with contextlib.suppress(Exception):
        await context.status.set_snapshot(
            job.id,
            {**view.model_dump(mode="json"), "etag": etag, "cached_at": time.time()},
            context.settings.STATUS_TTL_SECONDS,
        )
    return view


# The ETA of a running job grows while its progress stands still, so its snapshot is reused only
# this long even under the same validator.
ETA_CACHE_SECONDS = 1.0


def _fresh(job: RenderJob, cached: dict[str, object]) -> bool:
    if job.status not in ("generating", "composing"):
        return True
    at = cached.get("cached_at")
    return isinstance(at, float) and time.time() - at < ETA_CACHE_SECONDS


async def job_view(session: AsyncSession, context: ViewContext, job: RenderJob) -> RenderJobPublic:
    return (await job_views(session, context, [job]))[0]


async def list_for_project(
    session: AsyncSession,
    context: ViewContext,
    owner_id: str,
    project_id: str,
    limit: int,
    offset: int,
) -> tuple[list[RenderJobPublic], int]:
    """A page of a project's render history, newest first: four queries for any page."""
    project = await get_project(session, owner_id, project_id)
    total = await session.scalar(
        select(func.count()).select_from(RenderJob).where(RenderJob.project_id == project.id)
    )
    jobs = await session.scalars(
        select(RenderJob)
        .where(RenderJob.project_id == project.id)
        .order_by(RenderJob.created_at.desc(), RenderJob.id)
        .limit(limit)
        .offset(offset)
    )
    return await job_views(session, context, list(jobs)), int(total or 0)


async def job_views(
    session: AsyncSession, context: ViewContext, jobs: list[RenderJob]
) -> list[RenderJobPublic]:
    """The views of `jobs` in two queries, whatever their number of segments: the segment rows
    of all of them, then every asset they link to."""
    rows_of: dict[str, list[SegmentRender]] = {job.id: [] for job in jobs}
    if rows_of:
        for row in await session.scalars(
            select(SegmentRender)
            .where(SegmentRender.job_id.in_(list(rows_of)))
            .order_by(SegmentRender.position, SegmentRender.id)
        ):
            rows_of[row.job_id].append(row)
    outputs = [
        asset_id
        for job in jobs
        for asset_id in (job.final_asset_id, job.poster_asset_id, job.captions_asset_id)
        if asset_id
    ]
    # Clips are content addressed: the clip a row used is the one stored under its spec hash.
    clip_keys = [
        key
        for job in jobs
        for r in rows_of[job.id]
        if r.status == "completed"
        for key in (
            keys.clip(job.owner_id, r.spec_hash),
            keys.clip_poster(job.owner_id, r.spec_hash),
        )
    ]
    found = await _assets(session, outputs, clip_keys)
    return [await _view(context, job, rows_of[job.id], found) for job in jobs]


async def _assets(
    session: AsyncSession, ids: list[str], storage_keys: list[str]
) -> dict[str, Asset]:
    """The assets with any of `ids` or `storage_keys`, by both (ids hold no slash, keys do)."""
    if not ids and not storage_keys:
        return {}
    found: dict[str, Asset] = {}
    for start in range(0, max(len(storage_keys), 1), _IN_LIST):  # bounded IN lists
        chunk = storage_keys[start : start + _IN_LIST]
        statement, params = (_BY_IDS_OR_KEYS, {"ids": ids}) if start == 0 else (_BY_KEYS, {})
        for asset in await session.scalars(statement, {**params, "keys": chunk}):
            found[asset.id] = found[asset.storage_key] = asset
    return found


# Keys per IN list: a job at the segment cap (200) links 400, so one job is one query.
_IN_LIST = 500
# Built once with expanding parameters: IN lists of literals cost a coercion per value.
_KEYS = Asset.storage_key.in_(bindparam("keys", expanding=True))
_BY_KEYS = select(Asset).where(_KEYS).options(assets.LINK_COLUMNS)
_BY_IDS_OR_KEYS = (
    select(Asset)
    .where(or_(Asset.id.in_(bindparam("ids", expanding=True)), _KEYS))
    .options(assets.LINK_COLUMNS)
)


async def _view(
    context: ViewContext, job: RenderJob, rows: list[SegmentRender], made: dict[str, Asset]
) -> RenderJobPublic:
    final = made.get(job.final_asset_id) if job.final_asset_id else None
    poster = made.get(job.poster_asset_id) if job.poster_asset_id else None
    captions = made.get(job.captions_asset_id) if job.captions_asset_id else None
    progress = job_progress(job, rows)
    # Clips are content addressed: the clip a row used is the one stored under its spec hash.
    linked = [final, poster, captions]
    for r in rows:
        linked += [
            made.get(keys.clip(job.owner_id, r.spec_hash)),
            made.get(keys.clip_poster(job.owner_id, r.spec_hash)),
        ]
    links = await assets.urls_for(context.settings, context.storage, linked)
    segments = []
    for index, (weight, r) in enumerate(zip(segment_weights(rows), rows, strict=True)):
        spec = r.spec or {}
        segments.append(
            {
                "segment_id": r.segment_id,
                "position": r.position,
                "status": r.status,
                "progress": _segment_progress(r.status, r.progress),
                "reused": r.reused,
                "error": r.error,
                "message": r.message,
                "weight": round(weight, 6),
                "prompt": spec.get("prompt"),
                "negative_prompt": spec.get("negative_prompt"),
                "model": spec.get("model"),
                "params": spec.get("params"),
                "seed": spec.get("seed"),
                "duration": spec.get("duration"),
                "trim_start": spec.get("trim_start"),
                "trim_end": spec.get("trim_end"),
                "clip_url": links[3 + 2 * index],
                "poster_url": links[4 + 2 * index],
            }
        )
    # One validation of the whole view: a model per segment costs several times more.
    return RenderJobPublic.model_validate(
        {
            "id": job.id,
            "project_id": job.project_id,
            # Set by services.takes for variations; a render of the timeline has no kind.
            "kind": (job.output or {}).get("kind") or "render",
            "status": job.status,
            "progress": progress,
            "seq": job.event_seq,
            "segments": segments,
            "error": job.error,
            "video_url": links[0],
            "poster_url": links[1],
            "captions_url": links[2],
            "duration": job.duration,
            "eta_seconds": eta_seconds(job, rows, progress),
            "estimated_cost": float(job.estimated_cost),
            "actual_cost": float(job.actual_cost),
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }
    )


def _row_text(*columns: Any) -> ColumnElement[str]:
    """A segment render row's shown columns as one text, NULLs as empty."""
    parts: list[ColumnElement[str]] = [func.coalesce(cast(c, Text), "") for c in columns]
    return functools.reduce(lambda text, part: text + "\x1f" + part, parts)


_JOB = bindparam("job", type_=String)
_OWNER = bindparam("owner", type_=String)
# Everything the view shows of its segment renders, in SQL: one text per row, joined. The specs
# (prompt, model, duration...) are fixed when a row is made, so its id stands for them; a clip or
# poster link follows its row's status and whether the asset is stored (the asset figures).
_SEGMENT_FIGURES = select(
    func.aggregate_strings(
        _row_text(
            SegmentRender.id,
            SegmentRender.position,
            SegmentRender.status,
            SegmentRender.progress,
            SegmentRender.reused,
            SegmentRender.message,
            SegmentRender.error,
        ),
        "\x1e",
    ).label("segments")
).where(SegmentRender.job_id == _JOB)
_ASSETS = (
    select(func.count().label("assets"), func.max(Asset.created_at).label("asset_created"))
    .where(Asset.owner_id == _OWNER)
    .subquery()
)
# One row whenever the job is the owner's, read before any row of the view: a 304 costs this.
_VALIDATOR = (
    select(
        RenderJob.status,
        RenderJob.event_seq,
        RenderJob.composition_progress,
        RenderJob.error,
        RenderJob.final_asset_id,
        RenderJob.poster_asset_id,
        RenderJob.captions_asset_id,
        RenderJob.duration,
        RenderJob.estimated_cost,
        RenderJob.actual_cost,
        RenderJob.started_at,
        RenderJob.finished_at,
        cast(RenderJob.output, Text),
        _SEGMENT_FIGURES.scalar_subquery(),
        *_ASSETS.c,
    )
    .select_from(RenderJob)
    .join(_ASSETS, true())
    .where(RenderJob.id == _JOB, RenderJob.owner_id == _OWNER)
)


async def job_etag(session: AsyncSession, owner_id: str, job_id: str) -> str:
    """A weak validator of the job view from one query, without building the view: the job's
    columns it shows, its rows' shown columns as text, the owner's asset figures and the link
    period (links are renewed every period). The ETA, derived from the time, is left out."""
    figures = (await session.execute(_VALIDATOR, {"job": job_id, "owner": owner_id})).first()
    if figures is None:
        raise NotFound(f"render job {job_id} not found")
    period = int(time.time()) // assets.LINK_PERIOD_SECONDS
    digest = hashlib.blake2b(repr((tuple(figures), period)).encode(), digest_size=16)
    return f'W/"{digest.hexdigest()}"'
