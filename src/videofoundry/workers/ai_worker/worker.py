"""AI worker: turns one segment task into one stored clip in the canonical format.

Crash safety, step by step: the claim commits a lease with a fencing token; the provider's task
id is committed before polling (so a restarted worker resumes instead of paying again); the clip
is stored under its content address before the row is marked done; the final commit checks the
token, so a worker that stalled past its lease cannot overwrite its successor.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, literal_column, or_, select, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.sql.elements import Label

from videofoundry import media
from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
)
from videofoundry.core import metrics
from videofoundry.core.errors import (
    Cancelled,
    GenerationError,
    PermanentError,
    RetryableError,
    TaskFailed,
)
from videofoundry.database.base import utcnow
from videofoundry.media.format import OutputFormat
from videofoundry.models import Asset, Project, RenderJob, SegmentRender, User
from videofoundry.models.segment_render import TERMINAL_SEGMENT_STATES
from videofoundry.queue.base import SCHEMA_VERSION, DeadLetter, Message
from videofoundry.runtime import Runtime
from videofoundry.services import assets, orchestrator, task_publisher
from videofoundry.storage import keys
from videofoundry.workers.leases import heartbeat

log = logging.getLogger(__name__)
_A = TypeVar("_A")
_B = TypeVar("_B")
TICK_SECONDS = 0.25
"""Least time between two live progress events of one segment."""
SAME_CLIP_POLL_SECONDS = 2.0
"""How often a segment waiting for the same clip in another render looks again."""
WAITING_NOTE = "waiting for the same clip, being generated for another render"
POSTER_WIDTH = 640
"""Segment posters are timeline tiles and the inspector's preview (at most 320 CSS pixels)."""


class _LeaseLost(Exception):
    pass


@dataclass(frozen=True)
class _Claim:
    """What the claim transaction learned, so generation needs no second read."""

    lease: str
    row_id: str
    job_id: str
    owner_id: str
    segment_id: str
    spec: dict[str, Any]
    spec_hash: str
    provider_task_id: str | None
    attempts: int
    estimated_cost: Decimal
    twins: int
    """Rows of this job with the same spec, completed together with this one."""


async def handle(runtime: Runtime, message: Message) -> None:
    """Queue handler for `segments.generate`."""
    body = message.body
    if (
        body.get("v") != SCHEMA_VERSION
        or not isinstance(body.get("segment_render_id"), str)
        or not isinstance(body.get("job_id"), str)
    ):
        raise DeadLetter(f"unreadable segment task: {body!r}")
    row_id: str = body["segment_render_id"]
    waited = False
    while True:
        try:
            claim = await _claim(runtime, row_id, body["job_id"])
            break
        except _GeneratingElsewhere:
            # Another render of this owner is generating this very clip: paying for it a
            # second time is the one thing not to do. Its clip completes this segment as reused;
            # if it fails or its worker dies, the next look finds nobody and generates.
            if not waited:
                waited = True
                await _note_waiting(runtime, row_id, body["job_id"])
            await asyncio.sleep(SAME_CLIP_POLL_SECONDS)
    if claim is None:
        return
    lease = claim.lease
    try:
        started = time.monotonic()
        model = await _generate(runtime, claim)
        metrics.GENERATION_SECONDS.labels(model).observe(time.monotonic() - started)
    except _LeaseLost:
        log.warning("segment render %s: lease lost, another worker owns it now", row_id)
    except NoResultFound:
        log.info("segment render %s: its project was deleted meanwhile", row_id)
    except Cancelled:
        await _mark_cancelled(runtime, row_id, lease)
    except GenerationError as exc:
        await _fail(runtime, row_id, lease, exc.message)
        raise DeadLetter(exc.message) from exc
    except Exception as exc:
        if message.delivery_count >= runtime.broker.delivery_limit:
            # Last delivery: record the failure before the broker dead-letters the message.
            await _fail(runtime, row_id, lease, f"internal error: {type(exc).__name__}: {exc}")
        else:
            await _release(runtime, row_id, lease)
        raise


# The columns a segment event and a claim need, read back by the UPDATE that changes them.
_SR = cast(Table, SegmentRender.__table__)
_EVENT_COLUMNS = (
    _SR.c.id,
    _SR.c.segment_id,
    _SR.c.position,
    _SR.c.status,
    _SR.c.progress,
    _SR.c.reused,
    _SR.c.error,
    _SR.c.message,
    _SR.c.estimated_cost,
)
# Written out: SQLite renders RETURNING columns unqualified, which would turn a correlated
# subquery built from column objects into `job_id = job_id`.
_TWINS: Label[int] = literal_column(
    "(SELECT count(*) FROM segment_render AS twin"
    " WHERE twin.job_id = segment_render.job_id"
    " AND twin.spec_hash = segment_render.spec_hash"
    " AND twin.id != segment_render.id)"
).label("twins")
"""Rows of the same job with the same spec: they wait for this one's clip."""
_RUNNING_ELSEWHERE: Label[int] = literal_column(
    "(SELECT count(*) FROM segment_render AS other"
    " WHERE other.spec_hash = segment_render.spec_hash"
    " AND other.job_id != segment_render.job_id"
    " AND other.status = 'running')"
).label("running_elsewhere")
"""Rows of other jobs with the same spec being generated (any owner; checked precisely when
there are some)."""

# The per-segment statements, built once (building one costs more than running it).
_NOW = bindparam("p_now", type_=_SR.c.started_at.type)
_CLAIM_ROW = (
    update(_SR)
    .where(
        _SR.c.id == bindparam("p_row", type_=_SR.c.id.type),
        _SR.c.job_id == bindparam("p_job", type_=_SR.c.job_id.type),
        # A twin with the same spec waits for the one that is generated.
        _SR.c.reused.is_(False),
        or_(
            _SR.c.status == "pending",
            (_SR.c.status == "running") & (_SR.c.lease_expires_at < _NOW),
        ),
    )
    .values(
        status="running",
        lease_token=bindparam("p_lease", type_=_SR.c.lease_token.type),
        lease_expires_at=bindparam("p_deadline", type_=_SR.c.lease_expires_at.type),
        attempts=_SR.c.attempts + 1,
        started_at=_NOW,
        message=None,
    )
    .returning(
        *_EVENT_COLUMNS,
        _SR.c.spec,
        _SR.c.spec_hash,
        _SR.c.provider_task_id,
        _SR.c.attempts,
        _TWINS,
        _RUNNING_ELSEWHERE,
    )
)
_ASSET = cast(Table, Asset.__table__)
_CLIP_ID = select(_ASSET.c.id).where(_ASSET.c.storage_key == bindparam("p_key"))
"""On the table, not the mapped class: a Core statement skips the ORM's result processing."""
_DONE: dict[str, Any] = {
    "status": "completed",
    "progress": 1.0,
    "clip_asset_id": bindparam("p_clip", type_=_SR.c.clip_asset_id.type),
    "lease_token": None,
    "finished_at": _NOW,
    "message": None,
}
_DONE_OWN = (
    update(_SR)
    .where(
        _SR.c.id == bindparam("p_row", type_=_SR.c.id.type),
        _SR.c.lease_token == bindparam("p_lease", type_=_SR.c.lease_token.type),
        _SR.c.status == "running",
    )
    .values(
        **_DONE,
        reused=bindparam("p_reused", type_=_SR.c.reused.type),
        actual_cost=bindparam("p_cost", type_=_SR.c.actual_cost.type),
    )
    .returning(*_EVENT_COLUMNS)
)
"""Our row, if we still hold it."""
_DONE_TWINS = (
    update(_SR)
    .where(
        _SR.c.job_id == bindparam("p_job", type_=_SR.c.job_id.type),
        _SR.c.spec_hash == bindparam("p_spec", type_=_SR.c.spec_hash.type),
        _SR.c.id != bindparam("p_row", type_=_SR.c.id.type),
        _SR.c.status.not_in(TERMINAL_SEGMENT_STATES),
    )
    .values(**_DONE, reused=True)
    .returning(*_EVENT_COLUMNS)
)
"""The rows of the same job with the same spec, which waited for our clip."""


class _NothingToDo(Exception):
    """Rolls back a claim that found its segment taken (and its reserved event number)."""


class _GeneratingElsewhere(Exception):
    """Rolls back a claim whose clip another render of the same owner is generating now."""


async def _claim(runtime: Runtime, row_id: str, job_id: str) -> _Claim | None:
    """Take the segment if nobody holds it; None means there is nothing to do.

    A few statements and no ORM loading: this runs once per segment, and with fast or cached
    models it is most of the product's own cost."""
    events = orchestrator.Events()
    lease = orchestrator.new_lease()
    now = utcnow()
    clip_id: str | None = None
    composing = False
    try:
        async with runtime.sessions() as session, session.begin():
            # The job row first, then its segment rows: the lock order of every writer (cancel,
            # completion), so two transactions never deadlock. Events number from it.
            job = await orchestrator.reserve_events(session, job_id, 1, only_generating=True)
            if job is None:
                return None  # cancelled, failed or deleted meanwhile
            params = {
                "p_row": row_id,
                "p_job": job_id,
                "p_now": now,
                "p_lease": lease,
                "p_deadline": orchestrator.lease_deadline(runtime.settings.LEASE_SECONDS),
            }
            row = (await session.execute(_CLAIM_ROW, params)).one_or_none()
            if row is None:
                # Finished, or a live worker holds it (if that one dies, the reconciler acts).
                raise _NothingToDo
            await orchestrator.append_events(
                session, job_id, job.event_seq, [orchestrator.segment_event(row)], events
            )
            claim = _Claim(
                lease=lease,
                row_id=row.id,
                job_id=job_id,
                owner_id=job.owner_id,
                segment_id=row.segment_id,
                spec=dict(row.spec),
                spec_hash=row.spec_hash,
                provider_task_id=row.provider_task_id,
                attempts=row.attempts,
                estimated_cost=row.estimated_cost,
                twins=row.twins,
            )
            # This check before the clip lookup: a generation that ends between the two has
            # committed its clip before the lookup reads (READ COMMITTED reads per statement).
            if row.running_elsewhere and await _generating_elsewhere(session, claim, now):
                raise _GeneratingElsewhere
            clip_id = await session.scalar(
                _CLIP_ID, {"p_key": keys.clip(job.owner_id, row.spec_hash)}
            )
            if clip_id is not None:
                # Another job made this clip meanwhile: nothing to generate.
                composing = await _complete(session, claim, clip_id, Decimal(0), events, True)
    except _NothingToDo:
        return None
    await orchestrator.publish(runtime, events)
    if clip_id is None:
        return claim
    if composing:
        await task_publisher.relay(runtime.sessions, runtime.broker)
    return None


async def _generating_elsewhere(session: Any, claim: _Claim, now: datetime) -> bool:
    """Whether a live worker generates this clip (same owner, same spec) for another job."""
    other = await session.scalar(
        select(_SR.c.id)
        .join(RenderJob, RenderJob.id == _SR.c.job_id)
        .where(
            _SR.c.spec_hash == claim.spec_hash,
            _SR.c.job_id != claim.job_id,
            _SR.c.status == "running",
            _SR.c.lease_expires_at >= now,
            RenderJob.owner_id == claim.owner_id,
            RenderJob.status == "generating",  # a cancelled job's generation stores nothing
        )
        .limit(1)
    )
    return other is not None


async def _note_waiting(runtime: Runtime, row_id: str, job_id: str) -> None:
    """Say on the pending segment why it does not start (one event)."""
    events = orchestrator.Events()
    try:
        async with runtime.sessions() as session, session.begin():
            job = await orchestrator.reserve_events(session, job_id, 1, only_generating=True)
            if job is None:
                return
            row = (
                await session.execute(
                    update(_SR)
                    .where(_SR.c.id == row_id, _SR.c.status == "pending")
                    .values(message=WAITING_NOTE)
                    .returning(*_EVENT_COLUMNS)
                )
            ).one_or_none()
            if row is None:
                raise _NothingToDo
            await orchestrator.append_events(
                session, job_id, job.event_seq, [orchestrator.segment_event(row)], events
            )
    except _NothingToDo:
        return
    await orchestrator.publish(runtime, events)


async def _generate(runtime: Runtime, claim: _Claim) -> str:
    """Generate, store and commit one clip; returns the model id."""
    settings = runtime.settings
    row_id, lease, spec, job_id = claim.row_id, claim.lease, claim.spec, claim.job_id
    task_id, attempts = claim.provider_task_id, claim.attempts
    digest, segment_id = claim.spec_hash, claim.segment_id
    adapter, _model = runtime.registry.resolve(spec["model"])
    init_image = init_image_url = None
    if spec.get("init_image_key"):
        init_image = await _read(runtime, spec["init_image_key"])
        # Hosted models that fetch images themselves get a URL good for the whole task.
        init_image_url = await runtime.storage.presigned_url(spec["init_image_key"], 6 * 3600)
    output = OutputFormat(**{k: spec["output"][k] for k in ("width", "height", "fps")})
    lost = asyncio.Event()
    last_tick = 0.0
    last_saved = 0.0

    async def progress(fraction: float, note: str | None) -> None:
        nonlocal last_tick, last_saved
        now = time.monotonic()
        if now - last_tick < TICK_SECONDS and fraction < 1.0:
            return
        last_tick = now
        fraction = max(0.0, min(1.0, fraction))
        await orchestrator.ring(
            runtime,
            {
                "type": "segment",
                "tick": True,
                "job_id": job_id,
                "segment_id": segment_id,
                "status": "running",
                "progress": fraction,
                "message": note,
            },
        )
        if now - last_saved >= 1.0:
            last_saved = now
            await _update_row(runtime, row_id, lease, progress=fraction, message=note)

    async def save_task_id(provider_task_id: str) -> None:
        nonlocal task_id
        if not await _update_row(runtime, row_id, lease, provider_task_id=provider_task_id):
            raise _LeaseLost()
        # A retry in this process must resume this task too, not pay for a new one.
        task_id = provider_task_id

    async def is_cancelled() -> bool:
        if lost.is_set():
            raise _LeaseLost()
        async with runtime.sessions() as session:
            status = await session.scalar(select(RenderJob.status).where(RenderJob.id == job_id))
        return status != "generating"

    async def refresh() -> bool:
        return await _update_row(
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
                    result = await adapter.generate(request, context)
                    break
                except GenerationError as exc:
                    metrics.GENERATION_FAILURES.labels(adapter.name, type(exc).__name__).inc()
                    if not isinstance(exc, RetryableError):
                        raise
                    if lost.is_set():
                        raise _LeaseLost() from exc
                    if attempts >= settings.SEGMENT_MAX_ATTEMPTS:
                        raise PermanentError(
                            f"gave up after {attempts} attempts: {exc.message}"
                        ) from exc
                    if isinstance(exc, TaskFailed):
                        task_id = None  # that task is over; the next attempt starts a new one
                        await _update_row(runtime, row_id, lease, provider_task_id=None)
                    delay = exc.retry_after or settings.RETRY_BASE_SECONDS * 2 ** (attempts - 1)
                    delay *= 1 + random.uniform(0, 0.5)  # jitter spreads synchronized retries
                    attempts += 1
                    await _update_row(
                        runtime,
                        row_id,
                        lease,
                        attempts=attempts,
                        message=f"{exc.message}; retrying in {delay:.0f} s "
                        f"(attempt {attempts} of {settings.SEGMENT_MAX_ATTEMPTS})",
                    )
                    await asyncio.sleep(delay)
                if lost.is_set():
                    raise _LeaseLost()
            await _store(runtime, claim, output, result, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return str(spec["model"])


async def _store(
    runtime: Runtime,
    claim: _Claim,
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
    cost = claim.estimated_cost if result.cost is None else Decimal(str(result.cost))
    events = orchestrator.Events()
    try:
        async with runtime.sessions() as session, session.begin():
            ids = await assets.record_all(session, records)
            composing = await _complete(session, claim, ids[stored.key], cost, events, False)
    except _LeaseLost:
        # Cancelled, or taken over: the row is not ours, but the clip is real and paid for, so
        # it stays recorded under its content address for the next render to reuse.
        async with runtime.sessions() as session, session.begin():
            await assets.record_all(session, records)
        raise
    metrics.COST_USD.labels(str(claim.spec["model"]).split("/", 1)[0]).inc(float(cost))
    await orchestrator.publish(runtime, events)
    if composing:
        await task_publisher.relay(runtime.sessions, runtime.broker)


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


async def _complete(
    session: Any,
    claim: _Claim,
    clip_id: str,
    cost: Decimal,
    events: orchestrator.Events,
    reused: bool,
) -> bool:
    """Mark our row (and its twins) done; the last one moves the job to composing, once.
    Returns True when it wrote the composition task.

    Raises _LeaseLost, for the caller to roll back, when the row is no longer held with our
    lease; NoResultFound when the job is gone."""
    job = await orchestrator.reserve_events(session, claim.job_id, 1, completed=1, cost=cost)
    if job is None:
        raise NoResultFound(f"render job {claim.job_id} is gone")
    done = {"p_row": claim.row_id, "p_clip": clip_id, "p_now": utcnow()}
    owned = await _rows(
        session, _DONE_OWN, done | {"p_lease": claim.lease, "p_reused": reused, "p_cost": cost}
    )
    if not owned:
        raise _LeaseLost()
    own = owned[0]
    rows = [own]
    if claim.twins:
        twins = await _rows(
            session, _DONE_TWINS, done | {"p_job": claim.job_id, "p_spec": claim.spec_hash}
        )
        if twins:
            rows.extend(sorted(twins, key=lambda r: r.position))
            job = await orchestrator.reserve_events(
                session, claim.job_id, len(twins), completed=len(twins)
            )
            assert job is not None  # locked by this transaction since the first UPDATE
    payloads = [orchestrator.segment_event(row) for row in rows]
    if cost != own.estimated_cost:
        # The budget reserved the estimate at render time; settle it to what was charged.
        await session.execute(
            update(User)
            .where(User.id == job.owner_id)
            .values(spent_usd=User.spent_usd + cost - own.estimated_cost)
        )
    # completed_count is exact without a count(*): each completion adds only the rows its own
    # UPDATE moved to completed, under the job row's lock.
    composing = bool(job.status == "generating" and job.completed_count == job.segment_count)
    if composing:
        job = await orchestrator.reserve_events(session, claim.job_id, 1, status="composing")
        assert job is not None
        task_publisher.enqueue_composition(session, claim.job_id)
        payloads.append({"type": "job", "status": "composing"})
    await orchestrator.append_events(session, claim.job_id, job.event_seq, payloads, events)
    return composing


async def _rows(session: Any, statement: Any, params: dict[str, Any]) -> list[Any]:
    return list((await session.execute(statement, params)).all())


async def _read(runtime: Runtime, key: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="vf-input-") as tmp:
        path = Path(tmp) / "input"
        await runtime.storage.get_file(key, path)
        return path.read_bytes()


async def _update_row(runtime: Runtime, row_id: str, lease: str, **values: Any) -> bool:
    """Update our row if we still hold its lease; False means we lost it."""
    async with runtime.sessions() as session, session.begin():
        result = await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id == row_id, SegmentRender.lease_token == lease)
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def _release(runtime: Runtime, row_id: str, lease: str) -> None:
    await _update_row(runtime, row_id, lease, status="pending", lease_token=None)


async def _mark_cancelled(runtime: Runtime, row_id: str, lease: str) -> None:
    await _update_row(runtime, row_id, lease, status="cancelled", lease_token=None)


async def _fail(runtime: Runtime, row_id: str, lease: str, error: str) -> None:
    events = orchestrator.Events()
    async with runtime.sessions() as session, session.begin():
        row = await session.get_one(SegmentRender, row_id)
        job = await session.get_one(RenderJob, row.job_id, with_for_update=True)
        if row.lease_token != lease:
            return
        project = await session.get(Project, job.project_id)
        where = f"segment {row.position + 1}"
        if project is not None:
            where += f" of {project.name!r}"
        row.status, row.error, row.lease_token, row.finished_at = "failed", error, None, utcnow()
        orchestrator.emit(session, job, orchestrator.segment_event(row), events)
        await orchestrator.fail_job(session, job, f"{where}: {error}", events)
    await orchestrator.publish(runtime, events)
