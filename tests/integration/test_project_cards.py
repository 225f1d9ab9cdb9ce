"""The project list's posters, on SQLite and PostgreSQL: none before a render; the first
segment with a clip gives its poster; with no current clip the latest final video's poster."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.test_render import client, finished, project_with
from tests.support.app import register

__all__ = ["client"]  # the render module's fixture: API and both workers in one app

pytestmark = pytest.mark.timeout(180)


async def cards(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    answer = await client.get("/api/projects", headers=auth)
    assert answer.status_code == 200, answer.text
    return {card["id"]: card for card in answer.json()["items"]}


async def test_cards_show_a_poster_once_rendered(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    segments = [{"prompt": f"shot {i}", "duration": 1, "seed": 70 + i} for i in range(2)]
    pid = await project_with(client, auth, segments)
    empty = await project_with(client, auth, [])
    before = await cards(client, auth)
    assert before[pid]["poster_url"] is None
    assert before[empty]["poster_url"] is None

    started = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert started.status_code == 202, started.text
    job = await finished(client, started.json()["id"], auth)
    assert job["status"] == "completed", job
    view = (await client.get(f"/api/projects/{pid}", headers=auth)).json()
    first, second = view["segments"]
    after = await cards(client, auth)
    assert after[pid]["poster_url"] == first["poster_url"] is not None
    assert after[empty]["poster_url"] is None
    image = await client.get(after[pid]["poster_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"

    # The first shot changed (no clip of its new spec): the next one with a clip gives it.
    edited = await client.put(f"/api/segments/{first['id']}", json={"seed": 1}, headers=auth)
    assert edited.status_code == 200, edited.text
    assert (await cards(client, auth))[pid]["poster_url"] == second["poster_url"]

    # No shot with a current clip: the latest final video's poster.
    edited = await client.put(f"/api/segments/{second['id']}", json={"seed": 2}, headers=auth)
    assert edited.status_code == 200, edited.text
    assert (await cards(client, auth))[pid]["poster_url"] == job["poster_url"] is not None
    assert job["poster_url"] not in (first["poster_url"], second["poster_url"])
