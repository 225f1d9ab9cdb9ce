"""Takes and variations through the API, on SQLite and PostgreSQL, with a model that charges
$0.10 a second so that what is paid for shows in the budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_render import finished, project_with
from tests.support.app import (
    app_with_workers,
    register,
)

pytestmark = pytest.mark.timeout(180)
PRICED = {"model": "charged", "duration": 1}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """API and both workers in one app, with the charging model."""
    data_dir: Path = tmp_path_factory.mktemp(f"takes-{request.param}")
    extra = {"EXTRA_ADAPTERS": "tests.support.charged:ChargedProcedural"}
    async with app_with_workers(request.param, data_dir, **extra) as c:
        yield c


async def spent(client: httpx.AsyncClient, auth: dict[str, str]) -> float:
    return float((await client.get("/api/me", headers=auth)).json()["spent_usd"])


async def render(client: httpx.AsyncClient, pid: str, auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert answer.status_code == 202, answer.text
    return await finished(client, answer.json()["id"], auth)


async def takes_of(
    client: httpx.AsyncClient, segment_id: str, auth: dict[str, str]
) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/segments/{segment_id}/takes", headers=auth)
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()
    return result


async def one_segment(client: httpx.AsyncClient, auth: dict[str, str], **extra: Any) -> str:
    pid = await project_with(client, auth, [{"prompt": "harbour", "seed": 7, **PRICED, **extra}])
    segment_id: str = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"][
        0
    ]["id"]
    return segment_id


async def test_every_clip_stays_a_take_and_using_one_costs_nothing(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    sid = await one_segment(client, auth)
    pid = (await client.get(f"/api/segments/{sid}", headers=auth)).json()["project_id"]
    assert await takes_of(client, sid, auth) == []
    assert (await render(client, pid, auth))["status"] == "completed"
    first = await takes_of(client, sid, auth)
    assert len(first) == 1 and first[0]["current"] and first[0]["prompt"] == "harbour"
    assert first[0]["cost"] == pytest.approx(0.1) and first[0]["seed"] == 7

    edited = await client.put(f"/api/segments/{sid}", json={"prompt": "storm"}, headers=auth)
    assert edited.is_success
    assert (await render(client, pid, auth))["status"] == "completed"
    takes = await takes_of(client, sid, auth)
    assert [t["prompt"] for t in takes] == ["storm", "harbour"]  # newest first
    assert [t["current"] for t in takes] == [True, False]
    for take in takes:  # each take's clip and poster are links that need no header
        assert (await client.get(take["clip_url"])).content[4:8] == b"ftyp"
        assert (await client.get(take["poster_url"])).status_code == 200
    paid = await spent(client, auth)
    assert paid == pytest.approx(0.2)

    version = (await client.get(f"/api/segments/{sid}", headers=auth)).json()["version"]
    used = await client.post(f"/api/segments/{sid}/takes/{takes[1]['id']}/use", headers=auth)
    assert used.status_code == 200, used.text
    segment = used.json()
    assert segment["prompt"] == "harbour" and segment["state"] == "ready"
    assert segment["spec_hash"] == takes[1]["spec_hash"] and segment["version"] == version + 1
    plan = (await client.post(f"/api/projects/{pid}/render?dry_run=true", headers=auth)).json()
    assert plan["segments"][0]["action"] == "reuse" and plan["total_estimated_cost"] == 0
    again = await render(client, pid, auth)
    assert again["status"] == "completed" and again["segments"][0]["reused"]
    assert await spent(client, auth) == pytest.approx(paid)
    assert [t["current"] for t in await takes_of(client, sid, auth)] == [False, True]


async def test_variations_make_new_takes_without_changing_the_segment(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    sid = await one_segment(client, auth)
    before = (await client.get(f"/api/segments/{sid}", headers=auth)).json()
    answer = await client.post(f"/api/segments/{sid}/variations", json={"count": 2}, headers=auth)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["status"] in ("generating", "composing", "completed")
    assert len(job["segments"]) == 2 and job["estimated_cost"] == pytest.approx(0.2)
    assert {s["segment_id"] for s in job["segments"]} == {sid}
    job = await finished(client, job["id"], auth)
    assert job["status"] == "completed" and job["video_url"] is None
    assert job["kind"] == "variations"
    assert job["actual_cost"] == pytest.approx(0.2)
    assert await spent(client, auth) == pytest.approx(0.2)
    history = await client.get(f"/api/projects/{before['project_id']}/render-jobs", headers=auth)
    assert [j["id"] for j in history.json()["items"]] == [job["id"]]

    after = (await client.get(f"/api/segments/{sid}", headers=auth)).json()
    assert {k: after[k] for k in ("seed", "version", "spec_hash", "state")} == {
        k: before[k] for k in ("seed", "version", "spec_hash", "state")
    }
    takes = await takes_of(client, sid, auth)
    assert len(takes) == 2 and not any(t["current"] for t in takes)
    assert len({t["seed"] for t in takes} | {before["seed"]}) == 3
    assert all(t["prompt"] == "harbour" and t["job_id"] == job["id"] for t in takes)

    used = await client.post(f"/api/segments/{sid}/takes/{takes[0]['id']}/use", headers=auth)
    assert used.json()["seed"] == takes[0]["seed"] and used.json()["state"] == "ready"
    rendered = await render(client, before["project_id"], auth)
    assert rendered["status"] == "completed" and rendered["segments"][0]["reused"]
    assert await spent(client, auth) == pytest.approx(0.2)  # the take was already paid for


@pytest.mark.parametrize("count", [0, 5, "two"])
async def test_variation_count_is_1_to_4(client: httpx.AsyncClient, count: object) -> None:
    auth = await register(client)
    sid = await one_segment(client, auth)
    answer = await client.post(
        f"/api/segments/{sid}/variations", json={"count": count}, headers=auth
    )
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "count"


async def test_variations_are_counted_against_the_budget(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    sid = await one_segment(client, auth, duration=2)
    assert (await client.patch("/api/me", json={"budget_usd": 0.5}, headers=auth)).is_success
    over = await client.post(f"/api/segments/{sid}/variations", json={"count": 3}, headers=auth)
    assert over.status_code == 402 and "budget" in over.json()["detail"]
    assert await spent(client, auth) == 0
    fits = await client.post(f"/api/segments/{sid}/variations", json={"count": 2}, headers=auth)
    assert fits.status_code == 202
    await finished(client, fits.json()["id"], auth)
    assert await spent(client, auth) == pytest.approx(0.4)


async def test_another_users_segment_and_takes_answer_404(client: httpx.AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    sid = await one_segment(client, owner, model="procedural")
    pid = (await client.get(f"/api/segments/{sid}", headers=owner)).json()["project_id"]
    await render(client, pid, owner)
    take_id = (await takes_of(client, sid, owner))[0]["id"]
    assert (await client.get(f"/api/segments/{sid}/takes", headers=other)).status_code == 404
    use = f"/api/segments/{sid}/takes/{take_id}/use"
    assert (await client.post(use, headers=other)).status_code == 404
    variations = f"/api/segments/{sid}/variations"
    assert (await client.post(variations, json={"count": 1}, headers=other)).status_code == 404
    # The other user's own segment with the owner's take id: still not theirs.
    their_sid = await one_segment(client, other, model="procedural")
    stolen = await client.post(f"/api/segments/{their_sid}/takes/{take_id}/use", headers=other)
    assert stolen.status_code == 404
    assert (await client.post(f"{use[:-4]}nope/use", headers=owner)).status_code == 404
