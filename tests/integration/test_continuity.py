"""Shots that continue (`continue_from_previous`), end to end in-process, on SQLite and
PostgreSQL: API, planning, the AI and composition workers and a tiny random Stable Video
Diffusion pipeline (tests/support/tiny_pipelines.py, built here; nothing is downloaded).

A timeline of four: a procedural shot, two SVD shots continuing it, and an independent
procedural shot. The chain is generated in order, the independent shot alongside; each
continued clip starts on the last frame of the clip before; editing the first shot regenerates
the whole chain and nothing else, editing the last only the last.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from tests.support.app import (
    app_with_workers,
    register,
)
from videofoundry.models import SegmentRender
from videofoundry.runtime import Runtime

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("diffusers", reason="diffusers is not installed (videofoundry[diffusers])")
pytest.importorskip("transformers", reason="transformers is not installed")
tiny = pytest.importorskip("tests.support.tiny_pipelines")

pytestmark = [
    pytest.mark.timeout(300),
    # diffusers' EulerDiscreteScheduler calls np.array() on a torch tensor (numpy 2 warns).
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]
# The project's format is the pipeline's: the continued frame is compared without rescaling.
FORMAT = {"width": 96, "height": 64, "fps": 4}
SVD = {
    "model": "diffusers/svd",
    "duration": 1,
    "params": {"num_inference_steps": 2, "width": 96, "height": 64, "fps": 4},
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local-models")
    tiny.build_tiny_svd(root / "svd")
    return root


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir: Path = tmp_path_factory.mktemp(f"continuity-{request.param}")
    extra = {"DIFFUSERS_MODEL_DIR": str(model_dir)}
    async with app_with_workers(request.param, data_dir, **extra) as c:
        yield c


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def render(client: httpx.AsyncClient, project_id: str, auth: dict[str, str]) -> Any:
    """Start a render and wait for it to end."""
    r = await client.post(f"/api/projects/{project_id}/render", headers=auth)
    assert r.status_code == 202, r.text
    return await finish(client, r.json()["id"], auth)


async def finish(client: httpx.AsyncClient, job_id: str, auth: dict[str, str]) -> Any:
    """Wait for the job's last event on the status bus (no polling); the job as it ended."""
    runtime = runtime_of(client)
    async with runtime.status.subscribe(job_id) as events:
        job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        if job["status"] not in ("completed", "failed", "cancelled"):
            async with asyncio.timeout(240):
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


async def frames_of(client: httpx.AsyncClient, url: str) -> list[np.ndarray[Any, Any]]:
    data = (await client.get(url)).content
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


async def plan(client: httpx.AsyncClient, project_id: str, auth: dict[str, str]) -> Any:
    r = await client.post(f"/api/projects/{project_id}/render?dry_run=true", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


async def timeline(client: httpx.AsyncClient, auth: dict[str, str]) -> tuple[str, list[str]]:
    r = await client.post("/api/projects", json={"name": "chain", **FORMAT}, headers=auth)
    project_id = r.json()["id"]
    bodies = [
        {"prompt": "a red sunrise", "duration": 1, "seed": 1},
        {"prompt": "it moves", "seed": 2, "continue_from_previous": True, **SVD},
        {"prompt": "it moves on", "seed": 3, "continue_from_previous": True, **SVD},
        {"prompt": "somewhere else", "duration": 1, "seed": 4},
    ]
    ids = []
    for body in bodies:
        r = await client.post(f"/api/projects/{project_id}/segments", json=body, headers=auth)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return project_id, ids


async def test_a_chain_continues_in_order_and_regenerates_what_follows_an_edit(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    project_id, ids = await timeline(client, auth)
    segment = (await client.get(f"/api/segments/{ids[1]}", headers=auth)).json()
    assert segment["continue_from_previous"] is True

    first_plan = await plan(client, project_id, auth)
    chain = [(s["continues_from"], s["waits_for"]) for s in first_plan["segments"]]
    assert chain == [(None, None), (ids[0], ids[0]), (ids[1], ids[1]), (None, None)]

    r = await client.post(f"/api/projects/{project_id}/render", headers=auth)
    assert r.status_code == 202, r.text
    waiting = r.json()["segments"][2]
    assert (waiting["status"], waiting["message"]) == ("pending", "starts when segment 2 is done")
    job = await finish(client, r.json()["id"], auth)
    assert [s["reused"] for s in job["segments"]] == [False] * 4
    clips = [await frames_of(client, s["clip_url"]) for s in job["segments"]]
    for before, after in ((clips[0], clips[1]), (clips[1], clips[2])):
        # The continued shot starts on the last frame of the one before (encoder tolerance).
        assert np.abs(after[0] - before[-1]).mean() < 6
    assert np.abs(clips[3][0] - clips[2][-1]).mean() > 6  # the independent shot does not

    async with runtime_of(client).sessions() as session:
        rows = {
            r.segment_id: r
            for r in await session.scalars(
                select(SegmentRender).where(SegmentRender.job_id == job["id"])
            )
        }
    first, second, third, independent = (rows[i] for i in ids)
    assert first.finished_at and second.started_at and second.finished_at and third.started_at
    assert second.started_at >= first.finished_at
    assert third.started_at >= second.finished_at
    assert independent.started_at is not None
    assert independent.started_at < second.finished_at  # not held back by the chain
    assert all(r.waits_for is None for r in rows.values())

    # Editing the first shot changes the clip every continued shot starts from.
    r = await client.put(f"/api/segments/{ids[0]}", json={"prompt": "a blue dusk"}, headers=auth)
    assert r.status_code == 200, r.text
    actions = [s["action"] for s in (await plan(client, project_id, auth))["segments"]]
    assert actions == ["generate", "generate", "generate", "reuse"]
    job = await render(client, project_id, auth)
    assert [s["reused"] for s in job["segments"]] == [False, False, False, True]

    # Editing the last shot of the chain regenerates it alone.
    params = {**SVD["params"], "motion_bucket_id": 30}
    r = await client.put(f"/api/segments/{ids[2]}", json={"params": params}, headers=auth)
    assert r.status_code == 200, r.text
    actions = [s["action"] for s in (await plan(client, project_id, auth))["segments"]]
    assert actions == ["reuse", "reuse", "generate", "reuse"]
    # Its shot before is reused, so it starts at once, from that stored clip's last frame.
    job = await render(client, project_id, auth)
    assert [s["reused"] for s in job["segments"]] == [True, True, False, True]
    second = await frames_of(client, job["segments"][1]["clip_url"])
    third = await frames_of(client, job["segments"][2]["clip_url"])
    assert np.abs(third[0] - second[-1]).mean() < 6


async def test_segments_a_model_cannot_start_are_refused_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    r = await client.post("/api/projects", json={"name": "refusals", **FORMAT}, headers=auth)
    project_id = r.json()["id"]
    url = f"/api/projects/{project_id}/segments"

    async def refused(body: dict[str, Any], field: str) -> str:
        r = await client.post(url, json=body, headers=auth)
        assert r.status_code == 422, r.text
        assert field in r.text
        return r.text

    text = await refused({"prompt": "no picture", **SVD}, "init_image_asset_id")
    assert "image only" in text and "continue_from_previous" in text
    await refused({"prompt": "first", **SVD, "continue_from_previous": True}, "first segment")
    r = await client.post(url, json={"prompt": "a", "duration": 1}, headers=auth)
    first_id = r.json()["id"]
    text = await refused(
        {"prompt": "b", "duration": 1, "continue_from_previous": True}, "continue_from_previous"
    )
    assert "text only" in text
    r = await client.post(
        url, json={"prompt": "c", **SVD, "continue_from_previous": True}, headers=auth
    )
    assert r.status_code == 201, r.text
    second_id = r.json()["id"]
    # Turning continuity off leaves an image-only model without its image.
    r = await client.put(
        f"/api/segments/{second_id}", json={"continue_from_previous": False}, headers=auth
    )
    assert r.status_code == 422 and "init_image_asset_id" in r.text
    # A reorder can put the continued shot first: planning refuses it, naming the segment.
    r = await client.put(
        f"/api/projects/{project_id}/segments/order",
        json={"segment_ids": [second_id, first_id]},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/projects/{project_id}/render?dry_run=true", headers=auth)
    assert r.status_code == 422
    assert "segment 1: continue_from_previous" in r.text
