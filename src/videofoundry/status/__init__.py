"""Live status: a cache of job snapshots plus a per-job event bus. PostgreSQL stays the truth."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from videofoundry.core.config import Settings
    from videofoundry.status.base import StatusBus


def make_status_bus(settings: Settings) -> StatusBus:
    """Redis when REDIS_URL is set, else the in-process bus. Call `connect()` next."""
    if settings.REDIS_URL:
        from videofoundry.status.redis import RedisStatusBus

        return RedisStatusBus(settings.REDIS_URL)
    from videofoundry.status.memory import MemoryStatusBus

    return MemoryStatusBus()
