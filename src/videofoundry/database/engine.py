"""Engine and session factory, built once per process from the settings."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from videofoundry.core.config import Settings

PING_IF_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection back in the pool for longer than this is pinged before it is
handed out; one used more recently is taken as alive (HikariCP skips its check the same way,
within 0.5 s). SQLAlchemy's `pool_pre_ping` pings on every checkout, and on asyncpg a ping is
three round trips (BEGIN, an empty query, ROLLBACK): six of the twenty a segment costs."""


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        # One process shares the file between the API and the workers: wait for locks
        # instead of failing, and use WAL so readers never block the writer.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" hook below emit BEGIN instead of the driver.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL never corrupts the file; it may forget the last commits on a power
            # cut (not on a process crash), in exchange for no fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READS_ONLY):
                # A deferred BEGIN takes no lock: in WAL the reader gets a snapshot and runs
                # beside the writer and the other readers.
                conn.exec_driver_sql("BEGIN")
                return
            # BEGIN IMMEDIATE takes the write lock up front, so two transactions that read then
            # write serialise instead of failing with "database is locked" at the write.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A new connection has no "returned_at" (the record's info is cleared when its
        # connection is closed): it was just opened, nothing to check.
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_IF_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (up to three times).
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


READS_ONLY = "videofoundry_reads_only"
"""Execution option of `for_reads`: on SQLite its transactions begin without the write lock."""


def for_reads(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for transactions that only read.

    On SQLite they begin DEFERRED, so readers never queue on the write lock; a write in one is
    still safe as its first statement, while a write after a read may fail with "database is
    locked" when another writer committed in between. PostgreSQL readers never wait anyway."""
    return engine.execution_options(**{READS_ONLY: True})
