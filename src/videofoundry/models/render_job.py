from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from videofoundry.database.base import Base, UtcDateTime, new_id, utcnow

ACTIVE_JOB_STATES = ("queued", "generating", "composing")
TERMINAL_JOB_STATES = ("completed", "failed", "cancelled")


class RenderJob(Base):
    """One press of Render: queued -> generating -> composing -> completed | failed | cancelled."""

    __tablename__ = "render_job"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[str] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    output: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Snapshot of the output format and composition settings at render time."""
    composition_hash: Mapped[str] = mapped_column(String(64))
    segment_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_count: Mapped[int] = mapped_column(Integer, default=0)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    """Sequence number of the last persisted event of this job."""
    composition_attempts: Mapped[int] = mapped_column(Integer, default=0)
    composition_lease: Mapped[str | None] = mapped_column(String(32), nullable=True)
    composition_lease_expires_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True
    )
    """When the composer's lease runs out; with no lease, when the reconciler sends the
    composition task again if nobody has taken it by then (a task may be dead-lettered)."""
    composition_progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    """Fraction of the composition done, saved by the composer about once a second; never
    lowered, so a retried composition does not move the job's progress back."""
    final_asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), nullable=True
    )
    poster_asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), nullable=True
    )
    captions_asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), nullable=True
    )
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    estimated_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(0))
    actual_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
