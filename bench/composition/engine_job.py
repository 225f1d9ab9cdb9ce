"""This engine, run by run.py in the project's venv (a subprocess, so its memory is its own)."""

import sys
import time
from pathlib import Path

from videofoundry.media import ClipSpec, Transition, compose_sync, stitch_sync


def main() -> None:
    mode, out, *paths = sys.argv[1:]
    clips = [Path(p) for p in paths]
    started = time.perf_counter()
    if mode == "crossfade":
        fade = Transition("crossfade", 0.5)
        compose_sync([ClipSpec(p, transition=fade) for p in clips], Path(out))
    else:
        stitch_sync(clips, Path(out))
    print(f"inner {time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
