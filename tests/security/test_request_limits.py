"""Request limits: body size enforced while reading (before parsing or auth), rate limits with
Retry-After per account and per client address, shared through Redis between processes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import instance
from tests.services import REDIS, REDIS_URL, require
from tests.support.app import register

pytestmark = pytest.mark.timeout(120)
MiB = 1 << 20
PASSWORD = "correct horse battery"


class Counting:
    """A request body streamed in chunks, counting how much the server pulled."""

    def __init__(self, total: int, chunk: int = 64 << 10, head: bytes = b"") -> None:
        self.total, self.chunk, self.head, self.sent = total, chunk, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"[" * self.chunk


def other_address(client: httpx.AsyncClient, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=client.app, client=(host, 4000))  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/projects"),
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/token"),
        ("PATCH", "/api/me"),
        ("PUT", "/api/segments/anything"),
        ("POST", "/api/no-such-route"),
    ],
)
async def test_a_large_body_is_refused_unread_and_unauthenticated(
    tmp_path: Path, method: str, path: str
) -> None:
    kind = "application/x-www-form-urlencoded" if path.endswith("/token") else "application/json"
    async with instance(tmp_path) as client:
        declared = Counting(300 * MiB)
        answer = await client.request(
            method,
            path,
            content=declared,
            headers={"content-type": kind, "content-length": str(300 * MiB)},
        )
        assert answer.status_code == 413, answer.text
        assert declared.sent <= 64 << 10  # refused on the header, before reading
        streamed = Counting(300 * MiB)  # chunked: no length to go by
        answer = await client.request(
            method, path, content=streamed, headers={"content-type": kind}
        )
        assert answer.status_code == 413, answer.text
        assert "bytes allowed" in answer.json()["detail"]
        assert streamed.sent <= 2 * MiB  # stopped soon after the 1 MiB limit


async def test_the_limit_is_configurable_and_a_body_under_it_is_handled(tmp_path: Path) -> None:
    async with instance(tmp_path, MAX_REQUEST_BYTES=4096) as client:
        auth = {**await register(client), "content-type": "application/json"}
        small = json.dumps({"name": "x" * 100})
        ok = await client.post("/api/projects", content=small, headers=auth)
        assert ok.status_code == 201
        big = json.dumps({"name": "x" * 5000})
        assert (await client.post("/api/projects", content=big, headers=auth)).status_code == 413


@pytest.mark.parametrize("length", ["abc", "-1", "1e9", "0x10", "1 2"])
async def test_an_unreadable_content_length_is_a_400(tmp_path: Path, length: str) -> None:
    async with instance(tmp_path) as client:
        answer = await client.post(
            "/api/projects", content=b"{}", headers={"content-length": length}
        )
        assert answer.status_code == 400


async def test_uploads_have_their_own_larger_cap(tmp_path: Path) -> None:
    async with instance(tmp_path) as client:
        auth = await register(client)
        # 3 MiB is over the JSON limit but a fine upload size: refused as an image, not a body.
        files = {"file": ("big.png", b"\x89PNG" + b"\0" * (3 * MiB), "image/png")}
        answer = await client.post("/api/assets", data={"kind": "image"}, files=files, headers=auth)
        assert answer.status_code == 422 and "file" in answer.text
        part = (
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        huge = Counting(500 * MiB, chunk=1 * MiB, head=part)
        answer = await client.post(
            "/api/assets",
            content=huge,
            headers={**auth, "content-type": "multipart/form-data; boundary=x"},
        )
        assert answer.status_code == 413
        assert huge.sent <= 60 * MiB


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/token", data={"username": email, "password": password})


def assert_limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    wait = int(answer.headers["retry-after"])
    assert 1 <= wait <= 3600
    assert "try again" in answer.json()["detail"]


async def test_failed_logins_lock_the_account_not_the_address(tmp_path: Path) -> None:
    async with instance(tmp_path, RATE_LIMITS={"login_account": "3/minute"}) as client:
        victim, bystander = (f"u-{uuid.uuid4().hex[:8]}@example.com" for _ in range(2))
        await register(client, victim)
        await register(client, bystander)
        for spelling in (victim, victim.upper(), f" {victim} "):
            assert (await login(client, spelling, "wrong password")).status_code == 401
        assert_limited(await login(client, victim, "wrong password"))
        assert_limited(await login(client, victim, PASSWORD))  # even the right password waits
        async with other_address(client, "198.51.100.7") as elsewhere:
            assert_limited(await login(elsewhere, victim, PASSWORD))
        assert (await login(client, bystander, PASSWORD)).status_code == 200
        # Successful sign-ins do not count against an account.
        for _ in range(5):
            assert (await login(client, bystander, PASSWORD)).status_code == 200


async def test_login_attempts_are_limited_per_address(tmp_path: Path) -> None:
    limits = {"login_address": "4/minute", "login_account": ""}
    async with instance(tmp_path, RATE_LIMITS=limits) as client:
        for _ in range(4):
            answer = await login(client, f"{uuid.uuid4().hex}@example.com", "nope")
            assert answer.status_code == 401
        assert_limited(await login(client, f"{uuid.uuid4().hex}@example.com", "nope"))
        async with other_address(client, "203.0.113.9") as elsewhere:
            assert (await login(elsewhere, "x@example.com", "nope")).status_code == 401


async def test_registrations_are_limited_per_address(tmp_path: Path) -> None:
    async with instance(tmp_path, RATE_LIMITS={"register_address": "2/hour"}) as client:
        for _ in range(2):
            await register(client)
        body = {"email": "third@example.com", "password": PASSWORD}
        answer = await client.post("/api/auth/register", json=body)
        assert_limited(answer)
        assert int(answer.headers["retry-after"]) > 60  # an hour's window
        async with other_address(client, "2001:db8::1") as elsewhere:
            assert (await elsewhere.post("/api/auth/register", json=body)).status_code == 201


async def test_api_token_creation_is_limited_per_account(tmp_path: Path) -> None:
    async with instance(tmp_path, RATE_LIMITS={"token_account": "2/hour"}) as client:
        auth, other = await register(client), await register(client)
        for _ in range(2):
            created = await client.post("/api/tokens", json={"name": "ci"}, headers=auth)
            assert created.status_code == 201
        assert_limited(await client.post("/api/tokens", json={"name": "ci"}, headers=auth))
        assert (await client.post("/api/tokens", json={"name": "ci"}, headers=other)).is_success


async def test_renders_are_limited_but_plans_are_not(tmp_path: Path) -> None:
    async with instance(tmp_path, RATE_LIMITS={"render_account": "2/minute"}) as client:
        auth = await register(client)
        project = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()
        segment = {"prompt": "sea", "duration": 1, "seed": 1}
        await client.post(f"/api/projects/{project['id']}/segments", json=segment, headers=auth)
        render = f"/api/projects/{project['id']}/render"
        for _ in range(5):
            plan = await client.post(render, params={"dry_run": "true"}, headers=auth)
            assert plan.status_code == 200
        for _ in range(2):
            assert (await client.post(render, headers=auth)).status_code == 202
        assert_limited(await client.post(render, headers=auth))


async def test_processes_sharing_redis_count_together(tmp_path: Path) -> None:
    require("Redis", REDIS)
    shared = {
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": f"test-{uuid.uuid4().hex[:8]}-",
        "RATE_LIMITS": {"login_address": "3/minute"},
    }
    async with (
        instance(tmp_path / "a", **shared) as first,
        instance(tmp_path / "b", **shared) as second,
    ):
        for client in (first, second, first):
            assert (await login(client, "nobody@example.com", "nope")).status_code == 401
        assert_limited(await login(second, "nobody@example.com", "nope"))


async def test_an_unreachable_redis_does_not_lock_everyone_out(tmp_path: Path) -> None:
    from videofoundry.api.rate_limits import RateLimiter
    from videofoundry.core.config import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMITS={"login_address": "1/hour"}
    )
    limiter = RateLimiter(settings)
    for _ in range(3):
        await limiter.hit("login_address", "192.0.2.1")  # nothing raised: fails open
