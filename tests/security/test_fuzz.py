"""Property-based fuzzing of the OpenAPI document (schemathesis): every operation, valid and
invalid inputs, against a live server on SQLite and PostgreSQL. No answer may be a 5xx.

Bounded: VF_FUZZ_EXAMPLES examples per operation and mode (default 10), so a run takes a
minute or two; raise it for a deeper search.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode

from tests.services import POSTGRES, POSTGRES_ADMIN_URL, free_port, require
from tests.support.app import make_settings
from videofoundry.database.migrate import upgrade
from videofoundry.main import create_app

pytestmark = pytest.mark.timeout(900)
EXAMPLES = int(os.environ.get("VF_FUZZ_EXAMPLES", "10"))
SCHEMA = schemathesis.openapi.from_dict(create_app(make_settings(Path("var"))).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Parameters filled with real objects of the signed-in user for a share of the examples.
SIGNS_OUT = {"POST /api/auth/logout"}
ID_PARAMETERS = ("project_id", "segment_id", "job_id", "asset_id", "token_id", "webhook_id")


@dataclass
class Live:
    base_url: str
    headers: dict[str, str]
    ids: dict[str, str]


def _serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="fuzzed-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:  # uvicorn offers no event to await across threads
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def _postgres(name: str, create: bool) -> None:
    async def run() -> None:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL + "/postgres")
        try:
            if create:
                await admin.execute(f'CREATE DATABASE "{name}"')
            else:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(run())


def _seed(base_url: str) -> Live:
    """A user with one of everything, so fuzzed ids sometimes name real objects."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        email, password = f"fuzz-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery"
        client.post("/api/auth/register", json={"email": email, "password": password})
        token = client.post("/api/auth/token", data={"username": email, "password": password})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        project = client.post("/api/projects", json={"name": "fuzz"}, headers=headers).json()
        segment = client.post(
            f"/api/projects/{project['id']}/segments",
            json={"prompt": "a calm sea", "duration": 1},
            headers=headers,
        ).json()
        job = client.post(f"/api/projects/{project['id']}/render", headers=headers).json()
        image = io.BytesIO()
        Image.new("RGB", (32, 32)).save(image, "PNG")
        asset = client.post(
            "/api/assets",
            data={"kind": "image"},
            files={"file": ("a.png", image.getvalue(), "image/png")},
            headers=headers,
        ).json()
        api_token = client.post("/api/tokens", json={"name": "fuzz"}, headers=headers).json()
        ids = {
            "project_id": project["id"],
            "segment_id": segment["id"],
            "job_id": job["id"],
            "asset_id": asset["id"],
            "token_id": api_token["id"],
        }
        return Live(base_url, headers, ids)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    database = ""
    if request.param == "postgresql":
        require("PostgreSQL", POSTGRES)
        database = f"vf_fuzz_{uuid.uuid4().hex[:12]}"
        _postgres(database, create=True)
    try:
        url = f"{POSTGRES_ADMIN_URL}/{database}" if database else ""
        settings_ = make_settings(data_dir, DATABASE_URL=url)
        upgrade(settings_.database_url)
        base_url, server, thread = _serve(create_app(settings_))
        try:
            yield _seed(base_url)
        finally:
            server.should_exit = server.force_exit = True  # no waiting on idle keep-alives
            thread.join(timeout=30)
    finally:
        if database:
            _postgres(database, create=False)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_input_makes_a_server_error(live: Live, operation: Any, mode: GenerationMode) -> None:
    names = {p.name for p in operation.path_parameters}
    real = {name: live.ids[name] for name in names if name in live.ids}
    strategies = [operation.as_strategy(generation_mode=mode)]
    if real and mode is GenerationMode.POSITIVE:
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    failures: list[str] = []
    headers = live.headers
    if operation.label in SIGNS_OUT:  # would revoke the shared login of every later test
        headers = _seed(live.base_url).headers

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(st.one_of(strategies))
        response = case.call(base_url=live.base_url, headers=headers, timeout=30)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} for {case.as_curl_command()}")
        assert response.status_code < 500, failures[-1]

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # no input to make invalid (e.g. GET /healthz)
