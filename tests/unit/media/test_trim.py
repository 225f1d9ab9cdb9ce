"""Trimmed clips: in and out points are frame-accurate, only the GOPs they fall in are
re-encoded, and the audio follows the picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.media.conftest import BEEPS, CLIP_FRAMES
from tests.unit.media.media_helpers import FMT, decode_audio, decode_frames, mean_abs, onsets
from videofoundry.core.errors import InvalidMedia
from videofoundry.media import ClipSpec, Transition, compose_sync, plan_timeline, probe
from videofoundry.media.composition import _Composer
from videofoundry.media.timeline import ComposeOptions

FRAME = 1 / FMT.fps
GOP = 12  # the canonical encoder's GOP at 24 fps: keyframes at 0, 12, 24


def source_frame(video: Path, index: int, clip: Path) -> int:
    """Which frame of `clip` frame `index` of `video` shows: the closest picture (the block
    moves every frame, so neighbours differ)."""
    shown = decode_frames(video)[index]
    return min(enumerate(decode_frames(clip)), key=lambda f: mean_abs(shown, f[1]))[0]


def trimmed(clips: list[Path]) -> list[ClipSpec]:
    return [
        # In and out points inside GOPs: frames 6..29 of the first clip.
        ClipSpec(clips[0], label="segment 1", trim_start=6 * FRAME, trim_end=30 * FRAME),
        # An in point on a keyframe, to the clip's end: copied whole.
        ClipSpec(clips[1], label="segment 2", trim_start=0.5),
        ClipSpec(clips[2], label="segment 3"),
    ]


@pytest.fixture(scope="module")
def trimmed_video(clips: list[Path], media_dir: Path) -> Path:
    out = media_dir / "trimmed.mp4"
    compose_sync(trimmed(clips), out)
    return out


def test_duration_is_the_sum_of_the_trimmed_lengths(trimmed_video: Path, clips: list[Path]) -> None:
    expected = 24 + 24 + CLIP_FRAMES
    assert plan_timeline(trimmed(clips)).total_frames == expected
    info = probe(trimmed_video)
    assert info.frame_count == expected
    assert info.duration == pytest.approx(expected / FMT.fps, abs=FRAME)


def test_first_frame_after_a_cut_is_the_in_point(trimmed_video: Path, clips: list[Path]) -> None:
    assert source_frame(trimmed_video, 0, clips[0]) == 6
    assert source_frame(trimmed_video, 23, clips[0]) == 29
    assert source_frame(trimmed_video, 24, clips[1]) == 12
    assert source_frame(trimmed_video, 48, clips[2]) == 0


def test_only_the_gops_a_cut_falls_in_are_re_encoded(clips: list[Path], tmp_path: Path) -> None:
    composer = _Composer(trimmed(clips), tmp_path / "x.mp4", ComposeOptions(), None)
    # Frames 6..11 and 24..29 of the first clip; everything else is copied.
    assert composer.rendered_frames == 12
    assert composer.copied_frames == 12 + 24 + CLIP_FRAMES


def test_audio_follows_the_in_points(trimmed_video: Path) -> None:
    heard = onsets(decode_audio(trimmed_video))
    expected = [BEEPS[0] - 6 * FRAME, 1.0 + BEEPS[1] - 0.5, 2.0 + BEEPS[2]]
    assert heard == pytest.approx(expected, abs=FRAME)


def test_a_transition_between_trimmed_clips(clips: list[Path], tmp_path: Path) -> None:
    specs = trimmed(clips)[:2]
    specs[0] = ClipSpec(
        specs[0].path,
        label="segment 1",
        trim_start=specs[0].trim_start,
        trim_end=specs[0].trim_end,
        transition=Transition("crossfade", 0.25),
    )
    out = tmp_path / "faded.mp4"
    info = compose_sync(specs, out)
    assert info.frame_count == 24 + 24 - 6
    # Before the crossfade the picture is still the first clip's, from its in point.
    assert source_frame(out, 10, clips[0]) == 16


def test_a_trim_that_leaves_nothing_names_the_clip(clips: list[Path]) -> None:
    with pytest.raises(InvalidMedia, match="segment 2: trimmed from 2 s"):
        plan_timeline([ClipSpec(clips[0]), ClipSpec(clips[1], label="segment 2", trim_start=2.0)])
