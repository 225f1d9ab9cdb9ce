"""The broker interface the API and workers use.

Delivery is at least once. A handler that returns normally gets its message acked (after it
committed its work); a handler that raises gets it requeued, and after `delivery_limit`
deliveries the message is dead-lettered (`dead_letters(queue)` lists them). Handlers must be
idempotent: the database row, not the message, holds the truth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

SEGMENTS = "segments.generate"
COMPOSITIONS = "compositions.compose"
QUEUES = (SEGMENTS, COMPOSITIONS)
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Message:
    body: dict[str, Any]
    """Decoded JSON body; always carries `v` (schema version)."""
    delivery_count: int
    """1 on first delivery, then 2, 3, ... (from RabbitMQ's x-delivery-count)."""


Handler = Callable[[Message], Awaitable[None]]


class Consumer(ABC):
    @abstractmethod
    async def stop(self) -> None:
        """Stop taking new messages; wait for the handlers in flight to finish."""


class Broker(ABC):
    """Parameters of `consume`: `prefetch` bounds unacked messages (and parallel handlers)."""

    delivery_limit: int

    @abstractmethod
    async def connect(self) -> None:
        """Open connections and declare the queues (idempotent)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def publish(self, queue: str, body: dict[str, Any]) -> None:
        """Publish persistently; returns once the broker confirmed it."""

    @abstractmethod
    async def consume(self, queue: str, handler: Handler, prefetch: int = 1) -> Consumer: ...

    @abstractmethod
    async def dead_letters(self, queue: str) -> list[dict[str, Any]]:
        """Bodies of dead-lettered messages of `queue` (for tests and operators); non-destructive
        where the backend allows it."""

    @abstractmethod
    async def depth(self, queue: str) -> int:
        """Messages waiting (not delivered) in `queue`."""


class DeadLetter(Exception):
    """Raised by a handler to dead-letter its message now instead of requeueing it
    (poison messages, and tasks whose failure is already recorded in the database)."""
