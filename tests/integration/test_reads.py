"""Reads that scale (issue 18): the views and lists cost the same number of SQL statements
whatever the number of segments, conditional GETs answer 304 until anything changes, and on
SQLite a read proceeds while a write transaction is open. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, select, update

from tests.support.app import register
from videofoundry.models import Asset, Project, RenderJob, SegmentRender
from videofoundry.runtime import Runtime
from videofoundry.storage import keys

pytestmark = pytest.mark.timeout(180)


def _runtime(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


@contextmanager
def counting(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """Every SQL statement sent on behalf of requests made in the block; statements of the
    app's background loops (outbox relay, webhook deliveries) run outside this context."""
    statements: list[str] = []
    engine = _runtime(client).engine.sync_engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _in_request.get():
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    token = _in_request.set(True)
    try:
        yield statements
    finally:
        _in_request.reset(token)
        event.remove(engine, "before_cursor_execute", seen)


async def _project(client: httpx.AsyncClient, auth: dict[str, str], segments: int) -> str:
    r = await client.post(
        "/api/projects", json={"name": "p", "width": 160, "height": 96}, headers=auth
    )
    project_id: str = r.json()["id"]
    for i in range(segments):
        body = {"prompt": f"shot {i}", "duration": 1, "caption": f"line {i}"}
        r = await client.post(f"/api/projects/{project_id}/segments", json=body, headers=auth)
        assert r.status_code == 201, r.text
    return project_id


async def _owner(client: httpx.AsyncClient, project: str) -> str:
    async with _runtime(client).sessions() as session:
        return await session.scalar(select(Project.owner_id).where(Project.id == project)) or ""


async def _make_half_ready(client: httpx.AsyncClient, auth: dict[str, str], project: str) -> None:
    """Record clips and posters for every other segment (not the first), as a render would."""
    owner_id = await _owner(client, project)
    view = (await client.get(f"/api/projects/{project}", headers=auth)).json()
    async with _runtime(client).sessions() as session, session.begin():
        for segment in view["segments"][1::2]:
            for key, kind in (
                (keys.clip(owner_id, segment["spec_hash"]), "video/mp4"),
                (keys.clip_poster(owner_id, segment["spec_hash"]), "image/jpeg"),
            ):
                session.add(
                    Asset(
                        owner_id=owner_id,
                        kind="clip" if kind == "video/mp4" else "image",
                        storage_key=key,
                        content_type=kind,
                        sha256="0" * 64,
                        bytes=1,
                    )
                )


async def _render(client: httpx.AsyncClient, auth: dict[str, str], project: str) -> str:
    """A render job (no workers run here: it stays generating), half its segments completed."""
    r = await client.post(f"/api/projects/{project}/render", headers=auth)
    assert r.status_code in (200, 201, 202), r.text
    job_id: str = r.json()["id"]
    async with _runtime(client).sessions() as session, session.begin():
        rows = await session.scalars(
            select(SegmentRender.id)
            .where(SegmentRender.job_id == job_id)
            .order_by(SegmentRender.position)
        )
        done = list(rows)[::2]
        await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id.in_(done))
            .values(status="completed", progress=1.0)
        )
    return job_id


async def _statements(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> list[str]:
    with counting(client) as statements:
        r = await client.get(path, headers=auth)
    assert r.status_code == 200, r.text
    return statements


async def test_project_view_costs_the_same_at_1_and_50_segments(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    small, large = await _project(client, auth, 1), await _project(client, auth, 50)
    await _make_half_ready(client, auth, small)
    await _make_half_ready(client, auth, large)
    one = await _statements(client, auth, f"/api/projects/{small}")
    fifty = await _statements(client, auth, f"/api/projects/{large}")
    assert len(one) == len(fifty), (one, fifty)
    assert len(fifty) <= 8, fifty


async def test_job_view_costs_the_same_at_1_and_50_segments(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    small, large = await _project(client, auth, 1), await _project(client, auth, 50)
    await _make_half_ready(client, auth, small)
    await _make_half_ready(client, auth, large)
    jobs = [await _render(client, auth, p) for p in (small, large)]
    # The first read of each job misses the status cache and builds the view from the database.
    one = await _statements(client, auth, f"/api/render-jobs/{jobs[0]}")
    fifty = await _statements(client, auth, f"/api/render-jobs/{jobs[1]}")
    assert len(one) == len(fifty), (one, fifty)
    assert len(fifty) <= 6, fifty


async def test_lists_cost_the_same_whatever_their_length(client: httpx.AsyncClient) -> None:
    few, many = await register(client), await register(client)
    project = await _project(client, few, 1)
    await _render(client, few, project)
    for n in (1, 30, 2):
        last = await _project(client, many, n)
    for _ in range(3):  # no workers here: the jobs stay in progress, and an account may have 4
        await _render(client, many, last)
    projects = [await _statements(client, a, "/api/projects") for a in (few, many)]
    assert len(projects[0]) == len(projects[1]), projects
    jobs = [
        await _statements(client, few, f"/api/projects/{project}/render-jobs"),
        await _statements(client, many, f"/api/projects/{last}/render-jobs"),
    ]
    assert len(jobs[0]) == len(jobs[1]), jobs
    listed = (await client.get("/api/projects", headers=many)).json()["items"]
    assert [p["segment_count"] for p in listed] == [2, 30, 1]
    assert [p["total_duration"] for p in listed] == [2.0, 30.0, 1.0]


async def _etag(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> str:
    r = await client.get(path, headers=auth)
    assert r.status_code == 200, r.text
    etag: str = r.headers["ETag"]
    again = await client.get(path, headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers["ETag"] == etag
    return etag


async def test_project_view_answers_304_until_anything_changes(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    project = await _project(client, auth, 3)
    path = f"/api/projects/{project}"
    seen = {await _etag(client, auth, path)}

    async def ids() -> list[str]:
        return [s["id"] for s in (await client.get(path, headers=auth)).json()["segments"]]

    async def changed(response: httpx.Response) -> None:
        assert response.status_code < 300, response.text
        etag = await _etag(client, auth, path)
        assert etag not in seen, f"same ETag after {response.request.method} {response.url}"
        seen.add(etag)

    first, second, third = await ids()
    await changed(await client.put(path, json={"name": "renamed"}, headers=auth))
    await changed(await client.put(f"/api/segments/{first}", json={"prompt": "new"}, headers=auth))
    await changed(await client.put(f"/api/segments/{second}", json={"caption": "x"}, headers=auth))
    body = {"prompt": "more", "duration": 1}
    await changed(await client.post(f"{path}/segments", json=body, headers=auth))
    order = {"segment_ids": list(reversed(await ids()))}
    await changed(await client.put(f"{path}/segments/order", json=order, headers=auth))
    await changed(await client.post(f"/api/segments/{third}/duplicate", headers=auth))
    await changed(await client.delete(f"/api/segments/{third}", headers=auth))

    # A clip appearing (a render finished, maybe of another project) changes the view too.
    await _make_half_ready(client, auth, project)
    assert await _etag(client, auth, path) not in seen
    # A stale or unrelated tag gets the full view.
    r = await client.get(path, headers={**auth, "If-None-Match": 'W/"nope", "other"'})
    assert r.status_code == 200 and r.json()["id"] == project


async def test_links_are_the_same_in_every_answer_of_a_period(client: httpx.AsyncClient) -> None:
    """So the browser keeps the posters it has, and a 304 keeps links that still work."""
    auth = await register(client)
    project = await _project(client, auth, 2)
    await _make_half_ready(client, auth, project)
    path = f"/api/projects/{project}"
    first, second = [(await client.get(path, headers=auth)).json()["segments"][1] for _ in "ab"]
    assert first["poster_url"] and first["clip_url"]
    assert (first["poster_url"], first["clip_url"]) == (second["poster_url"], second["clip_url"])
    if first["poster_url"].startswith("/api/files/"):  # signed by the API (local storage)
        expires = int(httpx.URL(first["poster_url"]).params["expires"])
        assert expires > time.time() + 5 * 3600


async def test_job_view_answers_304_until_the_job_changes(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = await _project(client, auth, 2)
    job = await _render(client, auth, project)
    path = f"/api/render-jobs/{job}"
    first = await _etag(client, auth, path)
    r = await client.post(f"{path}/cancel", headers=auth)
    assert r.status_code == 200, r.text
    assert await _etag(client, auth, path) != first


async def test_job_etag_follows_every_change_the_view_shows(client: httpx.AsyncClient) -> None:
    """The job's validator comes from one query, not from the view, and the status cache is
    keyed by it: each change below keeps the job's event number, and each must still give a new
    ETag and a body that shows it (never a cached older view)."""
    auth = await register(client)
    project = await _project(client, auth, 2)
    job = await _render(client, auth, project)
    path = f"/api/render-jobs/{job}"
    seen = [await _etag(client, auth, path)]

    async def changed(what: str, **values: Any) -> dict[str, Any]:
        async with _runtime(client).sessions() as session, session.begin():
            if values:
                await session.execute(
                    update(SegmentRender)
                    .where(SegmentRender.job_id == job, SegmentRender.position == 1)
                    .values(**values)
                )
        etag = await _etag(client, auth, path)
        assert etag not in seen, f"same ETag after {what}"
        seen.append(etag)
        view: dict[str, Any] = (await client.get(path, headers=auth)).json()
        return view["segments"][1]

    assert (await changed("progress", status="running", progress=0.25))["progress"] == 0.25
    assert (await changed("a note", message="step 1/9"))["message"] == "step 1/9"
    assert (await changed("a note of the same length", message="step 2/9"))["message"] == (
        "step 2/9"
    )
    failed = await changed("a failure", status="failed", error="provider said no")
    assert (failed["status"], failed["error"]) == ("failed", "provider said no")
    assert (await changed("a reason of the same length", error="provider said ok"))["error"] == (
        "provider said ok"
    )
    done = await changed("completed", status="completed", progress=1.0, error=None, message=None)
    assert done["clip_url"] is None
    await _make_half_ready(client, auth, project)
    assert (await changed("its clip stored"))["clip_url"]
    owner_id = await _owner(client, project)
    async with _runtime(client).sessions() as session, session.begin():
        await session.execute(delete(Asset).where(Asset.owner_id == owner_id, Asset.kind == "clip"))
    assert (await changed("its clip removed"))["clip_url"] is None
    async with _runtime(client).sessions() as session, session.begin():
        await session.execute(
            update(RenderJob)
            .where(RenderJob.id == job)
            .values(status="composing", composition_progress=0.5)
        )
    await changed("composition half way")
    assert (await client.get(path, headers=auth)).json()["progress"] == 0.95


async def test_a_job_304_reads_no_segment_render_and_costs_the_same_at_1_and_50(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revalidation reads one aggregate row and neither builds the view nor asks the status
    cache for it."""
    auth = await register(client)
    small, large = await _project(client, auth, 1), await _project(client, auth, 50)
    status = _runtime(client).status
    snapshots: list[str] = []
    get_snapshot = status.get_snapshot

    async def spied(job_id: str) -> Any:
        snapshots.append(job_id)
        return await get_snapshot(job_id)

    monkeypatch.setattr(status, "get_snapshot", spied)
    costs = []
    for project in (small, large):
        path = f"/api/render-jobs/{await _render(client, auth, project)}"
        full = await client.get(path, headers=auth)
        assert snapshots, "the full answer goes through the status cache"
        snapshots.clear()
        with counting(client) as statements:
            r = await client.get(path, headers={**auth, "If-None-Match": full.headers["ETag"]})
        assert r.status_code == 304, r.text
        assert snapshots == []
        costs.append(statements)
    assert len(costs[0]) == len(costs[1]), costs
    jobs = [s for s in costs[1] if "render_job" in s or "segment_render" in s]
    assert len(jobs) == 1, jobs
    assert "segment_render.spec" not in jobs[0]


async def test_sqlite_read_proceeds_while_a_write_is_open(client: httpx.AsyncClient) -> None:
    runtime = _runtime(client)
    if not runtime.settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL readers never take a lock")
    auth = await register(client)
    project = await _project(client, auth, 2)
    async with runtime.sessions() as writer, writer.begin():
        # The write transaction holds SQLite's write lock until the block ends.
        await writer.execute(update(Project).where(Project.id == project).values(name="pending"))
        view = await asyncio.wait_for(client.get(f"/api/projects/{project}", headers=auth), 10)
        listed = await asyncio.wait_for(client.get("/api/projects", headers=auth), 10)
    assert view.status_code == 200 and view.json()["name"] == "p"
    assert listed.status_code == 200
    after = await client.get(f"/api/projects/{project}", headers=auth)
    assert after.json()["name"] == "pending"


async def test_project_etag_follows_every_segment_state_change(
    client: httpx.AsyncClient,
) -> None:
    """The validator is computed from aggregates, not from the rows the view shows: each way a
    segment's state, progress or links can change must still change it."""
    auth = await register(client)
    project = await _project(client, auth, 2)
    path = f"/api/projects/{project}"
    seen = [await _etag(client, auth, path)]

    async def changed(what: str) -> None:
        etag = await _etag(client, auth, path)
        assert etag not in seen, f"same ETag after {what}"
        seen.append(etag)

    async def rows(**values: Any) -> None:
        async with _runtime(client).sessions() as session, session.begin():
            await session.execute(
                update(SegmentRender).where(SegmentRender.job_id == job).values(**values)
            )

    r = await client.post(f"{path}/render", headers=auth)
    assert r.status_code in (200, 201, 202), r.text
    job = r.json()["id"]
    await changed("a render started (segments generating)")
    await rows(status="running", progress=0.25)
    await changed("progress moved")
    await rows(progress=0.5)
    await changed("progress moved again")
    await rows(status="failed", error="provider said no")
    await changed("the rows failed")
    await rows(error="provider said no, twice")
    await changed("the failure's reason changed")
    r = await client.post(f"/api/render-jobs/{job}/cancel", headers=auth)
    assert r.status_code == 200, r.text
    await changed("the job was cancelled")
    await _make_half_ready(client, auth, project)
    await changed("a clip and poster appeared")
    owner_id = await _owner(client, project)
    async with _runtime(client).sessions() as session, session.begin():
        await session.execute(delete(Asset).where(Asset.storage_key.like(f"%{owner_id}%poster%")))
        await session.execute(
            delete(Asset).where(Asset.kind == "image", Asset.owner_id == owner_id)
        )
    await changed("a poster went")
    view = (await client.get(path, headers=auth)).json()
    assert [s["state"] for s in view["segments"]] == ["failed", "ready"]
    assert view["segments"][1]["poster_url"] is None


async def test_a_304_reads_no_segment_and_costs_the_same_at_1_and_50(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    small, large = await _project(client, auth, 1), await _project(client, auth, 50)
    costs = []
    for project in (small, large):
        path = f"/api/projects/{project}"
        full = await client.get(path, headers=auth)
        with counting(client) as statements:
            r = await client.get(path, headers={**auth, "If-None-Match": full.headers["ETag"]})
        assert r.status_code == 304, r.text
        costs.append(statements)
    assert len(costs[0]) == len(costs[1]), costs
    full_cost = await _statements(client, auth, f"/api/projects/{large}")
    assert len(costs[1]) < len(full_cost), (costs[1], full_cost)
    # Every statement of the 304 aggregates: none hands back segment rows.
    assert not any("segment.prompt" in s for s in costs[1]), costs[1]


async def test_project_view_is_what_the_validated_model_gives(client: httpx.AsyncClient) -> None:
    """The view is serialised from plain column values, unvalidated: it must be exactly the
    validated ProjectDetail, which a 412 conflict embeds, for every kind of value."""
    auth = await register(client)
    project = await _project(client, auth, 3)
    segments = (await client.get(f"/api/projects/{project}", headers=auth)).json()["segments"]
    edit = {
        "params": {"style": "orbs", "speed": 2},
        "caption": 'quotes " and \\ and \u2028, é ✓',
        "transition": {"kind": "crossfade", "duration": 0.75},
        "trim_start": 0.25,
        "negative_prompt": "fog",
    }
    r = await client.put(f"/api/segments/{segments[1]['id']}", json=edit, headers=auth)
    assert r.status_code == 200, r.text
    await _make_half_ready(client, auth, project)
    await client.put(
        f"/api/projects/{project}",
        json={"default_transition": {"kind": "fade_black", "duration": 1}},
        headers=auth,
    )
    view = await client.get(f"/api/projects/{project}", headers=auth)
    stale = await client.put(
        f"/api/projects/{project}", json={"name": "x"}, headers={**auth, "If-Match": '"1"'}
    )
    assert stale.status_code == 412, stale.text
    assert _typed(view.json()) == _typed(stale.json()["current"])
    assert view.json()["segments"][1]["params"] == edit["params"]


def _typed(value: Any) -> Any:
    """The document with each scalar's JSON type beside it: 1 and 1.0 compare unequal."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)
