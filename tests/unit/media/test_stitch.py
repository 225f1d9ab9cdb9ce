"""Stitching by stream copy: duration, keyframes, copied bytes, audio length and sync."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.media.conftest import BEEPS, CLIP_FRAMES
from tests.unit.media.media_helpers import (
    FMT,
    decode_audio,
    decode_frames,
    make_clip,
    onsets,
    video_packets,
)
from videofoundry.core.errors import InvalidMedia
from videofoundry.media import (
    ClipSpec,
    ComposeOptions,
    compose,
    keyframe_times,
    probe,
    stitch,
    stitch_sync,
)
from videofoundry.media.encoder import AUDIO_RATE

FRAME = 1 / FMT.fps


@pytest.fixture(scope="module")
async def stitched(clips: list[Path], media_dir: Path) -> Path:
    out = media_dir / "stitched.mp4"
    await stitch(clips, out)
    return out


async def test_duration_size_fps_are_the_sum_of_the_clips(
    stitched: Path, clips: list[Path]
) -> None:
    info = probe(stitched)
    assert info.frame_count == 4 * CLIP_FRAMES
    assert info.duration == pytest.approx(4 * CLIP_FRAMES / FMT.fps, abs=FRAME)
    assert (info.width, info.height, info.fps) == (FMT.width, FMT.height, FMT.fps)
    assert info.video_codec == "h264"


async def test_keyframes_every_half_second(stitched: Path) -> None:
    expected = [k * 0.5 for k in range(int(4 * CLIP_FRAMES / FMT.fps / 0.5))]
    assert keyframe_times(stitched) == pytest.approx(expected, abs=1e-6)


async def test_video_packets_are_copied_byte_for_byte(stitched: Path, clips: list[Path]) -> None:
    source = [p for clip in clips for p in video_packets(clip)]
    assert video_packets(stitched) == source


async def test_decoded_frames_match_the_sources(stitched: Path, clips: list[Path]) -> None:
    out = decode_frames(stitched)
    source = [f for clip in clips for f in decode_frames(clip)]
    assert len(out) == len(source)
    assert all(np.array_equal(a, b) for a, b in zip(out, source, strict=True))


async def test_audio_decodes_to_the_video_length(stitched: Path) -> None:
    pcm = decode_audio(stitched)
    video = 4 * CLIP_FRAMES / FMT.fps
    assert pcm.shape[1] / AUDIO_RATE == pytest.approx(video, abs=FRAME)


async def test_each_beep_lands_where_its_clip_put_it(stitched: Path) -> None:
    clip_seconds = CLIP_FRAMES / FMT.fps
    expected = [k * clip_seconds + at for k, at in enumerate(BEEPS)]
    found = onsets(decode_audio(stitched))
    assert len(found) == len(expected)
    assert found == pytest.approx(expected, abs=FRAME)


async def test_many_clips_do_not_accumulate_audio_drift(media_dir: Path) -> None:
    # 12 clips of an odd length (29 frames is not a whole number of AAC frames): a packet copy
    # would add priming/padding at each boundary; the last beep must still be on time.
    clip = make_clip(media_dir / "odd.mp4", 29, seed=7, beep_at=0.25)
    out = stitch_sync([clip] * 12, media_dir / "odd12.mp4")
    assert out.frame_count == 12 * 29
    found = onsets(decode_audio(media_dir / "odd12.mp4"))
    expected = [k * 29 / FMT.fps + 0.25 for k in range(12)]
    assert found == pytest.approx(expected, abs=FRAME)
    total = decode_audio(media_dir / "odd12.mp4").shape[1] / AUDIO_RATE
    assert total == pytest.approx(12 * 29 / FMT.fps, abs=FRAME)


async def test_progress_is_reported_in_order_up_to_one(clips: list[Path], media_dir: Path) -> None:
    seen: list[float] = []

    async def progress(fraction: float) -> None:
        seen.append(fraction)

    await stitch(clips, media_dir / "progress.mp4", progress)
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == 1.0


async def test_compose_without_extras_equals_stitch(
    stitched: Path, clips: list[Path], media_dir: Path
) -> None:
    specs = [ClipSpec(p, label=f"segment {i + 1}") for i, p in enumerate(clips)]
    out = media_dir / "composed-plain.mp4"
    await compose(specs, out, ComposeOptions())
    assert video_packets(out) == video_packets(stitched)
    assert np.array_equal(decode_audio(out), decode_audio(stitched))


async def test_clip_in_another_format_is_refused_by_name(
    clips: list[Path], media_dir: Path
) -> None:
    from videofoundry.media.format import OutputFormat

    other = make_clip(media_dir / "other.mp4", 12, seed=3, fmt=OutputFormat(128, 96, 24))
    specs = [ClipSpec(clips[0], label="segment 1"), ClipSpec(other, label="segment 2")]
    with pytest.raises(InvalidMedia, match="segment 2"):
        await compose(specs, media_dir / "mixed.mp4")
    assert not (media_dir / "mixed.mp4").exists()


async def test_silent_clips_give_an_exact_silent_track(clips: list[Path], media_dir: Path) -> None:
    silent = [make_clip(media_dir / f"silent{i}.mp4", 29, seed=i, audio=False) for i in range(3)]
    assert all(probe(p).audio_silent for p in silent)
    info = stitch_sync(silent, media_dir / "silent.mp4")
    assert info.audio_silent  # tagged, so stitching it again is just as cheap
    pcm = decode_audio(media_dir / "silent.mp4")
    assert pcm.shape[1] / AUDIO_RATE == pytest.approx(3 * 29 / FMT.fps, abs=FRAME)
    assert not pcm.any()
    # Mixed with a clip that has sound, the sound lands in place and the tag is dropped.
    mixed = stitch_sync([silent[0], clips[1]], media_dir / "mixed-silent.mp4")
    assert not mixed.audio_silent
    found = onsets(decode_audio(media_dir / "mixed-silent.mp4"))
    assert found == pytest.approx([29 / FMT.fps + BEEPS[1]], abs=FRAME)
