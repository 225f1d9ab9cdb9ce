"""Transactional outbox: tasks are rows written with the change that calls for them, and a relay
publishes them after the commit. A crash between commit and publish delays a task, never loses it;
a crash after publish but before stamping re-publishes it, which idempotent handlers absorb."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videofoundry.database.base import utcnow
from videofoundry.models import OutboxMessage
from videofoundry.queue.base import COMPOSITIONS, SCHEMA_VERSION, SEGMENTS, Broker

log = logging.getLogger(__name__)


def enqueue(session: AsyncSession, queue: str, body: dict[str, Any]) -> None:
    session.add(OutboxMessage(queue=queue, body={"v": SCHEMA_VERSION, **body}))


def enqueue_segment(session: AsyncSession, segment_render_id: str, job_id: str) -> None:
    enqueue(session, SEGMENTS, {"segment_render_id": segment_render_id, "job_id": job_id})


def enqueue_composition(session: AsyncSession, job_id: str) -> None:
    enqueue(session, COMPOSITIONS, {"job_id": job_id})


async def relay(
    sessions: async_sessionmaker[AsyncSession], broker: Broker, batch: int = 200
) -> int:
    """Publish unpublished outbox rows; returns how many were published."""
    published = 0
    while True:
        async with sessions() as session, session.begin():
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(batch)
                    # Several relays (API replicas, workers) may run: each row goes to one.
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                await broker.publish(row.queue, row.body)
                row.published_at = utcnow()
            published += len(rows)
        if len(rows) < batch:
            return published
