"""The progressive preview playlist, on SQLite and PostgreSQL: a valid HLS media playlist
(FFmpeg's HLS demuxer plays it), segments that decode, durations that add up to the timeline
with trims, growth while a render runs, ENDLIST at the end, and its signed links and owner
checks."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.integration.test_render import SMALL, finished, project_with
from tests.support.app import (
    app_with_workers,
    register,
)
from tests.support.gated import GATE
from tests.unit.media.media_helpers import decode_frames, mean_abs
from videofoundry.core.security import sign_media
from videofoundry.runtime import Runtime

pytestmark = pytest.mark.timeout(180)
FPS = SMALL["fps"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """API and both workers in one app; `[gate]` prompts wait for the test (GatedProcedural)."""
    data_dir: Path = tmp_path_factory.mktemp(f"preview-{request.param}")
    extra = {"EXTRA_ADAPTERS": "tests.support.gated:GatedProcedural"}
    async with app_with_workers(request.param, data_dir, **extra) as c:
        yield c


class Playlist:
    """A media playlist read strictly: tags in order, each #EXTINF followed by its URI."""

    def __init__(self, text: str) -> None:
        lines = text.splitlines()
        assert lines[0] == "#EXTM3U", text
        self.tags = [line for line in lines if line.startswith("#")]
        self.durations: list[float] = []
        self.uris: list[str] = []
        self.discontinuities = 0
        for i, line in enumerate(lines):
            if line.startswith("#EXTINF:"):
                self.durations.append(float(line.removeprefix("#EXTINF:").split(",")[0]))
                self.uris.append(lines[i + 1])
                assert not lines[i + 1].startswith("#")
            if line == "#EXT-X-DISCONTINUITY":
                self.discontinuities += 1
        assert "#EXT-X-VERSION:3" in self.tags
        target = [t for t in self.tags if t.startswith("#EXT-X-TARGETDURATION:")]
        assert len(target) == 1
        self.target = int(target[0].split(":")[1])
        # RFC 8216: every EXTINF rounded to the nearest integer is at most the target.
        assert all(round(d) <= self.target for d in self.durations)
        self.ended = lines[-1] == "#EXT-X-ENDLIST"
        assert self.ended == ("#EXT-X-ENDLIST" in self.tags)


async def playlist(client: httpx.AsyncClient, pid: str, auth: dict[str, str]) -> Playlist:
    answer = await client.get(f"/api/projects/{pid}/preview.m3u8", headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert answer.headers["cache-control"] == "no-store"
    return Playlist(answer.text)


async def render(client: httpx.AsyncClient, pid: str, auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert answer.status_code == 202, answer.text
    return await finished(client, answer.json()["id"], auth)


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


async def test_playlist_of_a_rendered_timeline_plays_in_ffmpeg(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    auth = await register(client)
    segments = [
        {"prompt": "dawn", "duration": 1, "seed": 1},
        {"prompt": "noon", "duration": 2, "seed": 2, "trim_start": 0.5, "trim_end": 1.75},
        {"prompt": "dusk", "duration": 1.5, "seed": 3, "transition": {"kind": "crossfade"}},
    ]
    pid = await project_with(client, auth, segments)
    before = await playlist(client, pid, auth)
    assert before.uris == [] and not before.ended  # nothing generated yet: it waits
    assert (await render(client, pid, auth))["status"] == "completed"

    shown = await playlist(client, pid, auth)
    assert shown.ended and len(shown.uris) == 3 and shown.discontinuities == 2
    project = (await client.get(f"/api/projects/{pid}", headers=auth)).json()
    assert project["total_duration"] == pytest.approx(1 + 1.25 + 1.5)
    assert shown.durations == pytest.approx([1, 1.25, 1.5], abs=1 / FPS)
    assert sum(shown.durations) == pytest.approx(project["total_duration"], abs=1 / FPS)
    assert shown.target == math.ceil(max(shown.durations))

    local = []
    for i, (uri, seconds) in enumerate(zip(shown.uris, shown.durations, strict=True)):
        assert uri.startswith("http://test/api/files/")  # absolute: a saved copy still plays
        piece = await client.get(uri)  # no Authorization header: the link is signed
        assert piece.status_code == 200, piece.text
        assert piece.content[0] == 0x47  # an MPEG-TS sync byte
        path = tmp_path / f"piece{i}.ts"
        path.write_bytes(piece.content)
        assert frames_of(path) == round(seconds * FPS)
        local.append(path)

    # The trimmed piece starts at the clip's frame at its in point (0.5 s: frame 4).
    clip = tmp_path / "clip1.mp4"
    clip.write_bytes((await client.get(project["segments"][1]["clip_url"])).content)
    first = decode_frames(local[1])[0]
    closest = min(enumerate(decode_frames(clip)), key=lambda f: mean_abs(first, f[1]))[0]
    assert closest == 4

    # FFmpeg's HLS demuxer reads the same playlist (with local names) and plays it through.
    text = (await client.get(f"/api/projects/{pid}/preview.m3u8", headers=auth)).text
    for uri, path in zip(Playlist(text).uris, local, strict=True):
        text = text.replace(uri, path.name)
    (tmp_path / "preview.m3u8").write_text(text)
    with av.open(str(tmp_path / "preview.m3u8")) as container:
        assert container.format.name == "hls"
        total = sum(1 for _ in container.decode(video=0))
    assert total == round(sum(shown.durations) * FPS)


async def test_the_playlist_grows_during_a_render_and_ends_when_complete(
    client: httpx.AsyncClient,
) -> None:
    GATE.reset()
    auth = await register(client)
    segments = [
        {"prompt": "quick", "duration": 1, "seed": 4},
        {"prompt": "[gate] slow", "duration": 1, "seed": 5},
    ]
    pid = await project_with(client, auth, segments)
    first_id = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"][0]["id"]
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    answer = await client.post(f"/api/projects/{pid}/render", headers=auth)
    job_id = answer.json()["id"]
    try:
        async with runtime.status.subscribe(job_id) as events:
            job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
            if job["segments"][0]["status"] != "completed":
                async with asyncio.timeout(60):
                    async for event in events:
                        if (
                            event.get("type") == "segment"
                            and event.get("segment_id") == first_id
                            and event.get("status") == "completed"
                            and not event.get("tick")
                        ):
                            break
        await asyncio.wait_for(GATE.reached.wait(), 60)
        growing = await playlist(client, pid, auth)
        assert len(growing.uris) == 1 and not growing.ended
        assert growing.durations == pytest.approx([1.0], abs=1 / FPS)
    finally:
        GATE.opened.set()  # never leave a worker waiting: the app could not shut down
    assert (await finished(client, job_id, auth))["status"] == "completed"
    done = await playlist(client, pid, auth)
    assert done.ended and len(done.uris) == 2 and done.discontinuities == 1
    # Appended, never rewritten: the first entry is the same piece and target as before.
    assert done.uris[0].split("?")[0] == growing.uris[0].split("?")[0]
    assert done.target == growing.target


async def test_tampered_or_expired_segment_links_are_refused(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "x", "duration": 1, "seed": 6}])
    await render(client, pid, auth)
    uri = (await playlist(client, pid, auth)).uris[0]
    assert (await client.get(uri)).status_code == 200
    path, _, query = uri.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&"))
    signature = params["signature"]
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]  # one hex digit changed
    tampered = f"{path}?expires={params['expires']}&signature={flipped}"
    assert (await client.get(tampered)).status_code == 403
    later = f"{path}?expires={int(params['expires']) + 60}&signature={params['signature']}"
    assert (await client.get(later)).status_code == 403
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    asset_id = path.rsplit("/", 1)[1]
    expires, signature = sign_media(runtime.settings, asset_id, expires_in=-1)
    expired = f"{path}?expires={expires}&signature={signature}"
    assert (await client.get(expired)).status_code == 403


async def test_another_users_project_is_404_and_a_token_is_needed(
    client: httpx.AsyncClient,
) -> None:
    owner, other = await register(client), await register(client)
    pid = await project_with(client, owner, [{"prompt": "x", "duration": 1, "seed": 7}])
    url = f"/api/projects/{pid}/preview.m3u8"
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.get(url)).status_code == 401
    assert (await client.get("/api/projects/nope/preview.m3u8", headers=owner)).status_code == 404


async def test_empty_timeline_waits(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [])
    empty = await playlist(client, pid, auth)
    assert empty.uris == [] and not empty.ended
