"""The MoviePy baseline, run by run.py in MoviePy's own venv: what popular tools do."""

import os
import sys
import time

from moviepy import VideoFileClip, concatenate_videoclips, vfx


def main() -> None:
    mode, out, *paths = sys.argv[1:]
    started = time.perf_counter()
    clips = [VideoFileClip(p, audio=mode != "noaudio") for p in paths]
    if mode == "crossfade":
        faded = [clips[0]] + [c.with_effects([vfx.CrossFadeIn(0.5)]) for c in clips[1:]]
        final = concatenate_videoclips(faded, padding=-0.5, method="compose")
    else:
        final = concatenate_videoclips(clips)
    # MoviePy's defaults (libx264 preset medium, aac), as a user would call it.
    # (Its temporary audio file goes beside the output, not into the current directory.)
    final.write_videofile(
        out,
        fps=24,
        logger=None,
        audio=mode != "noaudio",
        temp_audiofile_path=os.path.dirname(out),
    )
    for c in clips:
        c.close()
    print(f"inner {time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
