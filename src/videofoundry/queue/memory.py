"""In-process broker for the embedded run and for tests: same contract as RabbitMQ, no server.

Nothing survives the process, so it only suits one process that runs the API and the workers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from videofoundry.queue.base import (
    SCHEMA_VERSION,
    Broker,
    Consumer,
    DeadLetter,
    Handler,
    Message,
)

log = logging.getLogger(__name__)


@dataclass
class _Envelope:
    payload: str
    delivery_count: int


class MemoryBroker(Broker):
    """asyncio queues per name; a failed handler requeues its message at the tail.

    A message is delivered at most `delivery_limit` times, then kept in a dead-letter list.
    """

    def __init__(self, delivery_limit: int = 5) -> None:
        if delivery_limit < 1:
            raise ValueError("delivery_limit must be at least 1")
        self.delivery_limit = delivery_limit
        self._queues: dict[str, asyncio.Queue[_Envelope]] = {}
        self._dead: dict[str, list[dict[str, Any]]] = {}
        self._consumers: set[_MemoryConsumer] = set()
        # Messages queued or being handled; `join` waits for zero.
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _queue(self, name: str) -> asyncio.Queue[_Envelope]:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = asyncio.Queue()
        return queue

    def _enqueue(self, name: str, envelope: _Envelope) -> None:
        self._unfinished += 1
        self._idle.clear()
        self._queue(name).put_nowait(envelope)

    def _finished(self) -> None:
        self._unfinished -= 1
        if self._unfinished == 0:
            self._idle.set()

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()

    async def publish(self, queue: str, body: dict[str, Any]) -> None:
        # Serialise like RabbitMQ would, so a body that is not JSON fails here and every
        # delivery hands the handler a fresh copy it may mutate.
        payload = json.dumps({"v": SCHEMA_VERSION, **body})
        self._enqueue(queue, _Envelope(payload, 1))

    async def consume(self, queue: str, handler: Handler, prefetch: int = 1) -> Consumer:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        consumer = _MemoryConsumer(self, queue, handler, prefetch)
        self._consumers.add(consumer)
        consumer.start()
        return consumer

    async def dead_letters(self, queue: str) -> list[dict[str, Any]]:
        return [dict(body) for body in self._dead.get(queue, [])]

    async def depth(self, queue: str) -> int:
        return self._queue(queue).qsize()

    async def join(self) -> None:
        """Wait until every queue is empty and no handler is running (for tests).

        Waits forever if a queue holds messages that no consumer takes."""
        await self._idle.wait()

    async def _handle(self, queue: str, handler: Handler, envelope: _Envelope) -> None:
        body: dict[str, Any] = json.loads(envelope.payload)
        try:
            await handler(Message(body=body, delivery_count=envelope.delivery_count))
        except asyncio.CancelledError:
            # Cancelled from outside (task group shutdown): like a lost connection, the
            # message goes back without counting as a handler failure.
            self._enqueue(queue, envelope)
            self._finished()
            raise
        except DeadLetter as exc:
            log.warning("handler dead-lettered a %s message: %s", queue, exc)
            self._dead.setdefault(queue, []).append(json.loads(envelope.payload))
        except Exception:
            if envelope.delivery_count >= self.delivery_limit:
                log.exception(
                    "handler failed on delivery %d of a %s message; dead-lettered",
                    envelope.delivery_count,
                    queue,
                )
                self._dead.setdefault(queue, []).append(json.loads(envelope.payload))
            else:
                log.warning(
                    "handler failed on delivery %d of a %s message; requeued",
                    envelope.delivery_count,
                    queue,
                    exc_info=True,
                )
                self._enqueue(queue, _Envelope(envelope.payload, envelope.delivery_count + 1))
        self._finished()


class _MemoryConsumer(Consumer):
    def __init__(self, broker: MemoryBroker, queue: str, handler: Handler, prefetch: int) -> None:
        self._broker = broker
        self._queue = queue
        self._handler = handler
        self._slots = asyncio.Semaphore(prefetch)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=f"consume {self._queue}")

    async def _run(self) -> None:
        queue = self._broker._queue(self._queue)
        while True:
            # Take a slot before the message, so a message is never held while waiting.
            await self._slots.acquire()
            try:
                envelope = await queue.get()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._broker._handle(self._queue, self._handler, envelope))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._broker._consumers.discard(self)
