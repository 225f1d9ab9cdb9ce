"""Webhook delivery: Standard Webhooks signatures, attempts, backoff, and the loop that runs it.

Every API process runs `run_forever` (unless WEBHOOK_DELIVERY=false): the embedded run has one,
a distributed deployment as many as it has API replicas; they share the work through
`SELECT ... FOR UPDATE SKIP LOCKED`. A claimed delivery's `next_attempt_at` moves past the
attempt's timeout first, so a process killed mid-attempt leaves the delivery due again shortly
after, to be sent by whichever process is alive: at least once, same `webhook-id` every time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from videofoundry import __version__
from videofoundry.core.config import Settings
from videofoundry.core.outbound import REFUSED_TEXT, OutboundRefused, guarded_client
from videofoundry.database.base import utcnow
from videofoundry.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from videofoundry.runtime import Runtime
from videofoundry.services import webhooks

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
BATCH = 20
BACKOFF_FACTOR = 4.0
ERROR_LENGTH = 300
_wake = asyncio.Event()


def wake() -> None:
    """Ask this process's loop to look for due deliveries now (after a test or a new event)."""
    _wake.set()


def body_bytes(body: dict[str, object]) -> bytes:
    """The exact bytes sent: deterministic, so every attempt carries the same payload."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `id.timestamp.body` keyed by the secret after `whsec_`."""
    key = base64.b64decode(secret.removeprefix(webhooks.SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def retry_delay(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """Delay after the `attempts`-th failed attempt: base × 4^(n-1), capped, plus up to 10 %."""
    delay = min(
        settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS,
        settings.WEBHOOK_RETRY_BASE_SECONDS * BACKOFF_FACTOR ** max(0, attempts - 1),
    )
    return delay * (1.0 + 0.1 * (rng or random).random())


@dataclass
class _Claimed:
    delivery_id: str
    attempt: int
    event_id: str
    url: str
    secret: str
    body: bytes
    created_at_ts: float


async def _claim(runtime: Runtime) -> list[_Claimed]:
    settings = runtime.settings
    now = utcnow()
    # Twice the timeout and a second: room to record the outcome after a full-length attempt.
    lease = now + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 1)
    claimed: list[_Claimed] = []
    async with runtime.sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(BATCH)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
        ).all()
        for delivery, event, endpoint in rows:
            delivery.attempts += 1
            delivery.next_attempt_at = lease
            claimed.append(
                _Claimed(
                    delivery_id=delivery.id,
                    attempt=delivery.attempts,
                    event_id=event.id,
                    url=endpoint.url,
                    secret=endpoint.secret,
                    body=body_bytes(event.body),
                    created_at_ts=webhooks._aware(delivery.created_at).timestamp(),
                )
            )
    return claimed


async def _send(client: httpx.AsyncClient, item: _Claimed) -> tuple[int | None, str | None]:
    """One attempt; returns (status code, error), error None on a 2xx."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": f"VideoFoundry-Webhooks/{__version__}",
        "webhook-id": item.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(item.secret, item.event_id, timestamp, item.body),
    }
    try:
        async with client.stream("POST", item.url, content=item.body, headers=headers) as answer:
            status = answer.status_code
    except OutboundRefused:
        return None, f"the URL {REFUSED_TEXT}"
    except httpx.TimeoutException:
        return None, "no answer within the timeout"
    except httpx.HTTPError as exc:
        return None, f"connection failed ({type(exc).__name__})"
    if 200 <= status < 300:
        return status, None
    return status, f"answered HTTP {status}"


async def _record(
    runtime: Runtime, item: _Claimed, status: int | None, error: str | None, took: float
) -> None:
    settings = runtime.settings
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        session.add(
            WebhookAttempt(
                delivery_id=item.delivery_id,
                at=now,
                status_code=status,
                error=error[:ERROR_LENGTH] if error else None,
                duration_ms=round(took * 1000, 1),
            )
        )
        values: dict[str, object]
        if error is None:
            values = {"status": "delivered", "finished_at": now, "next_attempt_at": None}
        elif now.timestamp() - item.created_at_ts >= settings.WEBHOOK_RETRY_WINDOW_SECONDS:
            values = {"status": "failed", "finished_at": now, "next_attempt_at": None}
        else:
            delay = retry_delay(settings, item.attempt)
            values = {"next_attempt_at": now + timedelta(seconds=delay)}
        # Only the holder of this attempt decides what comes next: a late process whose lease
        # passed (and whose delivery was claimed again) records its attempt and nothing else.
        await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == item.delivery_id,
                WebhookDelivery.attempts == item.attempt,
                WebhookDelivery.status == "pending",
            )
            .values(**values)
        )


async def _attempt(runtime: Runtime, client: httpx.AsyncClient, item: _Claimed) -> None:
    started = time.monotonic()
    status, error = await _send(client, item)
    if error:
        log.info("webhook %s attempt %d to endpoint failed: %s", item.event_id, item.attempt, error)
    try:
        await _record(runtime, item, status, error, time.monotonic() - started)
    except Exception as exc:
        # The endpoint was removed meanwhile, or the database is away: the lease runs out and
        # the delivery (if it still exists) is attempted again.
        log.warning("could not record webhook %s attempt %d: %s", item.event_id, item.attempt, exc)


async def deliver_due(runtime: Runtime, client: httpx.AsyncClient) -> int:
    """Send every due delivery once (in parallel); returns how many were attempted."""
    total = 0
    while True:
        claimed = await _claim(runtime)
        if claimed:
            await asyncio.gather(*(_attempt(runtime, client, item) for item in claimed))
        total += len(claimed)
        if len(claimed) < BATCH:
            return total


def make_client(settings: Settings) -> httpx.AsyncClient:
    return guarded_client(
        webhooks.allowlist(settings),
        timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS),
    )


async def run_forever(runtime: Runtime, poll_seconds: float = POLL_SECONDS) -> None:
    """Dispatch and deliver until cancelled; survives any backend outage by retrying."""
    async with make_client(runtime.settings) as client:
        while True:
            _wake.clear()  # before the pass: a wake during it means "look again"
            try:
                await webhooks.dispatch(runtime)
                await deliver_due(runtime, client)
            except Exception as exc:
                log.warning("webhook pass failed (%s); retrying", exc)
            try:
                await asyncio.wait_for(_wake.wait(), poll_seconds)
            except TimeoutError:
                pass
