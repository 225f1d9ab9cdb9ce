"""Migrations run on PostgreSQL and SQLite alike, both ways, and agree with the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.support.app import make_settings, postgres_database
from videofoundry import models  # noqa: F401 - registers the tables
from videofoundry.database.base import Base
from videofoundry.database.engine import make_engine
from videofoundry.database.migrate import downgrade, upgrade

pytestmark = pytest.mark.timeout(180)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def _check(url: str) -> None:
    settings = make_settings(Path("."), DATABASE_URL=url)
    await asyncio.to_thread(upgrade, settings.database_url)
    await asyncio.to_thread(downgrade, settings.database_url, "base")
    engine = make_engine(settings)
    async with engine.connect() as connection:
        assert await connection.run_sync(_tables) == set()
    await asyncio.to_thread(upgrade, settings.database_url)
    async with engine.connect() as connection:
        assert await connection.run_sync(_tables) == set(Base.metadata.tables)
        assert await connection.run_sync(_diff) == []
    await engine.dispose()


async def test_postgresql_upgrade_downgrade_upgrade() -> None:
    async with postgres_database() as url:
        await _check(url)


async def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    await _check(f"sqlite:///{tmp_path / 'db.sqlite'}")
