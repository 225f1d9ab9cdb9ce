from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from videofoundry.database.base import Base, TimestampMixin, new_id


class Project(TimestampMixin, Base):
    __tablename__ = "project"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    width: Mapped[int] = mapped_column(Integer, default=1280)
    height: Mapped[int] = mapped_column(Integer, default=720)
    fps: Mapped[int] = mapped_column(Integer, default=24)
    aspect_mode: Mapped[str] = mapped_column(String(10), default="fit")
    """How clips of another aspect are fitted: `fit` (letterbox) or `fill` (centre crop)."""
    default_transition: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    soundtrack_asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("asset.id", ondelete="SET NULL"), nullable=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped on every edit of the project's own fields (If-Match on updates)."""
