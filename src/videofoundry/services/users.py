from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.errors import Conflict
from videofoundry.core.security import hash_password
from videofoundry.models import User


async def create_user(session: AsyncSession, email: str, password: str) -> User:
    email = email.lower()
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"an account with email {email} already exists")
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    await session.flush()
    return user


async def ensure_demo_login(session: AsyncSession, data_dir: Path) -> tuple[str, str]:
    """The embedded run's ready-made login, created on first start and kept in the data dir."""
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
