"""Webhooks across real processes: delivery survives SIGKILL of the process that was sending
it (embedded), and events reach a receiver from the distributed deployment."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import make_stack
from tests.e2e.test_timeline_workflow import login, timeline, wait_job
from tests.moto import moto_server
from tests.support.webhook_receiver import HANG, Receiver

pytestmark = pytest.mark.timeout(240)


def _webhook_env(receiver: Receiver) -> dict[str, str]:
    return {
        "WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{receiver.port}",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
    }


async def _register(client: httpx.AsyncClient, url: str, events: list[str]) -> dict[str, Any]:
    answer = await client.post("/api/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def _settled(client: httpx.AsyncClient, hook: str, timeout: float = 30) -> dict[str, Any]:
    """The single delivery of `hook` once it is no longer pending (polls the API)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        deliveries = (await client.get(f"/api/webhooks/{hook}/deliveries")).json()
        if deliveries and deliveries[0]["status"] != "pending":
            delivery: dict[str, Any] = deliveries[0]
            return delivery
        assert asyncio.get_running_loop().time() < deadline, deliveries
        await asyncio.sleep(0.1)


async def test_delivery_survives_sigkill_of_its_sender(tmp_path: Path) -> None:
    """The receiver holds the first attempt open; the embedded process is killed mid-attempt
    and started again; the delivery is sent again, with the same webhook-id, and succeeds."""
    path = f"/hook/{uuid.uuid4().hex[:8]}"
    async with Receiver(script=[HANG]) as receiver, make_stack("embedded", tmp_path, None) as stack:
        stack.env.update(_webhook_env(receiver))
        stack.start()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            await login(client)
            created = await _register(client, receiver.url(path), ["render.completed"])
            await client.post(f"/api/webhooks/{created['id']}/test")
            [first] = await receiver.wait_for(path, 1)
            stack.kill("up")  # mid-attempt: the receiver has not answered
            stack.start()
            second = (await receiver.wait_for(path, 2, timeout=60))[1]
            assert second.id == first.id and second.body == first.body
            Webhook(created["secret"]).verify(second.body, second.headers)
            delivery = await _settled(client, created["id"])
    assert delivery["status"] == "delivered"
    # The killed attempt left no record; the one that succeeded did.
    assert [a["status_code"] for a in delivery["attempts"]] == [204]


async def test_distributed_render_events_reach_the_receiver(tmp_path: Path) -> None:
    path = f"/hook/{uuid.uuid4().hex[:8]}"
    with moto_server() as s3_url:
        async with (
            Receiver() as receiver,
            make_stack("distributed", tmp_path, s3_url) as stack,
        ):
            stack.env.update(_webhook_env(receiver))
            stack.start()
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
                await login(client)
                events = ["render.completed", "segment.completed"]
                created = await _register(client, receiver.url(path), events)
                project = await timeline(client, [1.0, 1.0])
                job = (await client.post(f"/api/projects/{project['id']}/render")).json()
                assert (await wait_job(client, job["id"]))["status"] == "completed"
                got = await receiver.wait_for(path, 3, timeout=60)
    verifier = Webhook(created["secret"])
    for item in got:
        verifier.verify(item.body, item.headers)
    assert sorted(r.json()["type"] for r in got) == [
        "render.completed",
        "segment.completed",
        "segment.completed",
    ]
    assert len({r.id for r in got}) == 3
    assert all(r.json()["data"]["job"]["id"] == job["id"] for r in got)
