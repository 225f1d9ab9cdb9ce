"""AI worker: turns one segment task into one stored clip in the canonical format.

Crash safety, step by step: the claim commits a lease with a fencing token (`claim`); the
provider's task id is committed before polling, so a restarted worker resumes instead of paying
again, and the clip is stored under its content address before the row is marked done
(`generate`); the final commit checks the token (`completion`), so a worker that stalled past
its lease cannot overwrite its successor. The per-segment SQL is built once (`statements`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from sqlalchemy.exc import NoResultFound

from videofoundry.core import metrics
from videofoundry.core.errors import Cancelled
from videofoundry.queue.base import SCHEMA_VERSION, DeadLetter, Message
from videofoundry.runtime import Runtime
from videofoundry.services import orchestrator
from videofoundry.workers import database_wait, failure
from videofoundry.workers.ai_worker.claim import GeneratingElsewhere, claim, hold_wait
from videofoundry.workers.ai_worker.completion import fail
from videofoundry.workers.ai_worker.generate import generate
from videofoundry.workers.ai_worker.segment_row import Claim, LeaseLost, mark_cancelled, release

log = logging.getLogger(__name__)
SAME_CLIP_POLL_SECONDS = 2.0
"""How often a segment waiting for the same clip in another render looks again."""


async def handle(runtime: Runtime, message: Message) -> None:
    """Queue handler for `segments.generate`."""
    body = message.body
    if (
        body.get("v") != SCHEMA_VERSION
        or not isinstance(body.get("segment_render_id"), str)
        or not isinstance(body.get("job_id"), str)
    ):
        raise DeadLetter(f"unreadable segment task: {body!r}")
    row_id: str = body["segment_render_id"]
    waiter: str | None = None
    hold_again_at = 0.0
    while True:
        try:
            claimed = await database_wait.claim_when_reachable(
                runtime,
                functools.partial(claim, runtime, row_id, body["job_id"]),
                f"segment render {row_id}",
            )
            break
        except GeneratingElsewhere:
            # Another render of this owner is generating this very clip: paying for it a
            # second time is the one thing not to do. Its clip completes this segment as reused;
            # if it fails or its worker dies, the next look finds nobody and generates.
            if time.monotonic() >= hold_again_at:
                announce, waiter = waiter is None, waiter or orchestrator.new_lease()
                if not await hold_wait(runtime, row_id, body["job_id"], waiter, announce):
                    return  # another delivery of this task is waiting already
                hold_again_at = time.monotonic() + runtime.settings.LEASE_SECONDS / 3
            await asyncio.sleep(SAME_CLIP_POLL_SECONDS)
    if claimed is None:
        return
    await failure.settle(
        runtime,
        message,
        _generate(runtime, claimed),
        fail=functools.partial(fail, runtime, row_id, claimed.lease),
        release=functools.partial(release, runtime, row_id, claimed.lease),
    )


async def _generate(runtime: Runtime, claimed: Claim) -> None:
    """Generate the claimed clip; the outcomes that are nobody's failure end here."""
    try:
        started = time.monotonic()
        model = await generate(runtime, claimed)
        metrics.GENERATION_SECONDS.labels(model).observe(time.monotonic() - started)
    except LeaseLost:
        log.warning("segment render %s: lease lost, another worker owns it now", claimed.row_id)
    except NoResultFound:
        log.info("segment render %s: its project was deleted meanwhile", claimed.row_id)
    except Cancelled:
        await mark_cancelled(runtime, claimed.row_id, claimed.lease)
