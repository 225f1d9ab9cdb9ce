from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from videofoundry.database.base import Base, TimestampMixin, new_id


class Segment(TimestampMixin, Base):
    __tablename__ = "segment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    """0..n-1 within the project, rewritten densely on insert, delete and reorder."""
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str] = mapped_column(String(200), default="procedural")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    burn_caption: Mapped[bool] = mapped_column(Boolean, default=False)
    """Draw the caption into the picture (re-encodes this segment) besides the subtitle track."""
    transition: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Transition into the next segment; None uses the project default."""
    init_image_asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), nullable=True
    )
    continue_from_previous: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    """Start from the previous segment's last frame (needs an image-to-video model)."""
    trim_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    """In point, seconds into the generated clip (None: its start). Not part of the spec: a
    trim changes the composition, never the clip."""
    trim_end: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Out point, seconds into the generated clip (None: its end)."""
    spec_hash: Mapped[str] = mapped_column(String(64))
    """Its clip, once generated, is the asset under `keys.clip(owner, spec_hash)`."""
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped on every edit; clients send it back in If-Match so two tabs cannot overwrite
    each other silently."""
