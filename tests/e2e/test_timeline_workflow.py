"""The product's key scenarios against real processes, embedded and distributed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosedError

from tests.e2e.records import job_events, segment_attempts, statuses
from tests.support.counting import read_ledger
from tests.support.media_checks import facts, frame_at, same_picture
from tests.support.stack import Stack

pytestmark = pytest.mark.timeout(240)

SMALL = {"width": 320, "height": 180, "fps": 12}


async def login(client: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"e2e-{uuid.uuid4().hex[:8]}@example.com", "a long password"
    r = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    r = await client.post("/api/auth/token", data={"username": email, "password": password})
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return {"token": r.json()["access_token"]}


async def timeline(client: httpx.AsyncClient, durations: list[float]) -> dict[str, Any]:
    r = await client.post("/api/projects", json={"name": "e2e", **SMALL})
    assert r.status_code == 201, r.text
    project = r.json()
    # Unique prompts keep tests that share a running stack apart in the generation ledger.
    tag = uuid.uuid4().hex[:6]
    for i, duration in enumerate(durations):
        r = await client.post(
            f"/api/projects/{project['id']}/segments",
            json={"prompt": f"scene {i} ({tag}): a lighthouse at dusk", "duration": duration},
        )
        assert r.status_code == 201, r.text
    return project


async def render_and_wait(
    client: httpx.AsyncClient, project_id: str, timeout: float = 150
) -> dict[str, Any]:
    r = await client.post(f"/api/projects/{project_id}/render")
    assert r.status_code == 202, r.text
    return await wait_job(client, r.json()["id"], timeout)


async def wait_job(client: httpx.AsyncClient, job_id: str, timeout: float = 150) -> dict[str, Any]:
    """The job once it has ended, woken by its progress WebSocket, which the server closes
    after the job's last event (reconnecting if the stream drops before that)."""
    token = client.headers["Authorization"].removeprefix("Bearer ")
    ws_url = f"{client.base_url}".replace("http", "ws", 1) + f"/api/render-jobs/{job_id}/progress"
    async with asyncio.timeout(timeout):
        while True:
            job: dict[str, Any] = (await client.get(f"/api/render-jobs/{job_id}")).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            with contextlib.suppress(ConnectionClosedError):
                async with websockets.connect(f"{ws_url}?token={token}") as ws:
                    async for _ in ws:
                        pass


async def download(client: httpx.AsyncClient, url: str, dest: Path) -> Path:
    response = await client.get(url) if url.startswith("/") else await httpx.AsyncClient().get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("video/mp4")
    dest.write_bytes(response.content)
    return dest


def generations(stack: Stack, spec_hashes: set[str]) -> Counter[str]:
    """Finished generations per spec, as the adapter itself recorded them."""
    entries = read_ledger(stack.ledger)
    return Counter(e["spec_hash"] for e in entries if e["spec_hash"] in spec_hashes)


async def spec_hashes(client: httpx.AsyncClient, project_id: str) -> set[str]:
    detail = (await client.get(f"/api/projects/{project_id}")).json()
    return {s["spec_hash"] for s in detail["segments"]}


async def test_multi_segment_render_plays(stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await login(client)
        durations = [1.0, 1.5, 2.0]
        project = await timeline(client, durations)
        job = await render_and_wait(client, project["id"])
        assert job["status"] == "completed", (job, stack.logs())
        final = await download(client, job["video_url"], tmp_path / "final.mp4")
        info = facts(final)
        fps = SMALL["fps"]
        assert abs(info["duration"] - sum(durations)) <= 1 / fps
        assert (info["width"], info["height"], round(info["fps"])) == (320, 180, fps)

        detail = (await client.get(f"/api/projects/{project['id']}")).json()
        start = 0
        for segment, duration in zip(detail["segments"], durations, strict=True):
            clip = await download(client, segment["clip_url"], tmp_path / f"{segment['id']}.mp4")
            middle = int(duration * fps) // 2
            assert same_picture(frame_at(final, start + middle), frame_at(clip, middle))
            start += int(duration * fps)


async def test_incremental_rerender_generates_only_the_edit(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await login(client)
        project = await timeline(client, [1.0] * 5)
        first = await render_and_wait(client, project["id"])
        assert first["status"] == "completed", stack.logs()
        hashes = await spec_hashes(client, project["id"])
        assert generations(stack, hashes) == dict.fromkeys(hashes, 1)

        segments = (await client.get(f"/api/projects/{project['id']}")).json()["segments"]
        r = await client.put(f"/api/segments/{segments[2]['id']}", json={"prompt": "a storm"})
        assert r.status_code == 200
        plan = (await client.post(f"/api/projects/{project['id']}/render?dry_run=true")).json()
        assert [s["action"] for s in plan["segments"]].count("generate") == 1
        second = await render_and_wait(client, project["id"])
        assert second["status"] == "completed"
        hashes |= await spec_hashes(client, project["id"])
        assert len(hashes) == 6
        assert generations(stack, hashes) == dict.fromkeys(hashes, 1)
        assert [s["reused"] for s in second["segments"]] == [True, True, False, True, True]

        # Unchanged: nothing generated, nothing composed, the same video.
        third = await render_and_wait(client, project["id"])
        assert third["status"] == "completed" and third["seq"] == 1
        assert generations(stack, hashes) == dict.fromkeys(hashes, 1)

        # Moving and deleting regenerate nothing (the video is composed anew).
        ids = [s["id"] for s in segments]
        order = {"segment_ids": [ids[4], *ids[:4]]}
        r = await client.put(f"/api/projects/{project['id']}/segments/order", json=order)
        assert r.status_code == 200
        await client.delete(f"/api/segments/{ids[0]}")
        fourth = await render_and_wait(client, project["id"])
        assert fourth["status"] == "completed"
        assert all(s["reused"] for s in fourth["segments"])
        assert generations(stack, hashes) == dict.fromkeys(hashes, 1)


async def test_websocket_streams_every_event_in_order(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        auth = await login(client)
        project = await timeline(client, [1.0, 1.0, 1.0])
        r = await client.post(f"/api/projects/{project['id']}/render")
        job_id = r.json()["id"]
        ws_url = stack.url.replace("http", "ws") + f"/api/render-jobs/{job_id}/progress"
        messages = []
        async with websockets.connect(f"{ws_url}?token={auth['token']}") as ws:
            async for raw in ws:
                messages.append(json.loads(raw))
        assert messages[0]["type"] == "snapshot"
        persisted = [m for m in messages[1:] if not m.get("tick")]
        seqs = [messages[0]["seq"], *[m["seq"] for m in persisted]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
        last = messages[-1]
        assert last["type"] == "job" and last["status"] == "completed" and last["video_url"]
        done = {
            m["segment_id"]
            for m in persisted
            if m["type"] == "segment" and m["status"] == "completed"
        }
        snapshot_done = {
            s["segment_id"] for s in messages[0]["job"]["segments"] if s["status"] == "completed"
        }
        assert done | snapshot_done == {s["segment_id"] for s in messages[0]["job"]["segments"]}


async def test_websocket_refuses_strangers(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await login(client)
        project = await timeline(client, [1.0])
        job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
        other = await login(httpx.AsyncClient(base_url=stack.url))
        ws_url = stack.url.replace("http", "ws") + f"/api/render-jobs/{job_id}/progress"
        for token in ("garbage", other["token"]):
            async with websockets.connect(f"{ws_url}?token={token}") as ws:
                with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_rejected_prompt_fails_the_job_with_the_reason(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await login(client)
        project = await timeline(client, [1.0])
        await client.post(
            f"/api/projects/{project['id']}/segments",
            json={"prompt": "[reject] something", "duration": 1},
        )
        job = await render_and_wait(client, project["id"])
        assert job["status"] == "failed"
        assert "segment 2" in job["error"] and "rejected by moderation" in job["error"]
        failed = [s for s in job["segments"] if s["status"] == "failed"]
        assert len(failed) == 1 and "moderation" in failed[0]["error"]


async def test_transient_error_is_retried(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await login(client)
        project = await timeline(client, [])
        await client.post(
            f"/api/projects/{project['id']}/segments",
            json={"prompt": "[flaky] waves", "duration": 1},
        )
        job = await render_and_wait(client, project["id"])
        assert job["status"] == "completed", job
    # The fault fired: the first call failed and the worker called again, once.
    (segment,) = job["segments"]
    assert (await segment_attempts(stack, job["id"])) == {segment["segment_id"]: 2}
    events = await job_events(stack, job["id"])
    assert statuses(events, segment["segment_id"]) == ["running", "completed"]
    assert statuses(events) == ["generating", "composing", "completed"]


async def test_websocket_reconnect_replays_from_a_sequence_number(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        auth = await login(client)
        project = await timeline(client, [1.0, 1.0])
        job = await render_and_wait(client, project["id"])
        ws_url = stack.url.replace("http", "ws") + f"/api/render-jobs/{job['id']}/progress"
        # The token as a subprotocol, as browsers can send it without putting it in the URL.
        async with websockets.connect(
            f"{ws_url}?after=2",
            subprotocols=["bearer", auth["token"]],  # type: ignore[list-item]
        ) as ws:
            replayed = [json.loads(raw) async for raw in ws]
        assert [m["seq"] for m in replayed] == list(range(3, job["seq"] + 1))
        assert replayed[-1]["status"] == "completed"
