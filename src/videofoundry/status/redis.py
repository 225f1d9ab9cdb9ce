"""Redis status bus: snapshots as JSON strings with a TTL, events on one pub/sub channel per job.

Keys: `<prefix>status:<job>` (SET EX) and channel `<prefix>events:<job>`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from videofoundry.status.base import StatusBus

SUBSCRIBE_TIMEOUT = 10.0


class RedisStatusBus(StatusBus):
    def __init__(self, url: str, prefix: str = "vf:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: aioredis.Redis | None = None

    def snapshot_key(self, job_id: str) -> str:
        return f"{self.prefix}status:{job_id}"

    def channel(self, job_id: str) -> str:
        return f"{self.prefix}events:{job_id}"

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("RedisStatusBus is not connected; call connect() first")
        return self._client

    async def connect(self) -> None:
        if self._client is None:
            client = aioredis.Redis.from_url(self.url, decode_responses=True)
            try:
                await client.ping()
            except BaseException:
                await client.aclose()
                raise
            self._client = client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def set_snapshot(self, job_id: str, snapshot: dict[str, Any], ttl: int) -> None:
        if ttl < 1:
            raise ValueError("ttl must be at least one second")
        await self.client.set(self.snapshot_key(job_id), json.dumps(snapshot), ex=ttl)

    async def get_snapshot(self, job_id: str) -> dict[str, Any] | None:
        text = await self.client.get(self.snapshot_key(job_id))
        if text is None:
            return None
        snapshot: dict[str, Any] = json.loads(text)
        return snapshot

    async def publish(self, job_id: str, event: dict[str, Any]) -> None:
        await self.client.publish(self.channel(job_id), json.dumps(event))

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        pubsub = self.client.pubsub()
        try:
            channel = self.channel(job_id)
            await pubsub.subscribe(channel)
            # SUBSCRIBE is only sent above; wait for the server's confirmation so that every
            # event published after we yield reaches us.
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                while True:
                    reply = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT)
                    if reply is not None and reply["type"] == "subscribe":
                        break
            events = _events(pubsub)
            try:
                yield events
            finally:
                await events.aclose()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py 8.1


async def _events(pubsub: PubSub) -> AsyncGenerator[dict[str, Any], None]:
    while True:
        reply = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
        if reply is None or reply["type"] != "message":
            continue
        event: dict[str, Any] = json.loads(reply["data"])
        yield event
