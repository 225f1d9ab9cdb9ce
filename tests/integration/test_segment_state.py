"""What the UI relies on to never mislead (issue 13): each segment's state from the database,
the render estimate, If-Match/412 on segment edits, job snapshots of what a render used, and
duration-weighted, monotonic job progress. Real app, real workers, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app import (
    app_with_workers,
    register,
)
from tests.support.gated import GATE
from videofoundry.services import job_views

pytestmark = pytest.mark.timeout(180)
SMALL = {"width": 160, "height": 96, "fps": 8}
ADAPTERS = "tests.support.gated:GatedProcedural,tests.support.priced:PricedProcedural"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir: Path = tmp_path_factory.mktemp(f"state-{request.param}")
    extra = {"EXTRA_ADAPTERS": ADAPTERS}
    async with app_with_workers(request.param, data_dir, **extra) as c:
        yield c


async def _project(
    client: httpx.AsyncClient, auth: dict[str, str], segments: list[dict[str, Any]]
) -> tuple[str, list[str]]:
    r = await client.post("/api/projects", json={"name": "p", **SMALL}, headers=auth)
    project_id: str = r.json()["id"]
    ids = []
    for body in segments:
        r = await client.post(f"/api/projects/{project_id}/segments", json=body, headers=auth)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return project_id, ids


async def _detail(client: httpx.AsyncClient, pid: str, auth: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"/api/projects/{pid}", headers=auth)
    assert r.status_code == 200, r.text
    detail: dict[str, Any] = r.json()
    return detail


async def _finished(client: httpx.AsyncClient, job_id: str, auth: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


async def _render(client: httpx.AsyncClient, pid: str, auth: dict[str, str]) -> dict[str, Any]:
    r = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert r.status_code == 202, r.text
    return await _finished(client, r.json()["id"], auth)


def _states(detail: dict[str, Any]) -> list[str]:
    return [s["state"] for s in detail["segments"]]


async def test_states_follow_edits_renders_and_failures(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    pid, (first, second) = await _project(
        client,
        auth,
        [
            {"prompt": "dawn", "duration": 1, "seed": 1, "model": "priced"},
            {"prompt": "dusk", "duration": 2, "seed": 2, "model": "priced"},
        ],
    )
    detail = await _detail(client, pid, auth)
    assert _states(detail) == ["needs_render", "needs_render"]
    assert detail["needs_render_count"] == 2
    assert detail["render_estimate"] == pytest.approx(0.3)  # $0.10 per second, 3 seconds

    assert (await _render(client, pid, auth))["status"] == "completed"
    detail = await _detail(client, pid, auth)
    assert _states(detail) == ["ready", "ready"]
    assert detail["needs_render_count"] == 0 and detail["render_estimate"] == 0
    assert all(s["clip_url"] for s in detail["segments"])

    r = await client.put(f"/api/segments/{first}", json={"prompt": "noon"}, headers=auth)
    assert r.status_code == 200 and r.json()["state"] == "needs_render"
    assert r.json()["clip_url"] is None
    detail = await _detail(client, pid, auth)
    assert _states(detail) == ["needs_render", "ready"]
    assert detail["needs_render_count"] == 1
    assert detail["render_estimate"] == pytest.approx(0.1)

    # Back to the rendered prompt: its clip exists, so it is ready again without a render.
    await client.put(f"/api/segments/{first}", json={"prompt": "dawn"}, headers=auth)
    assert _states(await _detail(client, pid, auth)) == ["ready", "ready"]

    await client.put(
        f"/api/segments/{second}",
        json={"prompt": "[reject] dusk", "model": "procedural"},
        headers=auth,
    )
    assert (await _render(client, pid, auth))["status"] == "failed"
    detail = await _detail(client, pid, auth)
    assert _states(detail) == ["ready", "failed"]
    assert "rejected" in detail["segments"][1]["state_error"]
    assert detail["needs_render_count"] == 1


async def test_stale_if_match_answers_412_with_the_current_segment(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    _, (sid,) = await _project(client, auth, [{"prompt": "a", "duration": 1}])
    r = await client.get(f"/api/segments/{sid}", headers=auth)
    version = r.json()["version"]
    assert r.headers["etag"] == f'"{version}"'

    # Tab A saves on top of the version it read.
    r = await client.put(
        f"/api/segments/{sid}",
        json={"prompt": "from A"},
        headers={**auth, "If-Match": f'"{version}"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == version + 1 and r.headers["etag"] == f'"{version + 1}"'

    # Tab B still holds the old version: refused, and told what is there now.
    r = await client.put(
        f"/api/segments/{sid}",
        json={"prompt": "from B"},
        headers={**auth, "If-Match": f'"{version}"'},
    )
    assert r.status_code == 412, r.text
    body = r.json()
    assert body["current"]["prompt"] == "from A" and body["current"]["version"] == version + 1
    assert "version" in body["detail"]
    assert (await client.get(f"/api/segments/{sid}", headers=auth)).json()["prompt"] == "from A"

    # Weak tags and no header at all are accepted; a malformed one names the header.
    r = await client.put(
        f"/api/segments/{sid}",
        json={"prompt": "B again"},
        headers={**auth, "If-Match": f'W/"{version + 1}"'},
    )
    assert r.status_code == 200 and r.json()["version"] == version + 2
    r = await client.put(f"/api/segments/{sid}", json={"prompt": "script"}, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == version + 3
    r = await client.put(
        f"/api/segments/{sid}", json={"prompt": "x"}, headers={**auth, "If-Match": "yesterday"}
    )
    assert r.status_code == 422 and "If-Match" in r.text


async def test_concurrent_edits_on_one_version_let_exactly_one_through(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    _, (sid,) = await _project(client, auth, [{"prompt": "a", "duration": 1}])
    headers = {**auth, "If-Match": '"1"'}
    answers = await asyncio.gather(
        *(
            client.put(f"/api/segments/{sid}", json={"prompt": f"tab {i}"}, headers=headers)
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 412, 412, 412]


async def _job(client: httpx.AsyncClient, job_id: str, auth: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"/api/render-jobs/{job_id}", headers=auth)
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()
    return job


async def test_progress_is_weighted_by_duration_monotonic_and_moves_while_generating(
    client: httpx.AsyncClient,
) -> None:
    GATE.reset()
    auth = await register(client)
    pid, _ = await _project(
        client,
        auth,
        [
            {"prompt": "quick", "duration": 1, "seed": 5},
            {"prompt": "[gate] slow", "duration": 3, "seed": 6},
        ],
    )
    r = await client.post(f"/api/projects/{pid}/render", headers=auth)
    job_id = r.json()["id"]
    seen: list[float] = []
    try:
        await _halfway(client, pid, job_id, auth, seen)
    finally:
        GATE.opened.set()  # never leave a worker waiting: the app could not shut down
    job = await _job(client, job_id, auth)
    while job["status"] not in ("completed", "failed", "cancelled"):
        await asyncio.sleep(0.05)
        job = await _job(client, job_id, auth)
        seen.append(job["progress"])
    assert job["status"] == "completed" and seen[-1] == 1.0
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert job["eta_seconds"] is None


async def _halfway(
    client: httpx.AsyncClient, pid: str, job_id: str, auth: dict[str, str], seen: list[float]
) -> None:
    await asyncio.wait_for(GATE.reached.wait(), 60)
    # The 1 s shot finishes, the 3 s shot is held at half way: 0.9 * (1/4 + 3/4 * 1/2).
    expected = 0.9 * (0.25 + 0.75 * 0.5)
    for _ in range(600):
        job = await _job(client, job_id, auth)
        seen.append(job["progress"])
        # The quick shot reports progress 1.0 before its completion commits: wait for both.
        if job["progress"] == pytest.approx(expected) and job["segments"][0]["status"] == (
            "completed"
        ):
            break
        await asyncio.sleep(0.1)
    assert job["progress"] == pytest.approx(expected), job
    assert [s["weight"] for s in job["segments"]] == [0.25, 0.75]
    # The figure every event carries is read from a few columns, not the view: the same number.
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        assert await job_views.current_progress(session, job_id) == job["progress"]
    assert job["status"] == "generating" and seen[-1] > 0
    detail = await _detail(client, pid, auth)
    assert _states(detail) == ["ready", "generating"]
    assert detail["segments"][1]["state_progress"] == 0.5
    assert detail["needs_render_count"] == 0


async def test_a_job_shows_what_it_rendered_whatever_was_edited_since(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    pid, (sid,) = await _project(
        client, auth, [{"prompt": "old lighthouse", "duration": 1, "seed": 7, "params": {}}]
    )
    first = await _render(client, pid, auth)
    await client.put(
        f"/api/segments/{sid}", json={"prompt": "new lighthouse", "seed": 8}, headers=auth
    )
    second = await _render(client, pid, auth)

    old = (await _job(client, first["id"], auth))["segments"][0]
    new = (await _job(client, second["id"], auth))["segments"][0]
    assert (old["prompt"], old["seed"], old["duration"]) == ("old lighthouse", 7, 1.0)
    assert old["model"] == "procedural" and old["params"] == {}
    assert (new["prompt"], new["seed"]) == ("new lighthouse", 8)
    assert old["clip_url"] and new["clip_url"] and old["clip_url"] != new["clip_url"]
    clip = await client.get(old["clip_url"])
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
    history = await client.get(f"/api/projects/{pid}/render-jobs", headers=auth)
    prompts = [j["segments"][0]["prompt"] for j in history.json()["items"]]
    assert sorted(prompts) == ["new lighthouse", "old lighthouse"]


async def test_stale_if_match_on_a_project_answers_412_with_the_current_project(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    pid, _ = await _project(client, auth, [{"prompt": "a", "duration": 1}])
    version = (await _detail(client, pid, auth))["version"]
    r = await client.put(
        f"/api/projects/{pid}",
        json={"name": "from A"},
        headers={**auth, "If-Match": f'"{version}"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == version + 1
    r = await client.put(
        f"/api/projects/{pid}",
        json={"name": "from B"},
        headers={**auth, "If-Match": f'"{version}"'},
    )
    assert r.status_code == 412, r.text
    assert r.json()["current"]["name"] == "from A"
    assert r.json()["current"]["segments"][0]["prompt"] == "a"
    assert (await _detail(client, pid, auth))["name"] == "from A"
    r = await client.put(f"/api/projects/{pid}", json={"name": "no header"}, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == version + 2
