"""The one failure path of both workers: what a handler does when its work raises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from videofoundry.core.errors import GenerationError
from videofoundry.core.redact import redactor_for
from videofoundry.queue.base import DeadLetter, Message
from videofoundry.runtime import Runtime


async def settle(
    runtime: Runtime,
    message: Message,
    work: Awaitable[None],
    *,
    fail: Callable[[str], Awaitable[None]],
    release: Callable[[], Awaitable[None]],
) -> None:
    """Await `work`, settling any error it raises against the lease the handler holds.

    A deliberate `GenerationError` is final: `fail` records it and the message is dead-lettered
    (a redelivery could not help). Anything else is unexpected and may pass: before the last
    delivery, `release` gives the lease back so the redelivery claims at once; on the last one,
    `fail` records it before the broker dead-letters the message. Both re-raise."""
    redact = redactor_for(runtime.settings)  # failure texts are stored and shown: no keys
    try:
        await work
    except GenerationError as exc:
        await fail(redact(exc.message))
        raise DeadLetter(redact(exc.message)) from exc
    except Exception as exc:
        if message.delivery_count >= runtime.broker.delivery_limit:
            await fail(redact(f"internal error: {type(exc).__name__}: {exc}"))
        else:
            await release()
        raise
