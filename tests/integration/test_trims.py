"""Trims through the API, on SQLite and PostgreSQL: a trim-only change generates nothing, the
final video lasts the trimmed lengths and starts each segment at its in point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_render import SMALL, client, finished, project_with
from tests.support.app import register
from tests.unit.media.media_helpers import decode_frames, mean_abs

__all__ = ["client"]  # the render module's fixture: API and both workers in one app

pytestmark = pytest.mark.timeout(180)
FPS = SMALL["fps"]


async def download(client: httpx.AsyncClient, url: str, path: Path) -> Path:
    answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    path.write_bytes(answer.content)
    return path


def source_frame(video: Path, index: int, clip: Path) -> int:
    """Which frame of `clip` is frame `index` of `video`: the closest picture."""
    shown = decode_frames(video)[index]
    return min(enumerate(decode_frames(clip)), key=lambda f: mean_abs(shown, f[1]))[0]


async def render(client: httpx.AsyncClient, pid: str, auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert answer.status_code == 202, answer.text
    return await finished(client, answer.json()["id"], auth)


async def test_trim_only_change_generates_nothing_and_cuts_frame_accurately(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    auth = await register(client)
    segments = [{"prompt": f"shot {i}", "duration": 2, "seed": 40 + i} for i in range(2)]
    pid = await project_with(client, auth, segments)
    first = await render(client, pid, auth)
    assert first["status"] == "completed"
    ids = [s["segment_id"] for s in first["segments"]]

    trims = [{"trim_start": 0.5, "trim_end": 1.5}, {"trim_start": 0.25}]
    for segment_id, trim in zip(ids, trims, strict=True):
        answer = await client.put(f"/api/segments/{segment_id}", json=trim, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "ready"  # same spec: its clip is still current
    project = (await client.get(f"/api/projects/{pid}", headers=auth)).json()
    assert project["total_duration"] == pytest.approx(1.0 + 1.75)
    plan = (await client.post(f"/api/projects/{pid}/render?dry_run=true", headers=auth)).json()
    assert [s["action"] for s in plan["segments"]] == ["reuse", "reuse"]
    assert plan["total_estimated_cost"] == 0 and plan["compose"] is True
    assert [s["duration"] for s in plan["segments"]] == pytest.approx([1.0, 1.75])
    assert plan["total_duration"] == pytest.approx(2.75)
    assert plan["segments"][0]["trim_start"] == 0.5 and plan["segments"][0]["trim_end"] == 1.5

    second = await render(client, pid, auth)
    assert second["status"] == "completed", second.get("error")
    assert all(s["reused"] for s in second["segments"])  # 0 generated
    # The job shows what it cut, as it was when it started.
    assert [(s["trim_start"], s["trim_end"]) for s in second["segments"]] == [
        (0.5, 1.5),
        (0.25, None),
    ]
    assert second["kind"] == "render"
    assert second["duration"] == pytest.approx(1.0 + 1.75, abs=1 / FPS)

    final = await download(client, second["video_url"], tmp_path / "final.mp4")
    clips = [
        await download(client, s["clip_url"], tmp_path / f"clip{i}.mp4")
        for i, s in enumerate(project["segments"])
    ]
    assert len(decode_frames(final)) == 8 + 14
    assert source_frame(final, 0, clips[0]) == 4  # 0.5 s in
    assert source_frame(final, 7, clips[0]) == 11  # the last frame before 1.5 s
    assert source_frame(final, 8, clips[1]) == 2  # 0.25 s in

    # Untrimming gives back the first render's video, by its content address.
    for segment_id in ids:
        body = {"trim_start": None, "trim_end": None}
        assert (await client.put(f"/api/segments/{segment_id}", json=body, headers=auth)).is_success
    third = await render(client, pid, auth)
    assert third["video_url"].split("?")[0] == first["video_url"].split("?")[0]


@pytest.mark.parametrize(
    ("trim", "field", "words"),
    [
        ({"trim_start": -1}, "trim_start", "greater than or equal"),
        ({"trim_end": 0}, "trim_end", "greater than"),
        ({"trim_start": 1.5, "trim_end": 1.5}, "trim_end", "after trim_start"),
        ({"trim_start": 1.5, "trim_end": 1.0}, "trim_end", "after trim_start"),
        ({"trim_end": 2.5}, "trim_end", "beyond the end"),
        ({"trim_start": 2}, "trim_start", "not inside"),
        ({"trim_start": 1.0, "trim_end": 1.05}, "trim_end", "one frame"),
    ],
)
async def test_bad_trims_are_422_naming_the_field(
    client: httpx.AsyncClient, trim: dict[str, float], field: str, words: str
) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "x", "duration": 2, "seed": 1}])
    segment = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"][0]
    answer = await client.put(f"/api/segments/{segment['id']}", json=trim, headers=auth)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["loc"][-1] == field and words in detail["msg"]
    created = await client.post(
        f"/api/projects/{pid}/segments", json={"prompt": "y", "duration": 2, **trim}, headers=auth
    )
    assert created.status_code == 422 and created.json()["detail"][0]["loc"][-1] == field
    after = (await client.get(f"/api/segments/{segment['id']}", headers=auth)).json()
    assert (after["trim_start"], after["trim_end"]) == (None, None)


async def test_nan_and_a_duration_shorter_than_the_trim_are_refused(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "x", "duration": 2, "seed": 1}])
    segment = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"][0]
    url = f"/api/segments/{segment['id']}"
    headers = {**auth, "content-type": "application/json"}
    nan = await client.put(url, content=b'{"trim_start": NaN}', headers=headers)
    assert nan.status_code == 422 and nan.json()["detail"][0]["loc"][-1] == "trim_start"
    assert (await client.put(url, json={"trim_end": 1.5}, headers=auth)).is_success
    shorter = await client.put(url, json={"duration": 1}, headers=auth)
    assert shorter.status_code == 422 and shorter.json()["detail"][0]["loc"][-1] == "trim_end"
    both = await client.put(url, json={"duration": 1, "trim_end": 1}, headers=auth)
    assert both.status_code == 200 and both.json()["trim_end"] == 1
