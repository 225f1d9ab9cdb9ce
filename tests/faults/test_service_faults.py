"""Service faults in the distributed run, against private instances (tests/faults/private.py).

For each outage (broker restart, database restart, object store down 10 s, Redis flush, Redis
down), hit once while segments are being generated and once while the job is composing:

- the render completes, or fails with a clear message and then completes when rendered again;
- no clip is generated twice (the counting adapter's ledger);
- the WebSocket, reconnecting with `?after=` when it drops, sees every event once, in order;
- no process is restarted by the test, and a second render afterwards completes, so every
  process reconnected by itself;
- /readyz reports the outage while it lasts and `ready` once it is over.

Each scenario prints one `scenario=...` line with its figures. docs/operations.md records
the outcomes and limits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.test_timeline_workflow import login, wait_job
from tests.faults.conftest import Services, private_stack
from tests.faults.private import OutageProxy
from tests.support.counting import read_ledger
from tests.support.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

TERMINAL = ("completed", "failed", "cancelled")
# Big enough that composition (crossfades re-encoded) takes a few seconds on two cores.
PROJECT = {
    "name": "faults",
    "width": 640,
    "height": 360,
    "fps": 24,
    "default_transition": {"kind": "crossfade", "duration": 0.5},
}
SEGMENTS = 6


async def _readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    try:
        answer = await client.get("/readyz", timeout=5)
    except httpx.HTTPError as exc:
        return 0, {"status": f"no answer ({type(exc).__name__})"}
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


async def _until_ready(
    client: httpx.AsyncClient, check: Callable[[int, dict[str, Any]], bool], timeout: float
) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await _readiness(client)
        if check(code, body):
            return code, body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz never matched: {code} {body}")
        await asyncio.sleep(0.2)


def _component_down(component: str) -> Callable[[int, dict[str, Any]], bool]:
    if component == "database":
        return lambda code, body: code == 503 and body["status"] == "unavailable"
    return lambda code, body: (
        code == 200
        and body["status"] == "degraded"
        and body["checks"][component].startswith("unavailable")
    )


def _all_ready(code: int, body: dict[str, Any]) -> bool:
    return code == 200 and body["status"] == "ready"


async def _watch(stack: Stack, token: str, job_id: str) -> list[dict[str, Any]]:
    """Every numbered message of the job's WebSocket, reconnecting after the last seen one."""
    base = stack.url.replace("http", "ws") + f"/api/render-jobs/{job_id}/progress?token={token}"
    seen: list[dict[str, Any]] = []
    while True:
        url = base if not seen else f"{base}&after={seen[-1]['seq']}"
        try:
            async with websockets.connect(url, open_timeout=5) as socket:
                async for raw in socket:
                    message = json.loads(raw)
                    if message.get("tick"):
                        continue
                    seen.append(message)
                    status = (
                        message["job"]["status"]
                        if message["type"] == "snapshot"
                        else message.get("status")
                    )
                    if message["type"] in ("snapshot", "job") and status in TERMINAL:
                        return seen
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            pass
        await asyncio.sleep(0.5)  # the API may itself be waiting for the database


async def _project(client: httpx.AsyncClient, tag: str, count: int) -> str:
    answer = await client.post("/api/projects", json=PROJECT)
    assert answer.status_code == 201, answer.text
    project: str = answer.json()["id"]
    for i in range(count):
        answer = await client.post(
            f"/api/projects/{project}/segments",
            json={"prompt": f"shot {i} of {tag}", "duration": 1.0, "seed": i},
        )
        assert answer.status_code == 201, answer.text
    return project


async def _reach(client: httpx.AsyncClient, job_id: str, phase: str) -> None:
    """Until the job is in the phase to hit: some segments done and some generating, or
    composing."""
    for _ in range(1200):
        job = (await client.get(f"/api/render-jobs/{job_id}")).json()
        assert job["status"] not in TERMINAL, f"the job ended before the fault: {job}"
        states = Counter(s["status"] for s in job["segments"])
        if phase == "generation" and states["completed"] >= 1 and states["running"] >= 1:
            return
        if phase == "composition" and job["status"] == "composing":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job never reached {phase}")


async def _outage(
    fault: str, services: Services, client: httpx.AsyncClient
) -> dict[str, float | str]:
    """Inject one fault, check readiness shows it, end it; returns figures."""
    figures: dict[str, float | str] = {}
    started = time.monotonic()
    if fault == "redis_flush":
        services.redis.flush()
        return {"outage_s": 0.0}
    if fault == "broker_restart":
        component, down, up = "broker", services.rabbit.stop, services.rabbit.start
    elif fault == "database_restart":
        component, down, up = "database", services.postgres.stop, services.postgres.start
    elif fault == "storage_down":
        component, down, up = "storage", services.s3.down, services.s3.up
    elif fault == "redis_down":
        component, down, up = "status", services.redis.kill, services.redis.start
    else:
        raise AssertionError(fault)
    down()
    await _until_ready(client, _component_down(component), timeout=15)
    figures["detected_s"] = round(time.monotonic() - started, 2)
    # Object store "down for 10 s" as the issue asks; the others long enough to be seen.
    hold = 10.0 if fault == "storage_down" else 3.0
    await asyncio.sleep(max(0.0, hold - (time.monotonic() - started)))
    up()
    figures["outage_s"] = round(time.monotonic() - started, 2)
    recovered = time.monotonic()
    await _until_ready(client, _all_ready, timeout=60)
    figures["api_recovered_s"] = round(time.monotonic() - recovered, 2)
    return figures


FAULTS = ["broker_restart", "database_restart", "storage_down", "redis_flush", "redis_down"]


@pytest.mark.parametrize("phase", ["generation", "composition"])
@pytest.mark.parametrize("fault", FAULTS)
async def test_render_survives(fault: str, phase: str, services: Services, tmp_path: Path) -> None:
    wall = time.monotonic()
    async with private_stack(services, tmp_path) as stack:
        stack.env["VF_TEST_GENERATE_DELAY"] = "1.0"
        stack.start()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            auth = await login(client)
            project = await _project(client, f"{fault}-{phase}", SEGMENTS)
            job = (await client.post(f"/api/projects/{project}/render")).json()
            watcher = asyncio.create_task(_watch(stack, auth["token"], job["id"]))
            await _reach(client, job["id"], phase)
            figures = await _outage(fault, services, client)
            job = await _settle(client, job["id"], stack)
            retried = 0
            if job["status"] == "failed":
                # A clear message naming what failed, then the same render goes through.
                assert job["error"], job
                retried = 1
                again = (await client.post(f"/api/projects/{project}/render")).json()
                job = await _settle(client, again["id"], stack)
            assert job["status"] == "completed", (job, stack.logs())
            events = await asyncio.wait_for(watcher, 60)

            # No clip generated twice, including across the retry.
            ledger = Counter(entry["spec_hash"] for entry in read_ledger(stack.ledger))
            assert ledger and max(ledger.values()) == 1, ledger
            # Every event once, in order, across reconnects.
            seqs = [e["seq"] for e in events]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
            # Nobody restarted a process, and all of them still work: a new render completes.
            assert all(p.poll() is None for p in stack.processes.values()), stack.logs()
            await client.post(
                f"/api/projects/{project}/segments",
                json={"prompt": f"one more after {fault}", "duration": 1.0, "seed": 99},
            )
            after = (await client.post(f"/api/projects/{project}/render")).json()
            assert (await _settle(client, after["id"], stack))["status"] == "completed"
            await _until_ready(client, _all_ready, timeout=30)
    print(  # noqa: T201 - the figures line the reliability plan asks every scenario for
        f"scenario={fault}:{phase} segments={SEGMENTS} completed=1 retried={retried} "
        f"dup_generations=0 ws_events={len(events)} "
        + " ".join(f"{k}={v}" for k, v in figures.items())
        + f" wall_s={time.monotonic() - wall:.1f}"
    )


async def _settle(client: httpx.AsyncClient, job_id: str, stack: Stack) -> dict[str, Any]:
    try:
        return await wait_job(client, job_id, timeout=240)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from exc


async def test_render_on_a_slow_network(services: Services, tmp_path: Path) -> None:
    """Every dependency behind a link that delays each chunk by 20 ms both ways: slower, but
    nothing times out, nothing is generated twice and no event is lost."""
    latency = 0.02
    proxies = {
        "postgres": OutageProxy(services.postgres.port, latency),
        "rabbit": OutageProxy(services.rabbit.port, latency),
        "redis": OutageProxy(services.redis.port, latency),
        "s3": OutageProxy(services.s3.port, latency),
    }
    for proxy in proxies.values():
        proxy.up()
    urls = {
        "postgres": f"postgresql://postgres@127.0.0.1:{proxies['postgres'].port}",
        "rabbit": f"amqp://guest:guest@127.0.0.1:{proxies['rabbit'].port}/",
        "redis": f"redis://127.0.0.1:{proxies['redis'].port}/0",
        "s3": proxies["s3"].url,
    }
    wall = time.monotonic()
    try:
        async with private_stack(services, tmp_path, **urls) as stack:
            stack.start()
            async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
                auth = await login(client)
                project = await _project(client, "slow network", 3)
                job = (await client.post(f"/api/projects/{project}/render")).json()
                events = await asyncio.wait_for(_watch(stack, auth["token"], job["id"]), 300)
                job = await _settle(client, job["id"], stack)
                assert job["status"] == "completed", (job, stack.logs())
                ledger = Counter(e["spec_hash"] for e in read_ledger(stack.ledger))
                assert len(ledger) == 3 and max(ledger.values()) == 1, ledger
                seqs = [e["seq"] for e in events]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
                await _until_ready(client, _all_ready, timeout=30)
    finally:
        for proxy in proxies.values():
            proxy.close()
    print(  # noqa: T201 - the figures line the reliability plan asks every scenario for
        f"scenario=slow_network latency_ms={latency * 1000:.0f} segments=3 completed=1 "
        f"dup_generations=0 ws_events={len(events)} wall_s={time.monotonic() - wall:.1f}"
    )
