"""The AI worker's claim while PostgreSQL cannot be reached (behind a proxy taken down and up):
it waits for the database instead of spending the message's deliveries at once, which would
dead-letter the task and leave its segment pending with nothing to hand it out."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.faults.private import OutageProxy
from tests.integration.test_segment_worker import generations, render, rows_of, runtime_of, task
from tests.services import POSTGRES
from tests.support.app import api_client, make_settings, postgres_database, register
from videofoundry.workers.ai_worker import worker as ai_worker

pytestmark = pytest.mark.timeout(120)


async def test_a_claim_waits_out_an_unreachable_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VF_TEST_LEDGER", str(tmp_path / "ledger.jsonl"))
    caplog.set_level(logging.WARNING, logger=ai_worker.__name__)
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
            )
            async with api_client(settings) as client:
                runtime = runtime_of(client)
                auth = await register(client)
                job_id = await render(client, auth, [{"prompt": "restart", "duration": 1}])
                (row,) = await rows_of(runtime, job_id)

                proxy.down()
                handling = asyncio.create_task(ai_worker.handle(runtime, task(row)))
                for _ in range(200):  # until the claim has found the database gone
                    if handling.done() or "database unreachable" in caplog.text:
                        break
                    await asyncio.sleep(0.05)
                assert not handling.done(), handling.exception()
                proxy.up()
                await asyncio.wait_for(handling, 60)

                (row,) = await rows_of(runtime, job_id)
                assert row.status == "completed" and row.attempts == 1
                assert generations(tmp_path) == 1
    finally:
        proxy.close()
