"""Inputs and commands for the "foreign clips" scenarios of run.py.

Twelve clips as an ordinary ffmpeg/x264 writes them (preset medium with its B-frames, GOP 12,
CRF 23, AAC 48 kHz stereo): the same pictures and tones as the canonical bench clips,
re-encoded once by the ffmpeg binary that imageio-ffmpeg ships.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

X264 = ["-c:v", "libx264", "-g", "12", "-crf", "23", "-pix_fmt", "yuv420p"]
"""The foreign clips' encoder settings; the full xfade re-encode uses them too."""
AAC = ["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]


def prepare(ffmpeg: str, sources: list[Path], out: Path) -> list[Path]:
    made = []
    for i, src in enumerate(sources):
        dst = out / f"foreign{i:02d}.mp4"
        if not dst.exists():
            print(f"making foreign clip {i + 1}/{len(sources)} ...", file=sys.stderr)
            tmp = dst.with_suffix(".part.mp4")
            cmd = [ffmpeg, "-y", "-v", "error", "-i", str(src), *X264, *AAC, str(tmp)]
            subprocess.run(cmd, check=True)
            tmp.rename(dst)
        made.append(dst)
    return made


def videofoundry() -> str:
    """The installed `videofoundry` command of this venv (start-up included in its times)."""
    return str(Path(sys.executable).with_name("videofoundry"))


def compose(out: Path, clips: list[Path], *extra: str) -> list[str]:
    return [videofoundry(), "compose", "-q", "-o", str(out), *extra, *map(str, clips)]
