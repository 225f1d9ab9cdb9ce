"""The broker contract, run against the in-process broker and the shared RabbitMQ.

Each RabbitMQ test gets its own name prefix and deletes its queues and exchange afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError

from tests.services import RABBITMQ, RABBITMQ_URL, require
from videofoundry.core.config import Settings
from videofoundry.queue import make_broker
from videofoundry.queue.base import (
    COMPOSITIONS,
    SCHEMA_VERSION,
    SEGMENTS,
    Broker,
    DeadLetter,
    Message,
)
from videofoundry.queue.memory import MemoryBroker
from videofoundry.queue.rabbitmq import RabbitBroker

LIMIT = 3


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 10.0
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def cut_connections_to(address: tuple[str, int]) -> int:
    """Shut down every TCP socket of this process connected to `address`; returns how many.

    The asyncio transports on those sockets see the connection drop, as on a network failure."""
    cut = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            dup = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with dup:
            try:
                if dup.getpeername()[:2] == address:
                    dup.shutdown(socket.SHUT_RDWR)
                    cut += 1
            except OSError:
                continue
    return cut


def rabbit_broker(prefix: str | None = None) -> RabbitBroker:
    require("RabbitMQ", RABBITMQ)
    return RabbitBroker(
        RABBITMQ_URL, delivery_limit=LIMIT, prefix=prefix or f"vftest-{uuid.uuid4().hex[:12]}."
    )


@pytest.fixture
async def rabbit() -> AsyncIterator[RabbitBroker]:
    broker = rabbit_broker()
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.close()
        await broker.delete_topology()


@pytest.fixture(params=["memory", "rabbitmq"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        memory = MemoryBroker(delivery_limit=LIMIT)
        await memory.connect()
        yield memory
        await memory.close()
        return
    rabbit = rabbit_broker()
    await rabbit.connect()
    try:
        yield rabbit
    finally:
        await rabbit.close()
        await rabbit.delete_topology()


class Recorder:
    """A handler that records deliveries and fails while `fail(message)` says so."""

    def __init__(self, fail: Callable[[Message], bool] = lambda m: False) -> None:
        self.seen: list[Message] = []
        self.fail = fail

    async def __call__(self, message: Message) -> None:
        self.seen.append(message)
        if self.fail(message):
            raise RuntimeError("handler failure for the test")


async def test_publish_consume_ack(broker: Broker) -> None:
    for n in range(3):
        await broker.publish(SEGMENTS, {"n": n})
    await broker.publish(COMPOSITIONS, {"other": True})
    recorder = Recorder()
    consumer = await broker.consume(SEGMENTS, recorder, prefetch=3)
    await eventually(lambda: len(recorder.seen) == 3)
    await consumer.stop()

    assert sorted(m.body["n"] for m in recorder.seen) == [0, 1, 2]
    assert all(m.body["v"] == SCHEMA_VERSION for m in recorder.seen)
    assert all(m.delivery_count == 1 for m in recorder.seen)
    # Acked: nothing came back when the consumer's channel closed.
    assert await broker.depth(SEGMENTS) == 0
    assert await broker.dead_letters(SEGMENTS) == []
    # Queues are separate.
    assert await broker.depth(COMPOSITIONS) == 1


async def test_failure_requeues_with_growing_delivery_count(broker: Broker) -> None:
    await broker.publish(SEGMENTS, {"job": "flaky"})
    recorder = Recorder(fail=lambda m: m.delivery_count < LIMIT)
    consumer = await broker.consume(SEGMENTS, recorder)
    await eventually(lambda: len(recorder.seen) == LIMIT)
    await consumer.stop()

    assert [m.delivery_count for m in recorder.seen] == [1, 2, 3]
    assert all(m.body["job"] == "flaky" for m in recorder.seen)
    assert await broker.depth(SEGMENTS) == 0
    assert await broker.dead_letters(SEGMENTS) == []


async def test_dead_letter_after_the_limit(broker: Broker) -> None:
    await broker.publish(SEGMENTS, {"job": "poison"})
    await broker.publish(SEGMENTS, {"job": "fine"})
    recorder = Recorder(fail=lambda m: m.body["job"] == "poison")
    consumer = await broker.consume(SEGMENTS, recorder)
    await eventually(lambda: len(recorder.seen) == LIMIT + 1)

    async def dead_lettered() -> bool:
        return len(await broker.dead_letters(SEGMENTS)) == 1

    await eventually(dead_lettered)
    await asyncio.sleep(0.2)  # room for a wrong extra delivery to show up
    await consumer.stop()

    poison = [m.delivery_count for m in recorder.seen if m.body["job"] == "poison"]
    assert poison == list(range(1, LIMIT + 1))
    expected = [{"v": SCHEMA_VERSION, "job": "poison"}]
    assert await broker.dead_letters(SEGMENTS) == expected
    # Reading the dead letters does not consume them.
    assert await broker.dead_letters(SEGMENTS) == expected
    assert await broker.depth(SEGMENTS) == 0


async def test_dead_letter_raised_by_the_handler_skips_the_retries(broker: Broker) -> None:
    await broker.publish(SEGMENTS, {"job": "hopeless"})
    await broker.publish(SEGMENTS, {"job": "fine"})
    seen: list[Message] = []

    async def handler(message: Message) -> None:
        seen.append(message)
        if message.body["job"] == "hopeless":
            raise DeadLetter("already recorded as failed")

    consumer = await broker.consume(SEGMENTS, handler)

    async def dead_lettered() -> bool:
        return len(await broker.dead_letters(SEGMENTS)) == 1

    await eventually(lambda: len(seen) == 2)
    await eventually(dead_lettered)
    await asyncio.sleep(0.2)  # room for a wrong redelivery to show up
    await consumer.stop()
    assert [(m.body["job"], m.delivery_count) for m in seen] == [("hopeless", 1), ("fine", 1)]
    assert await broker.dead_letters(SEGMENTS) == [{"v": SCHEMA_VERSION, "job": "hopeless"}]
    assert await broker.depth(SEGMENTS) == 0


async def test_prefetch_bounds_concurrency(broker: Broker) -> None:
    for n in range(6):
        await broker.publish(SEGMENTS, {"n": n})
    active = 0
    peak = 0
    done: list[int] = []

    async def handler(message: Message) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.1)
        active -= 1
        done.append(message.body["n"])

    consumer = await broker.consume(SEGMENTS, handler, prefetch=2)
    await eventually(lambda: len(done) == 6)
    await consumer.stop()
    assert peak == 2
    assert sorted(done) == list(range(6))


async def test_stop_waits_for_handlers_in_flight(broker: Broker) -> None:
    await broker.publish(SEGMENTS, {"n": 1})
    started = asyncio.Event()
    finished: list[bool] = []

    async def handler(message: Message) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(True)

    consumer = await broker.consume(SEGMENTS, handler)
    await asyncio.wait_for(started.wait(), 10)
    await consumer.stop()
    assert finished == [True]
    assert await broker.depth(SEGMENTS) == 0


async def test_publish_refuses_a_body_that_is_not_json(broker: Broker) -> None:
    with pytest.raises(TypeError):
        await broker.publish(SEGMENTS, {"when": object()})
    assert await broker.depth(SEGMENTS) == 0


async def test_memory_join_waits_for_queues_and_handlers() -> None:
    broker = MemoryBroker(delivery_limit=2)
    handled: list[int] = []

    async def handler(message: Message) -> None:
        await asyncio.sleep(0.05)
        if message.delivery_count == 1 and message.body["n"] == 0:
            raise RuntimeError("first try fails")
        handled.append(message.body["n"])

    for n in range(3):
        await broker.publish(SEGMENTS, {"n": n})
    consumer = await broker.consume(SEGMENTS, handler, prefetch=3)
    await asyncio.wait_for(broker.join(), 10)
    assert sorted(handled) == [0, 1, 2]
    await consumer.stop()


# RabbitMQ only -------------------------------------------------------------------------------


async def test_rabbit_topology_is_quorum_with_dlx(rabbit: RabbitBroker) -> None:
    arguments = rabbit.queue_arguments(SEGMENTS)
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-dead-letter-strategy"] == "at-least-once"
    # Re-declaring with the same arguments succeeds; with other arguments RabbitMQ refuses,
    # which proves the queue really carries them.
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(rabbit.queue_name(SEGMENTS), durable=True, arguments=arguments)
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
            await channel.declare_queue(
                rabbit.queue_name(SEGMENTS), durable=True, arguments={"x-queue-type": "classic"}
            )


async def test_rabbit_undecodable_body_is_dead_lettered(
    rabbit: RabbitBroker, caplog: pytest.LogCaptureFixture
) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(b"\xffnot json"), routing_key=rabbit.queue_name(SEGMENTS)
        )
    recorder = Recorder()
    with caplog.at_level(logging.ERROR, logger="videofoundry.queue.rabbitmq"):
        consumer = await rabbit.consume(SEGMENTS, recorder)

        async def dead_lettered() -> bool:
            return len(await rabbit.dead_letters(SEGMENTS)) == 1

        await eventually(dead_lettered)
        await consumer.stop()
    assert recorder.seen == []
    assert await rabbit.dead_letters(SEGMENTS) == [{"undecodable": "\ufffdnot json"}]
    assert "undecodable message" in caplog.text


async def test_rabbit_unacked_message_is_redelivered_to_another_consumer(
    rabbit: RabbitBroker,
) -> None:
    await rabbit.publish(SEGMENTS, {"job": "survivor"})
    # A first consumer takes the message and dies (its connection closes) without acking.
    dying = await aio_pika.connect(RABBITMQ_URL)
    channel = await dying.channel()
    queue = await channel.get_queue(rabbit.queue_name(SEGMENTS), ensure=False)
    first = await queue.get(no_ack=False)
    assert json.loads(first.body)["job"] == "survivor"
    assert await rabbit.depth(SEGMENTS) == 0
    await dying.close()

    recorder = Recorder()
    consumer = await rabbit.consume(SEGMENTS, recorder)
    await eventually(lambda: len(recorder.seen) == 1)
    await consumer.stop()
    assert recorder.seen[0].body["job"] == "survivor"
    assert recorder.seen[0].delivery_count == 2


async def test_rabbit_ack_after_connection_loss_is_survived(
    rabbit: RabbitBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """aio-pika #312: a delivery from before a reconnect cannot be acked; the handler must not
    crash the consumer, and the broker must redeliver the message."""
    await rabbit.publish(SEGMENTS, {"job": "interrupted"})
    release = asyncio.Event()
    recorder = Recorder()
    completed: list[int] = []

    async def handler(message: Message) -> None:
        await recorder(message)
        if message.delivery_count == 1:
            await release.wait()
        completed.append(message.delivery_count)

    consumer = await rabbit.consume(SEGMENTS, handler)
    try:
        await eventually(lambda: len(recorder.seen) == 1)
        # As a network failure would: the robust connection reconnects, the broker requeues.
        assert cut_connections_to(RABBITMQ) >= 1
        with caplog.at_level(logging.WARNING, logger="videofoundry.queue.rabbitmq"):
            await eventually(lambda: len(recorder.seen) == 2, timeout=30)
            release.set()
            await eventually(lambda: len(completed) == 2)  # both handlers ran to their end
    finally:
        release.set()
        await consumer.stop()
    assert [m.delivery_count for m in recorder.seen] == [1, 2]
    # The first handler was not cancelled by the connection loss: it ran to its end.
    assert sorted(completed) == [1, 2]
    assert "could not settle" in caplog.text
    assert await rabbit.depth(SEGMENTS) == 0


async def test_rabbit_publish_is_confirmed(rabbit: RabbitBroker) -> None:
    await asyncio.gather(*(rabbit.publish(SEGMENTS, {"n": n}) for n in range(50)))
    # Confirmed means enqueued: another connection sees all of them at once, without waiting.
    observer = RabbitBroker(RABBITMQ_URL, delivery_limit=LIMIT, prefix=rabbit.prefix)
    await observer.connect()
    try:
        assert await observer.depth(SEGMENTS) == 50
    finally:
        await observer.close()

    # A message the broker cannot route is an error, not a silent loss.
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(rabbit.queue_name(SEGMENTS))
    with pytest.raises(DeliveryError):
        await rabbit.publish(SEGMENTS, {"n": "lost"})


async def test_rabbit_message_is_persistent_json(rabbit: RabbitBroker) -> None:
    await rabbit.publish(SEGMENTS, {"n": 1})
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(rabbit.queue_name(SEGMENTS), ensure=False)
        message = await queue.get(no_ack=True)
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert json.loads(message.body) == {"v": SCHEMA_VERSION, "n": 1}


def test_make_broker_follows_the_settings() -> None:
    embedded = make_broker(Settings(RABBITMQ_URL="", QUEUE_DELIVERY_LIMIT=7))
    assert isinstance(embedded, MemoryBroker)
    assert embedded.delivery_limit == 7
    distributed = make_broker(Settings(RABBITMQ_URL=RABBITMQ_URL, QUEUE_DELIVERY_LIMIT=4))
    assert isinstance(distributed, RabbitBroker)
    assert distributed.delivery_limit == 4
