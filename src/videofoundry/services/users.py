"""Accounts: who may register, budgets that only operators raise, sign-in, the demo login.

The API and the `videofoundry users` commands both come here, so the rules hold whichever way
an account is touched.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from decimal import Decimal
from pathlib import Path

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from videofoundry.core.security import hash_password, verify_invite, verify_password_or_dummy
from videofoundry.models import Asset, RenderJob, User
from videofoundry.models.render_job import TERMINAL_JOB_STATES
from videofoundry.storage.base import Storage

log = logging.getLogger(__name__)
MAX_EMAIL_LENGTH = 320


def rowcount(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(
    session: AsyncSession, email: str, password: str, budget_usd: Decimal | None = None
) -> User:
    """Add an account to the session (flushed, not committed); Conflict if the email is taken,
    also when a concurrent registration of it wins the race."""
    email = normalize_email(email)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"an account with email {email} already exists")
    password_hash = await asyncio.to_thread(hash_password, password)  # ~50 ms of CPU
    user = User(email=email, password_hash=password_hash, budget_usd=budget_usd)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"an account with email {email} already exists") from exc
    return user


async def register(
    session: AsyncSession, settings: Settings, email: str, password: str, invite: str | None
) -> User:
    """Self-service sign-up under the instance's REGISTRATION policy, with the default
    budget for new accounts. Committed."""
    if settings.REGISTRATION == "closed":
        raise Forbidden("registration is closed on this instance; ask an operator for an account")
    if settings.REGISTRATION == "invite" and not (
        invite and verify_invite(settings, normalize_email(email), invite)
    ):
        raise Forbidden(
            "registration is by invitation on this instance: `invite` is missing, expired or "
            "for another email"
        )
    user = await create_user(session, email, password, settings.DEFAULT_BUDGET_USD)
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict(f"an account with email {user.email} already exists") from exc
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The account for these credentials, else None, in the same time either way."""
    email = normalize_email(email)
    storable = "\x00" not in email and len(email) <= MAX_EMAIL_LENGTH  # PostgreSQL refuses NUL
    user = await session.scalar(select(User).where(User.email == email)) if storable else None
    stored = user.password_hash if user is not None else None
    ok = await asyncio.to_thread(verify_password_or_dummy, stored, password)
    return user if ok else None


async def lower_own_budget(session: AsyncSession, user_id: str, budget_usd: Decimal) -> User:
    """A user may tighten their own cap; raising or lifting it is the operator's call.
    One conditional UPDATE, so an operator's concurrent change is never overwritten upwards."""
    lowered = await session.execute(
        update(User)
        .where(User.id == user_id)
        .where(User.budget_usd.is_(None) | (User.budget_usd >= budget_usd))
        .values(budget_usd=budget_usd)
    )
    await session.commit()
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:
        raise NotFound("account not found")
    if not rowcount(lowered):
        raise InvalidInput(
            f"budget_usd can only be lowered (it is {user.budget_usd:.2f}); "
            "an operator raises it with `videofoundry users budget`",
            field="budget_usd",
        )
    return user


async def set_budget(session: AsyncSession, email: str, budget_usd: Decimal | None) -> User:
    """Operator: set, raise or lift (None) an account's cap. Committed."""
    email = normalize_email(email)
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        raise NotFound(f"no account with email {email}")
    user.budget_usd = budget_usd
    await session.commit()
    return user


async def sign_out_everywhere(session: AsyncSession, user_id: str) -> None:
    """Every login token issued so far stops working (API tokens are revoked one by one)."""
    await session.execute(
        update(User).where(User.id == user_id).values(token_generation=User.token_generation + 1)
    )
    await session.commit()


async def delete_account(
    session: AsyncSession, storage: Storage, user_id: str, password: str
) -> None:
    """Delete the account, everything it owns (the database cascades) and its stored files.
    The password is asked again, so a stolen token alone cannot do it."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("account not found")
    ok = await asyncio.to_thread(verify_password_or_dummy, user.password_hash, password)
    if not ok:
        raise InvalidInput("password: incorrect", field="password")
    running = await session.scalar(
        select(RenderJob.id)
        .where(RenderJob.owner_id == user_id, RenderJob.status.not_in(TERMINAL_JOB_STATES))
        .limit(1)
    )
    if running is not None:
        raise Conflict(f"render {running} is still running; cancel it, then delete the account")
    stored = list(await session.scalars(select(Asset.storage_key).where(Asset.owner_id == user_id)))
    await session.delete(user)
    await session.commit()
    for key in stored:  # after the commit: a failure here leaves files, never dangling rows
        try:
            await storage.delete(key)
        except Exception:
            log.warning("could not delete %s of a deleted account", key, exc_info=True)


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.created_at, User.email)))


async def ensure_demo_login(session: AsyncSession, data_dir: Path) -> tuple[str, str]:
    """The embedded run's ready-made login, created on first start and kept in the data dir.
    It belongs to whoever started the instance, so it has no spending cap of its own."""
    login_file = data_dir / "login.txt"
    if login_file.exists():
        email, password = login_file.read_text().split("\n")[:2]
        if await session.scalar(select(User.id).where(User.email == email)):
            return email, password
    email, password = "demo@videofoundry.local", secrets.token_urlsafe(12)
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        existing.password_hash = hash_password(password)
    else:
        await create_user(session, email, password)
    await session.commit()
    login_file.write_text(f"{email}\n{password}\n")
    login_file.chmod(0o600)
    return email, password
