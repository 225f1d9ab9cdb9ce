"""Generating a claimed segment: call the model (retrying transient failures), bring its file
to the canonical format, store it under its content address, then complete the row."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, select

from videofoundry import media
from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
)
from videofoundry.core import metrics
from videofoundry.core.errors import GenerationError, PermanentError, RetryableError, TaskFailed
from videofoundry.core.redact import redactor_for
from videofoundry.media.format import OutputFormat
from videofoundry.models import RenderJob, SegmentRender
from videofoundry.runtime import Runtime
from videofoundry.services import (
    assets,
    continuity,
    integrity,
    job_events,
    orchestrator,
    task_publisher,
)
from videofoundry.storage import keys
from videofoundry.workers.ai_worker import unrecorded
from videofoundry.workers.ai_worker.attempts import (
    check_before_calling,
    delay_before_retry,
    segment_policy,
)
from videofoundry.workers.ai_worker.completion import complete
from videofoundry.workers.ai_worker.segment_row import Claim, LeaseLost, update_row
from videofoundry.workers.leases import heartbeat

_A = TypeVar("_A")
_B = TypeVar("_B")
TICK_SECONDS = 0.25
"""Least time between two live progress events of one segment."""
POSTER_WIDTH = 640
"""Segment posters are timeline tiles and the inspector's preview (at most 320 CSS pixels)."""


async def generate(runtime: Runtime, claim: Claim) -> str:
    """Generate, store and commit one clip; returns the model id."""
    settings = runtime.settings
    row_id, lease, spec, job_id = claim.row_id, claim.lease, claim.spec, claim.job_id
    task_id, attempts = claim.provider_task_id, claim.attempts
    digest, segment_id = claim.spec_hash, claim.segment_id
    adapter, _model = runtime.registry.resolve(spec["model"])
    if await _store_unrecorded(runtime, claim):
        return str(spec["model"])
    # Attempts count across queue deliveries; with the adapter's own HTTP retries they stay
    # within MAX_TRIES_PER_PAID_CALL tries of one paid call.
    policy = segment_policy(settings, adapter)
    max_attempts = policy.attempts
    check_before_calling(policy, attempts, task_id)
    init_image = init_image_url = None
    if spec.get("init_image_key"):
        init_image = await _read(runtime, spec["init_image_key"])
        # Hosted models that fetch images themselves get a URL good for the whole task.
        init_image_url = await runtime.storage.presigned_url(spec["init_image_key"], 6 * 3600)
    if spec.get("previous_clip_key"):
        # A continued shot starts on the last frame of the clip before it (made by now: the
        # row was only queued once that clip was stored).
        previous = await _read(runtime, spec["previous_clip_key"])
        init_image = await asyncio.to_thread(continuity.last_frame_png, previous)
        init_image_url = await _frame_url(runtime, claim.owner_id, spec, init_image)
    output = OutputFormat(**{k: spec["output"][k] for k in ("width", "height", "fps")})
    lost = asyncio.Event()
    last_tick = 0.0
    last_saved = 0.0
    job_figure = 0.0  # the job's progress as last read, carried by the ticks in between

    async def progress(fraction: float, note: str | None) -> None:
        nonlocal last_tick, last_saved, job_figure
        now = time.monotonic()
        if now - last_tick < TICK_SECONDS and fraction < 1.0:
            return
        last_tick = now
        fraction = max(0.0, min(1.0, fraction))
        # Not at the end: the completion that follows writes the row, and a hosted model
        # answering at once (Replicate's `Prefer: wait`) would add two database round trips
        # between its answer and the next segment's call.
        if now - last_saved >= 1.0 and fraction < 1.0:
            last_saved = now
            # The row keeps its highest figure: a retry starting over must not lower the job's.
            await update_row(runtime, row_id, lease, progress=_at_least(fraction), message=note)
            figures = await job_events.job_progress_now(runtime, {job_id})
            job_figure = max(job_figure, figures.get(job_id, 0.0))
        await job_events.ring(
            runtime,
            {
                "type": "segment",
                "tick": True,
                "job_id": job_id,
                "segment_id": segment_id,
                "status": "running",
                "progress": fraction,
                "job_progress": job_figure,
                "message": note,
            },
        )

    async def save_task_id(provider_task_id: str) -> None:
        nonlocal task_id
        if not await update_row(runtime, row_id, lease, provider_task_id=provider_task_id):
            raise LeaseLost()
        # A retry in this process must resume this task too, not pay for a new one.
        task_id = provider_task_id

    async def is_cancelled() -> bool:
        if lost.is_set():
            raise LeaseLost()
        async with runtime.sessions() as session:
            status = await session.scalar(select(RenderJob.status).where(RenderJob.id == job_id))
        return status != "generating"

    async def refresh() -> bool:
        return await update_row(
            runtime,
            row_id,
            lease,
            lease_expires_at=orchestrator.lease_deadline(settings.LEASE_SECONDS),
        )

    workdir = Path(tempfile.mkdtemp(prefix="vf-segment-"))
    try:
        async with heartbeat(refresh, settings.HEARTBEAT_SECONDS, lost.set):
            while True:
                request = GenerationRequest(
                    segment_render_id=row_id,
                    spec_hash=digest,
                    model=spec["model"],
                    prompt=spec["prompt"],
                    duration=spec["duration"],
                    seed=spec["seed"],
                    output=output,
                    negative_prompt=spec.get("negative_prompt"),
                    params=spec.get("params") or {},
                    init_image=init_image,
                    init_image_url=init_image_url,
                    provider_task_id=task_id,
                )
                context = GenerationContext(
                    workdir=workdir,
                    progress=progress,
                    save_task_id=save_task_id,
                    is_cancelled=is_cancelled,
                )
                try:
                    result = await runtime.registry.generate(adapter, request, context)
                    break
                except GenerationError as exc:
                    # A provider may echo our key in its failure text: never store or log it.
                    exc.message = redactor_for(settings)(exc.message)
                    exc.args = (exc.message,)
                    metrics.GENERATION_FAILURES.labels(adapter.name, type(exc).__name__).inc()
                    if not isinstance(exc, RetryableError):
                        raise
                    if lost.is_set():
                        raise LeaseLost() from exc
                    if attempts >= max_attempts:
                        raise PermanentError(
                            f"gave up after {attempts} attempts: {exc.message}"
                        ) from exc
                    if isinstance(exc, TaskFailed):
                        task_id = None  # that task is over; the next attempt starts a new one
                        await update_row(runtime, row_id, lease, provider_task_id=None)
                    delay = delay_before_retry(policy, exc, attempts)
                    attempts += 1
                    await update_row(
                        runtime,
                        row_id,
                        lease,
                        attempts=attempts,
                        message=f"{exc.message}; retrying in {delay:.0f} s "
                        f"(attempt {attempts} of {max_attempts})",
                    )
                    await asyncio.sleep(delay)
                if lost.is_set():
                    raise LeaseLost()
            await _store(runtime, claim, output, result, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return str(spec["model"])


async def _store(
    runtime: Runtime,
    claim: Claim,
    output: OutputFormat,
    result: GenerationResult,
    workdir: Path,
) -> None:
    aspect = claim.spec["output"].get("aspect_mode", "fit")
    poster = workdir / "poster.jpg"
    clip, info = await asyncio.to_thread(
        _canonical_clip, result.path, workdir / "canonical.mp4", output, aspect, poster
    )
    # Side by side: neither upload waits on the other.
    stored, stored_poster = await _both(
        runtime.storage.put_file(keys.clip(claim.owner_id, claim.spec_hash), clip, "video/mp4"),
        runtime.storage.put_file(
            keys.clip_poster(claim.owner_id, claim.spec_hash), poster, "image/jpeg"
        ),
    )
    records = [
        assets.fields(claim.owner_id, "clip", stored, "video/mp4", **assets.video_facts(info)),
        assets.fields(claim.owner_id, "poster", stored_poster, "image/jpeg"),
    ]
    reported = result.cost if result.cost is not None else result.estimated_cost
    cost = claim.estimated_cost if reported is None else Decimal(str(reported))
    events = job_events.Events()
    try:
        async with runtime.sessions() as session, session.begin():
            # Replacing: a clip generated again because its stored copy was missing or
            # damaged takes over the row (its id stays, its size and hash are the new file's).
            ids = await integrity.record_replacing(session, records)
            composing = await complete(
                session,
                claim,
                ids[stored.key],
                cost,
                events,
                False,
                runtime.settings.SEGMENTS_IN_FLIGHT_PER_USER,
            )
    except LeaseLost:
        # Cancelled, or taken over: the row is not ours, but the clip is real and paid for, so
        # it stays recorded under its content address for the next render to reuse.
        async with runtime.sessions() as session, session.begin():
            await integrity.record_replacing(session, records)
        raise
    metrics.COST_USD.labels(str(claim.spec["model"]).split("/", 1)[0]).inc(float(cost))
    await job_events.publish(runtime, events)
    if composing:
        await task_publisher.relay(runtime.sessions, runtime.broker)


async def _store_unrecorded(runtime: Runtime, claim: Claim) -> bool:
    """Complete the segment with its clip when an earlier attempt stored it but lost the
    transaction recording it (ai_worker/unrecorded.py); False when there is no such clip."""
    workdir = Path(tempfile.mkdtemp(prefix="vf-segment-"))
    try:
        result = await unrecorded.stored_clip(runtime, claim, workdir)
        if result is None:
            return False
        spec = claim.spec
        output = OutputFormat(**{k: spec["output"][k] for k in ("width", "height", "fps")})
        await _store(runtime, claim, output, result, workdir)
        return True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _at_least(fraction: float) -> ColumnElement[float]:
    """The row's progress raised to `fraction`, never lowered."""
    return case((SegmentRender.progress < fraction, fraction), else_=SegmentRender.progress)


async def _both(first: Awaitable[_A], second: Awaitable[_B]) -> tuple[_A, _B]:
    """Run two steps concurrently; if one fails, the other still finishes before the error
    propagates (the work directory they share is removed afterwards)."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    for outcome in (a, b):
        if isinstance(outcome, BaseException):
            raise outcome
    return a, b  # type: ignore[return-value]


def _canonical_clip(
    src: Path, dst: Path, output: OutputFormat, aspect: media.Aspect, poster: Path
) -> tuple[Path, media.MediaInfo]:
    """Normalise the model's file unless it already is canonical, and cut its poster frame
    (one thread hop for all the media work; one pass over a canonical file)."""
    info = media.probe_with_poster(src, poster, POSTER_WIDTH)
    if media.is_canonical(info, output):
        return src, info
    info = media.normalize(src, dst, output, aspect)
    media.poster(dst, poster, width=POSTER_WIDTH)  # the picture changed: cut it again
    return dst, info


async def _frame_url(
    runtime: Runtime, owner_id: str, spec: dict[str, Any], frame: bytes
) -> str | None:
    """Where storage can hand out URLs (S3), the previous shot's last frame is stored next to
    its clip and presigned, for hosted models that fetch images themselves (Luma); else None."""
    key = keys.clip_last_frame(owner_id, spec["continues_from"])
    url = await runtime.storage.presigned_url(key, 6 * 3600)
    if url is not None:
        with tempfile.TemporaryDirectory(prefix="vf-frame-") as tmp:
            path = Path(tmp) / "last.png"
            path.write_bytes(frame)
            await runtime.storage.put_file(key, path, "image/png")
    return url


async def _read(runtime: Runtime, key: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="vf-input-") as tmp:
        path = Path(tmp) / "input"
        await runtime.storage.get_file(key, path)
        return path.read_bytes()
