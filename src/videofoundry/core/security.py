"""Passwords, access tokens (JWT) and API tokens, and signed media URLs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from videofoundry.core.config import Settings, signing_key

_hasher = PasswordHasher()
_ISSUER = "videofoundry"
_AUDIENCE = "videofoundry-api"
_ALGORITHM = "HS256"
API_TOKEN_PREFIX = "vf_"


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate in a password is odd input, not a server error.
    return text.encode("utf-8", "surrogatepass")


def hash_password(password: str) -> str:
    return _hasher.hash(_utf8(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, _utf8(password))
    except (VerifyMismatchError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password_or_dummy(password_hash: str | None, password: str) -> bool:
    """Unknown accounts (None) are checked against a dummy hash, so a login costs the same
    whether or not the email is registered: timing does not reveal who has an account."""
    ok = verify_password(password_hash or _dummy_hash(), password)
    return ok and password_hash is not None


def create_access_token(settings: Settings, user_id: str, generation: int = 0) -> str:
    """A login token; `generation` is the user's token generation (signing out bumps it)."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "gen": generation,
        "iss": _ISSUER,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=settings.ACCESS_TOKEN_MINUTES),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=_ALGORITHM)


def decode_access_claims(settings: Settings, token: str) -> tuple[str, int] | None:
    """User id and token generation of a valid token, else None. The algorithm is pinned
    (RFC 8725). Tokens from before generations existed count as generation 0."""
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
    subject, generation = claims.get("sub"), claims.get("gen", 0)
    if not isinstance(subject, str) or type(generation) is not int:
        return None
    return subject, generation


def decode_access_token(settings: Settings, token: str) -> str | None:
    """The user id of a valid token, else None."""
    claims = decode_access_claims(settings, token)
    return claims[0] if claims else None


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_media(settings: Settings, asset_id: str, expires_in: int = 6 * 3600) -> tuple[int, str]:
    """Expiry and signature for a media URL that works without an Authorization header
    (a <video src> cannot send one)."""
    expires = int(time.time()) + expires_in
    return expires, _media_signature(settings, asset_id, expires)


def sign_media_until(settings: Settings, asset_id: str, expires: int) -> str:
    """The signature of a media URL expiring at `expires` (seconds since the epoch), for
    callers that pick the expiry themselves (links that stay the same for a while)."""
    return _media_signature(settings, asset_id, expires)


def verify_media(settings: Settings, asset_id: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return _same(_media_signature(settings, asset_id, expires), signature)


def _media_signature(settings: Settings, asset_id: str, expires: int) -> str:
    return _sign(settings, f"media:{asset_id}:{expires}")


def sign_invite(settings: Settings, email: str, days: int = 7) -> str:
    """An invitation to register EMAIL (REGISTRATION=invite). It needs no storage: it is
    good for that one address, which can hold one account, until it expires."""
    expires = int(time.time()) + days * 86400
    return f"{expires}.{_sign(settings, f'invite:{email.lower()}:{expires}')}"


def verify_invite(settings: Settings, email: str, invite: str) -> bool:
    expires_text, _, signature = invite.partition(".")
    if not expires_text.isascii() or not expires_text.isdigit() or int(expires_text) < time.time():
        return False
    return _same(_sign(settings, f"invite:{email.lower()}:{expires_text}"), signature)


def _sign(settings: Settings, message: str) -> str:
    key = signing_key(settings).encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes compare any input in constant time.
    return hmac.compare_digest(expected.encode(), _utf8(given))
