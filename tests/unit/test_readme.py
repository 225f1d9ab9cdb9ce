"""The README is the front door: it must document every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from videofoundry.core.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"`{name}`" not in text]
    assert missing == []


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make up" in text and "make test" in text
