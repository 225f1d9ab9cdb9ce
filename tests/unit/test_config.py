from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from videofoundry.core.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_embedded_defaults() -> None:
    s = settings(ENVIRONMENT="development", DATA_DIR=Path("/tmp/vf"))
    assert s.database_url == "sqlite+aiosqlite:////tmp/vf/videofoundry.db"
    assert s.embedded
    assert s.SECRET_KEY == ""  # the key comes from the data directory (tests/security)


@pytest.mark.parametrize("environment", ["production", "test"])
def test_missing_secret_key_outside_development_is_an_error(environment: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        settings(ENVIRONMENT=environment, SECRET_KEY="")


@pytest.mark.parametrize("environment", ["production", "test", "development"])
def test_placeholder_secret_refused_everywhere(environment: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        settings(ENVIRONMENT=environment, SECRET_KEY="changethis")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////x/db.sqlite", "sqlite+aiosqlite:////x/db.sqlite"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_gets_an_async_driver(url: str, expected: str) -> None:
    assert settings(DATABASE_URL=url).database_url == expected


def test_env_file_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("REDIS_URL=redis://example:6379/0\nSECRET_KEY=abc\n")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    s = Settings()
    assert s.REDIS_URL == "redis://example:6379/0"
    assert s.SECRET_KEY == "abc"


def test_luma_key_is_also_read_under_the_name_of_lumas_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LUMA_API_KEY", raising=False)
    monkeypatch.setenv("LUMAAI_API_KEY", "from-the-sdk-variable")
    assert settings().LUMA_API_KEY == "from-the-sdk-variable"
    monkeypatch.setenv("LUMA_API_KEY", "ours")
    assert settings().LUMA_API_KEY == "ours"  # our own name wins
    assert settings(LUMA_API_KEY="given").LUMA_API_KEY == "given"


def test_provider_concurrency_reaches_the_adapter() -> None:
    from videofoundry.adapters.runway import RunwayAdapter

    assert RunwayAdapter(settings()).concurrency == 1
    tuned = settings(PROVIDER_CONCURRENCY={"runway": 3, "luma": 2})
    assert RunwayAdapter(tuned).concurrency == 3
