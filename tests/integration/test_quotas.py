"""Per-user quotas and the fair share of the queue, on SQLite and PostgreSQL. The module's app
runs no workers, so renders stay in flight for as long as a test needs them to."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.integration.test_render import SMALL, project_with
from tests.support.app import register
from videofoundry.core.config import Settings
from videofoundry.models import OutboxMessage, SegmentRender
from videofoundry.queue.base import SEGMENTS
from videofoundry.runtime import Runtime
from videofoundry.services import fair_share
from videofoundry.workers import reconciler


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def settings(client: httpx.AsyncClient) -> Iterator[Settings]:
    """The app's settings, for a test to tighten; restored afterwards (the app is shared)."""
    live = runtime_of(client).settings
    names = (
        "RENDERS_IN_FLIGHT_PER_USER",
        "RENDER_MAX_MEGAPIXEL_FRAMES",
        "SEGMENTS_IN_FLIGHT_PER_USER",
    )
    saved = {name: getattr(live, name) for name in names}
    yield live
    for name, value in saved.items():
        setattr(live, name, value)


def segments(count: int, duration: float = 1.0) -> list[dict[str, Any]]:
    return [{"prompt": f"q{i}", "duration": duration, "seed": i} for i in range(count)]


async def render(client: httpx.AsyncClient, auth: dict[str, str], pid: str) -> httpx.Response:
    return await client.post(f"/api/projects/{pid}/render", headers=auth)


@pytest.mark.parametrize("limit", [1, 3])
async def test_renders_in_flight_per_user(
    client: httpx.AsyncClient, settings: Settings, limit: int
) -> None:
    settings.RENDERS_IN_FLIGHT_PER_USER = limit
    auth, other = await register(client), await register(client)
    projects = [await project_with(client, auth, segments(1)) for _ in range(limit + 1)]
    started = []
    for pid in projects[:limit]:
        r = await render(client, auth, pid)
        assert r.status_code == 202, r.text
        started.append(r.json()["id"])
    r = await render(client, auth, projects[limit])
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert "renders in progress" in r.json()["detail"] and str(limit) in r.json()["detail"]
    # Variations are render jobs too.
    detail = (await client.get(f"/api/projects/{projects[0]}", headers=auth)).json()
    r = await client.post(
        f"/api/segments/{detail['segments'][0]['id']}/variations", json={"count": 1}, headers=auth
    )
    assert r.status_code == 429, r.text
    # A dry run is no render; another user is not affected.
    r = await client.post(f"/api/projects/{projects[limit]}/render?dry_run=true", headers=auth)
    assert r.status_code == 200, r.text
    other_project = await project_with(client, other, segments(1))
    assert (await render(client, other, other_project)).status_code == 202
    # Cancelling one frees a place.
    r = await client.post(f"/api/render-jobs/{started[0]}/cancel", headers=auth)
    assert r.status_code == 200, r.text
    assert (await render(client, auth, projects[limit])).status_code == 202


async def test_renders_started_at_once_are_counted_one_after_the_other(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.RENDERS_IN_FLIGHT_PER_USER = 2
    auth = await register(client)
    projects = [await project_with(client, auth, segments(1)) for _ in range(6)]
    answers = await asyncio.gather(*(render(client, auth, pid) for pid in projects))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202, 202, 429, 429, 429, 429], [r.text for r in answers]


@pytest.mark.parametrize(("count", "duration"), [(3, 1.0), (1, 3.0), (2, 2.0)])
async def test_a_render_too_large_is_refused_naming_what_to_reduce(
    client: httpx.AsyncClient, settings: Settings, count: int, duration: float
) -> None:
    one_second = SMALL["width"] * SMALL["height"] * SMALL["fps"] / 1e6
    settings.RENDER_MAX_MEGAPIXEL_FRAMES = 2.5 * one_second  # room for 2.5 s of video
    auth = await register(client)
    pid = await project_with(client, auth, segments(count, duration))
    for url in (f"/api/projects/{pid}/render", f"/api/projects/{pid}/render?dry_run=true"):
        r = await client.post(url, headers=auth)
        assert r.status_code == 422, r.text
        (error,) = r.json()["detail"]
        assert error["loc"] == ["body", "segments"]
        assert "megapixel-frames" in error["msg"] and "fewer or shorter" in error["msg"]
        assert f"{count} clips to generate" in error["msg"]
    # Within the limit: accepted.
    small = await project_with(client, auth, segments(2, 1.0))
    assert (await render(client, auth, small)).status_code == 202
    # Variations count every take.
    detail = (await client.get(f"/api/projects/{small}", headers=auth)).json()
    r = await client.post(
        f"/api/segments/{detail['segments'][0]['id']}/variations", json={"count": 3}, headers=auth
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "segments"], r.text


async def dispatched(runtime: Runtime, job_id: str) -> tuple[int, int]:
    """(queued, waiting) segment rows of a job."""
    async with runtime.sessions() as session:
        rows = list(
            await session.scalars(select(SegmentRender).where(SegmentRender.job_id == job_id))
        )
    queued = sum(1 for r in rows if r.dispatched_at is not None)
    return queued, len(rows) - queued


async def segment_tasks(runtime: Runtime, job_id: str) -> int:
    async with runtime.sessions() as session:
        bodies = await session.scalars(
            select(OutboxMessage.body).where(OutboxMessage.queue == SEGMENTS)
        )
        return sum(1 for body in bodies if body["job_id"] == job_id)


async def test_a_users_segments_wait_for_their_share(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.SEGMENTS_IN_FLIGHT_PER_USER = 3
    runtime = runtime_of(client)
    auth, other = await register(client), await register(client)
    first = (await render(client, auth, await project_with(client, auth, segments(5)))).json()
    assert await dispatched(runtime, first["id"]) == (3, 2)
    assert await segment_tasks(runtime, first["id"]) == 3
    # The rows that wait say why, in the answer and in the job view.
    for view in (first, (await client.get(f"/api/render-jobs/{first['id']}", headers=auth)).json()):
        notes = [s["message"] for s in view["segments"]]
        assert notes == [None] * 3 + [fair_share.WAITING_NOTE] * 2, notes
    # The same user's next render waits entirely; someone else's does not.
    second = (await render(client, auth, await project_with(client, auth, segments(2)))).json()
    assert await dispatched(runtime, second["id"]) == (0, 2)
    theirs = (await render(client, other, await project_with(client, other, segments(2)))).json()
    assert await dispatched(runtime, theirs["id"]) == (2, 0)
    # Cancelling frees the places; the sweep hands them to the next render, oldest first.
    r = await client.post(f"/api/render-jobs/{first['id']}/cancel", headers=auth)
    assert r.status_code == 200, r.text
    assert await reconciler.release_waiting(runtime) == 2
    assert await dispatched(runtime, second["id"]) == (2, 0)
    assert await segment_tasks(runtime, second["id"]) == 2
    view = (await client.get(f"/api/render-jobs/{second['id']}", headers=auth)).json()
    assert [s["message"] for s in view["segments"]] == [None, None], view
    assert await reconciler.release_waiting(runtime) == 0
    async with runtime.sessions() as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(SegmentRender)
            .where(SegmentRender.job_id == second["id"], SegmentRender.dispatched_at.is_(None))
        )
    assert waiting == 0


async def test_restart_requeues_only_what_was_queued(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The embedded run's start-up: rows that were queued are queued again; waiting rows keep
    waiting for their share instead of all entering the queue at once."""
    settings.SEGMENTS_IN_FLIGHT_PER_USER = 2
    runtime = runtime_of(client)
    auth = await register(client)
    job = (await render(client, auth, await project_with(client, auth, segments(5)))).json()
    assert await dispatched(runtime, job["id"]) == (2, 3)
    before = await segment_tasks(runtime, job["id"])
    await reconciler.recover_all(runtime)
    assert await segment_tasks(runtime, job["id"]) == before + 2
    assert await dispatched(runtime, job["id"]) == (2, 3)
