"""Takes: every clip ever generated for a segment, and variations (new takes with new seeds).

A take is not stored separately: clips are content-addressed and every generation is a
`segment_render` row naming its segment and the spec it was made from. The takes of a segment
are its completed rows, one per distinct spec, newest first. Using a take writes that spec's
generative fields back onto the segment, so its spec_hash is the take's again and the next
render reuses the stored clip at no cost.

Variations are a render job of their own (so they show in progress and history, count against
the budget, and are cancelled like any render) whose rows all belong to one segment and differ
only in their seeds. Such a job has nothing to compose: it completes when its clips exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core import metrics
from videofoundry.core.errors import InvalidInput, NotFound
from videofoundry.database.base import utcnow
from videofoundry.models import Asset, Project, RenderJob, Segment, SegmentRender
from videofoundry.schemas.takes import TakePublic
from videofoundry.services import assets, continuity, fair_share, quotas, trims
from videofoundry.services import spec_hash as hashing
from videofoundry.services.job_events import Events, emit
from videofoundry.services.project_views import ViewContext
from videofoundry.services.projects import (
    check_model_inputs,
    clip_spec_of,
    get_project,
    get_segment,
    refresh_hashes,
    segments_of,
)
from videofoundry.services.render_plan import HasRegistry, reserve_budget
from videofoundry.storage import keys

VARIATIONS = "variations"
"""`render_job.output["kind"]` of a variations job (a render of the timeline has none)."""
MAX_VARIATIONS = 4

# The spec fields a take gives back to its segment (everything else of the spec is derived).
_GENERATIVE = ("prompt", "negative_prompt", "model", "params", "duration", "seed")


@dataclass(frozen=True)
class Take:
    row: SegmentRender
    """The segment render that made (or first used) the clip."""
    clip: Asset
    poster: Asset | None
    current: bool
    """The segment's current spec is this take's: a render uses this clip."""


def is_variations(job: RenderJob) -> bool:
    return isinstance(job.output, dict) and job.output.get("kind") == VARIATIONS


async def list_takes(session: AsyncSession, owner_id: str, segment_id: str) -> list[Take]:
    """The segment's takes, newest first; 404 for another user's segment."""
    segment = await get_segment(session, owner_id, segment_id)
    rows = await session.scalars(
        select(SegmentRender)
        .join(RenderJob, RenderJob.id == SegmentRender.job_id)
        .where(
            SegmentRender.segment_id == segment.id,
            SegmentRender.status == "completed",
            RenderJob.owner_id == owner_id,
        )
        .order_by(SegmentRender.finished_at, SegmentRender.id)
    )
    # A take is dated and named by the row that first produced its clip: later renders that
    # reuse the clip do not move it to the front.
    first: dict[str, SegmentRender] = {}
    for row in rows:
        first.setdefault(row.spec_hash, row)
    newest = dict(reversed(first.items()))
    wanted = [keys.clip(owner_id, h) for h in newest] + [
        keys.clip_poster(owner_id, h) for h in newest
    ]
    found = await assets.by_keys(session, wanted)
    takes = []
    for digest, row in newest.items():
        clip = found.get(keys.clip(owner_id, digest))
        if clip is None:  # the clip was deleted since: nothing left to use
            continue
        poster = found.get(keys.clip_poster(owner_id, digest))
        takes.append(Take(row, clip, poster, digest == segment.spec_hash))
    return takes


async def take_public(context: ViewContext, take: Take) -> TakePublic:
    spec, row = take.row.spec, take.row
    return TakePublic(
        id=row.id,
        segment_id=row.segment_id,
        job_id=row.job_id,
        spec_hash=row.spec_hash,
        prompt=spec["prompt"],
        negative_prompt=spec.get("negative_prompt"),
        model=spec["model"],
        params=spec.get("params") or {},
        seed=spec["seed"],
        duration=spec["duration"],
        continue_from_previous=spec.get("continues_from") is not None,
        current=take.current,
        cost=float(row.actual_cost),
        clip_url=await assets.url_for(context.settings, context.storage, take.clip),
        poster_url=await assets.url_for(context.settings, context.storage, take.poster),
        created_at=row.finished_at,
    )


async def get_take(
    session: AsyncSession, owner_id: str, segment: Segment, take_id: str
) -> SegmentRender:
    row = await session.get(SegmentRender, take_id)
    job = await session.get(RenderJob, row.job_id) if row is not None else None
    if (
        row is None
        or job is None
        or job.owner_id != owner_id
        or row.segment_id != segment.id
        or row.status != "completed"
    ):
        raise NotFound(f"take {take_id} of segment {segment.id} not found")
    return row


async def use_take(
    session: AsyncSession, runtime: HasRegistry, owner_id: str, segment_id: str, take_id: str
) -> Segment:
    """Give the segment the take's generative fields (its spec_hash becomes the take's when
    the project's format and the shot it continues from are as they were)."""
    segment = await get_segment(session, owner_id, segment_id)
    row = await get_take(session, owner_id, segment, take_id)
    spec: dict[str, Any] = row.spec
    for field in _GENERATIVE:
        setattr(segment, field, spec.get(field))
    segment.init_image_asset_id = await _upload_id(session, owner_id, spec.get("init_image_key"))
    segment.continue_from_previous = spec.get("continues_from") is not None
    project = await session.get_one(Project, segment.project_id)
    try:
        trims.check(project.fps, segment.duration, segment.trim_start, segment.trim_end)
    except InvalidInput:
        # The take is shorter than the trim: show it whole rather than refuse it.
        segment.trim_start = segment.trim_end = None
    runtime.registry.validate_segment(
        segment.model, segment.prompt, segment.duration, segment.params
    )
    check_model_inputs(runtime.registry, segment, segment.position)
    segment.version += 1
    await refresh_hashes(session, project)
    return segment


async def _upload_id(session: AsyncSession, owner_id: str, key: object) -> str | None:
    if not isinstance(key, str):
        return None
    asset = await assets.by_key(session, key)
    return asset.id if asset is not None and asset.owner_id == owner_id else None


async def start_variations(
    session: AsyncSession,
    runtime: HasRegistry,
    owner_id: str,
    segment_id: str,
    count: int,
    events: Events,
) -> RenderJob:
    """A render job generating `count` takes of the segment with new seeds; the segment itself
    is not changed. Budget is reserved as for a render (402 when it does not fit)."""
    if not 1 <= count <= MAX_VARIATIONS:
        raise InvalidInput(f"count must be from 1 to {MAX_VARIATIONS}", "count")
    segment = await get_segment(session, owner_id, segment_id)
    project = await get_project(session, owner_id, segment.project_id)
    await quotas.check_renders_in_flight(session, owner_id, runtime.settings)
    work = quotas.Work(segment.duration, project.width, project.height, project.fps)
    quotas.check_render_size([work] * count, runtime.settings)
    adapter, model = runtime.registry.resolve(segment.model)
    reason = adapter.availability()
    if reason:
        raise InvalidInput(f"{segment.model} is unavailable: {reason}", "model")
    continuity.check_inputs(
        model,
        has_image=segment.init_image_asset_id is not None,
        continues=segment.continue_from_previous,
        is_first=segment.position == 0,
    )
    previous = await _continued_clip(session, owner_id, project, segment)
    base = await clip_spec_of(session, project, segment, previous)
    init_key = None
    if segment.init_image_asset_id:
        image = await session.get(Asset, segment.init_image_asset_id)
        init_key = image.storage_key if image else None
    cost = Decimal(str(adapter.estimate_cost(model, segment.duration, segment.params)))

    now = utcnow()
    seeds = _new_seeds(count, avoid={segment.seed})
    specs = [{**base, "seed": seed} for seed in seeds]
    digests = [hashing.spec_hash(spec) for spec in specs]
    job = RenderJob(
        project_id=project.id,
        owner_id=owner_id,
        status="generating",
        output={
            "kind": VARIATIONS,
            "segment_id": segment.id,
            "width": project.width,
            "height": project.height,
            "fps": project.fps,
            "aspect_mode": project.aspect_mode,
        },
        composition_hash=hashing.composition_hash(digests, {"variations": segment.id}),
        segment_count=count,
        created_at=now,
        started_at=now,
        event_seq=0,
    )
    session.add(job)
    await session.flush()
    made = await assets.by_keys(session, [keys.clip(owner_id, d) for d in digests])
    to_generate: list[SegmentRender] = []
    for spec, digest in zip(specs, digests, strict=True):
        row = SegmentRender(
            job_id=job.id,
            segment_id=segment.id,
            position=segment.position,
            spec_hash=digest,
            spec={
                **spec,
                "caption": segment.caption,
                "burn_caption": segment.burn_caption,
                "transition": segment.transition,
                "init_image_key": init_key,
                "previous_clip_key": keys.clip(owner_id, previous) if previous else None,
            },
            provider=segment.model.split("/", 1)[0],
        )
        clip = made.get(keys.clip(owner_id, digest))
        if clip is not None:
            row.status, row.reused, row.progress = "completed", True, 1.0
            row.clip_asset_id, row.finished_at = clip.id, now
        else:
            row.estimated_cost = cost
            row.message = fair_share.WAITING_NOTE  # until its share of the queue frees it
            to_generate.append(row)
        session.add(row)
    job.estimated_cost = cost * len(to_generate)
    job.completed_count = count - len(to_generate)
    await reserve_budget(
        session, owner_id, job.estimated_cost, model.id if model.unpriced and to_generate else None
    )
    await session.flush()
    metrics.SEGMENTS_PLANNED.labels("generate").inc(len(to_generate))
    if not to_generate:
        job.status, job.finished_at = "completed", now
        emit(session, job, {"type": "job", "status": "completed", "progress": 1.0}, events)
        return job
    emit(session, job, {"type": "job", "status": "generating", "progress": 0.0}, events)
    # Queued up to the owner's share of the queue; the rest follow as their segments finish.
    queued = set(
        await fair_share.release(session, owner_id, runtime.settings.SEGMENTS_IN_FLIGHT_PER_USER)
    )
    for row in to_generate:
        if row.id in queued:  # as the release wrote it, for the view this request answers
            row.dispatched_at, row.message = now, None
    return job


async def _continued_clip(
    session: AsyncSession, owner_id: str, project: Project, segment: Segment
) -> str | None:
    """The spec_hash of the clip a continued shot starts from; it must exist already."""
    if not segment.continue_from_previous or segment.position == 0:
        return None
    before = (await segments_of(session, project.id))[segment.position - 1]
    if await assets.by_key(session, keys.clip(owner_id, before.spec_hash)) is None:
        raise InvalidInput(
            f"segment {segment.position + 1} continues from segment {segment.position}, which "
            "has no clip of its current spec yet: render the project before asking for "
            "variations",
            "continue_from_previous",
        )
    return before.spec_hash


def _new_seeds(count: int, avoid: set[int]) -> list[int]:
    seeds: list[int] = []
    while len(seeds) < count:
        seed = secrets.randbelow(2**32 - 1)
        if seed not in avoid and seed not in seeds:
            seeds.append(seed)
    return seeds
