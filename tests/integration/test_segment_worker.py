"""The AI worker's claim and completion, driven message by message on SQLite and PostgreSQL:
twins in one timeline, a clip made meanwhile by another job, the same clip being generated
for another render, and a lease lost at the end."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update

from tests.moto import MOTO_CREDENTIALS, moto_server
from tests.support import counting
from tests.support.app import api_client, make_settings, postgres_database, register
from tests.support.counting import read_ledger
from videofoundry.models import Asset, JobEvent, RenderJob, SegmentRender
from videofoundry.queue.base import SEGMENTS, DeadLetter, Message
from videofoundry.runtime import Runtime
from videofoundry.services.task_publisher import relay
from videofoundry.storage import keys
from videofoundry.workers import reconciler
from videofoundry.workers.ai_worker import claim as segment_claim
from videofoundry.workers.ai_worker import generate as segment_generate
from videofoundry.workers.ai_worker import segment_row
from videofoundry.workers.ai_worker import worker as ai_worker

pytestmark = pytest.mark.timeout(120)
SMALL = {"width": 160, "height": 96, "fps": 8}


@pytest.fixture(params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("VF_TEST_LEDGER", str(tmp_path / "ledger.jsonl"))
    extra = {"EXTRA_ADAPTERS": "tests.support.counting:CountingProcedural"}
    # No workers run: each test hands the tasks to the handler itself.
    if request.param == "sqlite":
        async with api_client(make_settings(tmp_path, **extra)) as c:
            yield c
    else:
        async with (
            postgres_database() as url,
            api_client(make_settings(tmp_path, DATABASE_URL=url, **extra)) as c,
        ):
            yield c


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def render(
    client: httpx.AsyncClient, auth: dict[str, str], segments: list[dict[str, Any]]
) -> str:
    r = await client.post("/api/projects", json={"name": "p", **SMALL}, headers=auth)
    project_id = r.json()["id"]
    for body in segments:
        r = await client.post(f"/api/projects/{project_id}/segments", json=body, headers=auth)
        assert r.status_code == 201, r.text
    r = await client.post(f"/api/projects/{project_id}/render", headers=auth)
    assert r.status_code == 202, r.text
    job_id: str = r.json()["id"]
    return job_id


async def rows_of(runtime: Runtime, job_id: str) -> list[SegmentRender]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(SegmentRender)
            .where(SegmentRender.job_id == job_id)
            .order_by(SegmentRender.position)
        )
        return list(rows)


async def job_of(runtime: Runtime, job_id: str) -> tuple[RenderJob, list[int]]:
    async with runtime.sessions() as session:
        job = await session.get_one(RenderJob, job_id)
        seqs = await session.scalars(
            select(JobEvent.seq).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)
        )
        return job, list(seqs)


async def same_segment_twice(
    client: httpx.AsyncClient, auth: dict[str, str], segment: dict[str, Any]
) -> tuple[SegmentRender, SegmentRender]:
    """Two renders (of two projects) of one same segment, both planned before either
    generates, so both plan to generate it; their rows."""
    first, second = [await render(client, auth, [segment]) for _ in range(2)]
    runtime = runtime_of(client)
    return (await rows_of(runtime, first))[0], (await rows_of(runtime, second))[0]


def task(row: SegmentRender) -> Message:
    return Message({"v": 1, "segment_render_id": row.id, "job_id": row.job_id}, delivery_count=1)


def generations(tmp_path: Path) -> int:
    return len(read_ledger(tmp_path / "ledger.jsonl"))


async def test_twins_are_generated_once_and_complete_together(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    same = {"prompt": "twin", "duration": 1, "seed": 7}
    job_id = await render(client, auth, [same, {**same, "prompt": "other"}, same])
    first, other, twin = await rows_of(runtime, job_id)
    assert (first.reused, twin.reused) == (False, True)

    await ai_worker.handle(runtime, task(twin))  # a twin's task (never sent) does nothing
    assert generations(tmp_path) == 0
    await ai_worker.handle(runtime, task(first))
    await ai_worker.handle(runtime, task(other))

    assert generations(tmp_path) == 2
    first, other, twin = await rows_of(runtime, job_id)
    assert [r.status for r in (first, other, twin)] == ["completed"] * 3
    assert twin.clip_asset_id == first.clip_asset_id and twin.reused and not first.reused
    job, seqs = await job_of(runtime, job_id)
    assert (job.status, job.completed_count) == ("composing", 3)
    # generating, 2 x running, 3 x completed, composing: numbered without gaps.
    assert seqs == list(range(1, 8)) and job.event_seq == 7


async def test_a_clip_made_meanwhile_by_another_job_is_not_generated_again(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    first, second = await same_segment_twice(
        client, auth, {"prompt": "shared", "duration": 1, "seed": 8}
    )
    first_job, second_job = first.job_id, second.job_id
    assert (second.status, second.reused) == ("pending", False)

    await ai_worker.handle(runtime, task(first))
    await ai_worker.handle(runtime, task(second))

    assert generations(tmp_path) == 1
    (second,) = await rows_of(runtime, second_job)
    assert (second.status, second.reused) == ("completed", True)
    assert second.clip_asset_id == (await rows_of(runtime, first_job))[0].clip_asset_id
    job, seqs = await job_of(runtime, second_job)
    assert job.status == "composing" and seqs == list(range(1, job.event_seq + 1))


async def test_a_clip_in_generation_for_another_render_is_awaited_not_paid_twice(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ai_worker, "SAME_CLIP_POLL_SECONDS", 0.05)
    runtime = runtime_of(client)
    auth = await register(client)
    first, second = await same_segment_twice(
        client, auth, {"prompt": "racing", "duration": 1, "seed": 10}
    )
    first_job, second_job = first.job_id, second.job_id
    claim = await segment_claim.claim(runtime, first.id, first_job)  # a worker is generating it
    assert claim is not None

    async with runtime.status.subscribe(second_job) as events:
        waiting = asyncio.create_task(ai_worker.handle(runtime, task(second)))
        async with asyncio.timeout(10):  # until the segment says why it does not start
            async for event in events:
                if event.get("message") == segment_claim.WAITING_NOTE:
                    break
    (second,) = await rows_of(runtime, second_job)
    assert (second.status, second.message) == ("pending", segment_claim.WAITING_NOTE)
    assert not waiting.done() and generations(tmp_path) == 0

    await segment_generate.generate(runtime, claim)  # the first render's worker finishes
    await asyncio.wait_for(waiting, 10)

    assert generations(tmp_path) == 1
    (second,) = await rows_of(runtime, second_job)
    assert (second.status, second.reused, second.message) == ("completed", True, None)
    job, seqs = await job_of(runtime, second_job)
    assert job.status == "composing" and seqs == list(range(1, job.event_seq + 1))


async def test_one_delivery_waits_for_a_clip_elsewhere_and_holds_the_segment(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one delivery waits for the clip, a copy of its task (a redelivery, or one the
    reconciler sent) leaves at once instead of holding a second worker slot, and the reconciler
    sends no copy; once the waiter stops holding it for a lease period, it does."""
    monkeypatch.setattr(ai_worker, "SAME_CLIP_POLL_SECONDS", 0.05)
    runtime = runtime_of(client)
    auth = await register(client)
    first, second = await same_segment_twice(
        client, auth, {"prompt": "held", "duration": 1, "seed": 12}
    )
    claim = await segment_claim.claim(runtime, first.id, first.job_id)
    assert claim is not None
    waiting = asyncio.create_task(ai_worker.handle(runtime, task(second)))
    async with asyncio.timeout(10):
        while (await rows_of(runtime, second.job_id))[0].message != segment_claim.WAITING_NOTE:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(ai_worker.handle(runtime, task(second)), 5)  # the copy leaves
    assert not waiting.done()
    (held,) = await rows_of(runtime, second.job_id)
    assert held.status == "pending" and held.lease_token and held.lease_expires_at
    assert not await segment_claim.hold_wait(runtime, held.id, held.job_id, "other", False)
    assert await segment_claim.hold_wait(runtime, held.id, held.job_id, held.lease_token, False)
    (again,) = await rows_of(runtime, second.job_id)
    assert again.lease_expires_at and again.lease_expires_at >= held.lease_expires_at
    async with runtime.sessions() as session, session.begin():  # the first one's heartbeat
        await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id == first.id)
            .values(lease_expires_at=again.lease_expires_at + timedelta(hours=1))
        )
    await relay(runtime.sessions, runtime.broker)
    before = await runtime.broker.depth(SEGMENTS)
    later = again.lease_expires_at - timedelta(seconds=1)
    monkeypatch.setattr(reconciler, "utcnow", lambda: later)
    assert await reconciler.sweep(runtime) == 0  # held: no copy
    waiting.cancel()  # the waiting worker dies
    later = again.lease_expires_at + timedelta(seconds=1)
    assert await reconciler.sweep(runtime) == 1
    await relay(runtime.sessions, runtime.broker)
    assert await runtime.broker.depth(SEGMENTS) == before + 1

    await segment_generate.generate(runtime, claim)  # the first render's worker finishes
    await ai_worker.handle(runtime, task(second))  # the copy completes it from that clip
    assert generations(tmp_path) == 1
    (second,) = await rows_of(runtime, second.job_id)
    assert (second.status, second.reused) == ("completed", True)


async def test_a_dead_generation_elsewhere_is_not_awaited(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    first, second = await same_segment_twice(
        client, auth, {"prompt": "abandoned", "duration": 1, "seed": 11}
    )
    assert await segment_claim.claim(runtime, first.id, first.job_id) is not None
    async with runtime.sessions() as session, session.begin():
        # That worker died: its lease ran out (the reconciler has not swept it yet).
        await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id == first.id)
            .values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )

    await asyncio.wait_for(ai_worker.handle(runtime, task(second)), 30)

    assert generations(tmp_path) == 1
    (second,) = await rows_of(runtime, second.job_id)
    assert (second.status, second.reused) == ("completed", False)


async def test_a_lease_lost_before_the_commit_keeps_the_clip_and_changes_no_row(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    job_id = await render(client, auth, [{"prompt": "late", "duration": 1, "seed": 9}])
    (row,) = await rows_of(runtime, job_id)
    claim = await segment_claim.claim(runtime, row.id, job_id)
    assert claim is not None
    _, seqs_after_claim = await job_of(runtime, job_id)
    async with runtime.sessions() as session, session.begin():
        # Another worker took the segment over (as after our lease expired).
        await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id == row.id)
            .values(lease_token="someone-else")
        )

    with pytest.raises(segment_row.LeaseLost):
        await segment_generate.generate(runtime, claim)

    assert generations(tmp_path) == 1
    (row,) = await rows_of(runtime, job_id)
    assert (row.status, row.lease_token, row.clip_asset_id) == ("running", "someone-else", None)
    job, seqs = await job_of(runtime, job_id)
    assert (job.completed_count, seqs) == (0, seqs_after_claim)  # nothing numbered or lost
    async with runtime.sessions() as session:
        # The paid-for clip and its poster stay recorded for the next render to reuse.
        stored = await session.scalars(
            select(Asset.storage_key).where(
                Asset.storage_key.in_(
                    [
                        keys.clip(job.owner_id, row.spec_hash),
                        keys.clip_poster(job.owner_id, row.spec_hash),
                    ]
                )
            )
        )
        assert len(list(stored)) == 2


@pytest.mark.parametrize("backend", ["local", "s3"])
async def test_an_init_image_reaches_the_model_as_a_url_where_storage_has_one(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VF_TEST_LEDGER", str(tmp_path / "ledger.jsonl"))
    extra: dict[str, Any] = {"EXTRA_ADAPTERS": "tests.support.counting:CountingProcedural"}
    async with AsyncExitStack() as stack:
        if backend == "s3":
            endpoint = stack.enter_context(moto_server())
            extra |= {"S3_BUCKET": "vftest-init", "S3_ENDPOINT_URL": endpoint, **MOTO_CREDENTIALS}
        client = await stack.enter_async_context(api_client(make_settings(tmp_path, **extra)))
        runtime = runtime_of(client)
        auth = await register(client)
        image = pattern_png()
        r = await client.post(
            "/api/assets", data={"kind": "image"}, files={"file": ("i.png", image)}, headers=auth
        )
        assert r.status_code == 201, r.text
        job_id = await render(
            client,
            auth,
            [{"prompt": "from a picture", "duration": 1, "init_image_asset_id": r.json()["id"]}],
        )
        (row,) = await rows_of(runtime, job_id)
        await ai_worker.handle(runtime, task(row))

        (generated,) = read_ledger(tmp_path / "ledger.jsonl")
        if backend == "local":
            assert generated["init_image_url"] is None  # the model gets the bytes only
            return
        async with httpx.AsyncClient() as fetch:  # what a hosted model would fetch
            got = await fetch.get(generated["init_image_url"])
        assert got.status_code == 200 and got.content == image


def pattern_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


async def test_a_segment_calls_its_model_at_most_the_cap_then_fails(
    client: httpx.AsyncClient,
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    job_id = await render(client, auth, [{"prompt": "[busy] harbour", "duration": 1}])
    (row,) = await rows_of(runtime, job_id)

    with pytest.raises(DeadLetter, match="gave up after 3 attempts"):
        await asyncio.wait_for(ai_worker.handle(runtime, task(row)), 30)

    assert counting.calls[row.id] == runtime.settings.SEGMENT_MAX_ATTEMPTS == 3
    (row,) = await rows_of(runtime, job_id)
    assert (row.status, row.attempts) == ("failed", 3)
    job, _ = await job_of(runtime, job_id)
    assert job.status == "failed" and "gave up after 3 attempts" in (job.error or "")


async def test_attempts_spent_by_earlier_deliveries_count_against_the_cap(
    client: httpx.AsyncClient,
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    job_id = await render(client, auth, [{"prompt": "[busy] lighthouse", "duration": 1}])
    (row,) = await rows_of(runtime, job_id)
    async with runtime.sessions() as session, session.begin():
        # Three deliveries already called the model, then their workers died.
        await session.execute(
            update(SegmentRender).where(SegmentRender.id == row.id).values(attempts=3)
        )

    with pytest.raises(DeadLetter, match="gave up after 3 attempts"):
        await ai_worker.handle(runtime, task(row))

    assert counting.calls[row.id] == 0  # the fourth delivery paid for nothing
    (row,) = await rows_of(runtime, job_id)
    assert (row.status, row.attempts) == ("failed", 4)


async def test_a_provider_asking_to_wait_a_day_fails_the_segment_at_once(
    client: httpx.AsyncClient,
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    job_id = await render(client, auth, [{"prompt": "[quota] dunes", "duration": 1}])
    (row,) = await rows_of(runtime, job_id)

    with pytest.raises(DeadLetter, match="asks to wait 86400 s"):
        await asyncio.wait_for(ai_worker.handle(runtime, task(row)), 30)

    assert counting.calls[row.id] == 1
    (row,) = await rows_of(runtime, job_id)
    assert row.status == "failed" and "render again later" in (row.error or "")


async def test_an_unexpected_error_gives_the_segment_back_until_the_last_delivery(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' one failure path: a crash that is nobody's deliberate failure releases
    the lease for the redelivery; on the last delivery it is recorded before dead-lettering."""
    runtime = runtime_of(client)
    adapter = runtime.registry.adapters["procedural"]

    async def crashes(request: Any, context: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(adapter, "generate", crashes)
    auth = await register(client)
    job_id = await render(client, auth, [{"prompt": "ember", "duration": 1}])
    (row,) = await rows_of(runtime, job_id)

    with pytest.raises(RuntimeError, match="disk on fire"):
        await ai_worker.handle(runtime, task(row))
    (row,) = await rows_of(runtime, job_id)
    assert (row.status, row.lease_token, row.error) == ("pending", None, None)
    job, _ = await job_of(runtime, job_id)
    assert job.status == "generating"

    last = Message(dict(task(row).body), delivery_count=runtime.broker.delivery_limit)
    with pytest.raises(RuntimeError, match="disk on fire"):
        await ai_worker.handle(runtime, last)
    (row,) = await rows_of(runtime, job_id)
    assert (row.status, row.error) == ("failed", "internal error: RuntimeError: disk on fire")
    job, seqs = await job_of(runtime, job_id)
    assert job.status == "failed" and "segment 1 of 'p': internal error" in (job.error or "")
    assert seqs == list(range(1, job.event_seq + 1))
