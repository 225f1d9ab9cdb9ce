"""An instance per test (or module) with the settings a security test is about."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.app import api_client, make_settings, postgres_database


@asynccontextmanager
async def instance(
    data_dir: Path, database: str = "sqlite", **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on SQLite or a fresh PostgreSQL database, with the product's own defaults for
    budgets and rate limits (test support otherwise turns them off) unless overridden."""
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {"DEFAULT_BUDGET_USD": "0", "RATE_LIMITS_ENABLED": True, **overrides}
    if database == "sqlite":
        async with api_client(make_settings(data_dir, **values)) as client:
            yield client
        return
    async with (
        postgres_database() as url,
        api_client(make_settings(data_dir, DATABASE_URL=url, **values)) as client,
    ):
        yield client
