"""Alembic environment: runs migrations through the same async engine the app uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from videofoundry import models  # noqa: F401 - registers every table on Base.metadata
from videofoundry.core.config import get_settings
from videofoundry.database.base import Base
from videofoundry.database.engine import make_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only alter tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.attributes.get("database_url")
    settings = get_settings()
    if url:
        settings = settings.model_copy(update={"DATABASE_URL": url})
    engine = make_engine(settings)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
