"""A clip whose upload succeeded but whose recording transaction was lost (the database
restarting in between) is taken from storage by the next claim, not paid for again. On SQLite
and PostgreSQL, with the worker's handler driven message by message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.integration import test_segment_worker
from tests.integration.test_segment_worker import (
    generations,
    job_of,
    render,
    rows_of,
    runtime_of,
    task,
)
from tests.support.app import register
from videofoundry.database.base import utcnow
from videofoundry.models import Asset, SegmentRender
from videofoundry.storage import keys
from videofoundry.workers import reconciler
from videofoundry.workers.ai_worker import generate as segment_generate
from videofoundry.workers.ai_worker import worker as ai_worker

pytestmark = pytest.mark.timeout(120)
client = test_segment_worker.client
"""The API on SQLite and on PostgreSQL with no workers running (the same fixture)."""


async def test_a_clip_stored_but_never_recorded_is_not_generated_again(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_of(client)
    auth = await register(client)
    job_id = await render(client, auth, [{"prompt": "outage", "duration": 1, "seed": 5}])
    (row,) = await rows_of(runtime, job_id)

    async def database_gone(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError(111, "Connect call failed (test: database restarting)")

    with monkeypatch.context() as during_outage:
        # The clip is generated and uploaded; then the database goes away: the transaction
        # recording it fails, and so does giving the row back.
        during_outage.setattr(segment_generate, "complete", database_gone)
        during_outage.setattr(ai_worker, "release", database_gone)
        with pytest.raises(ConnectionRefusedError):
            await ai_worker.handle(runtime, task(row))
    assert generations(tmp_path) == 1
    job, _ = await job_of(runtime, job_id)
    clip_key = keys.clip(job.owner_id, row.spec_hash)
    assert await runtime.storage.exists(clip_key)
    async with runtime.sessions() as session:
        assert await session.scalar(select(Asset.id).where(Asset.storage_key == clip_key)) is None

    # The database is back; the dead delivery's lease runs out and the reconciler hands the
    # segment on, as it does after a restart.
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(SegmentRender)
            .where(SegmentRender.id == row.id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await reconciler.sweep(runtime) == 1
    await ai_worker.handle(runtime, task(row))

    assert generations(tmp_path) == 1  # taken from storage, the model not called again
    (row,) = await rows_of(runtime, job_id)
    assert row.status == "completed" and row.clip_asset_id is not None
    job, _ = await job_of(runtime, job_id)
    assert (job.completed_count, job.status) == (1, "composing")
    async with runtime.sessions() as session:
        recorded = await session.scalars(
            select(Asset.storage_key).where(
                Asset.storage_key.in_([clip_key, keys.clip_poster(job.owner_id, row.spec_hash)])
            )
        )
        assert len(list(recorded)) == 2
