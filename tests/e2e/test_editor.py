"""The editor's backend against real processes, embedded and distributed (PostgreSQL, RabbitMQ,
Redis, S3): a trim renders with nothing generated, variations become takes and a take is used
at no cost, and the preview playlist's pieces are fetched by their signed or presigned links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.e2e.test_timeline_workflow import (
    SMALL,
    download,
    generations,
    login,
    render_and_wait,
    timeline,
    wait_job,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.timeout(240)
FPS = SMALL["fps"]


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """A link from the API: its own (signed) or the object store's (presigned), no header."""
    async with httpx.AsyncClient(timeout=30) as bare:
        return await bare.get(url)


def video_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


async def segments_of(client: httpx.AsyncClient, project_id: str) -> list[dict[str, Any]]:
    detail = (await client.get(f"/api/projects/{project_id}")).json()
    segments: list[dict[str, Any]] = detail["segments"]
    return segments


async def test_trim_takes_and_preview(stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await login(client)
        project = await timeline(client, [1.0, 1.5])
        pid = project["id"]
        first = await render_and_wait(client, pid)
        assert first["status"] == "completed", (first, stack.logs())
        segments = await segments_of(client, pid)
        hashes = {s["spec_hash"] for s in segments}
        assert set(generations(stack, hashes).values()) == {1}

        # A trim: rendered again with nothing generated, and the video is the trimmed length.
        trim = {"trim_start": 0.25, "trim_end": 1.25}
        r = await client.put(f"/api/segments/{segments[1]['id']}", json=trim)
        assert r.status_code == 200, r.text
        trimmed = await render_and_wait(client, pid)
        assert trimmed["status"] == "completed", (trimmed, stack.logs())
        assert all(s["reused"] for s in trimmed["segments"])
        assert set(generations(stack, hashes).values()) == {1}
        final = await download(client, trimmed["video_url"], tmp_path / "final.mp4")
        assert video_frames(final) == round((1.0 + 1.0) * FPS)

        # The preview: every piece fetched without a header, decoded, of its listed length.
        answer = await client.get(f"/api/projects/{pid}/preview.m3u8")
        assert answer.status_code == 200, answer.text
        lines = answer.text.splitlines()
        assert lines[0] == "#EXTM3U" and lines[-1] == "#EXT-X-ENDLIST"
        durations = [float(x[8:].split(",")[0]) for x in lines if x.startswith("#EXTINF:")]
        uris = [lines[i + 1] for i, x in enumerate(lines) if x.startswith("#EXTINF:")]
        assert durations == pytest.approx([1.0, 1.0], abs=1 / FPS)
        for i, (uri, seconds) in enumerate(zip(uris, durations, strict=True)):
            piece = await fetch(client, uri)
            assert piece.status_code == 200, piece.text
            path = tmp_path / f"piece{i}.ts"
            path.write_bytes(piece.content)
            assert video_frames(path) == round(seconds * FPS)

        # Two variations of the first shot, then one of them used: the render pays for nothing.
        sid = segments[0]["id"]
        r = await client.post(f"/api/segments/{sid}/variations", json={"count": 2})
        assert r.status_code == 202, r.text
        job = await wait_job(client, r.json()["id"])
        assert job["status"] == "completed" and job["kind"] == "variations", stack.logs()
        takes = (await client.get(f"/api/segments/{sid}/takes")).json()
        assert len(takes) == 3 and [t["current"] for t in takes] == [False, False, True]
        r = await client.post(f"/api/segments/{sid}/takes/{takes[0]['id']}/use")
        assert r.status_code == 200 and r.json()["spec_hash"] == takes[0]["spec_hash"]
        again = await render_and_wait(client, pid)
        assert again["status"] == "completed" and all(s["reused"] for s in again["segments"])
        assert generations(stack, {takes[0]["spec_hash"]})[takes[0]["spec_hash"]] == 1
