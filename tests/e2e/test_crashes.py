"""Crashes at awkward moments lose nothing and generate nothing twice (counted by the adapter)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets

from tests.e2e.conftest import make_stack
from tests.e2e.records import job_events, running_segments, segment_attempts, statuses
from tests.e2e.test_timeline_workflow import login, spec_hashes, timeline, wait_job
from tests.services import RABBITMQ_URL
from tests.support.counting import read_ledger
from tests.support.stack import Stack
from videofoundry.queue.base import COMPOSITIONS, SEGMENTS
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
    deadline = asyncio.get_running_loop().time() + 90  # generous: the 2 cores are shared
    while asyncio.get_running_loop().time() < deadline:
        job = (await client.get(f"/api/render-jobs/{job_id}")).json()
        finished = sum(1 for s in job["segments"] if s["status"] == "completed")
        running = sum(1 for s in job["segments"] if s["status"] == "running")
        if finished >= done and running and len(read_ledger(stack.ledger)) == finished:
            return
        assert job["status"] not in ("failed", "cancelled"), job
        await asyncio.sleep(0.05)
    raise AssertionError(f"no kill point: the render never got going ({job['status']})")


def assert_each_generated_once(stack: Stack, hashes: set[str]) -> None:
    counts = Counter(e["spec_hash"] for e in read_ledger(stack.ledger))
    assert {h: counts[h] for h in hashes} == dict.fromkeys(hashes, 1), counts


def kill(stack: Stack, name: str) -> None:
    """SIGKILL a process of the stack, checking it was alive and died of that signal."""
    process = stack.processes[name]
    assert process.poll() is None, f"{name} had already exited:\n{stack.logs(name)}"
    stack.kill(name)
    assert process.returncode == -signal.SIGKILL


async def assert_taken_over(stack: Stack, job_id: str, killed: set[str]) -> None:
    """The segments the dead worker held were claimed again, once, and completed; the job went
    to composing and completed once, never failed."""
    events = await job_events(stack, job_id)
    attempts = await segment_attempts(stack, job_id)
    for segment_id in killed:
        seen = statuses(events, segment_id)
        assert seen[-1] == "completed" and seen.count("running") == 2, seen
        assert attempts[segment_id] == 2
        if stack.kind == "distributed":
            # The reconciler hands it on once its lease runs out, and says so.
            assert seen == ["running", "pending", "running", "completed"], seen
            handed = [e for e in events if e.segment_id == segment_id and e.status == "pending"]
            assert handed[0].message and "stopped responding" in handed[0].message
    assert statuses(events) == ["generating", "composing", "completed"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_sigkill_ai_worker_mid_render(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("distributed", tmp_path, s3_url) as stack:
        stack.env["VF_TEST_GENERATE_DELAY"] = "0.6"
        stack.start()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            await login(client)
            project = await timeline(client, [1.0] * 10)
            job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
            await wait_for_a_kill_point(client, stack, job_id, done=2)
            kill(stack, "ai")
            killed = await running_segments(stack, job_id)
            assert killed, "the worker held no segment when it died"
            stack.spawn("ai", "worker", "ai")
            job = await wait_job(client, job_id, timeout=200)
            assert job["status"] == "completed", stack.logs()
            assert_each_generated_once(stack, await spec_hashes(client, project["id"]))
            await assert_taken_over(stack, job_id, killed)


async def test_sigkill_embedded_process_mid_render(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("embedded", tmp_path, s3_url) as stack:
        stack.env["VF_TEST_GENERATE_DELAY"] = "0.6"
        stack.start()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            await login(client)
            project = await timeline(client, [1.0] * 6)
            job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
            await wait_for_a_kill_point(client, stack, job_id, done=2)
            kill(stack, "up")
            killed = await running_segments(stack, job_id)
            assert killed, "the process held no segment when it died"
            stack.start()
            job = await wait_job(client, job_id, timeout=200)
            assert job["status"] == "completed", stack.logs()
            assert_each_generated_once(stack, await spec_hashes(client, project["id"]))
            await assert_taken_over(stack, job_id, killed)


async def test_racing_composition_workers_compose_once(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("distributed", tmp_path, s3_url) as stack:
        stack.start()
        stack.spawn("composition-2", "worker", "composition")
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            auth = await login(client)
            project = await timeline(client, [1.0] * 3)
            job_id = (await client.post(f"/api/projects/{project['id']}/render")).json()["id"]
            ws_url = stack.url.replace("http", "ws") + f"/api/render-jobs/{job_id}/progress"
            broker = RabbitBroker(RABBITMQ_URL, prefix=stack.env["QUEUE_PREFIX"])
            await broker.connect()
            duplicated = False
            try:
                async with websockets.connect(f"{ws_url}?token={auth['token']}") as ws:
                    async for raw in ws:  # until the job's last event closes the stream
                        event = json.loads(raw)
                        if event["type"] == "snapshot":  # the state when we connected
                            event = {"type": "job", "status": event["job"]["status"]}
                        composing = event["type"] == "job" and event["status"] == "composing"
                        if composing and not duplicated:
                            # Two more deliveries of the composition task while it composes,
                            # as after redeliveries: both workers race for the job.
                            for _ in range(2):
                                await broker.publish(COMPOSITIONS, {"v": 1, "job_id": job_id})
                            duplicated = True
            finally:
                await broker.close()
            assert duplicated, "the job never reached composing"
            job = (await client.get(f"/api/render-jobs/{job_id}")).json()
            assert job["status"] == "completed", stack.logs()
            assert statuses(await job_events(stack, job_id)) == [
                "generating",
                "composing",
                "completed",
            ]
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
