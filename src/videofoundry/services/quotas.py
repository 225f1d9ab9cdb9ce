"""Per-user quotas on rendering: how many renders one user may have in flight, and how much work
one render may ask for. Checked when a render (or a set of variations) starts; the dry run
answers the size check too, so a plan says so before anything is spent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.errors import InvalidInput, RateLimited
from videofoundry.models import RenderJob, User
from videofoundry.models.render_job import ACTIVE_JOB_STATES

RETRY_AFTER_SECONDS = 15
"""What a refused render is told to wait: renders of small projects finish in about that."""


async def check_renders_in_flight(session: AsyncSession, owner_id: str, settings: Settings) -> None:
    """RateLimited (429) when the user already has RENDERS_IN_FLIGHT_PER_USER renders going.

    Locks the user's row for the rest of the transaction, so two renders started at the same
    moment are counted one after the other."""
    await session.execute(
        select(User.id).where(User.id == owner_id).with_for_update(key_share=True)
    )
    active = await session.scalar(
        select(func.count())
        .select_from(RenderJob)
        .where(RenderJob.owner_id == owner_id, RenderJob.status.in_(ACTIVE_JOB_STATES))
    )
    limit = settings.RENDERS_IN_FLIGHT_PER_USER
    if int(active or 0) >= limit:
        raise RateLimited(
            f"you already have {active} renders in progress, the most one account may have at "
            f"once ({limit}); wait for one to finish or cancel one, then render again",
            retry_after=RETRY_AFTER_SECONDS,
        )


@dataclass(frozen=True)
class Work:
    """One clip a render would generate: its length and output format."""

    duration: float
    width: int
    height: int
    fps: float

    @property
    def megapixel_frames(self) -> float:
        return self.duration * self.fps * self.width * self.height / 1e6


def check_render_size(clips: Iterable[Work], settings: Settings) -> None:
    """InvalidInput (422) when generating `clips` is more work than one render may ask for."""
    clips = list(clips)
    asked = sum(c.megapixel_frames for c in clips)
    limit = settings.RENDER_MAX_MEGAPIXEL_FRAMES
    if asked <= limit:
        return
    seconds = sum(c.duration for c in clips)
    formats = sorted({f"{c.width}x{c.height} at {c.fps:g} fps" for c in clips})
    raise InvalidInput(
        f"this render asks for {asked:,.0f} megapixel-frames ({len(clips)} clips to generate, "
        f"{seconds:g} s in all, {', '.join(formats)}); one render may ask for at most "
        f"{limit:,.0f}: generate fewer or shorter segments at once, or lower the project's "
        "width, height or fps",
        "segments",
    )
