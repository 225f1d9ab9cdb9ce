from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from videofoundry.database.base import Base, UtcDateTime, new_id

TERMINAL_SEGMENT_STATES = ("completed", "failed", "cancelled")


class SegmentRender(Base):
    """One segment within one render job. Its lease and provider task id make retries safe."""

    __tablename__ = "segment_render"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("render_job.id", ondelete="CASCADE"), index=True)
    segment_id: Mapped[str] = mapped_column(String(32), index=True)
    """Not a foreign key: the history of a job outlives the segment's deletion."""
    position: Mapped[int] = mapped_column(Integer)
    spec_hash: Mapped[str] = mapped_column(String(64), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The generation request as it was when the job was created."""
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    waits_for: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """spec_hash of the clip this segment continues from while that clip is being generated in
    the same job; no worker takes the row until the clip's completion clears it."""
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """When its task was queued; empty while it waits for its owner's fair share of the queue
    (services/fair_share.py)."""
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider: Mapped[str | None] = mapped_column(String(100), nullable=True)
    provider_task_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Fencing token of the worker holding this segment; its commits check it."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    clip_asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), nullable=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    estimated_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(0))
    actual_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(0))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
