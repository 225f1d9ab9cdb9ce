from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import EmailStr, Field

from videofoundry.schemas.common import Public, Strict


class UserRegister(Strict):
    email: EmailStr
    password: str = Field(min_length=8, max_length=200)
    invite: str | None = Field(default=None, max_length=200)
    """Required when the instance registers by invitation (`videofoundry users invite`)."""


class UserPublic(Public):
    id: str
    email: str
    budget_usd: float | None
    spent_usd: float
    created_at: datetime


class UserUpdate(Strict):
    budget_usd: Decimal = Field(ge=0, max_digits=12, decimal_places=4, allow_inf_nan=False)
    """A lower spending cap in USD for paid models. Only an operator raises or removes it."""


class AccountDelete(Strict):
    password: str = Field(min_length=1, max_length=200)
    """The account's password, asked again."""


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
