"""Helpers to run the API in-process against SQLite or a fresh PostgreSQL database."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.services import POSTGRES, POSTGRES_ADMIN_URL, require
from videofoundry.core.config import Settings
from videofoundry.database.migrate import upgrade_async
from videofoundry.main import Companion, create_app
from videofoundry.runtime import Runtime
from videofoundry.workers.runner import run_workers


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": "test",
        "SECRET_KEY": "test-" + secrets.token_hex(16),
        "DATA_DIR": data_dir,
        "DATABASE_URL": "",
        "RABBITMQ_URL": "",
        "REDIS_URL": "",
        "S3_BUCKET": "",
        "RUNWAY_API_KEY": "",
        "LUMA_API_KEY": "",
        "REPLICATE_API_TOKEN": "",
        "STABILITY_API_KEY": "",
        "EXTRA_ADAPTERS": "",
        # New accounts start uncapped here; tests/security covers the real default of 0.
        "DEFAULT_BUDGET_USD": None,
        # Suites register many accounts from one address; tests/security turns limits on.
        "RATE_LIMITS_ENABLED": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; yields its URL."""
    require("PostgreSQL", POSTGRES)
    name = f"vf_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{POSTGRES_ADMIN_URL}/{name}"
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL + "/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def api_client(
    settings: Settings, companions: tuple[Companion, ...] = ()
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process HTTP client."""
    await upgrade_async(settings.database_url)
    app = create_app(settings, companions=companions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def _both_workers(runtime: Runtime) -> None:
    await run_workers(runtime, ("ai", "composition"))


@asynccontextmanager
async def app_with_workers(
    database: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """`api_client` with an AI and a composition worker running in the app, on SQLite or on a
    fresh PostgreSQL database (`database` is "sqlite" or "postgresql")."""
    if database == "sqlite":
        async with api_client(make_settings(data_dir, **overrides), (_both_workers,)) as client:
            yield client
        return
    async with (
        postgres_database() as url,
        api_client(
            make_settings(data_dir, DATABASE_URL=url, **overrides), (_both_workers,)
        ) as client,
    ):
        yield client


async def register(client: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    """Create a user and return Authorization headers for it."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery"
    response = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    response = await client.post("/api/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
