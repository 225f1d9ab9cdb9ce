"""RabbitMQ broker over aio-pika: durable quorum queues, delivery limit, dead-letter exchange.

Topology, for each queue name `q` (all names carry `prefix`):

    q          quorum queue, x-delivery-limit, dead-letters to `videofoundry.dlx` with key `q`
    q.dead     durable classic queue bound to `videofoundry.dlx` with key `q`

Publishing waits for the publisher confirm. Consumers get their own channel (per-consumer
prefetch, since quorum queues reject global QoS) and ack after the handler returned.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from videofoundry.queue.base import (
    QUEUES,
    SCHEMA_VERSION,
    Broker,
    Consumer,
    DeadLetter,
    Handler,
    Message,
)

log = logging.getLogger(__name__)

# Failures of ack/reject on a delivery whose channel is gone (closed, or replaced by a robust
# reconnect: aio-pika #312). The broker requeues such deliveries itself, so they are only logged.
_SETTLE_ERRORS = (ChannelInvalidStateError, AMQPError, ConnectionError)


class RabbitBroker(Broker):
    def __init__(self, url: str, delivery_limit: int = 5, prefix: str = "") -> None:
        if delivery_limit < 1:
            raise ValueError("delivery_limit must be at least 1")
        self.url = url
        self.delivery_limit = delivery_limit
        self.prefix = prefix
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._declared: set[str] = set()
        self._used: set[str] = set(QUEUES)
        self._declare_lock = asyncio.Lock()
        self._consumers: set[_RabbitConsumer] = set()

    # Names -----------------------------------------------------------------------------------

    def queue_name(self, queue: str) -> str:
        return f"{self.prefix}{queue}"

    def dead_queue_name(self, queue: str) -> str:
        return f"{self.prefix}{queue}.dead"

    @property
    def dlx_name(self) -> str:
        return f"{self.prefix}videofoundry.dlx"

    def queue_arguments(self, queue: str) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            # RabbitMQ dead-letters once the count of *returns* exceeds the limit, so a limit of
            # N - 1 allows exactly N deliveries (checked against 3.10: limit 2 gives 3).
            "x-delivery-limit": self.delivery_limit - 1,
            "x-dead-letter-exchange": self.dlx_name,
            "x-dead-letter-routing-key": self.queue_name(queue),
            # At-least-once dead-lettering keeps the message until the DLX has it; RabbitMQ
            # only allows it together with reject-publish overflow.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    # Lifecycle -------------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._connection is None:
            self._connection = await aio_pika.connect_robust(self.url)
            # on_return_raises: an unroutable publish (queue deleted under us) is an error,
            # not a silent drop.
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        for queue in QUEUES:
            await self._ensure_queue(queue)

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._channel = None
        self._declared.clear()

    def _require_channel(self) -> AbstractChannel:
        if self._channel is None:
            raise RuntimeError("RabbitBroker is not connected; call connect() first")
        return self._channel

    def _require_connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("RabbitBroker is not connected; call connect() first")
        return self._connection

    async def _ensure_queue(self, queue: str) -> None:
        if queue in self._declared:
            return
        async with self._declare_lock:
            if queue in self._declared:
                return
            channel = self._require_channel()
            dlx = await channel.declare_exchange(
                self.dlx_name, aio_pika.ExchangeType.DIRECT, durable=True
            )
            dead = await channel.declare_queue(self.dead_queue_name(queue), durable=True)
            await dead.bind(dlx, routing_key=self.queue_name(queue))
            await channel.declare_queue(
                self.queue_name(queue), durable=True, arguments=self.queue_arguments(queue)
            )
            self._declared.add(queue)
            self._used.add(queue)

    # Broker ----------------------------------------------------------------------------------

    async def publish(self, queue: str, body: dict[str, Any]) -> None:
        await self._ensure_queue(queue)
        payload = json.dumps({"v": SCHEMA_VERSION, **body}).encode()
        message = aio_pika.Message(
            payload,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # Raises DeliveryError on a broker nack and PublishError when unroutable.
        await self._require_channel().default_exchange.publish(
            message, routing_key=self.queue_name(queue), mandatory=True
        )

    async def consume(self, queue: str, handler: Handler, prefetch: int = 1) -> Consumer:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        await self._ensure_queue(queue)
        # A channel per consumer: prefetch applies per channel, and acks belong to it.
        channel = await self._require_connection().channel()
        try:
            await channel.set_qos(prefetch_count=prefetch)
            amqp_queue = await channel.declare_queue(
                self.queue_name(queue), durable=True, arguments=self.queue_arguments(queue)
            )
            consumer = _RabbitConsumer(self, channel, amqp_queue, handler)
            await consumer.start()
        except BaseException:
            await channel.close()
            raise
        self._consumers.add(consumer)
        return consumer

    async def dead_letters(self, queue: str) -> list[dict[str, Any]]:
        """Non-destructive: basic.get with manual ack until the queue is empty, then one
        basic.nack(multiple, requeue) returns them all, in their order, to the dead queue."""
        await self._ensure_queue(queue)
        bodies: list[dict[str, Any]] = []
        async with self._require_connection().channel() as channel:
            dead = await channel.get_queue(self.dead_queue_name(queue), ensure=False)
            last: AbstractIncomingMessage | None = None
            while (message := await dead.get(no_ack=False, fail=False)) is not None:
                last = message
                try:
                    bodies.append(json.loads(message.body))
                except ValueError:
                    bodies.append({"undecodable": message.body.decode("utf-8", "replace")})
            if last is not None:
                await last.nack(multiple=True, requeue=True)
        return bodies

    async def depth(self, queue: str) -> int:
        await self._ensure_queue(queue)
        # A passive declare answers with the count of ready (undelivered) messages; its own
        # channel, since a failed passive declare closes the channel it ran on.
        async with self._require_connection().channel() as channel:
            declared = await channel.declare_queue(self.queue_name(queue), passive=True)
            count = declared.declaration_result.message_count
        return int(count or 0)

    async def delete_topology(self) -> None:
        """Delete this broker's queues (main and dead) and its DLX, on a connection of its own
        so it works after `close()`. For throwaway prefixes in tests; never for production."""
        connection = await aio_pika.connect(self.url)
        async with connection:
            channel = await connection.channel()
            for queue in sorted(self._used):
                for name in (self.queue_name(queue), self.dead_queue_name(queue)):
                    await channel.queue_delete(name)
            await channel.exchange_delete(self.dlx_name)
        self._declared.clear()


class _RabbitConsumer(Consumer):
    def __init__(
        self, broker: RabbitBroker, channel: AbstractChannel, queue: AbstractQueue, handler: Handler
    ) -> None:
        self._broker = broker
        self._channel = channel
        self._queue = queue
        self._handler = handler
        self._tag: str | None = None
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            # Arrived while stopping: left unacked, the channel close in stop() requeues it.
            return
        # Our own task, not aiormq's: aiormq cancels its callback tasks when the connection
        # drops, which would cut a handler off halfway through its work. Left running, the
        # handler finishes, its ack fails (logged) and the broker redelivers the message.
        task = asyncio.create_task(self._process(message), name=f"handle {self._queue.name}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        name = self._queue.name
        try:
            body = json.loads(message.body)
            if not isinstance(body, dict):
                raise ValueError("message body is not a JSON object")
        except ValueError:
            log.error(
                "undecodable message on %s (%d bytes); dead-lettered", name, len(message.body)
            )
            await _settle(message.reject(requeue=False), name)
            return
        # RabbitMQ counts previous deliveries; the header is absent on some first deliveries.
        previous = message.headers.get("x-delivery-count") or 0
        delivery_count = int(previous) + 1 if isinstance(previous, int) else 1
        try:
            await self._handler(Message(body=body, delivery_count=delivery_count))
        except DeadLetter as exc:
            log.warning("handler dead-lettered a %s message: %s", name, exc)
            await _settle(message.reject(requeue=False), name)
            return
        except Exception:
            log.warning(
                "handler failed on delivery %d of a %s message; returned to the queue",
                delivery_count,
                name,
                exc_info=True,
            )
            # reject, not nack: both count towards the delivery limit before RabbitMQ 4.3,
            # but from 4.3 only reject does, and a poison message must reach the DLX.
            await _settle(message.reject(requeue=True), name)
            return
        await _settle(message.ack(), name)

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except _SETTLE_ERRORS:
                log.warning("could not cancel the consumer on %s", self._queue.name, exc_info=True)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if not self._channel.is_closed:
            await self._channel.close()
        self._broker._consumers.discard(self)


async def _settle(operation: Awaitable[None], queue: str) -> None:
    try:
        await operation
    except _SETTLE_ERRORS:
        log.warning(
            "could not settle a %s delivery (channel gone); the broker will redeliver it",
            queue,
            exc_info=True,
        )
