"""The README is the front door: it must document every setting the code reads, and what it
says about versions, models and `.env.example` must match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from videofoundry.adapters.registry import Registry
from videofoundry.core.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"`{name}`" not in text]
    assert missing == []


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make up" in text and "make test" in text


ROOT = README.parent
BACKEND_SETTINGS = ("DATABASE_URL", "RABBITMQ_URL", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL")


def test_env_example_copied_as_is_keeps_the_embedded_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*BACKEND_SETTINGS, "ENVIRONMENT", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text())
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.embedded
    assert {name: getattr(settings, name) for name in BACKEND_SETTINGS} == dict.fromkeys(
        BACKEND_SETTINGS, ""
    )
    # The distributed settings are there to uncomment, each of them.
    text = env.read_text()
    assert all(f"# {name}=" in text for name in BACKEND_SETTINGS)


def test_readme_asks_for_the_node_version_the_web_ui_declares() -> None:
    engines = json.loads((ROOT / "frontend" / "package.json").read_text())["engines"]["node"]
    assert engines.startswith(">=")
    assert f"Node.js {engines.removeprefix('>=')} or newer" in README.read_text()


def test_the_models_the_readme_names_are_in_the_catalogue() -> None:
    text = README.read_text()
    models = text[text.index("## Models") : text.index("## Development")]
    named = set(re.findall(r"`((?:procedural|runway|luma|replicate|stability)[^`<>*]*)`", models))
    catalogue = {entry.model.id for entry in Registry(Settings(_env_file=None)).catalogue()}  # type: ignore[call-arg]
    assert {"procedural", "replicate/minimax/video-01"} <= named
    assert named <= catalogue, named - catalogue
    assert "any video model on Replicate" not in text
