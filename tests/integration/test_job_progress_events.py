"""The job's progress travels with every event (issue 13): each event published on the status
bus carries `job_progress`, the figure the job view gives, and it never goes down, not even when
a segment fails half way and its retry starts over. Real app and workers, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app import api_client, make_settings, postgres_database, register
from tests.support.flaky_progress import FIRST_TRY, RETRY_SAVED, STEPS
from videofoundry.runtime import Runtime
from videofoundry.services.job_views import GENERATION_SHARE
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 160, "height": 96, "fps": 8}
SETTINGS = {
    "EXTRA_ADAPTERS": "tests.support.flaky_progress:FlakyProcedural",
    "RETRY_BASE_SECONDS": 0.0,
}


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir: Path = tmp_path_factory.mktemp(f"progress-{request.param}")
    if request.param == "sqlite":
        async with api_client(make_settings(data_dir, **SETTINGS), companions=(_workers,)) as c:
            yield c
    else:
        async with (
            postgres_database() as url,
            api_client(
                make_settings(data_dir, DATABASE_URL=url, **SETTINGS), companions=(_workers,)
            ) as c,
        ):
            yield c


async def test_events_carry_the_job_views_progress_and_a_retry_never_lowers_it(
    client: httpx.AsyncClient,
) -> None:
    STEPS.reset()
    auth = await register(client)
    r = await client.post("/api/projects", json={"name": "p", **SMALL}, headers=auth)
    pid = r.json()["id"]
    body = {"prompt": "[flaky] dusk", "duration": 1, "seed": 1, "model": "procedural"}
    r = await client.post(f"/api/projects/{pid}/segments", json=body, headers=auth)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    events: list[dict[str, Any]] = []
    retry_seen = asyncio.Event()

    async def collect(bus: AsyncIterator[dict[str, Any]]) -> None:
        async for event in bus:
            events.append(event)
            if event.get("progress") == RETRY_SAVED:
                retry_seen.set()
            if event.get("type") == "job" and event.get("status") in ("completed", "failed"):
                return

    async with runtime.status.subscribe(job_id) as bus:
        collector = asyncio.ensure_future(collect(bus))
        try:
            STEPS.start.set()
            await asyncio.wait_for(STEPS.retried.wait(), 30)
            await asyncio.wait_for(retry_seen.wait(), 30)
            await _at_the_retry(client, job_id, auth, events)
        except BaseException:
            collector.cancel()
            raise
        finally:
            # The worker waits for this; a failed check must not leave it (and teardown) hanging.
            STEPS.start.set()
            STEPS.finish.set()
        await asyncio.wait_for(collector, 60)

    assert STEPS.calls == 2
    assert all(isinstance(e.get("job_progress"), float) for e in events), events
    figures: list[float] = [e["job_progress"] for e in events]
    assert figures == sorted(figures), f"job progress went down: {figures}"
    assert events[-1]["status"] == "completed" and figures[-1] == 1.0
    assert events[-1]["progress"] == 1.0


async def _at_the_retry(
    client: httpx.AsyncClient, job_id: str, auth: dict[str, str], events: list[dict[str, Any]]
) -> None:
    # The retry started over at 0.1 and saved 0.2: the job still counts the first try's 0.6.
    expected = round(FIRST_TRY * GENERATION_SHARE, 4)
    view = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
    assert view["progress"] == pytest.approx(expected), view
    assert events[-1]["job_progress"] == pytest.approx(view["progress"]), events[-1]
    restarted = [e for e in events if e.get("progress") == 0.1]
    assert restarted and restarted[0]["job_progress"] == pytest.approx(expected)
