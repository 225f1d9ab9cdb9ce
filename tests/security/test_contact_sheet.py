"""The contact sheet: cached by ETag, and a damaged or missing clip is a 409, not a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app import api_client, make_settings, register
from videofoundry.runtime import Runtime
from videofoundry.storage import keys
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(180)


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


async def rendered(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    body = {"name": "p", "width": 160, "height": 96, "fps": 8}
    pid = (await client.post("/api/projects", json=body, headers=auth)).json()["id"]
    for seed in (1, 2):
        segment = {"prompt": f"shot {seed}", "duration": 1, "seed": seed}
        await client.post(f"/api/projects/{pid}/segments", json=segment, headers=auth)
    job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
    for _ in range(600):
        job = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "completed", job
    detail: dict[str, Any] = (await client.get(f"/api/projects/{pid}", headers=auth)).json()
    return detail


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "garbage", "deleted"])
async def test_contact_sheet_etag_and_damaged_clips(tmp_path: Path, damage: str) -> None:
    async with api_client(make_settings(tmp_path), companions=(_workers,)) as client:
        auth = await register(client)
        project = await rendered(client, auth)
        url = f"/api/projects/{project['id']}/contact-sheet"
        sheet = await client.get(url, headers=auth)
        assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/jpeg"
        etag = sheet.headers["etag"]
        again = await client.get(url, headers={**auth, "If-None-Match": etag})
        assert again.status_code == 304 and not again.content
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        me = (await client.get("/api/me", headers=auth)).json()
        clip = runtime.storage.path_for(keys.clip(me["id"], project["segments"][1]["spec_hash"]))
        assert clip is not None
        size = clip.stat().st_size
        if damage == "truncated":
            clip.write_bytes(clip.read_bytes()[: size // 3])
        elif damage == "zeroed":
            clip.write_bytes(b"\0" * size)
        elif damage == "garbage":
            clip.write_bytes(b"<html>not a video</html>" * 50)
        else:
            clip.unlink()
        broken = await client.get(url, headers=auth)
        assert broken.status_code == 409, broken.text
        assert "render the project again" in broken.json()["detail"]
