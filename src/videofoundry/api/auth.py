from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.api.rate_limits import LimiterDep, client_address
from videofoundry.core.errors import NotFound
from videofoundry.core.security import create_access_token, hash_api_token, new_api_token
from videofoundry.models import ApiToken, User
from videofoundry.schemas.auth import (
    AccountDelete,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    Token,
    UserPublic,
    UserRegister,
    UserUpdate,
)
from videofoundry.services import users

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/register", status_code=201, response_model=UserPublic)
async def register(
    body: UserRegister,
    session: SessionDep,
    runtime: RuntimeDep,
    request: Request,
    limiter: LimiterDep,
) -> User:
    """Create an account (when REGISTRATION allows it), with the instance's default budget."""
    await limiter.hit("register_address", client_address(request))
    return await users.register(session, runtime.settings, body.email, body.password, body.invite)


@router.post("/auth/token", response_model=Token)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    runtime: RuntimeDep,
    request: Request,
    limiter: LimiterDep,
) -> Token:
    """Exchange email (as `username`) and password for a bearer token."""
    await limiter.hit("login_address", client_address(request))
    account = users.normalize_email(form.username)
    await limiter.check("login_account", account)  # only failures count against an account
    user = await users.authenticate(session, form.username, form.password)
    if user is None:
        await limiter.hit("login_account", account)
        raise HTTPException(
            status_code=401,
            detail="incorrect email or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(access_token=create_access_token(runtime.settings, user.id, user.token_generation))


@router.post("/auth/logout", status_code=204)
async def logout(user: CurrentUser, session: SessionDep) -> Response:
    """Sign out everywhere: every login token of the account stops working (API tokens are
    revoked one by one with DELETE /api/tokens/{id})."""
    await users.sign_out_everywhere(session, user.id)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> User:
    """The signed-in user."""
    return user


@router.patch("/me", response_model=UserPublic)
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> User:
    """Lower your own spending cap for paid models (an operator raises or removes it)."""
    return await users.lower_own_budget(session, user.id, body.budget_usd)


@router.delete("/me", status_code=204)
async def delete_me(
    body: AccountDelete, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Delete your account with its projects, renders, files and tokens (password asked)."""
    await users.delete_account(session, runtime.storage, user.id, body.password)
    return Response(status_code=204)


@router.post("/tokens", status_code=201, response_model=ApiTokenCreated)
async def create_token(
    body: ApiTokenCreate, user: CurrentUser, session: SessionDep, limiter: LimiterDep
) -> ApiTokenCreated:
    """Create a long-lived API token for scripts; the token is shown only in this answer."""
    await limiter.hit("token_account", user.id)
    secret = new_api_token()
    row = ApiToken(user_id=user.id, name=body.name, token_hash=hash_api_token(secret))
    session.add(row)
    await session.commit()
    return ApiTokenCreated(
        id=row.id, name=row.name, created_at=row.created_at, last_used_at=None, token=secret
    )


@router.get("/tokens", response_model=list[ApiTokenPublic])
async def list_tokens(user: CurrentUser, session: SessionDep) -> list[ApiToken]:
    """The user's API tokens (without their secrets)."""
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    )
    return list(rows)


@router.delete("/tokens/{token_id}", status_code=204)
async def delete_token(token_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke an API token."""
    row = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if row is None:
        raise NotFound(f"token {token_id} not found")
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)
