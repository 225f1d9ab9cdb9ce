"""Probe facts, WebVTT, thumbnails and the `compose` command."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from tests.unit.media.conftest import CLIP_FRAMES
from tests.unit.media.media_helpers import FMT, make_clip, mean_abs
from videofoundry.media import (
    Cue,
    contact_sheet,
    is_canonical,
    parse_webvtt,
    poster,
    probe,
    probe_with_poster,
    webvtt,
)
from videofoundry.media.cli import register
from videofoundry.media.composition import Transition


def test_probe_reports_the_canonical_facts(clips: list[Path]) -> None:
    info = probe(clips[0])
    assert info.frame_count == CLIP_FRAMES
    assert info.duration == pytest.approx(CLIP_FRAMES / FMT.fps)
    assert (info.width, info.height, info.fps) == (FMT.width, FMT.height, 24.0)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.audio_codec, info.audio_sample_rate, info.audio_channels) == ("aac", 48000, 2)
    assert info.audio_duration == pytest.approx(info.duration, abs=1 / FMT.fps)
    assert info.keyframe_interval == 12
    assert info.constant_frame_rate
    assert is_canonical(info, FMT)


def test_webvtt_round_trip() -> None:
    cues = [Cue(0, 1.5, "Hello"), Cue(1.5, 3723.25, "Two\n\nlines --> here")]
    text = webvtt(cues)
    assert "01:02:03.250" in text
    parsed = parse_webvtt(text)
    assert [(c.start, c.end) for c in parsed] == [(0, 1.5), (1.5, 3723.25)]
    assert parsed[1].text == "Two\nlines -> here"


def test_transition_parsing() -> None:
    assert Transition.parse("wipe_left:0.25") == Transition("wipe_left", 0.25)
    assert Transition.parse("crossfade") == Transition("crossfade", 0.5)
    with pytest.raises(ValueError, match="unknown transition"):
        Transition.parse("spin:1")
    with pytest.raises(ValueError, match="positive"):
        Transition.parse("crossfade:0")


def gray_frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(frame.to_image().convert("L"))
    raise AssertionError("no such frame")


def test_poster_is_the_frame_at_the_requested_time(clips: list[Path], tmp_path: Path) -> None:
    out = poster(clips[1], tmp_path / "poster.jpg", at=0.5)
    with Image.open(out) as img:
        assert img.size == (FMT.width, FMT.height)
        jpg = np.asarray(img.convert("L"))
    # Frame 12 is at 0.5 s; JPEG is lossy, so compare loosely, and against a wrong frame.
    # (Only a small block moves between frames, hence the ratio rather than a threshold.)
    right = mean_abs(jpg, gray_frame(clips[1], 12))
    assert right < 2
    assert mean_abs(jpg, gray_frame(clips[1], 2)) > 3 * right


@pytest.mark.parametrize(
    ("frames", "wanted"),
    [
        (36, 12),  # a third in is a keyframe (keyframes every 12 frames)
        (45, 24),  # a third in is frame 15, mid-GOP: the next keyframe, 24, is before 2/3
        (17, 6),  # the next keyframe, 12, is past 2/3: the picture a third in, 6
        (7, 3),  # a single GOP
    ],
)
def test_probe_with_poster_is_probe_plus_a_picture_from_a_third_in(
    frames: int, wanted: int, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames, seed=5)
    info = probe_with_poster(clip, tmp_path / "poster.jpg")
    assert info == probe(clip)
    with Image.open(tmp_path / "poster.jpg") as img:
        jpg = np.asarray(img.convert("L"))
    right = mean_abs(jpg, gray_frame(clip, wanted))
    assert right < 2
    assert mean_abs(jpg, gray_frame(clip, wanted - 2)) > 3 * right
    # The default poster is the same picture.
    assert (poster(clip, tmp_path / "same.jpg")).read_bytes() == (
        tmp_path / "poster.jpg"
    ).read_bytes()


def test_posters_are_scaled_down_to_a_width_in_the_conversion(
    clips: list[Path], tmp_path: Path
) -> None:
    width = FMT.width // 2
    size = (width, round(FMT.height * width / FMT.width))
    probe_with_poster(clips[1], tmp_path / "third.jpg", width)
    poster(clips[1], tmp_path / "half.jpg", at=0.5, width=width)
    for name, index in (("third.jpg", -(-CLIP_FRAMES // 3)), ("half.jpg", 12)):
        with Image.open(tmp_path / name) as img:
            assert img.size == size
            jpg = np.asarray(img.convert("L"))
        expected = Image.fromarray(gray_frame(clips[1], index)).resize(size)
        assert mean_abs(jpg, np.asarray(expected)) < 3
    # Never scaled up.
    probe_with_poster(clips[1], tmp_path / "big.jpg", FMT.width * 2)
    with Image.open(tmp_path / "big.jpg") as img:
        assert img.size == (FMT.width, FMT.height)


def test_contact_sheet_has_one_row_per_clip(clips: list[Path], tmp_path: Path) -> None:
    out = contact_sheet(clips[:3], tmp_path / "sheet.jpg", columns=4, thumb_width=40, gap=2)
    with Image.open(out) as img:
        thumb_h = round(FMT.height * 40 / FMT.width)
        assert img.size == (4 * 42 + 2, 3 * (thumb_h + 2) + 2)
    grid = contact_sheet([clips[:2], clips[2:]], tmp_path / "grid.jpg", thumb_width=40, gap=2)
    with Image.open(grid) as img:
        assert img.size == (2 * 42 + 2, 2 * (thumb_h + 2) + 2)


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test harness."""

    register(app)
    return app


def test_compose_command(clips: list[Path], tmp_path: Path) -> None:
    vtt = tmp_path / "in.vtt"
    vtt.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nFirst\n")
    out = tmp_path / "final.mp4"
    args = ["compose", *map(str, clips[:3]), "-o", str(out), "--transition", "crossfade:0.5"]
    result = CliRunner().invoke(cli(), [*args, "--captions", str(vtt), "-q"])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.frame_count == 3 * CLIP_FRAMES - 2 * 12
    assert info.subtitle_streams == 1
    assert "First" in out.with_suffix(".vtt").read_text()


def test_compose_command_normalises_foreign_clips(clips: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "small.mp4"
    args = ["compose", str(clips[0]), str(clips[1]), "-o", str(out), "--width", "96"]
    result = CliRunner().invoke(cli(), [*args, "--height", "64", "--fps", "12"])
    assert result.exit_code == 0, result.output
    assert "2 clip(s) normalised" in result.output
    info = probe(out)
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, 12, 36)


def test_compose_command_reports_bad_input(clips: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    out = tmp_path / "x.mp4"
    result = CliRunner().invoke(cli(), ["compose", str(clips[0]), str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert "clip 2 (bad.mp4)" in result.output
    assert not out.exists()
