from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, WebSocket, WebSocketDisconnect, status
from sqlalchemy import select
from starlette.websockets import WebSocketState

from videofoundry.api.conditional import IfNoneMatch, json_with_etag, matches, not_modified
from videofoundry.api.deps import CurrentUser, PageDep, RuntimeDep, SessionDep, user_for_token
from videofoundry.api.rate_limits import limit_render
from videofoundry.core.errors import NotFound
from videofoundry.models import JobEvent, RenderJob
from videofoundry.models.render_job import TERMINAL_JOB_STATES
from videofoundry.runtime import Runtime
from videofoundry.schemas.common import Page
from videofoundry.schemas.render import RenderJobPublic, RenderPlan
from videofoundry.services import job_events, job_views, orchestrator, render_plan, task_publisher

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["render"])

# How often a WebSocket re-reads the database when the status bus is silent, so a lost pub/sub
# message (Redis is at-most-once) or a Redis outage delays an event, never drops it.
POLL_SECONDS = 1.0


@router.post(
    "/projects/{project_id}/render",
    status_code=202,
    response_model=RenderJobPublic | RenderPlan,
    responses={200: {"model": RenderPlan, "description": "The plan, when dry_run=true"}},
    dependencies=[Depends(limit_render)],
)
async def render_project(
    project_id: str,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    dry_run: Annotated[
        bool, Query(description="Only plan: what would be reused, generated, paid")
    ] = False,
) -> RenderJobPublic | RenderPlan:
    """Render the timeline: unchanged segments are reused, the rest generated, then stitched."""
    if dry_run:
        response.status_code = 200
        return await render_plan.plan(session, runtime, user.id, project_id)
    events = job_events.Events()
    job = await orchestrator.start_render(session, runtime, user.id, project_id, events)
    await session.commit()
    await job_events.publish(runtime, events)
    try:
        await task_publisher.relay(runtime.sessions, runtime.broker)
    except Exception:  # the outbox keeps the tasks; the background relay retries
        log.exception("publishing render tasks failed; they stay in the outbox")
    return await job_views.job_view(session, runtime, job)


@router.get("/projects/{project_id}/render-jobs", response_model=Page[RenderJobPublic])
async def list_render_jobs(
    project_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep, page: PageDep
) -> Page[RenderJobPublic]:
    """Render history of a project, newest first."""
    items, total = await job_views.list_for_project(
        session, runtime, user.id, project_id, page.limit, page.offset
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/render-jobs/{job_id}",
    response_model=RenderJobPublic,
    responses={304: {"description": "Unchanged since the ETag sent in If-None-Match"}},
)
async def get_render_job(
    job_id: str,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Status of a render job: overall and per segment, and the video once completed. Answers
    an `ETag`; send it back in `If-None-Match` to get 304 while the job is unchanged."""
    # Ownership and freshness always come from the database; the cached snapshot only saves
    # rebuilding the view while it is current. A flushed cache just means a rebuild.
    etag = await job_views.job_etag(session, user.id, job_id)
    if matches(if_none_match, etag):
        return not_modified(etag)
    job = await job_views.get_job(session, user.id, job_id)
    return json_with_etag(await job_views.cached_view(session, runtime, job, etag), etag)


@router.post("/render-jobs/{job_id}/cancel", response_model=RenderJobPublic)
async def cancel_render_job(
    job_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> RenderJobPublic:
    """Stop a render; finished clips are kept for the next render."""
    events = job_events.Events()
    job, provider_tasks = await orchestrator.cancel(session, user.id, job_id, events)
    await session.commit()
    await job_events.publish(runtime, events)
    for row in provider_tasks:
        try:
            adapter, _ = runtime.registry.resolve(row.spec["model"])
            await adapter.cancel(row.provider_task_id or "")
        except Exception:  # best effort: the job is cancelled on our side either way
            log.warning("could not cancel provider task of segment render %s", row.id)
    return await job_views.job_view(session, runtime, job)


@router.websocket("/render-jobs/{job_id}/progress")
async def render_progress(websocket: WebSocket, job_id: str) -> None:
    """Live events of a job: a snapshot, then every event in order, closed after the last.

    Authenticate with `?token=` or the subprotocol pair `bearer, <token>`. Pass `?after=<seq>`
    on reconnect to replay what was missed.
    """
    runtime: Runtime = websocket.app.state.runtime
    token = websocket.query_params.get("token")
    subprotocol = None
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if not token and len(offered) == 2 and offered[0].lower() == "bearer":
        token, subprotocol = offered[1], "bearer"
    # Short sessions only: a transaction held open for the life of the socket would block
    # writers (SQLite takes its write lock at BEGIN).
    async with runtime.sessions() as session:
        user = await user_for_token(session, runtime, token) if token else None
        job = None
        if user is not None:
            try:
                job = await job_views.get_job(session, user.id, job_id)
            except NotFound:
                job = None
    if job is None:
        # Same answer for a bad token and someone else's job: nothing leaks.
        await websocket.accept()
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="not allowed")
        return
    await websocket.accept(subprotocol=subprotocol)
    after = websocket.query_params.get("after")
    # ASCII digits that fit a database integer; anything else replays from the start.
    valid = after is not None and after.isascii() and after.isdigit() and len(after) < 18
    last = int(after) if valid and after is not None else None
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                bus: AsyncIterator[dict[str, Any]] = await stack.enter_async_context(
                    runtime.status.subscribe(job_id)
                )
            except Exception:
                # Redis is down: events still arrive, from the database once a second.
                log.warning("status bus unavailable; job %s streams by polling", job_id)
                bus = _silence()
            if last is None:
                async with runtime.sessions() as session:
                    job = await session.get_one(RenderJob, job_id)
                    view = await job_views.job_view(session, runtime, job)
                snapshot = {
                    "type": "snapshot",
                    "seq": view.seq,
                    "job": view.model_dump(mode="json"),
                }
                await websocket.send_json(snapshot)
                last = view.seq
                if view.status in TERMINAL_JOB_STATES:
                    await websocket.close()
                    return
            await _stream(websocket, runtime, job_id, last, bus)
    except WebSocketDisconnect:
        return
    if websocket.client_state == WebSocketState.CONNECTED:
        await websocket.close()


async def _silence() -> AsyncIterator[dict[str, Any]]:
    await asyncio.Event().wait()
    yield {}


async def _stream(
    websocket: WebSocket,
    runtime: Runtime,
    job_id: str,
    last: int,
    bus: AsyncIterator[dict[str, Any]],
) -> None:
    """Forward events in sequence order until the terminal one.

    An event from the bus that is the next in sequence goes straight out (it was published
    after its commit). Anything else, a gap, a silent bus for POLL_SECONDS or the start of the
    stream, is caught up from the database, so ordering and completeness never depend on the
    bus. Progress ticks carry no new number and pass through with the last one. Every event
    carries the job's progress (`job_progress`, read now for events replayed from the database),
    never lower on this socket than it was."""
    iterator = bus.__aiter__()
    high = 0.0

    def rising(event: dict[str, Any], figure: float | None) -> dict[str, Any]:
        nonlocal high
        figure = event.get("job_progress", figure)
        if not isinstance(figure, int | float):
            return event
        high = max(high, float(figure))
        return job_events.with_job_progress(event, high)

    next_item: asyncio.Task[Any] | None = None
    pending: list[dict[str, Any]] = []  # events to send, in order
    catch_up = True
    try:
        while True:
            if catch_up:
                pending = await _events_after(runtime, job_id, last)
                catch_up = False
                if any("job_progress" not in event for event in pending):
                    figures = await job_events.job_progress_now(runtime, {job_id})
                    pending = [rising(event, figures.get(job_id)) for event in pending]
            for event in pending:
                if event["seq"] != last + 1:
                    continue
                await websocket.send_json(await _with_video(runtime, job_id, rising(event, None)))
                last = event["seq"]
                if event.get("type") == "job" and event.get("status") in TERMINAL_JOB_STATES:
                    return
            pending = []
            if next_item is None:
                next_item = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({next_item}, timeout=POLL_SECONDS)
            if not done:
                catch_up = True
                continue
            try:
                event = next_item.result()
            except StopAsyncIteration:
                return
            next_item = None
            if event.get("tick"):
                await websocket.send_json({**rising(event, None), "seq": last})
            elif event.get("seq") == last + 1:
                pending = [event]
            elif isinstance(event.get("seq"), int) and event["seq"] > last + 1:
                catch_up = True  # missed one: the database has it
    finally:
        if next_item is not None:
            next_item.cancel()


async def _events_after(runtime: Runtime, job_id: str, last: int) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.seq > last)
            .order_by(JobEvent.seq)
        )
        return [dict(row.payload) for row in rows]


async def _with_video(runtime: Runtime, job_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """A completion event carries the video's URL (signed now, so it is fresh)."""
    if event.get("type") != "job" or event.get("status") != "completed":
        return event
    async with runtime.sessions() as session:
        job = await session.get_one(RenderJob, job_id)
        view = await job_views.job_view(session, runtime, job)
    return {**event, "video_url": view.video_url, "duration": view.duration}
