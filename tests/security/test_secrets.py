"""Signing keys: never a built-in one, never a guessable one outside development."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from videofoundry.core import config, security
from videofoundry.core.config import KNOWN_DEFAULT_KEYS, SECRET_KEY_FILE, Settings, signing_key


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def embedded(data_dir: Path) -> Settings:
    return settings(ENVIRONMENT="development", SECRET_KEY="", DATA_DIR=data_dir)


def test_embedded_run_generates_a_private_key_per_data_directory(tmp_path: Path) -> None:
    first = signing_key(embedded(tmp_path / "a"))
    key_file = tmp_path / "a" / SECRET_KEY_FILE
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.encode()) >= config.MIN_SECRET_BYTES
    assert signing_key(embedded(tmp_path / "b")) != first
    config._data_dir_key.cache_clear()  # a restart reads the same key back
    assert signing_key(embedded(tmp_path / "a")) == first


def test_a_token_from_one_embedded_instance_is_refused_by_another(tmp_path: Path) -> None:
    token = security.create_access_token(embedded(tmp_path / "a"), "user-1")
    assert security.decode_access_token(embedded(tmp_path / "a"), token) == "user-1"
    assert security.decode_access_token(embedded(tmp_path / "b"), token) is None


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the forger's
@pytest.mark.parametrize("published", sorted(KNOWN_DEFAULT_KEYS))
def test_no_published_key_signs_for_an_embedded_instance(tmp_path: Path, published: str) -> None:
    forged = jwt.encode(
        {"sub": "admin", "iss": "videofoundry", "aud": "videofoundry-api", "exp": 2**40},
        published,
        algorithm="HS256",
    )
    assert security.decode_access_token(embedded(tmp_path), forged) is None


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    generate = config._data_dir_key.__wrapped__
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: generate(tmp_path.resolve()), range(16)))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]  # no staging files left


@pytest.mark.parametrize("content", ["", "\n", "short", "changethis\n"])
def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text(content)
    with pytest.raises(ValueError, match="delete it"):
        signing_key(embedded(tmp_path))


def test_a_key_file_with_loose_permissions_is_made_private(tmp_path: Path) -> None:
    key_file = tmp_path / SECRET_KEY_FILE
    key_file.write_text("k" * 64)
    key_file.chmod(0o644)
    assert signing_key(embedded(tmp_path)) == "k" * 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_an_explicit_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    explicit = settings(ENVIRONMENT="development", SECRET_KEY="x" * 40, DATA_DIR=tmp_path)
    assert signing_key(explicit) == "x" * 40
    assert not (tmp_path / SECRET_KEY_FILE).exists()


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        ("", "must be set"),
        ("x", "too short"),
        ("a" * 31, "too short"),
        ("é" * 15, "too short"),  # 30 bytes in 15 characters
        ("changethis", "placeholder"),
        (" ChangeThis ", "placeholder"),
        ("dev-insecure-secret-change-me", "placeholder"),
        ("your_secret_key_here", "placeholder"),
    ],
)
def test_outside_development_a_weak_key_stops_start_up(
    environment: str, key: str, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint) as caught:
        settings(ENVIRONMENT=environment, SECRET_KEY=key)
    assert "SECRET_KEY" in str(caught.value)


@pytest.mark.parametrize("key", ["a" * 32, "é" * 16, "0123456789abcdef" * 4])
def test_outside_development_a_key_of_32_bytes_is_enough(key: str) -> None:
    assert settings(ENVIRONMENT="production", SECRET_KEY=key).SECRET_KEY == key


@pytest.mark.parametrize("key", ["", "short", "changethis"])
def test_the_api_command_refuses_to_start_with_a_weak_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    from videofoundry.cli import app

    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    config.get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["api"])
    finally:
        config.get_settings.cache_clear()
    assert result.exit_code == 2
    assert "SECRET_KEY" in result.output
