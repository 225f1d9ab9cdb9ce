"""Webhooks: endpoints, the dispatcher that turns job events into webhook events, and delivery.

Where events come from: every job state change already appends a numbered `job_event` row in
the transaction that makes the change, so that table is the outbox. The dispatcher keeps a
per-job cursor and, for each new event that maps to a webhook type (`render.completed`, ...),
stores the webhook event with the exact body to send and one delivery row per subscribed
endpoint, all in one transaction with the cursor. Nothing on the render path changes, and an
event committed by a process that dies right after is still found.

Delivery (services/webhook_delivery.py) signs per Standard Webhooks and retries with
exponential backoff until the retry window closes; see docs/operations.md.
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.errors import Conflict, InvalidInput, NotFound
from videofoundry.core.outbound import AllowList, check_url
from videofoundry.database.base import utcnow
from videofoundry.models import (
    JobEvent,
    RenderJob,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookJobCursor,
)
from videofoundry.runtime import Runtime
from videofoundry.services.job_views import job_view

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "render.completed",
    "render.failed",
    "render.cancelled",
    "segment.completed",
    "segment.failed",
)
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS_PER_USER = 20
JOBS_PER_DISPATCH = 200
# Any constant: PostgreSQL advisory lock that lets one dispatcher at a time walk the cursors.
_DISPATCH_LOCK = 0x5646_5748
_EVENT_NAMESPACE = uuid.UUID("6f1c3e52-2b7a-4f0e-9a51-5d2b8c0e7a11")


def allowlist(settings: Settings) -> AllowList:
    return AllowList.parse(settings.WEBHOOK_ALLOWED_HOSTS)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def event_id(job_id: str, seq: int) -> str:
    """Stable: the same job event always becomes the same webhook event id."""
    return "evt_" + uuid.uuid5(_EVENT_NAMESPACE, f"{job_id}:{seq}").hex


def event_type_of(payload: dict[str, Any]) -> str | None:
    """The webhook type a job event maps to, if any."""
    kind, status = payload.get("type"), payload.get("status")
    if kind == "job" and status in ("completed", "failed", "cancelled"):
        return f"render.{status}"
    if kind == "segment" and status in ("completed", "failed"):
        return f"segment.{status}"
    return None


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Endpoints


async def create_endpoint(
    session: AsyncSession, settings: Settings, owner_id: str, url: str, events: list[str]
) -> WebhookEndpoint:
    if not events:
        raise InvalidInput("events must name at least one event type", "events")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(
            f"events: unknown type(s) {', '.join(unknown)}; choose from {', '.join(EVENT_TYPES)}",
            "events",
        )
    await check_url(url, allowlist(settings), field="url")
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.owner_id == owner_id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_USER:
        raise Conflict(f"at most {MAX_ENDPOINTS_PER_USER} webhooks per user; remove one first")
    endpoint = WebhookEndpoint(
        owner_id=owner_id,
        url=url,
        events=[t for t in EVENT_TYPES if t in set(events)],
        secret=new_secret(),
        created_at=utcnow(),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def list_endpoints(session: AsyncSession, owner_id: str) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.owner_id == owner_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(rows)


async def get_endpoint(session: AsyncSession, owner_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.owner_id == owner_id
        )
    )
    if endpoint is None:
        raise NotFound(f"webhook {endpoint_id} not found")
    return endpoint


async def delete_endpoint(session: AsyncSession, owner_id: str, endpoint_id: str) -> None:
    endpoint = await get_endpoint(session, owner_id, endpoint_id)
    await session.delete(endpoint)


async def recent_deliveries(
    session: AsyncSession, owner_id: str, endpoint_id: str, limit: int = 50
) -> list[tuple[WebhookDelivery, WebhookEvent, list[WebhookAttempt]]]:
    """The endpoint's latest deliveries, newest first, each with its attempts in order."""
    endpoint = await get_endpoint(session, owner_id, endpoint_id)
    pairs = (
        await session.execute(
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
    ).all()
    attempts: dict[str, list[WebhookAttempt]] = {d.id: [] for d, _ in pairs}
    if attempts:
        for attempt in await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, e, attempts[d.id]) for d, e in pairs]


async def send_test(session: AsyncSession, owner_id: str, endpoint_id: str) -> WebhookDelivery:
    """Queue a `webhook.test` event for this endpoint only; delivered like any other."""
    endpoint = await get_endpoint(session, owner_id, endpoint_id)
    now = utcnow()
    event = WebhookEvent(
        id="evt_" + uuid.uuid4().hex,
        owner_id=owner_id,
        type=TEST_EVENT,
        body={
            "type": TEST_EVENT,
            "timestamp": now.isoformat(),
            "data": {"webhook_id": endpoint.id, "message": "a test event from Video Foundry"},
        },
        created_at=now,
    )
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, event_id=event.id, next_attempt_at=now, created_at=now
    )
    session.add(event)
    await session.flush()  # the event row first: deliveries reference it
    session.add(delivery)
    await session.flush()
    return delivery


# --------------------------------------------------------------------------------------------
# Dispatch: job events -> webhook events and deliveries


async def dispatch(runtime: Runtime) -> int:
    """Turn job events past each job's cursor into webhook events; returns deliveries made."""
    made = 0
    async with runtime.sessions() as session, session.begin():
        if runtime.engine.dialect.name == "postgresql":
            locked = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _DISPATCH_LOCK}
            )
            if not locked:
                return 0  # another process is dispatching right now
        since = (
            select(
                WebhookEndpoint.owner_id,
                func.min(WebhookEndpoint.created_at).label("since"),
            )
            .group_by(WebhookEndpoint.owner_id)
            .subquery()
        )
        jobs = (
            await session.execute(
                select(RenderJob.id, RenderJob.owner_id, RenderJob.event_seq, WebhookJobCursor.seq)
                .join(since, since.c.owner_id == RenderJob.owner_id)
                .outerjoin(WebhookJobCursor, WebhookJobCursor.job_id == RenderJob.id)
                .where(RenderJob.event_seq > func.coalesce(WebhookJobCursor.seq, 0))
                .limit(JOBS_PER_DISPATCH)
            )
        ).all()
        endpoints: dict[str, list[WebhookEndpoint]] = {}
        for job_id, owner_id, last_seq, cursor in jobs:
            if owner_id not in endpoints:
                endpoints[owner_id] = await list_endpoints(session, owner_id)
            made += await _dispatch_job(
                session, runtime, job_id, owner_id, cursor or 0, last_seq, endpoints[owner_id]
            )
            if cursor is None:
                session.add(WebhookJobCursor(job_id=job_id, seq=last_seq))
            else:
                await session.execute(
                    update(WebhookJobCursor)
                    .where(WebhookJobCursor.job_id == job_id)
                    .values(seq=last_seq)
                )
    return made


async def _dispatch_job(
    session: AsyncSession,
    runtime: Runtime,
    job_id: str,
    owner_id: str,
    after: int,
    upto: int,
    endpoints: list[WebhookEndpoint],
) -> int:
    # Bounded by `upto`, the number read with the job: rows above it may be committing now and
    # belong to the next pass.
    rows = await session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.seq > after, JobEvent.seq <= upto)
        .order_by(JobEvent.seq)
    )
    made = 0
    view: dict[str, Any] | None = None
    for row in rows:
        kind = event_type_of(row.payload)
        if kind is None:
            continue
        at = _aware(row.created_at)
        targets = [e for e in endpoints if kind in e.events and _aware(e.created_at) <= at]
        if not targets:
            continue
        if view is None:
            job = await session.get_one(RenderJob, job_id)
            view = (await job_view(session, runtime, job)).model_dump(mode="json")
        data: dict[str, Any] = {"job": view}
        if row.payload.get("type") == "segment":
            data["segment"] = {
                key: row.payload.get(key)
                for key in ("segment_id", "position", "status", "reused", "error")
            }
        identifier = event_id(job_id, row.seq)
        session.add(
            WebhookEvent(
                id=identifier,
                owner_id=owner_id,
                type=kind,
                body={"type": kind, "timestamp": at.isoformat(), "data": data},
                created_at=utcnow(),
            )
        )
        await session.flush()  # the event row first: deliveries reference it
        now = utcnow()
        for endpoint in targets:
            session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=identifier,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            made += 1
    await session.flush()
    return made
