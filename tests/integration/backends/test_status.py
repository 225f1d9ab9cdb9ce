"""The status bus contract, against the in-process bus and the shared Redis.

Redis tests use a unique key prefix and delete only their own keys (never FLUSHALL).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.services import REDIS, REDIS_URL, require
from videofoundry.core.config import Settings
from videofoundry.status import make_status_bus
from videofoundry.status.base import StatusBus
from videofoundry.status.memory import MemoryStatusBus
from videofoundry.status.redis import RedisStatusBus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[StatusBus]:
    if request.param == "memory":
        memory = MemoryStatusBus()
        await memory.connect()
        yield memory
        await memory.close()
        return
    require("Redis", REDIS)
    redis_bus = RedisStatusBus(REDIS_URL, prefix=f"vftest:{uuid.uuid4().hex}:")
    await redis_bus.connect()
    try:
        yield redis_bus
    finally:
        keys = [key async for key in redis_bus.client.scan_iter(match=f"{redis_bus.prefix}*")]
        if keys:
            await redis_bus.client.delete(*keys)
        await redis_bus.close()


async def next_event(events: AsyncIterator[dict[str, object]]) -> dict[str, object]:
    return await asyncio.wait_for(anext(events), timeout=5)


async def test_snapshot_round_trip_and_ttl(bus: StatusBus) -> None:
    assert await bus.get_snapshot("job-1") is None
    await bus.set_snapshot("job-1", {"state": "running", "done": 2, "total": 5}, ttl=1)
    await bus.set_snapshot("job-2", {"state": "queued"}, ttl=60)
    assert await bus.get_snapshot("job-1") == {"state": "running", "done": 2, "total": 5}
    await asyncio.sleep(1.2)
    assert await bus.get_snapshot("job-1") is None
    assert await bus.get_snapshot("job-2") == {"state": "queued"}


async def test_snapshot_is_replaced_and_not_shared(bus: StatusBus) -> None:
    snapshot = {"state": "running", "segments": [1]}
    await bus.set_snapshot("job", snapshot, ttl=60)
    snapshot["segments"].append(2)
    assert await bus.get_snapshot("job") == {"state": "running", "segments": [1]}
    await bus.set_snapshot("job", {"state": "done"}, ttl=60)
    assert await bus.get_snapshot("job") == {"state": "done"}


async def test_subscriber_receives_events_in_order(bus: StatusBus) -> None:
    async with bus.subscribe("job") as events:
        # Published right after entering: the subscription must already be live.
        for seq in range(1, 21):
            await bus.publish("job", {"seq": seq, "type": "progress"})
        received = [await next_event(events) for _ in range(20)]
    assert [e["seq"] for e in received] == list(range(1, 21))


async def test_events_do_not_leak_across_jobs(bus: StatusBus) -> None:
    async with bus.subscribe("job-a") as a_events, bus.subscribe("job-b") as b_events:
        await bus.publish("job-b", {"seq": 1, "job": "b"})
        await bus.publish("job-c", {"seq": 1, "job": "c"})
        await bus.publish("job-a", {"seq": 1, "job": "a"})
        await bus.publish("job-b", {"seq": 2, "job": "b"})
        assert await next_event(a_events) == {"seq": 1, "job": "a"}
        assert await next_event(b_events) == {"seq": 1, "job": "b"}
        assert await next_event(b_events) == {"seq": 2, "job": "b"}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(a_events), timeout=0.3)


async def test_every_subscriber_gets_every_event(bus: StatusBus) -> None:
    async with bus.subscribe("job") as first, bus.subscribe("job") as second:
        await bus.publish("job", {"seq": 1})
        assert await next_event(first) == {"seq": 1}
        assert await next_event(second) == {"seq": 1}


async def test_publish_without_subscribers_is_fine(bus: StatusBus) -> None:
    await bus.publish("nobody-listens", {"seq": 1})
    # A later subscriber does not see old events: pub/sub is a doorbell, not a log.
    async with bus.subscribe("nobody-listens") as events:
        await bus.publish("nobody-listens", {"seq": 2})
        assert await next_event(events) == {"seq": 2}


async def test_redis_events_cross_connections() -> None:
    """A worker process publishes, the API process subscribes: two separate clients."""
    require("Redis", REDIS)
    prefix = f"vftest:{uuid.uuid4().hex}:"
    api, worker = RedisStatusBus(REDIS_URL, prefix=prefix), RedisStatusBus(REDIS_URL, prefix)
    await api.connect()
    await worker.connect()
    try:
        await worker.set_snapshot("job", {"state": "running"}, ttl=60)
        assert await api.get_snapshot("job") == {"state": "running"}
        assert 0 < await api.client.ttl(api.snapshot_key("job")) <= 60
        async with api.subscribe("job") as events:
            await worker.publish("job", {"seq": 1})
            assert await next_event(events) == {"seq": 1}
    finally:
        await api.client.delete(api.snapshot_key("job"))
        await api.close()
        await worker.close()


def test_make_status_bus_follows_the_settings() -> None:
    assert isinstance(make_status_bus(Settings(REDIS_URL="")), MemoryStatusBus)
    assert isinstance(make_status_bus(Settings(REDIS_URL=REDIS_URL)), RedisStatusBus)
