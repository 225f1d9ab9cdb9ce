from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from videofoundry.database.base import Base, UtcDateTime, new_id, utcnow


class Asset(Base):
    """A stored file: a generated clip, a final video, a poster, an upload."""

    __tablename__ = "asset"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    video_codec: Mapped[str | None] = mapped_column(String(40), nullable=True)
    audio_codec: Mapped[str | None] = mapped_column(String(40), nullable=True)
    damaged: Mapped[str | None] = mapped_column(String(300), nullable=True, default=None)
    """Why the stored object is known not to match `bytes` and `sha256` (services/integrity.py);
    cleared when it is stored again."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
