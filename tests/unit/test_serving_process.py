"""A serving process keeps what it loaded at start-up out of the cyclic collector's full passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_api_process_freezes_its_start_up_objects(tmp_path: Path) -> None:
    # In a child, as uvicorn runs `videofoundry api --workers N`'s factory: freezing is for the
    # whole life of a process, not for this test session.
    script = (
        "import gc; from videofoundry.cli import api_app; api_app(); print(gc.get_freeze_count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=True,
    )
    # The modules, models and routes: over a hundred thousand objects no collection walks again.
    assert int(out.stdout.split()[-1]) > 50_000, out.stdout
