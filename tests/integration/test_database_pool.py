"""Pooled PostgreSQL connections: one that sat in the pool longer than PING_IF_IDLE_SECONDS is
checked before use, so a connection the server dropped (a restart, an idle timeout) is replaced
instead of failing the caller's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.services import POSTGRES_ADMIN_URL
from tests.support.app import make_settings, postgres_database
from videofoundry.database import engine as engine_module
from videofoundry.database.engine import make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with postgres_database() as url:
        engine = make_engine(make_settings(tmp_path, DATABASE_URL=url))
        try:
            yield engine
        finally:
            await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid: int = await connection.scalar(text("SELECT pg_backend_pid()"))
        return pid


async def terminate(pid: int) -> None:
    """What a server restart or an idle timeout does to a pooled connection."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL + "/postgres")
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_an_idle_connection_dropped_by_the_server_is_replaced(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_pid(engine)
    await terminate(first)
    monkeypatch.setattr(engine_module, "PING_IF_IDLE_SECONDS", 0.0)  # every connection is idle
    second = await backend_pid(engine)
    assert second != first


async def test_a_connection_used_moments_ago_is_not_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the trade: inside the window nothing is checked, so a connection dropped
    # in it fails one transaction (which workers retry), and the pool then starts afresh.
    monkeypatch.setattr(engine_module, "PING_IF_IDLE_SECONDS", 3600.0)
    first = await backend_pid(engine)
    await terminate(first)
    with pytest.raises(DBAPIError) as failure:
        await backend_pid(engine)
    assert failure.value.connection_invalidated
    assert await backend_pid(engine) != first
