"""Request dependencies: the runtime, a database session, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.security import (
    API_TOKEN_PREFIX,
    decode_access_token,
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


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    # Routes commit explicitly; anything not committed is rolled back on close.
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def user_for_token(session: AsyncSession, runtime: Runtime, token: str) -> User | None:
    if token.startswith(API_TOKEN_PREFIX):
        digest = hash_api_token(token)
        row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None:
            return None
        await session.execute(
            update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=utcnow())
        )
        await session.commit()
        return await session.get(User, row.user_id)
    user_id = decode_access_token(runtime.settings, token)
    return await session.get(User, user_id) if user_id else None


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


class Pagination:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=100, description="Items per page")] = 20,
        offset: Annotated[int, Query(ge=0, description="Items to skip")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Pagination, Depends()]
