"""Passwords, access tokens (JWT) and API tokens, and signed media URLs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from videofoundry.core.config import Settings, signing_key

_hasher = PasswordHasher()
_ISSUER = "videofoundry"
_AUDIENCE = "videofoundry-api"
_ALGORITHM = "HS256"
API_TOKEN_PREFIX = "vf_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def create_access_token(settings: Settings, user_id: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=settings.ACCESS_TOKEN_MINUTES),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=_ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> str | None:
    """The user id of a valid token, else None. The algorithm is pinned (RFC 8725)."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            issuer=_ISSUER,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_media(settings: Settings, asset_id: str, expires_in: int = 6 * 3600) -> tuple[int, str]:
    """Expiry and signature for a media URL that works without an Authorization header
    (a <video src> cannot send one)."""
    expires = int(time.time()) + expires_in
    return expires, _media_signature(settings, asset_id, expires)


def verify_media(settings: Settings, asset_id: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(_media_signature(settings, asset_id, expires), signature)


def _media_signature(settings: Settings, asset_id: str, expires: int) -> str:
    message = f"media:{asset_id}:{expires}".encode()
    return hmac.new(signing_key(settings).encode(), message, hashlib.sha256).hexdigest()
