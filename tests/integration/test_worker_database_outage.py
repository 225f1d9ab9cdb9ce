"""Both workers while PostgreSQL cannot be reached (behind a proxy taken down and up): a claim
waits for the database instead of spending the message's deliveries at once, which would
dead-letter the task; and a composition task dead-lettered all the same (an outage longer than
the wait) is sent again by the reconciler, so the job does not stay composing forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.private import OutageProxy
from tests.integration.test_segment_worker import generations, render, rows_of, runtime_of, task
from tests.services import POSTGRES
from tests.support.app import api_client, make_settings, postgres_database, register
from videofoundry.database.base import utcnow
from videofoundry.models import RenderJob
from videofoundry.queue.base import COMPOSITIONS, SEGMENTS, Message
from videofoundry.runtime import Runtime
from videofoundry.services.task_publisher import relay
from videofoundry.workers import database_wait, reconciler
from videofoundry.workers.ai_worker import worker as ai_worker
from videofoundry.workers.composition_worker import worker as composition_worker

pytestmark = pytest.mark.timeout(120)


@dataclass
class Proxied:
    client: httpx.AsyncClient
    runtime: Runtime
    proxy: OutageProxy
    auth: dict[str, str]


@pytest.fixture
async def proxied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxied]:
    """The app (no workers running: tests hand tasks to the handlers) on a fresh PostgreSQL
    database reached through a proxy the test can take down."""
    monkeypatch.setenv("VF_TEST_LEDGER", str(tmp_path / "ledger.jsonl"))
    proxy = OutageProxy(POSTGRES[1])
    proxy.up()
    try:
        async with postgres_database() as url:
            proxied = url.replace(f"{POSTGRES[0]}:{POSTGRES[1]}", f"127.0.0.1:{proxy.port}")
            assert proxied != url
            settings = make_settings(
                tmp_path,
                DATABASE_URL=proxied,
                EXTRA_ADAPTERS="tests.support.counting:CountingProcedural",
                QUEUE_DELIVERY_LIMIT=2,
            )
            async with api_client(settings) as client:
                yield Proxied(client, runtime_of(client), proxy, await register(client))
    finally:
        proxy.close()


async def _while_down(
    caplog: pytest.LogCaptureFixture, proxy: OutageProxy, handling: asyncio.Task[None]
) -> None:
    """Until the handler has found the database gone; it must still be waiting."""
    for _ in range(200):
        if handling.done() or "database unreachable" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert not handling.done(), handling.exception()


async def _composing(p: Proxied) -> str:
    """A one-segment job whose segment is generated: composing, its task in the outbox."""
    job_id = await render(p.client, p.auth, [{"prompt": "restart", "duration": 1}])
    (row,) = await rows_of(p.runtime, job_id)
    await ai_worker.handle(p.runtime, task(row))
    assert await _status(p.runtime, job_id) == "composing"
    return job_id


async def _dead_lettered(runtime: Runtime, queue: str) -> list[dict[str, Any]]:
    """The queue's dead letters, once there are any (up to 10 s)."""
    for _ in range(200):
        if dead := await runtime.broker.dead_letters(queue):
            return dead
        await asyncio.sleep(0.05)
    return await runtime.broker.dead_letters(queue)


async def _status(runtime: Runtime, job_id: str) -> str:
    async with runtime.sessions() as session:
        return (await session.get_one(RenderJob, job_id)).status


async def test_a_segment_claim_waits_out_an_unreachable_database(
    proxied: Proxied, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=database_wait.__name__)
    p = proxied
    job_id = await render(p.client, p.auth, [{"prompt": "restart", "duration": 1}])
    (row,) = await rows_of(p.runtime, job_id)

    p.proxy.down()
    handling = asyncio.create_task(ai_worker.handle(p.runtime, task(row)))
    await _while_down(caplog, p.proxy, handling)
    p.proxy.up()
    await asyncio.wait_for(handling, 60)

    (row,) = await rows_of(p.runtime, job_id)
    assert row.status == "completed" and row.attempts == 1
    assert generations(tmp_path) == 1


async def test_a_composition_claim_waits_out_an_unreachable_database(
    proxied: Proxied, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=database_wait.__name__)
    p = proxied
    job_id = await _composing(p)

    p.proxy.down()
    message = Message({"v": 1, "job_id": job_id}, delivery_count=1)
    handling = asyncio.create_task(composition_worker.handle(p.runtime, message))
    await _while_down(caplog, p.proxy, handling)
    p.proxy.up()
    await asyncio.wait_for(handling, 60)
    assert await _status(p.runtime, job_id) == "completed"


async def test_a_composition_dead_lettered_before_any_composer_took_it_is_sent_again(
    proxied: Proxied, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = proxied
    job_id = await _composing(p)
    await relay(p.runtime.sessions, p.runtime.broker)  # the task is in the queue

    # An outage longer than the claim's wait: every delivery fails, the task is dead-lettered.
    monkeypatch.setattr(database_wait, "DATABASE_WAIT_SECONDS", 0.0)
    p.proxy.down()
    consumer = await p.runtime.broker.consume(
        COMPOSITIONS, lambda message: composition_worker.handle(p.runtime, message)
    )
    try:
        assert await _dead_lettered(p.runtime, COMPOSITIONS) == [{"v": 1, "job_id": job_id}]
        p.proxy.up()

        # No composer ever held the job, so no lease expires; the first sweep notes the time.
        assert await reconciler.sweep(p.runtime) == 0
        assert await reconciler.sweep(p.runtime) == 0
        assert await _status(p.runtime, job_id) == "composing"
        later = utcnow() + timedelta(seconds=p.runtime.settings.LEASE_SECONDS + 1)
        monkeypatch.setattr(reconciler, "utcnow", lambda: later)  # a lease period later
        assert await reconciler.sweep(p.runtime) == 1
        monkeypatch.setattr(reconciler, "utcnow", utcnow)
        assert await reconciler.sweep(p.runtime) == 0  # not again before another period
        await relay(p.runtime.sessions, p.runtime.broker)
        for _ in range(600):
            if await _status(p.runtime, job_id) != "composing":
                break
            await asyncio.sleep(0.1)
        assert await _status(p.runtime, job_id) == "completed"
    finally:
        await consumer.stop()


async def test_a_segment_dead_lettered_before_any_worker_took_it_is_sent_again(
    proxied: Proxied, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = proxied
    job_id = await render(p.client, p.auth, [{"prompt": "restart", "duration": 1}])
    await relay(p.runtime.sessions, p.runtime.broker)  # the task is in the queue

    # An outage longer than the claim's wait: every delivery fails, the task is dead-lettered.
    monkeypatch.setattr(database_wait, "DATABASE_WAIT_SECONDS", 0.0)
    p.proxy.down()
    consumer = await p.runtime.broker.consume(
        SEGMENTS, lambda message: ai_worker.handle(p.runtime, message)
    )
    try:
        (dead,) = await _dead_lettered(p.runtime, SEGMENTS)
        assert dead["job_id"] == job_id
        p.proxy.up()

        # No worker ever held the row, so no lease expires: nothing until a lease period.
        assert await reconciler.sweep(p.runtime) == 0
        (row,) = await rows_of(p.runtime, job_id)
        assert (row.status, row.attempts) == ("pending", 0)
        later = utcnow() + timedelta(seconds=p.runtime.settings.LEASE_SECONDS + 1)
        monkeypatch.setattr(reconciler, "utcnow", lambda: later)
        assert await reconciler.sweep(p.runtime) == 1
        assert await reconciler.sweep(p.runtime) == 0  # not again before another period
        await relay(p.runtime.sessions, p.runtime.broker)
        for _ in range(600):
            if await _status(p.runtime, job_id) != "generating":
                break
            await asyncio.sleep(0.1)
        assert await _status(p.runtime, job_id) == "composing"
        assert generations(tmp_path) == 1
    finally:
        await consumer.stop()
