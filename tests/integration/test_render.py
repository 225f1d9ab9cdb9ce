"""The render pipeline in-process (API and workers in one app, as `videofoundry up` runs it),
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.app import (
    api_client,
    app_with_workers,
    make_settings,
    postgres_database,
    register,
)
from videofoundry.models import JobEvent, RenderJob
from videofoundry.queue.base import DeadLetter, Message
from videofoundry.queue.memory import MemoryBroker
from videofoundry.runtime import Runtime
from videofoundry.storage import keys
from videofoundry.workers.composition_worker import worker as composition_worker
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(180)
SMALL = {"width": 160, "height": 96, "fps": 8}


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir: Path = tmp_path_factory.mktemp(f"render-{request.param}")
    extra = {"EXTRA_ADAPTERS": "tests.support.priced:PricedProcedural"}
    async with app_with_workers(request.param, data_dir, **extra) as c:
        yield c


async def project_with(
    client: httpx.AsyncClient, auth: dict[str, str], segments: list[dict[str, Any]]
) -> str:
    r = await client.post("/api/projects", json={"name": "p", **SMALL}, headers=auth)
    project_id: str = r.json()["id"]
    for body in segments:
        r = await client.post(f"/api/projects/{project_id}/segments", json=body, headers=auth)
        assert r.status_code == 201, r.text
    return project_id


TERMINAL = ("completed", "failed", "cancelled")


async def reached(
    client: httpx.AsyncClient, job_id: str, auth: dict[str, str], statuses: tuple[str, ...]
) -> dict[str, Any]:
    """The job once its status is one of `statuses`: woken by the job's events on the status
    bus, not by a timer."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.status.subscribe(job_id) as events:
        # Subscribed first, so a change published between this read and the wait is not missed.
        job: dict[str, Any] = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        if job["status"] not in statuses:
            async with asyncio.timeout(120):
                async for event in events:
                    if event.get("type") == "job" and event.get("status") in statuses:
                        break
            job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
    return job


async def finished(client: httpx.AsyncClient, job_id: str, auth: dict[str, str]) -> dict[str, Any]:
    return await reached(client, job_id, auth, TERMINAL)


async def all_tasks_handled(client: httpx.AsyncClient) -> None:
    """Until the in-process queues are empty and no handler runs (the embedded broker's join)."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert isinstance(runtime.broker, MemoryBroker)
    await asyncio.wait_for(runtime.broker.join(), 60)


async def test_render_history_and_range_download(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "a", "duration": 1, "seed": 1}])
    job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
    job = await finished(client, job["id"], auth)
    assert job["status"] == "completed"
    assert job["progress"] == 1.0 and job["duration"] == pytest.approx(1.0, abs=0.13)
    whole = await client.get(job["video_url"])
    assert whole.status_code == 200 and whole.content[4:8] == b"ftyp"
    part = await client.get(job["video_url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    forged = await client.get(job["video_url"].replace("signature=", "signature=0"))
    assert forged.status_code == 403
    history = (await client.get(f"/api/projects/{pid}/render-jobs", headers=auth)).json()
    assert history["total"] == 1 and history["items"][0]["id"] == job["id"]


async def test_cancel_stops_the_job_and_keeps_it_cancelled(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    segments = [{"prompt": f"s{i}", "duration": 3, "seed": i} for i in range(4)]
    pid = await project_with(client, auth, segments)
    job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
    cancelled = await client.post(f"/api/render-jobs/{job['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    await all_tasks_handled(client)  # every task of the job has met the cancel
    job = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
    assert job["status"] == "cancelled" and job["video_url"] is None
    assert all(s["status"] in ("cancelled", "completed") for s in job["segments"])


async def test_status_survives_a_flushed_cache(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "b", "duration": 1, "seed": 2}])
    job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
    job = await finished(client, job["id"], auth)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    await runtime.status.set_snapshot(job["id"], {"bogus": True}, ttl=60)  # stale and wrong
    again = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
    assert again["status"] == "completed" and again["segments"] == job["segments"]


async def test_plan_and_budget(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    segments = [{"prompt": "c", "duration": 2, "model": "priced", "seed": 3}]
    pid = await project_with(client, auth, segments)
    plan = (await client.post(f"/api/projects/{pid}/render?dry_run=true", headers=auth)).json()
    assert plan["total_estimated_cost"] == pytest.approx(0.2)
    assert plan["segments"][0]["action"] == "generate"
    assert (await client.patch("/api/me", json={"budget_usd": 0.3}, headers=auth)).is_success
    # Two racing renders of 0.20 each against 0.30 left: exactly one may start.
    pid2 = await project_with(client, auth, [{**segments[0], "prompt": "d"}])
    answers = await asyncio.gather(
        client.post(f"/api/projects/{pid}/render", headers=auth),
        client.post(f"/api/projects/{pid2}/render", headers=auth),
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 402]
    refused = next(a for a in answers if a.status_code == 402)
    assert "budget" in refused.json()["detail"]
    me = (await client.get("/api/me", headers=auth)).json()
    assert me["spent_usd"] == pytest.approx(0.2)


async def _ai_only(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai",))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_racing_composition_handlers_compose_once(database: str, tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        url = ""
        if database == "postgresql":
            url = await stack.enter_async_context(postgres_database())
        settings = make_settings(tmp_path, DATABASE_URL=url)
        # No composition worker: the test plays three of them, racing on one job.
        client = await stack.enter_async_context(api_client(settings, companions=(_ai_only,)))
        auth = await register(client)
        pid = await project_with(client, auth, [{"prompt": "e", "duration": 1, "seed": 5}])
        job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
        job = await reached(client, job["id"], auth, ("composing",))
        assert job["status"] == "composing"
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        message = Message(body={"v": 1, "job_id": job["id"]}, delivery_count=1)
        await asyncio.gather(*(composition_worker.handle(runtime, message) for _ in range(3)))
        job = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
        assert job["status"] == "completed"
        async with runtime.sessions() as session:
            attempts = await session.scalar(
                select(RenderJob.composition_attempts).where(RenderJob.id == job["id"])
            )
        assert attempts == 1


def _png(color: tuple[int, int, int]) -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _tone(path: Path, seconds: float = 2.0) -> bytes:
    import av
    import numpy as np

    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = (np.sin(np.arange(int(8000 * seconds)) * 0.2) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes()


async def test_uploads_are_validated(client: httpx.AsyncClient, tmp_path: Path) -> None:
    auth = await register(client)
    image = await client.post(
        "/api/assets",
        data={"kind": "image"},
        files={"file": ("a.png", _png((255, 0, 0)))},
        headers=auth,
    )
    assert image.status_code == 201, image.text
    assert image.json()["width"] == 64 and image.json()["content_type"] == "image/png"
    not_image = await client.post(
        "/api/assets", data={"kind": "image"}, files={"file": ("a.png", b"hello")}, headers=auth
    )
    assert not_image.status_code == 422 and "image" in str(not_image.json()["detail"])
    not_audio = await client.post(
        "/api/assets",
        data={"kind": "audio"},
        files={"file": ("a.wav", _png((0, 0, 0)))},
        headers=auth,
    )
    assert not_audio.status_code == 422
    empty = await client.post(
        "/api/assets", data={"kind": "audio"}, files={"file": ("a.wav", b"")}, headers=auth
    )
    assert empty.status_code == 422 and "empty" in str(empty.json()["detail"])
    other = await register(client)
    stolen = await client.get(f"/api/assets/{image.json()['id']}", headers=other)
    assert stolen.status_code == 404


async def test_init_image_changes_the_spec(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "f", "duration": 1, "seed": 6}])
    segment = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"][0]
    image_ids = []
    for color in ((255, 0, 0), (0, 0, 255)):
        files = {"file": ("i.png", _png(color))}
        r = await client.post("/api/assets", data={"kind": "image"}, files=files, headers=auth)
        image_ids.append(r.json()["id"])
    hashes = set()
    for image_id in image_ids:
        r = await client.put(
            f"/api/segments/{segment['id']}", json={"init_image_asset_id": image_id}, headers=auth
        )
        assert r.status_code == 200
        hashes.add(r.json()["spec_hash"])
    assert len(hashes | {segment["spec_hash"]}) == 3
    foreign = await client.put(
        f"/api/segments/{segment['id']}", json={"init_image_asset_id": "nope"}, headers=auth
    )
    assert foreign.status_code == 422 and "init_image_asset_id" in str(foreign.json()["detail"])


async def test_soundtrack_captions_and_contact_sheet(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    import av

    auth = await register(client)
    audio = await client.post(
        "/api/assets",
        data={"kind": "audio"},
        files={"file": ("t.wav", _tone(tmp_path / "t.wav"))},
        headers=auth,
    )
    assert audio.status_code == 201, audio.text
    r = await client.post(
        "/api/projects",
        json={"name": "music", **SMALL, "soundtrack_asset_id": audio.json()["id"]},
        headers=auth,
    )
    pid = r.json()["id"]
    for i, caption in enumerate(["Hello", None]):
        await client.post(
            f"/api/projects/{pid}/segments",
            json={"prompt": f"g{i}", "duration": 1, "seed": i, "caption": caption},
            headers=auth,
        )
    job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
    job = await finished(client, job["id"], auth)
    assert job["status"] == "completed", job
    video = tmp_path / "v.mp4"
    video.write_bytes((await client.get(job["video_url"])).content)
    with av.open(str(video)) as container:
        kinds = {s.type for s in container.streams}
    assert {"video", "audio", "subtitle"} <= kinds
    vtt = (await client.get(job["captions_url"])).text
    assert vtt.startswith("WEBVTT") and "Hello" in vtt
    sheet = await client.get(f"/api/projects/{pid}/contact-sheet", headers=auth)
    assert sheet.status_code == 200 and sheet.content[:3] == b"\xff\xd8\xff"


async def test_metrics_count_reuse(client: httpx.AsyncClient) -> None:
    def reused(text: str) -> float:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith('videofoundry_segments_planned_total{action="reuse"}')
        )
        return float(line.split()[-1])

    auth = await register(client)
    pid = await project_with(client, auth, [{"prompt": "m", "duration": 1, "seed": 9}])
    await finished(
        client, (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()["id"], auth
    )
    before = reused((await client.get("/metrics")).text)
    await finished(
        client, (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()["id"], auth
    )
    assert reused((await client.get("/metrics")).text) == before + 1
    assert "videofoundry_generation_seconds_bucket" in (await client.get("/metrics")).text


async def test_corrupt_clip_fails_the_job_naming_the_segment(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with api_client(settings, companions=(_ai_only,)) as client:
        auth = await register(client)
        segments = [{"prompt": f"c{i}", "duration": 1, "seed": i} for i in range(2)]
        pid = await project_with(client, auth, segments)
        job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
        job = await reached(client, job["id"], auth, ("composing",))
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        detail = (await client.get(f"/api/projects/{pid}", headers=auth)).json()
        me = (await client.get("/api/me", headers=auth)).json()
        clip = runtime.storage.path_for(keys.clip(me["id"], detail["segments"][1]["spec_hash"]))
        assert clip is not None  # the local backend keeps its files on this machine
        clip.write_bytes(clip.read_bytes()[:2000])  # truncated, as a broken disk or upload would
        message = Message(body={"v": 1, "job_id": job["id"]}, delivery_count=1)
        with pytest.raises(DeadLetter):
            await composition_worker.handle(runtime, message)
        job = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
        assert job["status"] == "failed"
        assert "segment 2" in job["error"]
        assert job["video_url"] is None
        finals = (
            list((settings.media_dir / "finals").rglob("*"))
            if (settings.media_dir / "finals").exists()
            else []
        )
        assert [f for f in finals if f.is_file()] == []


async def test_clip_finished_after_cancel_is_kept_for_the_next_render(tmp_path: Path) -> None:
    async with api_client(make_settings(tmp_path), companions=(_workers,)) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        adapter = runtime.registry.adapters["procedural"]
        original = adapter.generate
        calls = 0
        generating, cancelled = asyncio.Event(), asyncio.Event()

        async def provider_finishes_anyway(request: Any, context: Any) -> Any:
            # Like a hosted task that completes (and is billed) although the user cancelled.
            nonlocal calls
            calls += 1
            generating.set()
            await cancelled.wait()

            async def never() -> bool:
                return False

            context.is_cancelled = never
            return await original(request, context)

        adapter.generate = provider_finishes_anyway  # type: ignore[method-assign]
        auth = await register(client)
        pid = await project_with(client, auth, [{"prompt": "k", "duration": 1, "seed": 1}])
        job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
        await asyncio.wait_for(generating.wait(), 30)
        r = await client.post(f"/api/render-jobs/{job['id']}/cancel", headers=auth)
        assert r.json()["status"] == "cancelled"
        cancelled.set()  # the provider's task ends after the cancel
        await all_tasks_handled(client)
        plan = (await client.post(f"/api/projects/{pid}/render?dry_run=true", headers=auth)).json()
        assert plan["segments"][0]["action"] == "reuse"
        again = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
        again = await finished(client, again["id"], auth)
        assert again["status"] == "completed" and again["segments"][0]["reused"]
        assert calls == 1


async def test_concurrent_segments_number_events_without_gaps(tmp_path: Path) -> None:
    """Eight segments in flight at once on PostgreSQL: every event gets its own number."""
    async with postgres_database() as url:
        settings = make_settings(
            tmp_path, DATABASE_URL=url, AI_WORKER_CONCURRENCY=8, SEGMENTS_IN_FLIGHT_PER_USER=8
        )
        async with api_client(settings, companions=(_workers,)) as client:
            auth = await register(client)
            segments = [{"prompt": f"n{i}", "duration": 1, "seed": i} for i in range(12)]
            pid = await project_with(client, auth, segments)
            job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
            job = await finished(client, job["id"], auth)
            assert job["status"] == "completed", job
            runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
            async with runtime.sessions() as session:
                seqs = list(
                    await session.scalars(
                        select(JobEvent.seq)
                        .where(JobEvent.job_id == job["id"])
                        .order_by(JobEvent.seq)
                    )
                )
            assert seqs == list(range(1, job["seq"] + 1))


async def test_burned_caption_changes_only_its_segment(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from tests.support.media_checks import frame_at, same_picture

    auth = await register(client)
    segments = [
        {"prompt": "b0", "duration": 1, "seed": 1, "caption": "HELLO", "burn_caption": True},
        {"prompt": "b1", "duration": 1, "seed": 2, "caption": "plain"},
    ]
    pid = await project_with(client, auth, segments)
    job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
    job = await finished(client, job["id"], auth)
    assert job["status"] == "completed", job
    final = tmp_path / "final.mp4"
    final.write_bytes((await client.get(job["video_url"])).content)
    detail = (await client.get(f"/api/projects/{pid}", headers=auth)).json()
    clips = []
    for i, segment in enumerate(detail["segments"]):
        assert segment["burn_caption"] is (i == 0)
        path = tmp_path / f"clip{i}.mp4"
        path.write_bytes((await client.get(segment["clip_url"])).content)
        clips.append(path)
    fps = SMALL["fps"]
    assert not same_picture(frame_at(final, fps // 2), frame_at(clips[0], fps // 2))
    assert same_picture(frame_at(final, fps + fps // 2), frame_at(clips[1], fps // 2))


async def test_an_unexpected_composition_error_releases_then_fails_on_the_last_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_client(make_settings(tmp_path), companions=(_ai_only,)) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        auth = await register(client)
        pid = await project_with(client, auth, [{"prompt": "u", "duration": 1, "seed": 3}])
        job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
        job = await reached(client, job["id"], auth, ("composing",))

        async def crashes(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("out of disk")

        monkeypatch.setattr(composition_worker.media, "compose", crashes)
        body = {"v": 1, "job_id": job["id"]}
        with pytest.raises(RuntimeError, match="out of disk"):
            await composition_worker.handle(runtime, Message(body=body, delivery_count=1))
        async with runtime.sessions() as session:
            row = await session.get_one(RenderJob, job["id"])
            assert (row.status, row.composition_lease, row.composition_attempts) == (
                "composing",
                None,  # given back: the redelivery claims it at once
                1,
            )
        last = Message(body=body, delivery_count=runtime.broker.delivery_limit)
        with pytest.raises(RuntimeError, match="out of disk"):
            await composition_worker.handle(runtime, last)
        job = await finished(client, job["id"], auth)
        assert job["status"] == "failed"
        assert job["error"] == "composition failed: internal error: RuntimeError: out of disk"
