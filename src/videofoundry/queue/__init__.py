"""Task queue: one interface, RabbitMQ for the distributed run, in-process for the embedded one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from videofoundry.core.config import Settings
    from videofoundry.queue.base import Broker


def make_broker(settings: Settings) -> Broker:
    """RabbitMQ when RABBITMQ_URL is set, else the in-process broker. Call `connect()` next."""
    if settings.RABBITMQ_URL:
        from videofoundry.queue.rabbitmq import RabbitBroker

        return RabbitBroker(
            settings.RABBITMQ_URL,
            delivery_limit=settings.QUEUE_DELIVERY_LIMIT,
            prefix=settings.QUEUE_PREFIX,
        )
    from videofoundry.queue.memory import MemoryBroker

    return MemoryBroker(delivery_limit=settings.QUEUE_DELIVERY_LIMIT)
