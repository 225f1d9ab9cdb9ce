"""A clip in storage that no asset row records: paid for once, so never paid for again.

A worker uploads its clip under the spec's content address and then, in one transaction,
records it and completes its row. When the database goes away between the two (a restart, a
failover), the upload stays and the transaction is lost: the row is still held by the worker's
lease, the message runs out of deliveries while the database is down, and once the lease
expires the reconciler hands the segment to another claim, which finds no clip recorded. Taking
the stored file then, instead of calling the model, is what keeps that outage from paying for
the clip a second time."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy import select

from videofoundry import media
from videofoundry.adapters.base import GenerationResult
from videofoundry.core.errors import InvalidMedia
from videofoundry.models import Asset
from videofoundry.runtime import Runtime
from videofoundry.storage import keys
from videofoundry.workers.ai_worker.segment_row import Claim

log = logging.getLogger(__name__)


async def stored_clip(runtime: Runtime, claim: Claim, workdir: Path) -> GenerationResult | None:
    """The claimed segment's clip, read from storage into `workdir`, when it is stored but not
    recorded and reads as video; None otherwise (then the model is called).

    A recorded clip is never taken here: the claim completes a good one, and one marked damaged
    is to be generated again (services/integrity.py)."""
    key = keys.clip(claim.owner_id, claim.spec_hash)
    # Storage first: there is almost never a file, and then the database is not asked (this
    # runs before every model call).
    if not await runtime.storage.exists(key):
        return None
    async with runtime.sessions() as session:
        recorded = await session.scalar(select(Asset.id).where(Asset.storage_key == key))
    if recorded is not None:
        return None
    path = workdir / "stored.mp4"
    await runtime.storage.get_file(key, path)
    try:
        await asyncio.to_thread(media.probe, path)
    except InvalidMedia:
        log.warning("segment render %s: unrecorded stored clip is unreadable", claim.row_id)
        return None
    log.info("segment render %s: taking its clip stored but never recorded", claim.row_id)
    # No cost reported: the segment is charged its estimate (the paid call's own figure was
    # lost with the transaction that should have recorded it).
    return GenerationResult(path=path)
