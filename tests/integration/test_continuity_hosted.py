"""A hosted image-to-video model continuing a shot: Runway gen4_turbo (image only) against the
Runway fake on loopback, in-process with the AI and composition workers.

The continued shot's create goes out only once the clip before it exists, and carries that
clip's last frame as its image; editing the first shot pays for the continued one again, and
an image-only model with neither an image nor a shot to continue is refused before any call.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.moto import MOTO_CREDENTIALS, moto_server
from tests.support.app import api_client, make_settings, register
from videofoundry.models import SegmentRender
from videofoundry.runtime import Runtime
from videofoundry.services.continuity import last_frame_png
from videofoundry.storage import keys
from videofoundry.storage.local import LocalStorage
from videofoundry.storage.s3 import S3Storage
from videofoundry.testing.fakes import FakeServer, run_fake
from videofoundry.workers.ai_worker.generate import _frame_url
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(180)
FORMAT = {"width": 160, "height": 96, "fps": 8}
TURBO = {"model": "runway/gen4_turbo", "duration": 2}


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


@pytest.fixture(scope="module")
def runway() -> Iterator[FakeServer]:
    with run_fake("runway", pending_seconds=0.02, running_seconds=0.1, video_scale=0.125) as fake:
        yield fake


@pytest.fixture(scope="module")
async def client(
    tmp_path_factory: pytest.TempPathFactory, runway: FakeServer
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("continuity-hosted"),
        # Same protocol code as RunwayAdapter, polling the fake every 0.1 s instead of 6 s.
        EXTRA_ADAPTERS="tests.support.fast_hosted:FastRunway",
        RUNWAY_API_KEY=runway.key,
        RUNWAY_BASE_URL=runway.base_url,
    )
    async with api_client(settings, companions=(_workers,)) as c:
        yield c


async def render(client: httpx.AsyncClient, project_id: str, auth: dict[str, str]) -> Any:
    """Start a render and wait for its last event on the status bus (no polling)."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    r = await client.post(f"/api/projects/{project_id}/render", headers=auth)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    async with runtime.status.subscribe(job_id) as events:
        job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        if job["status"] not in ("completed", "failed", "cancelled"):
            async with asyncio.timeout(120):
                async for event in events:
                    if event.get("type") == "job" and event.get("status") in (
                        "completed",
                        "failed",
                        "cancelled",
                    ):
                        break
    job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
    assert job["status"] == "completed", job
    return job


def data_uri_summary(png: bytes) -> str:
    """How the fake's ledger records a PNG data URI (its length, not its bytes)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f"data:image/png;base64,<{len(uri)} chars>"


async def test_runway_continues_from_the_last_frame_of_the_shot_before(
    client: httpx.AsyncClient, runway: FakeServer
) -> None:
    auth = await register(client)
    r = await client.post("/api/projects", json={"name": "hosted", **FORMAT}, headers=auth)
    project_id = r.json()["id"]
    url = f"/api/projects/{project_id}/segments"
    r = await client.post(url, json={"prompt": "a harbour", "duration": 1, "seed": 1}, headers=auth)
    first_id = r.json()["id"]

    # gen4_turbo takes an image: without one, and not continuing, it is refused before any call.
    r = await client.post(url, json={"prompt": "boats", **TURBO}, headers=auth)
    assert r.status_code == 422 and "init_image_asset_id" in r.text
    r = await client.post(
        url, json={"prompt": "boats", "continue_from_previous": True, **TURBO}, headers=auth
    )
    assert r.status_code == 201, r.text
    second_id = r.json()["id"]

    plan = await client.post(f"/api/projects/{project_id}/render?dry_run=true", headers=auth)
    second = plan.json()["segments"][1]
    assert (second["continues_from"], second["waits_for"]) == (first_id, first_id)

    job = await render(client, project_id, auth)
    [create] = runway.ledger
    assert create["endpoint"] == "/v1/image_to_video"
    assert create["model"] == "gen4_turbo"
    first_clip = (await client.get(job["segments"][0]["clip_url"])).content
    # The image sent is exactly the last frame of the first clip.
    assert create["body"]["promptImage"] == data_uri_summary(last_frame_png(first_clip))
    async with client.app.state.runtime.sessions() as session:  # type: ignore[attr-defined]
        rows = {
            r.segment_id: r
            for r in await session.scalars(
                select(SegmentRender).where(SegmentRender.job_id == job["id"])
            )
        }
    first_done = rows[first_id].finished_at
    assert first_done is not None and rows[second_id].started_at is not None
    assert rows[second_id].started_at >= first_done

    # Editing the first shot pays for the continued one again; rendering unchanged pays nobody.
    await render(client, project_id, auth)
    assert len(runway.ledger) == 1
    r = await client.put(f"/api/segments/{first_id}", json={"seed": 2}, headers=auth)
    assert r.status_code == 200, r.text
    job = await render(client, project_id, auth)
    assert [s["reused"] for s in job["segments"]] == [False, False]
    assert len(runway.ledger) == 2
    first_clip = (await client.get(job["segments"][0]["clip_url"])).content
    assert runway.ledger[1]["body"]["promptImage"] == data_uri_summary(last_frame_png(first_clip))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


async def test_the_last_frame_gets_a_url_where_storage_has_them(
    tmp_path: Path, s3_endpoint: str
) -> None:
    """Hosted models that fetch images themselves (Luma) get the previous shot's last frame as a
    presigned URL with S3; with local files there is none, and the image goes inline."""
    frame = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    spec = {"continues_from": "a" * 64}
    local = LocalStorage(tmp_path / "media")
    assert await _frame_url(SimpleNamespace(storage=local), "owner1", spec, frame) is None  # type: ignore[arg-type]
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.png"))

    s3 = S3Storage(
        bucket=f"vftest-{uuid.uuid4().hex[:16]}",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        access_key=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    await s3.ensure_bucket()
    url = await _frame_url(SimpleNamespace(storage=s3), "owner1", spec, frame)  # type: ignore[arg-type]
    assert url is not None
    assert keys.clip_last_frame("owner1", "a" * 64) in url
    async with httpx.AsyncClient() as fetch:
        assert (await fetch.get(url)).content == frame
