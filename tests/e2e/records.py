"""What a deployment recorded, read from its database: the numbered events of a job and its
segment rows. Fault tests assert with these that the fault fired and what followed it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import asyncpg

from tests.support.stack import Stack


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    status: str
    segment_id: str | None
    message: str | None


async def _query(stack: Stack, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """`sql` with `?` placeholders, on the stack's PostgreSQL or embedded SQLite file."""
    if stack.kind == "embedded":
        path = stack.workdir / "data" / "videofoundry.db"
        with sqlite3.connect(path) as database:
            return list(database.execute(sql, args).fetchall())
    numbered = sql
    for n in range(1, len(args) + 1):
        numbered = numbered.replace("?", f"${n}", 1)
    database = await asyncpg.connect(stack.env["DATABASE_URL"])
    try:
        return [tuple(row) for row in await database.fetch(numbered, *args)]
    finally:
        await database.close()


async def job_events(stack: Stack, job_id: str) -> list[Event]:
    rows = await _query(
        stack, "SELECT seq, payload FROM job_event WHERE job_id = ? ORDER BY seq", job_id
    )
    events = []
    for seq, payload in rows:
        body = json.loads(payload) if isinstance(payload, str) else payload
        events.append(
            Event(seq, body["type"], body["status"], body.get("segment_id"), body.get("message"))
        )
    return events


def statuses(events: list[Event], segment_id: str | None = None) -> list[str]:
    """The statuses one segment went through (the job's own, for None), in order."""
    if segment_id is None:
        return [e.status for e in events if e.type == "job"]
    return [e.status for e in events if e.type == "segment" and e.segment_id == segment_id]


async def segment_attempts(stack: Stack, job_id: str) -> dict[str, int]:
    """Model calls started per segment (claims plus in-process retries), by segment id."""
    rows = await _query(
        stack, "SELECT segment_id, attempts FROM segment_render WHERE job_id = ?", job_id
    )
    return dict(rows)


async def running_segments(stack: Stack, job_id: str) -> set[str]:
    """Segments a worker holds right now (read after killing it: the ones it was making)."""
    rows = await _query(
        stack,
        "SELECT segment_id FROM segment_render WHERE job_id = ? AND status = 'running'",
        job_id,
    )
    return {segment_id for (segment_id,) in rows}
