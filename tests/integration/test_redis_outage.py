"""Redis is a cache and a doorbell: with it gone mid-run, renders finish and status is served
from the database. Runs a private redis-server (never the shared one)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.services import free_port, reachable
from tests.support.app import api_client, make_settings, register
from videofoundry.models import JobEvent
from videofoundry.queue.memory import MemoryBroker
from videofoundry.runtime import Runtime
from videofoundry.status.redis import RedisStatusBus
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(120)


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        if reachable(("127.0.0.1", port)):
            break
        time.sleep(0.05)
    process.port = port  # type: ignore[attr-defined]
    yield process
    process.kill()
    process.wait()


async def test_render_survives_redis_dying(
    tmp_path: Path, private_redis: subprocess.Popen[bytes]
) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"  # type: ignore[attr-defined]
    settings = make_settings(tmp_path, REDIS_URL=url)
    async with api_client(settings, companions=(_workers,)) as client:
        auth = await register(client)
        r = await client.post(
            "/api/projects", json={"name": "r", "width": 160, "height": 96, "fps": 8}, headers=auth
        )
        pid = r.json()["id"]
        for i in range(2):
            await client.post(
                f"/api/projects/{pid}/segments",
                json={"prompt": f"p{i}", "duration": 1, "seed": i},
                headers=auth,
            )
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert isinstance(runtime.status, RedisStatusBus)  # the bus under test is Redis
        private_redis.kill()
        private_redis.wait()
        assert not reachable(("127.0.0.1", private_redis.port))  # type: ignore[attr-defined]
        job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
        # The bus is down, so wait on the in-process queues, not on its events.
        assert isinstance(runtime.broker, MemoryBroker)
        await asyncio.wait_for(runtime.broker.join(), 60)
        job = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
        assert job["status"] == "completed", job
        assert all(s["status"] == "completed" for s in job["segments"])
        # Every state change was still numbered and stored, in order.
        async with runtime.sessions() as session:
            payloads = list(
                await session.scalars(
                    select(JobEvent.payload)
                    .where(JobEvent.job_id == job["id"])
                    .order_by(JobEvent.seq)
                )
            )
        assert [p["status"] for p in payloads if p["type"] == "job"] == [
            "generating",
            "composing",
            "completed",
        ]
