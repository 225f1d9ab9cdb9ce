"""The canonical output format every clip is normalised to before composition."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    """A project's canonical video format: frame size and rate."""

    width: int = 1280
    height: int = 720
    fps: int = 24
