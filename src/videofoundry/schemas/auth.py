from __future__ import annotations

from datetime import datetime

from pydantic import EmailStr, Field

from videofoundry.schemas.common import Public, Strict


class UserRegister(Strict):
    email: EmailStr
    password: str = Field(min_length=8, max_length=200)


class UserPublic(Public):
    id: str
    email: str
    budget_usd: float | None
    spent_usd: float
    created_at: datetime


class UserUpdate(Strict):
    budget_usd: float | None = Field(default=None, ge=0)
    """Spending cap in USD for paid models; null removes the cap."""


class Token(Public):
    access_token: str
    token_type: str = "bearer"


class ApiTokenCreate(Strict):
    name: str = Field(min_length=1, max_length=200)


class ApiTokenPublic(Public):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    token: str
    """Shown once; only its hash is stored."""
