from __future__ import annotations

import time
from pathlib import Path

import jwt

from tests.support.app import make_settings
from videofoundry.core import security


def test_passwords_are_hashed_and_verified() -> None:
    hashed = security.hash_password("s3cret password")
    assert "s3cret" not in hashed
    assert security.verify_password(hashed, "s3cret password")
    assert not security.verify_password(hashed, "wrong")
    assert not security.verify_password("not-a-hash", "wrong")


def test_access_token_round_trip_and_rejections() -> None:
    settings = make_settings(Path("."))
    token = security.create_access_token(settings, "user-1")
    assert security.decode_access_token(settings, token) == "user-1"
    other = make_settings(Path("."))  # a different SECRET_KEY
    assert security.decode_access_token(other, token) is None
    unsigned = jwt.encode({"sub": "user-1"}, key=None, algorithm="none")
    assert security.decode_access_token(settings, unsigned) is None
    expired = jwt.encode(
        {"sub": "u", "iss": "videofoundry", "aud": "videofoundry-api", "exp": time.time() - 5},
        settings.SECRET_KEY,
        algorithm="HS256",
    )
    assert security.decode_access_token(settings, expired) is None


def test_media_signatures() -> None:
    settings = make_settings(Path("."))
    expires, signature = security.sign_media(settings, "asset-1")
    assert security.verify_media(settings, "asset-1", expires, signature)
    assert not security.verify_media(settings, "asset-2", expires, signature)
    assert not security.verify_media(settings, "asset-1", expires + 1, signature)
    assert not security.verify_media(settings, "asset-1", int(time.time()) - 1, signature)
