"""The composition worker reads a job's clips several at once: the error is still the first
damaged clip in timeline order, and every clip read is checked, so each damaged one is marked
for the next render (read one by one, reading stopped at the first)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.test_media_integrity import (
    _runtime,
    asset_at,
    damage,
    plan,
    render,
    stack,  # noqa: F401 - the fixture, on SQLite, PostgreSQL and S3
)
from tests.integration.test_render import project_with
from tests.support.app import register
from videofoundry.storage import keys
from videofoundry.workers.composition_worker import worker

pytestmark = pytest.mark.timeout(300)


async def test_two_damaged_clips_fail_naming_the_first_and_both_are_marked(
    stack: tuple[httpx.AsyncClient, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    client, _ledger = stack
    auth = await register(client)
    me = (await client.get("/api/me", headers=auth)).json()["id"]
    count = worker.READS_AT_ONCE + 2  # more clips than reads at once
    shots = [{"prompt": f"read clip {i}", "duration": 1, "seed": i} for i in range(count)]
    pid = await project_with(client, auth, shots)
    first = await render(client, auth, pid)
    assert first["status"] == "completed", first
    segments = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"]
    damaged = [keys.clip(me, segments[i]["spec_hash"]) for i in (1, count - 1)]
    for key in damaged:
        # Same size: only composition's hash sees it, so the render composes and fails.
        await damage(_runtime(client).storage, key, "overwritten", tmp_path)
    r = await client.put(f"/api/segments/{segments[0]['id']}", json={"caption": "x"}, headers=auth)
    assert r.status_code == 200, r.text

    failed = await render(client, auth, pid)
    assert failed["status"] == "failed", failed
    assert "segment 2 " in failed["error"] and "damaged" in failed["error"], failed["error"]
    assert f"segment {count}" not in failed["error"]
    for key in damaged:
        assert (await asset_at(client, key)).damaged is not None, key
    actions = [s["action"] for s in (await plan(client, auth, pid))["segments"]]
    assert actions == ["generate" if i in (1, count - 1) else "reuse" for i in range(count)]
