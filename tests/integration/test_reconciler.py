"""The reconciler hands out work whose worker died, and gives up on work that kills workers;
it sends a composition nobody took again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from tests.integration.test_segment_worker import render, rows_of, task
from tests.support.app import api_client, make_settings, postgres_database, register
from videofoundry.database.base import utcnow
from videofoundry.models import RenderJob, SegmentRender
from videofoundry.queue.base import COMPOSITIONS, SEGMENTS
from videofoundry.runtime import Runtime
from videofoundry.services.task_publisher import relay
from videofoundry.workers import reconciler
from videofoundry.workers.ai_worker import worker as ai_worker
from videofoundry.workers.composition_worker import worker as composition_worker


async def test_expired_lease_is_requeued_then_given_up(tmp_path: Path) -> None:
    async with api_client(make_settings(tmp_path, QUEUE_DELIVERY_LIMIT=3)) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        auth = await register(client)
        pid = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()["id"]
        await client.post(
            f"/api/projects/{pid}/segments", json={"prompt": "x", "duration": 1}, headers=auth
        )
        job_id = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()["id"]
        broker = runtime.broker

        async def stall(attempts: int) -> None:
            # As if a worker claimed the segment and died without a trace.
            async with runtime.sessions() as session, session.begin():
                await session.execute(
                    update(SegmentRender)
                    .where(SegmentRender.job_id == job_id)
                    .values(
                        status="running",
                        lease_token="dead",
                        attempts=attempts,
                        lease_expires_at=utcnow() - timedelta(seconds=1),
                    )
                )

        before = await broker.depth(SEGMENTS)
        await stall(attempts=1)
        assert await reconciler.sweep(runtime) == 1
        await reconciler.sweep(runtime)  # publishes nothing more: the row is pending again
        await relay(runtime.sessions, broker)
        assert await broker.depth(SEGMENTS) == before + 1
        job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        assert job["segments"][0]["status"] == "pending"

        await stall(attempts=3)
        await reconciler.sweep(runtime)
        job = (await client.get(f"/api/render-jobs/{job_id}", headers=auth)).json()
        assert job["status"] == "failed"
        assert "stopped responding 3 times" in job["error"]
        async with runtime.sessions() as session:
            assert (await session.get_one(RenderJob, job_id)).status == "failed"


async def test_a_composition_nobody_takes_is_sent_again_after_a_lease_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its task may have been dead-lettered before any composer held the job: with no lease to
    expire, the job would stay composing forever."""
    async with api_client(make_settings(tmp_path)) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        auth = await register(client)
        job_id = await render(client, auth, [{"prompt": "x", "duration": 1}])
        (row,) = await rows_of(runtime, job_id)
        await ai_worker.handle(runtime, task(row))
        await relay(runtime.sessions, runtime.broker)
        queued = await runtime.broker.depth(COMPOSITIONS)
        assert queued == 1  # the task, taken to be lost from here on

        assert await reconciler.sweep(runtime) == 0
        assert await reconciler.sweep(runtime) == 0
        later = utcnow() + timedelta(seconds=runtime.settings.LEASE_SECONDS + 1)
        monkeypatch.setattr(reconciler, "utcnow", lambda: later)  # a lease period later
        assert await reconciler.sweep(runtime) == 1
        monkeypatch.setattr(reconciler, "utcnow", utcnow)
        assert await reconciler.sweep(runtime) == 0  # not again before another period
        await relay(runtime.sessions, runtime.broker)
        assert await runtime.broker.depth(COMPOSITIONS) == queued + 1

        # A composer holding a live lease is left alone.
        lease = await composition_worker._claim(runtime, job_id)
        assert lease is not None
        assert await reconciler.sweep(runtime) == 0
        async with runtime.sessions() as session:
            job = await session.get_one(RenderJob, job_id)
            assert job.composition_lease == lease and job.status == "composing"


async def test_a_segment_nobody_takes_is_sent_again_once_a_lease_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its task may have been lost or dead-lettered before any worker claimed it: with no lease
    to expire, the render would wait forever. A copy is sent when nobody has taken the row for a
    lease period, the next one only after as long again as it has been queued."""
    async with api_client(make_settings(tmp_path)) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        auth = await register(client)
        job_id = await render(client, auth, [{"prompt": "x", "duration": 1}])
        (row,) = await rows_of(runtime, job_id)
        await relay(runtime.sessions, runtime.broker)
        queued = await runtime.broker.depth(SEGMENTS)
        assert queued == 1  # the task, taken to be lost from here on

        def at(seconds: float) -> None:
            later = utcnow() + timedelta(seconds=seconds)
            monkeypatch.setattr(reconciler, "utcnow", lambda: later)

        lease = runtime.settings.LEASE_SECONDS
        assert await reconciler.sweep(runtime) == 0
        at(lease + 1)
        assert await reconciler.sweep(runtime) == 1
        assert await reconciler.sweep(runtime) == 0  # not again before another period
        at(2 * lease + 3)
        assert await reconciler.sweep(runtime) == 1
        at(3 * lease + 3)  # queued for two periods: the next copy waits two periods
        assert await reconciler.sweep(runtime) == 0
        await relay(runtime.sessions, runtime.broker)
        assert await runtime.broker.depth(SEGMENTS) == queued + 2

        # The copy generates it; the others find it done and do nothing.
        for _ in range(3):
            await ai_worker.handle(runtime, task(row))
        (row,) = await rows_of(runtime, job_id)
        assert (row.status, row.attempts) == ("completed", 1)
        at(30 * lease)
        assert await reconciler.sweep(runtime) == 0


async def test_the_sweep_and_a_claim_of_the_same_expired_segment_do_not_deadlock(
    tmp_path: Path,
) -> None:
    """A claim locks the job row, then the segment row. The sweep locked the expired segment
    row first, then the job: PostgreSQL aborted one of the two (seen in the crash tests)."""
    async with (
        postgres_database() as url,
        api_client(make_settings(tmp_path, DATABASE_URL=url)) as client,
    ):
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        auth = await register(client)
        job_id = await render(client, auth, [{"prompt": "x", "duration": 1}])
        (row,) = await rows_of(runtime, job_id)
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(SegmentRender)
                .where(SegmentRender.id == row.id)
                .values(status="running", lease_token="dead", lease_expires_at=utcnow())
            )

        async with runtime.sessions() as claim, claim.begin():  # a claim of the same segment
            await claim.execute(
                select(RenderJob.id).where(RenderJob.id == job_id).with_for_update()
            )
            sweeping = asyncio.create_task(reconciler.sweep(runtime))
            async with runtime.sessions() as watch:
                for _ in range(200):  # until the sweep waits for a lock
                    waiting = await watch.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                assert waiting == 1
            await asyncio.wait_for(
                claim.execute(
                    update(SegmentRender)
                    .where(SegmentRender.id == row.id)
                    .values(lease_token="live", lease_expires_at=utcnow() + timedelta(minutes=5))
                ),
                30,
            )
        assert await asyncio.wait_for(sweeping, 30) == 0  # the claim got there first
        (row,) = await rows_of(runtime, job_id)
        assert (row.status, row.lease_token) == ("running", "live")
