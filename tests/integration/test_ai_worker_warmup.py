"""An AI worker gets ready before it takes segments, so its first wave is not slower than the
next ones (bench/scaleout measures the waves)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.support.app import make_settings, postgres_database
from videofoundry.database.migrate import upgrade_async
from videofoundry.runtime import Runtime
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(60)


async def test_an_ai_worker_opens_a_database_connection_per_segment_slot_first(
    tmp_path: Path,
) -> None:
    async with postgres_database() as url:
        settings = make_settings(tmp_path, DATABASE_URL=url, AI_WORKER_CONCURRENCY=3)
        await upgrade_async(settings.database_url)
        runtime = await Runtime.start(settings)
        work = asyncio.create_task(run_workers(runtime, ("ai",)))
        try:
            # Idle, the worker only sweeps, one statement at a time on one connection.
            async with asyncio.timeout(20):
                while runtime.engine.pool.checkedin() < 3:  # type: ignore[attr-defined]
                    assert not work.done(), work
                    await asyncio.sleep(0.05)
        finally:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            await runtime.close()
