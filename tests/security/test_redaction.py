"""No credentials in logs or stored texts: query-string tokens and signatures in the access
log, provider keys in failure messages (segment errors, job events, logs)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from sqlalchemy import select

from tests.services import free_port
from tests.support.app import api_client, make_settings, register
from videofoundry.core.redact import MASK, Redactor, install_log_redaction
from videofoundry.database.migrate import upgrade_async
from videofoundry.main import create_app
from videofoundry.models import JobEvent
from videofoundry.runtime import Runtime
from videofoundry.workers.runner import run_workers

pytestmark = pytest.mark.timeout(120)
KEY = "key_" + secrets.token_hex(24)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("GET /api/render-jobs/1/progress?token=eyJhbGciOi.J9.x HTTP/1.1", "eyJhbGciOi.J9.x"),
        ("/api/files/a?expires=17&signature=deadbeef00", "deadbeef00"),
        ("/api/files/a?SIGNATURE=DEADBEEF&expires=1", "DEADBEEF"),
        ("https://s3/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123", "abc123"),
        ("https://s3/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123", "AKIA%2F1"),
        ("ws://h/p?after=3&token=secret-token-value", "secret-token-value"),
        ("Authorization: Bearer abcdefghijkl.mnop", "abcdefghijkl.mnop"),
        ("authorization: bearer abcdefghijkl", "abcdefghijkl"),
        ("used vf_0123456789abcdefghijklmn today", "vf_0123456789abcdefghijklmn"),
        (f"provider said: bad key {KEY}", KEY),
        (f"{KEY}{KEY}", KEY),
        (f"https://api.test/v1?key={KEY}&x=1", KEY),
    ],
)
def test_the_redactor_hides_every_spelling(text: str, hidden: str) -> None:
    redacted = Redactor([KEY])(text)
    assert hidden not in redacted
    assert MASK in redacted


def test_the_redactor_leaves_ordinary_text_alone() -> None:
    text = "GET /api/projects?limit=20&offset=40 HTTP/1.1 200; keyframes at 1 s"
    assert Redactor([KEY, "abc"])(text) == text  # "abc": too short to be a key, not masked


def test_log_records_are_redacted_with_arguments_and_tracebacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, RUNWAY_API_KEY=KEY)
    install_log_redaction(settings)
    logger = logging.getLogger("videofoundry.test")
    with caplog.at_level(logging.INFO):
        logger.info("calling %s?token=%s", "/x", "tok-abcdef")
        try:
            raise RuntimeError(f"boom {KEY}")
        except RuntimeError:
            logger.exception("failed")
    text = caplog.text
    assert "tok-abcdef" not in text and KEY not in text
    assert MASK in text


async def test_the_access_log_never_shows_tokens_or_signatures(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    await upgrade_async(settings.database_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="info")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            auth = await register(client)
            token = auth["Authorization"].split()[1]
            await client.get(f"/api/me?token={token}")
            await client.get("/api/files/abc?expires=99999999999&signature=s1gnatureXYZ")
            await client.get(f"/api/render-jobs/none?access_token={token}")
        with pytest.raises(websockets.exceptions.WebSocketException):
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/api/render-jobs/none/progress?token={token}"
            ) as ws:
                await ws.recv()
    finally:
        server.should_exit = True
        await serving
    logged = capfd.readouterr()
    output = logged.out + logged.err
    assert "/api/files/abc" in output and "progress" in output, output  # the lines are there
    assert "Logging error" not in output  # formatted by uvicorn's own access formatter
    assert token not in output
    assert "s1gnatureXYZ" not in output
    assert MASK in output


async def _workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


async def test_a_provider_key_in_failure_texts_is_never_stored_or_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    overrides: dict[str, Any] = {
        "EXTRA_ADAPTERS": "tests.security.leaky:LeakyModel",
        "RUNWAY_API_KEY": KEY,
        "RETRY_BASE_SECONDS": 0,
        "DEFAULT_BUDGET_USD": "none",
    }
    settings = make_settings(tmp_path, **overrides)
    async with api_client(settings, companions=(_workers,)) as client:
        auth = await register(client)
        body = {"name": "p", "width": 160, "height": 96, "fps": 8}
        pid = (await client.post("/api/projects", json=body, headers=auth)).json()["id"]
        segment = {"prompt": "a", "duration": 1, "model": "leaky", "seed": 1}
        await client.post(f"/api/projects/{pid}/segments", json=segment, headers=auth)
        with caplog.at_level(logging.DEBUG):
            job = (await client.post(f"/api/projects/{pid}/render", headers=auth)).json()
            for _ in range(600):
                job = (await client.get(f"/api/render-jobs/{job['id']}", headers=auth)).json()
                if job["status"] in ("completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.1)
        assert job["status"] == "failed", job
        shown = str(job) + (await client.get(f"/api/projects/{pid}", headers=auth)).text
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.sessions() as session:
            events = (await session.scalars(select(JobEvent))).all()
        stored = " ".join(str(e.payload) for e in events)
        assert "invalid credentials" in stored + shown  # the failure itself is reported
        for where in (shown, stored, caplog.text):
            assert KEY not in where
