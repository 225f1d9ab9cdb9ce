"""Crashes at awkward moments lose nothing and generate nothing twice (counted by the adapter)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import make_stack
from tests.e2e.test_timeline_workflow import login, spec_hashes, timeline, wait_job
from tests.services import RABBITMQ_URL
from tests.support.counting import read_ledger
from tests.support.stack import Stack
from videofoundry.queue.base import SEGMENTS
from videofoundry.queue.rabbitmq import RabbitBroker

pytestmark = pytest.mark.timeout(300)


async def wait_for_a_kill_point(
    client: httpx.AsyncClient, stack: Stack, job_id: str, done: int
) -> None:
    """Until `done` segments are finished and others are being generated, with none between its
    model's output and its commit: the ledger (written as each generation ends) then counts
    exactly the finished ones. A crash in that window of milliseconds (checking, storing and
    committing the clip) makes a local model's clip again, as documented in operations.md; a
    hosted model resumes its task instead. Killing outside it tests what the product promises."""
    for _ in range(600):
        job = (await client.get(f"/api/render-jobs/{job_id}")).json()
        finished = sum(1 for s in job["segments"] if s["status"] == "completed")
        running = sum(1 for s in job["segments"] if s["status"] == "running")
        if finished >= done and running and len(read_ledger(stack.ledger)) == finished:
            return
        assert job["status"] not in ("failed", "cancelled"), job
        await asyncio.sleep(0.05)
    raise AssertionError("the render never got going")


def assert_each_generated_once(stack: Stack, hashes: set[str]) -> None:
    counts = Counter(e["spec_hash"] for e in read_ledger(stack.ledger))
    assert {h: counts[h] for h in hashes} == dict.fromkeys(hashes, 1), counts


async def test_sigkill_ai_worker_mid_render(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("distributed", tmp_path, s3_url) as stack:
        stack.env["VF_TEST_GENERATE_DELAY"] = "0.6"
        stack.start()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            await login(client)
            project = await timeline(client, [1.0] * 10)
            job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
            await wait_for_a_kill_point(client, stack, job_id, done=2)
            stack.kill("ai")
            stack.spawn("ai", "worker", "ai")
            job = await wait_job(client, job_id, timeout=200)
            assert job["status"] == "completed", stack.logs()
            assert_each_generated_once(stack, await spec_hashes(client, project["id"]))


async def test_sigkill_embedded_process_mid_render(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("embedded", tmp_path, s3_url) as stack:
        stack.env["VF_TEST_GENERATE_DELAY"] = "0.6"
        stack.start()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            await login(client)
            project = await timeline(client, [1.0] * 6)
            job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
            await wait_for_a_kill_point(client, stack, job_id, done=2)
            stack.kill("up")
            stack.start()
            job = await wait_job(client, job_id, timeout=200)
            assert job["status"] == "completed", stack.logs()
            assert_each_generated_once(stack, await spec_hashes(client, project["id"]))


async def test_racing_composition_workers_compose_once(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("distributed", tmp_path, s3_url) as stack:
        stack.start()
        stack.spawn("composition-2", "worker", "composition")
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            await login(client)
            project = await timeline(client, [1.0] * 3)
            job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
            # A duplicate delivery of the composition task, as after a redelivery.
            broker = RabbitBroker(RABBITMQ_URL, prefix=stack.env["QUEUE_PREFIX"])
            await broker.connect()
            try:
                for _ in range(2):
                    await broker.publish("compositions.compose", {"v": 1, "job_id": job_id})
            finally:
                await broker.close()
            job = await wait_job(client, job_id)
            assert job["status"] == "completed", stack.logs()
        database = await asyncpg.connect(stack.env["DATABASE_URL"])
        try:
            attempts = await database.fetchval(
                "SELECT composition_attempts FROM render_job WHERE id = $1", job_id
            )
        finally:
            await database.close()
        assert attempts == 1


async def test_poison_messages_are_dead_lettered(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("distributed", tmp_path, s3_url) as stack:
        stack.start()
        broker = RabbitBroker(RABBITMQ_URL, prefix=stack.env["QUEUE_PREFIX"])
        await broker.connect()
        try:
            await broker.publish(SEGMENTS, {"v": 99, "what": "unknown schema"})
            # A task whose model refuses it: the job fails with the reason, the task is dead.
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
                await login(client)
                project = await timeline(client, [])
                await client.post(
                    f"/api/projects/{project['id']}/segments",
                    json={"prompt": "[reject] this", "duration": 1},
                )
                job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
                job = await wait_job(client, job_id)
            assert job["status"] == "failed" and "moderation" in job["error"]
            for _ in range(100):
                dead = await broker.dead_letters(SEGMENTS)
                if len(dead) == 2:
                    break
                await asyncio.sleep(0.1)
            assert {"v": 99, "what": "unknown schema"} in dead
            assert any(d.get("job_id") == job_id for d in dead)
        finally:
            await broker.close()
