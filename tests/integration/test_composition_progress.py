"""Progress while composing (issue 13): the figure each composing tick carries on the status bus
(what the WebSocket forwards) is the one GET /api/render-jobs/{id} gives at that moment, it only
goes up, and the view's ETag moves with it. Real app and workers, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app import app_with_workers, register
from videofoundry.runtime import Runtime
from videofoundry.services.job_views import GENERATION_SHARE
from videofoundry.workers.composition_worker import worker as composition_worker

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 160, "height": 96, "fps": 8}


@pytest.fixture(params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    # Every report of the composer is saved, so a short composition gives many figures.
    monkeypatch.setattr(composition_worker, "PROGRESS_SAVE_SECONDS", 0.0)
    async with app_with_workers(request.param, tmp_path) as c:
        yield c


async def test_the_job_view_follows_the_composition_and_its_etag_moves(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    auth = await register(client)
    crossfade = {"kind": "crossfade", "duration": 0.5}
    r = await client.post(
        "/api/projects", json={"name": "p", **SMALL, "default_transition": crossfade}, headers=auth
    )
    pid = r.json()["id"]
    for n in range(3):
        body = {"prompt": f"shot {n}", "duration": 1, "seed": n}
        r = await client.post(f"/api/projects/{pid}/segments", json=body, headers=auth)
        assert r.status_code == 201, r.text

    # Per composing tick: its figure, then the view read at that moment (status code, body,
    # ETag) and the status of a revalidation with that ETag. Checked afterwards: the status bus
    # logs and swallows what its publisher raises.
    seen: list[tuple[float, int, dict[str, Any], str, int]] = []
    publish = runtime.status.publish

    async def publish_and_look(job_id: str, event: dict[str, Any]) -> None:
        await publish(job_id, event)
        if not (event.get("tick") and event.get("status") == "composing"):
            return
        # The composer waits for this report: nothing moves while the view is read.
        etag = seen[-1][3] if seen else '"none"'
        url = f"/api/render-jobs/{job_id}"
        r = await client.get(url, headers={**auth, "If-None-Match": etag})
        view = r.json() if r.status_code == 200 else {}
        again = await client.get(url, headers={**auth, "If-None-Match": r.headers["etag"]})
        seen.append(
            (event["job_progress"], r.status_code, view, r.headers["etag"], again.status_code)
        )

    monkeypatch.setattr(runtime.status, "publish", publish_and_look)
    r = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    view = await _finished(client, auth, job_id)
    assert view["status"] == "completed" and view["progress"] == 1.0

    assert len(seen) >= 3, seen
    for figure, status, at_tick, _, revalidated in seen:
        assert status == 200, f"the ETag did not move with the progress to {figure}"
        assert at_tick["status"] == "composing"
        assert at_tick["progress"] == figure
        assert revalidated == 304
    figures = [figure for figure, *_ in seen]
    assert figures == sorted(set(figures)), f"not rising: {figures}"
    assert GENERATION_SHARE < figures[0] and figures[-1] < 1.0


async def _finished(client: httpx.AsyncClient, auth: dict[str, str], job_id: str) -> dict[str, Any]:
    for _ in range(600):
        view: dict[str, Any] = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        if view["status"] in ("completed", "failed", "cancelled"):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {view}")
