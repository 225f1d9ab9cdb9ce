"""Everything a process needs, built once from the settings and closed on exit.

The API, each worker kind and the embedded `up` command all build the same `Runtime`, so the
embedded run exercises the production code path with in-process backends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from videofoundry.adapters.registry import Registry
from videofoundry.core.config import Settings
from videofoundry.database.engine import for_reads, make_engine, make_sessionmaker
from videofoundry.queue import make_broker
from videofoundry.queue.base import Broker
from videofoundry.status import make_status_bus
from videofoundry.status.base import StatusBus
from videofoundry.storage import make_storage
from videofoundry.storage.base import Storage


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: Broker
    status: StatusBus
    storage: Storage
    registry: Registry

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings)
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            broker=make_broker(settings),
            status=make_status_bus(settings),
            storage=make_storage(settings),
            registry=Registry(settings),
        )
        await runtime.broker.connect()
        await runtime.status.connect()
        await runtime.storage.ensure_bucket()
        return runtime

    @functools.cached_property
    def read_sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for transactions that only read (requests that change nothing): on SQLite
        they take no lock, so they run beside each other and beside the one writer."""
        return make_sessionmaker(for_reads(self.engine))

    async def close(self) -> None:
        await self.registry.aclose()
        await self.broker.close()
        await self.status.close()
        await self.engine.dispose()
