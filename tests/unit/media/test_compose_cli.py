"""`videofoundry compose --help` at 80 columns: every option name in full."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

VF = Path(sys.executable).with_name("videofoundry")
OPTIONS = [
    "--output",
    "--transition",
    "--soundtrack",
    "--soundtrack-volume",
    "--no-loop",
    "--fade-in",
    "--fade-out",
    "--captions",
    "--caption",
    "--burn-captions",
    "--width",
    "--height",
    "--fps",
    "--aspect",
    "--quiet",
]


@pytest.mark.skipif(not VF.exists(), reason="the videofoundry command is not installed")
def test_help_fits_80_columns_without_cutting_option_names() -> None:
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin", "TERM": "xterm"}
    out = subprocess.run(
        [str(VF), "compose", "--help"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    words = set(out.replace("│", " ").split())
    assert [o for o in OPTIONS if o not in words] == []
