"""The reconciler hands out work whose worker died, and gives up on work that kills workers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from tests.support.app import api_client, make_settings, register
from videofoundry.database.base import utcnow
from videofoundry.models import RenderJob, SegmentRender
from videofoundry.queue.base import SEGMENTS
from videofoundry.runtime import Runtime
from videofoundry.services.task_publisher import relay
from videofoundry.workers import reconciler


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
