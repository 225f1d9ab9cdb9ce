"""Webhooks in-process (the API's delivery loop and both worker kinds in one app), on SQLite and
PostgreSQL, against a real HTTP receiver; signatures checked with the `standardwebhooks`
reference library."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.integration.test_render import SMALL, finished
from tests.services import free_port
from tests.support.app import api_client, make_settings, postgres_database, register
from tests.support.webhook_receiver import Receiver
from videofoundry.core.outbound import REFUSED_TEXT
from videofoundry.models import WebhookEndpoint
from videofoundry.runtime import Runtime
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(180)


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


@dataclass
class Env:
    client: httpx.AsyncClient
    receiver: Receiver
    closed_port: int
    """Allowlisted, but nothing listens there until a test opens it."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    data_dir: Path = tmp_path_factory.mktemp(f"webhooks-{request.param}")
    closed_port = free_port()
    async with Receiver() as receiver:
        overrides = {
            "WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{receiver.port}, 127.0.0.1:{closed_port}",
            "WEBHOOK_RETRY_BASE_SECONDS": 0.2,
            "WEBHOOK_RETRY_MAX_DELAY_SECONDS": 0.5,
            "WEBHOOK_TIMEOUT_SECONDS": 3,
        }
        if request.param == "sqlite":
            settings = make_settings(data_dir, **overrides)
            async with api_client(settings, companions=(_workers,)) as client:
                yield Env(client, receiver, closed_port)
        else:
            async with postgres_database() as url:
                settings = make_settings(data_dir, DATABASE_URL=url, **overrides)
                async with api_client(settings, companions=(_workers,)) as client:
                    yield Env(client, receiver, closed_port)


def _path() -> str:
    return f"/hook/{uuid.uuid4().hex[:8]}"


async def _register(
    env: Env, auth: dict[str, str], url: str, events: list[str] | None = None
) -> dict[str, str]:
    body = {"url": url, "events": events or ["render.completed"]}
    answer = await env.client.post("/api/webhooks", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    created: dict[str, str] = answer.json()
    return created


def _verify(secret: str, received: list[object]) -> None:
    verifier = Webhook(secret)
    for item in received:
        verifier.verify(item.body, item.headers)  # type: ignore[attr-defined]


async def test_register_list_delete_and_the_secret_shown_once(env: Env) -> None:
    auth = await register(env.client)
    created = await _register(env, auth, env.receiver.url(_path()), ["segment.failed"])
    assert created["secret"].startswith("whsec_")
    listed = (await env.client.get("/api/webhooks", headers=auth)).json()
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    answer = await env.client.delete(f"/api/webhooks/{created['id']}", headers=auth)
    assert answer.status_code == 204
    assert (await env.client.get("/api/webhooks", headers=auth)).json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://example.com/h", "events": []}, "events"),
        ({"url": "http://example.com/h", "events": ["render.exploded"]}, "events"),
        ({"events": ["render.completed"]}, "url"),
        ({"url": "", "events": ["render.completed"]}, "url"),
    ],
)
async def test_bad_input_names_the_field(env: Env, body: dict[str, object], field: str) -> None:
    auth = await register(env.client)
    answer = await env.client.post("/api/webhooks", json=body, headers=auth)
    assert answer.status_code == 422, answer.text
    assert any(d["loc"][-1] == field for d in answer.json()["detail"]), answer.text


async def test_private_addresses_refused_without_the_allowlist(env: Env) -> None:
    """The receiver's own port is allowlisted; every other spelling of a private address is
    refused with the same message, and nothing reaches the receiver."""
    auth = await register(env.client)
    port = env.receiver.port
    other = port + 1 if port < 65535 else port - 1
    urls = [
        f"http://127.0.0.1:{other}/x",
        f"http://localhost:{port}/x",  # allowlisted by address, not by this name
        f"http://2130706433:{port}/x",
        f"http://0x7f.1:{port}/x",
        f"http://127.1:{port}/x",
        f"http://[::1]:{port}/x",
        f"http://[::ffff:127.0.0.1]:{port}/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x",
        "http://192.168.0.1./x",
        "file:///etc/passwd",
    ]
    before = len(env.receiver.received)
    for url in urls:
        answer = await env.client.post(
            "/api/webhooks", json={"url": url, "events": ["render.completed"]}, headers=auth
        )
        assert answer.status_code == 422, (url, answer.text)
        detail = answer.json()["detail"][0]
        assert detail["loc"][-1] == "url"
        assert detail["msg"] == f"url {REFUSED_TEXT}", url
    assert (await env.client.get("/api/webhooks", headers=auth)).json() == []
    assert len(env.receiver.received) == before


async def test_another_users_webhook_is_404(env: Env) -> None:
    alice, bob = await register(env.client), await register(env.client)
    created = await _register(env, alice, env.receiver.url(_path()))
    hook = created["id"]
    for method, url in [
        ("DELETE", f"/api/webhooks/{hook}"),
        ("GET", f"/api/webhooks/{hook}/deliveries"),
        ("POST", f"/api/webhooks/{hook}/test"),
    ]:
        theirs = await env.client.request(method, url, headers=bob)
        missing = await env.client.request(method, url.replace(hook, "0" * 32), headers=bob)
        assert theirs.status_code == missing.status_code == 404, (method, url)
        assert theirs.json()["detail"].replace(hook, "0" * 32) == missing.json()["detail"]
    assert (await env.client.get("/api/webhooks", headers=bob)).json() == []
    assert len((await env.client.get("/api/webhooks", headers=alice)).json()) == 1


async def test_test_event_is_signed_per_standard_webhooks(env: Env) -> None:
    auth = await register(env.client)
    path = _path()
    created = await _register(env, auth, env.receiver.url(path))
    answer = await env.client.post(f"/api/webhooks/{created['id']}/test", headers=auth)
    assert answer.status_code == 202
    [got] = await env.receiver.wait_for(path, 1)
    _verify(created["secret"], [got])
    assert got.id == answer.json()["event_id"]
    assert got.json()["type"] == "webhook.test"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + "A" * 32).verify(got.body, got.headers)


async def _deliveries(env: Env, auth: dict[str, str], hook: str) -> list[dict[str, object]]:
    answer = await env.client.get(f"/api/webhooks/{hook}/deliveries", headers=auth)
    assert answer.status_code == 200
    result: list[dict[str, object]] = answer.json()
    return result


async def _until_settled(env: Env, auth: dict[str, str], hook: str) -> list[dict[str, object]]:
    """Deliveries once none is pending; the receiver has already seen the last attempt, so this
    waits at most for its record to commit."""
    for _ in range(200):
        deliveries = await _deliveries(env, auth, hook)
        if deliveries and all(d["status"] != "pending" for d in deliveries):
            return deliveries
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries still pending: {deliveries}")


async def test_retried_after_5xx_with_the_same_id(env: Env) -> None:
    auth = await register(env.client)
    path = _path()
    created = await _register(env, auth, env.receiver.url(path))
    env.receiver.script[:] = [500, 503]
    await env.client.post(f"/api/webhooks/{created['id']}/test", headers=auth)
    got = await env.receiver.wait_for(path, 3)
    assert len({r.id for r in got}) == 1
    assert len({r.body for r in got}) == 1
    _verify(created["secret"], got)
    [delivery] = await _until_settled(env, auth, created["id"])
    assert delivery["status"] == "delivered"
    attempts = delivery["attempts"]
    assert isinstance(attempts, list)
    assert [a["status_code"] for a in attempts] == [500, 503, 204]
    assert attempts[0]["error"] == "answered HTTP 500" and attempts[2]["error"] is None


async def test_retried_after_a_closed_port(env: Env) -> None:
    auth = await register(env.client)
    path = _path()
    url = f"http://127.0.0.1:{env.closed_port}{path}"
    created = await _register(env, auth, url)
    await env.client.post(f"/api/webhooks/{created['id']}/test", headers=auth)
    for _ in range(200):  # until the first attempt failed on the closed port
        [delivery] = await _deliveries(env, auth, created["id"])
        if delivery["attempts"]:
            break
        await asyncio.sleep(0.05)
    attempts = delivery["attempts"]
    assert isinstance(attempts, list) and attempts[0]["status_code"] is None
    assert str(attempts[0]["error"]).startswith("connection failed")
    async with Receiver(port=env.closed_port) as late:
        [got] = await late.wait_for(path, 1)
        _verify(created["secret"], [got])
        assert got.id == delivery["event_id"]
        [delivery] = await _until_settled(env, auth, created["id"])
    assert delivery["status"] == "delivered"


async def test_render_events_carry_the_job_view(env: Env) -> None:
    auth = await register(env.client)
    path = _path()
    events = ["render.completed", "segment.completed", "render.failed"]
    created = await _register(env, auth, env.receiver.url(path), events)
    answer = await env.client.post("/api/projects", json={"name": "p", **SMALL}, headers=auth)
    project = answer.json()["id"]
    for seed in (1, 2):
        answer = await env.client.post(
            f"/api/projects/{project}/segments",
            json={"prompt": "waves", "duration": 1, "seed": seed},
            headers=auth,
        )
        assert answer.status_code == 201
    job = (await env.client.post(f"/api/projects/{project}/render", headers=auth)).json()
    assert (await finished(env.client, job["id"], auth))["status"] == "completed"
    got = await env.receiver.wait_for_types(path, {"render.completed", "segment.completed"})
    got = await env.receiver.wait_for(path, 3)
    _verify(created["secret"], got)
    types = sorted(r.json()["type"] for r in got)
    assert types == ["render.completed", "segment.completed", "segment.completed"]
    assert len({r.id for r in got}) == 3
    done = next(r.json() for r in got if r.json()["type"] == "render.completed")
    assert done["data"]["job"]["id"] == job["id"]
    assert done["data"]["job"]["status"] == "completed"
    assert done["data"]["job"]["video_url"]
    segment = next(r.json() for r in got if r.json()["type"] == "segment.completed")
    assert segment["data"]["segment"]["status"] == "completed"
    assert segment["data"]["job"]["id"] == job["id"]


async def test_private_address_refused_at_delivery_too(env: Env) -> None:
    """An endpoint whose address is no longer allowed (the operator narrowed the allowlist
    after it was registered) is refused when delivering, without a connection to it."""
    auth = await register(env.client)
    path = _path()
    created = await _register(env, auth, env.receiver.url(path))
    runtime = env.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session, session.begin():
        endpoint = await session.get(WebhookEndpoint, created["id"])
        endpoint.url = f"http://localhost:{env.receiver.port}{path}"  # not on the allowlist
    await env.client.post(f"/api/webhooks/{created['id']}/test", headers=auth)
    for _ in range(200):
        [delivery] = await _deliveries(env, auth, created["id"])
        if delivery["attempts"]:
            break
        await asyncio.sleep(0.05)
    attempts = delivery["attempts"]
    assert isinstance(attempts, list)
    assert attempts[0]["status_code"] is None
    assert attempts[0]["error"] == f"the URL {REFUSED_TEXT}"
    assert env.receiver.at(path) == []
