from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.media.media_helpers import make_clip

CLIP_FRAMES = 36
"""1.5 s at 24 fps: three whole GOPs per clip."""
BEEPS = [0.3, 0.5, 0.7, 0.9]
"""Where each clip's beep starts, in seconds from the clip's start."""


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clips(media_dir: Path) -> list[Path]:
    """Four canonical clips, each with its own colour and a beep at its own offset."""
    return [
        make_clip(media_dir / f"clip{i}.mp4", CLIP_FRAMES, seed=i, beep_at=BEEPS[i])
        for i in range(4)
    ]
