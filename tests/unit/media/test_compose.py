"""Transitions, captions and soundtrack: only what changes is re-encoded."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.unit.media.conftest import BEEPS, CLIP_FRAMES
from tests.unit.media.media_helpers import (
    FMT,
    decode_audio,
    decode_frames,
    mean_abs,
    onsets,
    video_packets,
)
from videofoundry.media import (
    ClipSpec,
    ComposeOptions,
    Transition,
    compose,
    compose_sync,
    keyframe_times,
    plan_timeline,
    probe,
    stitch_sync,
)
from videofoundry.media.composition import blend_frames
from videofoundry.media.encoder import AUDIO_RATE, pcm_frame

FRAME = 1 / FMT.fps
T = 12  # a 0.5 s transition at 24 fps


def specs(clips: list[Path], kind: str = "crossfade", seconds: float = 0.5) -> list[ClipSpec]:
    return [
        ClipSpec(p, transition=Transition.parse(f"{kind}:{seconds}"), label=f"segment {i + 1}")
        for i, p in enumerate(clips)
    ]


@pytest.fixture(scope="module")
async def crossfaded(clips: list[Path], media_dir: Path) -> Path:
    out = media_dir / "crossfade.mp4"
    await compose(specs(clips), out)
    return out


async def test_timeline_shortens_by_the_overlaps(crossfaded: Path, clips: list[Path]) -> None:
    expected = 4 * CLIP_FRAMES - 3 * T
    assert plan_timeline(specs(clips)).total_frames == expected
    info = probe(crossfaded)
    assert info.frame_count == expected
    assert info.duration == pytest.approx(expected / FMT.fps, abs=FRAME)
    assert (info.width, info.height, info.fps) == (FMT.width, FMT.height, FMT.fps)


async def test_frames_outside_transitions_are_copied(crossfaded: Path, clips: list[Path]) -> None:
    # With a transition of exactly one GOP, everything else is copied: packet bytes and
    # decoded pixels equal the sources'.
    out_packets = video_packets(crossfaded)
    out_frames = decode_frames(crossfaded)
    spans = [(0, 0, 24), (1, 12, 24), (2, 12, 24), (3, 12, 36)]  # clip, first, end (source)
    for clip, first, end in spans:
        start = clip * (CLIP_FRAMES - T) + first  # output index of source frame `first`
        src_packets = video_packets(clips[clip])
        src_frames = decode_frames(clips[clip])
        assert out_packets[start : start + end - first] == src_packets[first:end]
        for k in range(first, end):
            assert np.array_equal(out_frames[start + k - first], src_frames[k]), (clip, k)


async def test_middle_of_a_crossfade_is_a_blend_of_its_neighbours(
    crossfaded: Path, clips: list[Path]
) -> None:
    a, b = decode_frames(clips[0]), decode_frames(clips[1])
    out = decode_frames(crossfaded)
    j = T // 2
    src_a, src_b = a[CLIP_FRAMES - T + j], b[j]
    assert mean_abs(src_a, src_b) > 20  # the clips really differ
    expected = blend_frames("crossfade", src_a, src_b, (j + 1) / (T + 1), FMT.width, FMT.height)
    frame = out[CLIP_FRAMES - T + j]
    assert mean_abs(frame, expected) < 2.5
    assert mean_abs(frame, src_a) > 8
    assert mean_abs(frame, src_b) > 8


async def test_keyframes_stay_at_most_half_a_second_apart(crossfaded: Path) -> None:
    times = keyframe_times(crossfaded)
    assert times[0] == 0
    assert max(np.diff(times)) <= 0.5 + 1e-6


async def test_audio_follows_the_shortened_timeline(crossfaded: Path) -> None:
    pcm = decode_audio(crossfaded)
    assert pcm.shape[1] / AUDIO_RATE == pytest.approx(
        (4 * CLIP_FRAMES - 3 * T) / FMT.fps, abs=FRAME
    )
    starts = [k * (CLIP_FRAMES - T) / FMT.fps for k in range(4)]
    expected = [s + at for s, at in zip(starts, BEEPS, strict=True)]
    assert onsets(pcm) == pytest.approx(expected, abs=FRAME)


async def test_short_transition_reencodes_only_the_gop_around_it(
    clips: list[Path], media_dir: Path
) -> None:
    # 7 frames: the outgoing clip's copy stops at its keyframe 24, frames 24..28 are
    # re-encoded (close, not identical) and 29..35 are the transition.
    out = media_dir / "short.mp4"
    info = compose_sync(specs(clips[:2], seconds=7 / 24), out)
    assert info.frame_count == 2 * CLIP_FRAMES - 7
    frames = decode_frames(out)
    a, b = decode_frames(clips[0]), decode_frames(clips[1])
    assert all(np.array_equal(frames[k], a[k]) for k in range(24))
    assert all(mean_abs(frames[k], a[k]) < 3 for k in range(24, 29))
    # Incoming clip: frames 7..11 re-encoded, its keyframe 12 onwards copied.
    base = CLIP_FRAMES - 7
    assert all(mean_abs(frames[base + k], b[k]) < 3 for k in range(7, 12))
    assert all(np.array_equal(frames[base + k], b[k]) for k in range(12, CLIP_FRAMES))


@pytest.mark.parametrize("kind", ["fade_black", "wipe_left", "wipe_right"])
async def test_other_transitions(kind: str, clips: list[Path], media_dir: Path) -> None:
    out = media_dir / f"{kind}.mp4"
    compose_sync(specs(clips[:2], kind), out)
    frames = decode_frames(out)
    assert len(frames) == 2 * CLIP_FRAMES - T
    a, b = decode_frames(clips[0]), decode_frames(clips[1])
    j = T // 2 - 1  # alpha = 6/13, just before the middle
    mid = frames[CLIP_FRAMES - T + j]
    y = mid[: FMT.height]
    if kind == "fade_black":
        assert float(y.mean()) < 16 + 0.15 * (float(a[0][: FMT.height].mean()) - 16)
    else:
        w = FMT.width
        left, right = y[:, : w // 4], y[:, -w // 4 :]
        src_a, src_b = a[CLIP_FRAMES - T + j][: FMT.height], b[j][: FMT.height]
        new, old = (right, left) if kind == "wipe_left" else (left, right)
        new_src = src_b[:, -w // 4 :] if kind == "wipe_left" else src_b[:, : w // 4]
        old_src = src_a[:, : w // 4] if kind == "wipe_left" else src_a[:, -w // 4 :]
        assert mean_abs(new, new_src) < 3
        assert mean_abs(old, old_src) < 3


async def test_captions_soft_track_webvtt_and_burn_in(clips: list[Path], media_dir: Path) -> None:
    out = media_dir / "captions.mp4"
    vtt = media_dir / "captions.vtt"
    items = [
        ClipSpec(p, caption=f"Caption {i}", burn_caption=(i == 1), label=f"segment {i + 1}")
        for i, p in enumerate(clips[:3])
    ]
    info = compose_sync(items, out, ComposeOptions(webvtt=vtt))
    assert info.subtitle_streams == 1
    with av.open(str(out)) as container:
        texts = [bytes(p) for p in container.demux(container.streams.subtitles[0]) if p.size]
    assert [t for t in texts if b"Caption" in t] == [
        len(f"Caption {i}").to_bytes(2, "big") + f"Caption {i}".encode() for i in range(3)
    ]
    text = vtt.read_text()
    assert text.startswith("WEBVTT")
    assert "00:00:01.500 --> 00:00:03.000\nCaption 1" in text
    frames = decode_frames(out)
    a, b, c = (decode_frames(p) for p in clips[:3])
    # The burned clip is re-encoded with the caption drawn; its neighbours are copied.
    assert all(np.array_equal(frames[k], a[k]) for k in range(CLIP_FRAMES))
    assert all(np.array_equal(frames[2 * CLIP_FRAMES + k], c[k]) for k in range(CLIP_FRAMES))
    band = slice(FMT.height // 2, FMT.height)
    burned = frames[CLIP_FRAMES + 5][band]
    assert mean_abs(burned, b[5][band]) > 3


def write_tone(path: Path, seconds: float, hz: float = 440.0, amplitude: float = 0.5) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        n = round(seconds * AUDIO_RATE)
        t = np.arange(n, dtype=np.float32) / AUDIO_RATE
        tone = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        container.mux(stream.encode(pcm_frame(np.stack([tone, tone]), 0)))
        container.mux(stream.encode(None))
    return path


def rms(pcm: np.ndarray, start: float, end: float) -> float:
    seg = pcm[0, int(start * AUDIO_RATE) : int(end * AUDIO_RATE)]
    return float(np.sqrt(np.mean(seg**2)))


async def test_soundtrack_is_mixed_under_copied_video(clips: list[Path], media_dir: Path) -> None:
    tone = write_tone(media_dir / "tone.m4a", 0.4)
    plain = media_dir / "no-soundtrack.mp4"
    stitch_sync(clips[:2], plain)
    out = media_dir / "soundtrack.mp4"
    items = [ClipSpec(p) for p in clips[:2]]
    options = ComposeOptions(soundtrack=tone, soundtrack_volume=0.5, fade_out=0.5)
    info = compose_sync(items, out, options)
    assert video_packets(out) == video_packets(plain)
    pcm = decode_audio(out)
    assert pcm.shape[1] / AUDIO_RATE == pytest.approx(info.duration, abs=FRAME)
    tone_rms = 0.5 * 0.5 / np.sqrt(2)
    # Clip audio is silent at 0.1 s; the looped soundtrack is there at 0.1 s and after 0.4 s.
    assert rms(pcm, 0.05, 0.25) == pytest.approx(tone_rms, rel=0.15)
    assert rms(pcm, 1.05, 1.25) == pytest.approx(tone_rms, rel=0.15)
    # Fading out over the last 0.5 s.
    assert rms(pcm, info.duration - 0.1, info.duration) < 0.35 * tone_rms


async def test_soundtrack_without_loop_ends(clips: list[Path], media_dir: Path) -> None:
    tone = write_tone(media_dir / "tone-once.m4a", 0.4)
    out = media_dir / "soundtrack-once.mp4"
    options = ComposeOptions(soundtrack=tone, soundtrack_loop=False)
    compose_sync([ClipSpec(clips[0])], out, options)
    pcm = decode_audio(out)
    # The 0.4 s tone, then nothing (the clip's own beep is over by 0.35 s).
    assert rms(pcm, 0.1, 0.3) > 0.1
    assert rms(pcm, 0.45, 0.65) < 0.01


@pytest.mark.parametrize("kind", ["crossfade", None])
async def test_a_progress_callback_can_cancel(
    kind: str | None, clips: list[Path], tmp_path: Path
) -> None:
    from videofoundry.core.errors import Cancelled

    seen: list[float] = []

    async def progress(fraction: float) -> None:
        seen.append(fraction)
        if fraction > 0.3:
            raise Cancelled("stop")

    items = specs(clips) if kind else [ClipSpec(p) for p in clips]
    with pytest.raises(Cancelled):
        await compose(items, tmp_path / "cancelled.mp4", progress=progress)
    assert seen
    assert max(seen) < 1
    assert list(tmp_path.iterdir()) == []
