"""Request dependencies: the runtime, a database session, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.security import (
    API_TOKEN_PREFIX,
    decode_access_claims,
    hash_api_token,
)
from videofoundry.database.base import utcnow
from videofoundry.models import ApiToken, User
from videofoundry.runtime import Runtime

_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Requests that change nothing read in transactions that take no write lock (on SQLite).
_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    # Routes commit explicitly; anything not committed is rolled back on close.
    sessions = runtime.read_sessions if request.method in _READ_METHODS else runtime.sessions
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def user_for_token(session: AsyncSession, runtime: Runtime, token: str) -> User | None:
    if token.startswith(API_TOKEN_PREFIX):
        digest = hash_api_token(token)
        # One statement, the first of its transaction: safe in a read session on SQLite too.
        owner_id = await session.scalar(
            update(ApiToken)
            .where(ApiToken.token_hash == digest)
            .values(last_used_at=utcnow())
            .returning(ApiToken.user_id)
        )
        if owner_id is None:
            return None
        await session.commit()
        return await session.get(User, owner_id)
    claims = decode_access_claims(runtime.settings, token)
    if claims is None:
        return None
    user = await session.get(User, claims[0])
    # A token from before the user signed out (an older generation) no longer counts.
    return user if user is not None and user.token_generation == claims[1] else None


async def get_current_user(
    session: SessionDep, runtime: RuntimeDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    user = await user_for_token(session, runtime, token) if token else None
    if user is None:
        raise HTTPException(
            status_code=401,
            detail="missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


MAX_OFFSET = 1_000_000_000
"""Past any real list; larger offsets overflow database integers (a 500, not an empty page)."""


class Pagination:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=100, description="Items per page")] = 20,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Pagination, Depends()]
