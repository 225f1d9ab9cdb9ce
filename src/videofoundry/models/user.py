from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from videofoundry.database.base import Base, UtcDateTime, new_id, utcnow


class User(Base):
    __tablename__ = "user"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    """Spending cap for paid models; None means no cap."""
    spent_usd: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(0))
    """Reserved when a render starts (estimate), corrected when clips finish."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Login tokens name the generation they were issued in; signing out increments it."""


class ApiToken(Base):
    """A long-lived token for scripts. Only its sha256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
