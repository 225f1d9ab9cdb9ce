"""Composition worker: stitches a job's clips into the final video, exactly once per job.

The claim is a conditional UPDATE on the job row (status composing, no live lease), so two
workers racing on the same job cannot both compose; the final commit checks the lease token.
The final video is content-addressed, so a retry after a crash reuses an already stored file.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import or_, update

from videofoundry import media
from videofoundry.core import metrics
from videofoundry.core.errors import NotFound, PermanentError
from videofoundry.database.base import utcnow
from videofoundry.models import Asset, RenderJob
from videofoundry.queue.base import SCHEMA_VERSION, DeadLetter, Message
from videofoundry.runtime import Runtime
from videofoundry.services import assets, integrity, job_events, job_views, orchestrator, takes
from videofoundry.storage import keys
from videofoundry.workers import database_wait, failure
from videofoundry.workers.leases import heartbeat

log = logging.getLogger(__name__)
_A = TypeVar("_A")
_B = TypeVar("_B")


async def handle(runtime: Runtime, message: Message) -> None:
    """Queue handler for `compositions.compose`."""
    body = message.body
    if body.get("v") != SCHEMA_VERSION or not isinstance(body.get("job_id"), str):
        raise DeadLetter(f"unreadable composition task: {body!r}")
    job_id: str = body["job_id"]
    lease = await database_wait.claim_when_reachable(
        runtime, functools.partial(_claim, runtime, job_id), f"job {job_id}"
    )
    if lease is None:
        return
    await failure.settle(
        runtime,
        message,
        _timed_compose(runtime, job_id, lease),
        fail=functools.partial(_fail, runtime, job_id, lease),
        release=functools.partial(_release, runtime, job_id, lease),
    )


async def _timed_compose(runtime: Runtime, job_id: str, lease: str) -> None:
    with metrics.COMPOSITION_SECONDS.time():
        await _compose(runtime, job_id, lease)


async def _claim(runtime: Runtime, job_id: str) -> str | None:
    lease = orchestrator.new_lease()
    async with runtime.sessions() as session, session.begin():
        now = utcnow()
        result = await session.execute(
            update(RenderJob)
            .where(
                RenderJob.id == job_id,
                RenderJob.status == "composing",
                or_(
                    RenderJob.composition_lease.is_(None),
                    RenderJob.composition_lease_expires_at < now,
                ),
            )
            .values(
                composition_lease=lease,
                composition_lease_expires_at=orchestrator.lease_deadline(
                    runtime.settings.LEASE_SECONDS
                ),
                composition_attempts=RenderJob.composition_attempts + 1,
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            return None
    return lease


async def _refresh(runtime: Runtime, job_id: str, lease: str) -> bool:
    async with runtime.sessions() as session, session.begin():
        result = await session.execute(
            update(RenderJob)
            .where(RenderJob.id == job_id, RenderJob.composition_lease == lease)
            .values(
                composition_lease_expires_at=orchestrator.lease_deadline(
                    runtime.settings.LEASE_SECONDS
                )
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def _compose(runtime: Runtime, job_id: str, lease: str) -> None:
    async with runtime.sessions() as session:
        job = await session.get_one(RenderJob, job_id)
        variations = takes.is_variations(job)
    if variations:
        # New takes of one segment: the clips are the result, there is nothing to stitch.
        await _complete_without_video(runtime, job_id, lease)
        return
    async with runtime.sessions() as session:
        job = await session.get_one(RenderJob, job_id)
        rows = await job_views.segment_rows(session, job_id)
        clips_read: list[tuple[str, Asset]] = []
        for row in rows:
            clip = await session.get_one(Asset, row.clip_asset_id)
            clips_read.append((f"segment {row.position + 1}", clip))
        owner_id, comp_hash, output = job.owner_id, job.composition_hash, dict(job.output)
        specs = [dict(r.spec) for r in rows]
        final_key = keys.final(owner_id, comp_hash)
        # A final stored by an earlier attempt is reused only when it matches its record (a
        # damaged one is why this job composes at all); one with no record yet is trusted, as
        # storing is atomic and the record follows it.
        recorded_final = await assets.by_key(session, final_key)
        soundtrack_key = output.get("soundtrack_key")
        soundtrack_asset = await assets.by_key(session, soundtrack_key) if soundtrack_key else None
    poster_key = keys.final_poster(owner_id, comp_hash)
    captions_key = keys.final_captions(owner_id, comp_hash)
    lost = asyncio.Event()
    workdir = Path(tempfile.mkdtemp(prefix="vf-compose-"))
    try:
        async with heartbeat(
            lambda: _refresh(runtime, job_id, lease), runtime.settings.HEARTBEAT_SECONDS, lost.set
        ):
            final_path = workdir / "final.mp4"
            captions_path = workdir / "captions.vtt"
            if await runtime.storage.exists(final_key) and (
                recorded_final is None
                or not await integrity.problem(runtime.storage, recorded_final, full=True)
            ):
                # An earlier attempt stored it before dying: no need to compose again.
                await runtime.storage.get_file(final_key, final_path)
                if await runtime.storage.exists(captions_key):
                    await runtime.storage.get_file(captions_key, captions_path)
            else:
                clips = await _read_clips(runtime, clips_read, workdir)
                soundtrack = None
                if soundtrack_key:
                    soundtrack = workdir / "soundtrack"
                    await _read_soundtrack(
                        runtime, str(soundtrack_key), soundtrack_asset, soundtrack
                    )
                options = media.ComposeOptions(
                    soundtrack=soundtrack, fade_in=1.0, fade_out=1.0, webvtt=captions_path
                )
                report = _Progress(runtime, job_id, lease).report
                await _run_compose(clips, specs, output, final_path, options, report)
            poster_path = workdir / "poster.jpg"
            # One pass over the final for its facts and its poster (bench/scaleout).
            info = await asyncio.to_thread(media.probe_with_poster, final_path, poster_path)
            if lost.is_set():
                return
            # Poster and captions side by side; the final after them, so a stored final means
            # its captions are stored too (the reuse above relies on it).
            poster_upload = runtime.storage.put_file(poster_key, poster_path, "image/jpeg")
            if captions_path.exists():
                captions_upload = runtime.storage.put_file(captions_key, captions_path, "text/vtt")
                stored_poster, stored_captions = await _both(poster_upload, captions_upload)
            else:
                stored_poster, stored_captions = await poster_upload, None
            stored = await runtime.storage.put_file(final_key, final_path, "video/mp4")
        events = job_events.Events()
        async with runtime.sessions() as session, session.begin():
            job = await session.get_one(RenderJob, job_id, with_for_update=True)
            if job.composition_lease != lease or job.status != "composing":
                log.warning("job %s: composition finished after losing its lease", job_id)
                return
            records = [
                assets.fields(owner_id, "final", stored, "video/mp4", **assets.video_facts(info)),
                assets.fields(owner_id, "poster", stored_poster, "image/jpeg"),
            ]
            if stored_captions is not None:
                records.append(assets.fields(owner_id, "captions", stored_captions, "text/vtt"))
            # Replacing: a final composed again because its stored copy was damaged.
            ids = await integrity.record_replacing(session, records)
            job.final_asset_id, job.poster_asset_id = ids[stored.key], ids[stored_poster.key]
            if stored_captions is not None:
                job.captions_asset_id = ids[stored_captions.key]
            job.duration = info.duration
            orchestrator.finish_job(session, job, "completed", events)
        await job_events.publish(runtime, events)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


READS_AT_ONCE = 8
"""Clips downloaded and checked at once: one by one, each waited on storage in turn."""


async def _read_clips(
    runtime: Runtime, clips_read: list[tuple[str, Asset]], workdir: Path
) -> list[tuple[str, Path]]:
    """Download and check every clip, several at once. Every read finishes before an error
    propagates, and the error raised is the first in timeline order, as when read in turn."""
    slots = asyncio.Semaphore(READS_AT_ONCE)
    paths = [workdir / f"clip{index:04d}.mp4" for index in range(len(clips_read))]

    async def read(label: str, clip: Asset, path: Path) -> None:
        async with slots:
            await _read_clip(runtime, label, clip, path)

    outcomes = await asyncio.gather(
        *(read(label, clip, path) for (label, clip), path in zip(clips_read, paths, strict=True)),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [(label, path) for (label, _), path in zip(clips_read, paths, strict=True)]


async def _both(first: Awaitable[_A], second: Awaitable[_B]) -> tuple[_A, _B]:
    """Both at once; if one fails, the other still finishes before the error propagates (the
    work directory is removed afterwards)."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    for outcome in (a, b):
        if isinstance(outcome, BaseException):
            raise outcome
    return a, b  # type: ignore[return-value]


async def _read_clip(runtime: Runtime, label: str, clip: Asset, path: Path) -> None:
    """Download a clip and check it against its record; a missing or damaged one fails the
    job naming the segment, and is marked so the next render generates it again."""
    try:
        await runtime.storage.get_file(clip.storage_key, path)
    except NotFound as exc:
        raise PermanentError(
            f"the stored clip of {label} is missing; render again to generate it anew"
        ) from exc
    why = await asyncio.to_thread(integrity.file_problem, path, clip)
    if why is None:
        return
    async with runtime.sessions() as session, session.begin():
        await integrity.mark_damaged(session, {clip.id: f"stored clip is damaged ({why})"})
    raise PermanentError(
        f"the stored clip of {label} is damaged ({why}); render again to generate it anew"
    )


async def _read_soundtrack(runtime: Runtime, key: str, upload: Asset | None, path: Path) -> None:
    """Download the soundtrack and check it against its record: an upload cannot be made
    again, so a damaged one fails the job asking for it to be uploaded again."""
    await runtime.storage.get_file(key, path)
    why = None if upload is None else await asyncio.to_thread(integrity.file_problem, path, upload)
    if why is not None:
        raise PermanentError(
            f"the stored soundtrack is damaged ({why}); upload it again and set it on the project"
        )


async def _complete_without_video(runtime: Runtime, job_id: str, lease: str) -> None:
    events = job_events.Events()
    async with runtime.sessions() as session, session.begin():
        job = await session.get_one(RenderJob, job_id, with_for_update=True)
        if job.composition_lease != lease or job.status != "composing":
            return
        orchestrator.finish_job(session, job, "completed", events)
    await job_events.publish(runtime, events)


PROGRESS_SAVE_SECONDS = 1.0
"""How often at most the composer saves its progress (a row update and an event each time)."""


class _Progress:
    """Saves the composition's progress on the job row (the system of record the job view and
    its ETag read), then rings the figure saved, so the WebSocket, GET and the UI agree. Only
    forward, and only while this composer holds the job. Best effort: a failed save leaves the
    composition running and the figure where it was."""

    def __init__(self, runtime: Runtime, job_id: str, lease: str) -> None:
        self.runtime, self.job_id, self.lease = runtime, job_id, lease
        self.saved_at = -math.inf

    async def report(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.saved_at < PROGRESS_SAVE_SECONDS:
            return
        self.saved_at = now
        # Storing and recording the final remain when the stitching ends: 1.0 means completed.
        fraction = round(min(fraction, 0.99), 4)
        try:
            async with self.runtime.sessions() as session, session.begin():
                result = await session.execute(
                    update(RenderJob)
                    .where(
                        RenderJob.id == self.job_id,
                        RenderJob.composition_lease == self.lease,
                        RenderJob.status == "composing",
                        RenderJob.composition_progress < fraction,
                    )
                    .values(composition_progress=fraction)
                )
        except Exception as exc:
            log.warning("job %s: composition progress not saved (%s)", self.job_id, exc)
            return
        if not result.rowcount:  # type: ignore[attr-defined]
            return
        progress = job_views.composing_progress(fraction)
        event = {"type": "job", "tick": True, "job_id": self.job_id, "status": "composing"}
        await job_events.ring(
            self.runtime, {**event, "progress": progress, "job_progress": progress}
        )


async def _run_compose(
    clips: list[tuple[str, Path]],
    specs: list[dict[str, object]],
    output: dict[str, object],
    dst: Path,
    options: media.ComposeOptions,
    report: Callable[[float], Awaitable[None]],
) -> None:
    default_transition = output.get("default_transition")
    specs_for_media = []
    for index, ((label, path), spec) in enumerate(zip(clips, specs, strict=True)):
        last = index == len(clips) - 1
        caption = spec.get("caption")
        specs_for_media.append(
            media.ClipSpec(
                path=path,
                label=label,
                # There is nothing to transition into after the last clip.
                transition=None
                if last
                else _transition(spec.get("transition") or default_transition),
                caption=caption if isinstance(caption, str) else None,
                burn_caption=bool(spec.get("burn_caption")),
                trim_start=_seconds(spec.get("trim_start")),
                trim_end=_seconds(spec.get("trim_end")),
            )
        )
    await media.compose(specs_for_media, dst, options, report)


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _transition(value: object) -> media.Transition | None:
    if not isinstance(value, dict) or value.get("kind") in (None, "cut"):
        return None
    return media.Transition(kind=value["kind"], duration=float(value.get("duration", 0.5)))


async def _release(runtime: Runtime, job_id: str, lease: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(RenderJob)
            .where(RenderJob.id == job_id, RenderJob.composition_lease == lease)
            .values(composition_lease=None, composition_lease_expires_at=None)
        )


async def _fail(runtime: Runtime, job_id: str, lease: str, error: str) -> None:
    events = job_events.Events()
    async with runtime.sessions() as session, session.begin():
        job = await session.get_one(RenderJob, job_id, with_for_update=True)
        if job.composition_lease != lease:
            return
        await orchestrator.fail_job(session, job, f"composition failed: {error}", events)
    await job_events.publish(runtime, events)
