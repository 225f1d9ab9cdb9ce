"""Normalisation: any input to the canonical format, audio in sync and of exact length."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.unit.media.media_helpers import FMT, beep, decode_audio, decode_frames, onsets
from videofoundry.media import is_canonical, keyframe_times, normalize, probe
from videofoundry.media.encoder import samples_at
from videofoundry.media.format import OutputFormat
from videofoundry.media.normalize import NormalizeJob, normalize_async, normalize_many
from videofoundry.media.probe import MediaInfo

FRAME = 1 / FMT.fps


def write_source(
    path: Path,
    *,
    size: tuple[int, int] = (200, 200),
    times_ms: list[int] | None = None,
    codec: str = "mpeg4",
    audio_rate: int | None = 44_100,
    beep_at: float = 0.5,
    duration: float = 1.0,
) -> Path:
    """A deliberately non-canonical file: other codec, size, rate, mono audio, optional VFR."""
    w, h = size
    times = times_ms if times_ms is not None else [round(k * 1000 / 30) for k in range(30)]
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream(codec, rate=30)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.time_base = Fraction(1, 1000)
        video.codec_context.time_base = Fraction(1, 1000)
        audio = None
        if audio_rate:
            audio = container.add_stream("aac", rate=audio_rate, layout="mono")
        for k, t in enumerate(times):
            img = np.full((h, w, 3), 200, dtype=np.uint8)
            img[:, : w // 8] = (k * 8) % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = t
            frame.time_base = Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None and audio_rate:
            n = round(duration * audio_rate)
            pcm = np.zeros((1, n), dtype=np.float32)
            start = round(beep_at * audio_rate)
            pcm[:, start : start + 2000] = beep(2000)[:1]
            frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            frame.sample_rate = audio_rate
            frame.pts = 0
            container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
    return path


def test_foreign_file_becomes_canonical(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src.mp4")
    assert not is_canonical(probe(src), FMT)
    info = normalize(src, tmp_path / "out.mp4", FMT)
    assert is_canonical(info, FMT)
    assert info.frame_count == 24
    assert (info.width, info.height, info.fps) == (FMT.width, FMT.height, FMT.fps)
    assert keyframe_times(tmp_path / "out.mp4") == pytest.approx([0.0, 0.5])
    pcm = decode_audio(tmp_path / "out.mp4")
    # Exact length (AAC end padding decodes as < 1024 extra samples) and the beep in place.
    assert samples_at(24, FMT.fps) <= pcm.shape[1] < samples_at(24, FMT.fps) + 1024
    assert onsets(pcm) == pytest.approx([0.5], abs=FRAME)
    assert np.allclose(pcm[0], pcm[1], atol=1e-3)  # mono became stereo


def test_fit_letterboxes_and_fill_crops(tmp_path: Path) -> None:
    src = write_source(tmp_path / "square.mp4")
    fit = decode_frames(normalize(src, tmp_path / "fit.mp4", FMT, "fit") and tmp_path / "fit.mp4")
    fill = decode_frames(
        normalize(src, tmp_path / "fill.mp4", FMT, "fill") and tmp_path / "fill.mp4"
    )
    centre = slice(FMT.width // 2 - 8, FMT.width // 2 + 8)
    # A square source in a 5:3 frame: black bars left and right with fit, none with fill.
    assert float(fit[5][: FMT.height, :10].mean()) < 20
    assert float(fit[5][: FMT.height, centre].mean()) > 150
    assert float(fill[5][: FMT.height, -10:].mean()) > 150


def test_variable_frame_rate_becomes_constant(tmp_path: Path) -> None:
    times = [0, 20, 90, 100, 180, 300, 310, 320, 500, 640, 700, 880, 960]
    src = write_source(tmp_path / "vfr.mp4", times_ms=times, audio_rate=None)
    assert not probe(src).constant_frame_rate
    info = normalize(src, tmp_path / "cfr.mp4", FMT, "fill")
    assert info.constant_frame_rate
    assert is_canonical(info, FMT)
    assert info.frame_count == 24  # 0.96 s + the last frame's display time, at 24 fps
    # Sample and hold: output frame k shows the newest source frame that started by the
    # middle of slot k. Source frame i carries a grey band of level i * 8 at its left edge.
    shown = []
    for frame in decode_frames(tmp_path / "cfr.mp4"):
        y = float(frame[: FMT.height, 2:14].mean())
        shown.append(round((y - 16) * 255 / 219 / 8))
    expected = []
    for k in range(info.frame_count):
        middle = (k + 0.5) / FMT.fps * 1000
        expected.append(max(i for i, t in enumerate(times) if t <= middle))
    assert shown == expected


def test_silent_source_gets_a_silent_track_of_video_length(tmp_path: Path) -> None:
    src = write_source(tmp_path / "mute.mp4", audio_rate=None)
    info = normalize(src, tmp_path / "out.mp4", FMT)
    assert info.has_audio
    assert info.audio_duration == pytest.approx(info.duration, abs=FRAME)
    assert float(np.abs(decode_audio(tmp_path / "out.mp4")).max()) == 0.0


def test_canonical_input_is_copied_unchanged(clips: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "same.mp4"
    normalize(clips[0], out, FMT)
    assert out.read_bytes() == clips[0].read_bytes()


def test_h264_in_another_format_is_reencoded(clips: list[Path], tmp_path: Path) -> None:
    from videofoundry.media.format import OutputFormat

    target = OutputFormat(128, 72, 12)
    info = normalize(clips[0], tmp_path / "small.mp4", target)
    assert (info.width, info.height, info.fps, info.frame_count) == (128, 72, 12, 18)
    assert is_canonical(info, target)


def test_many_clips_are_normalised_together_in_order(tmp_path: Path) -> None:
    sources = [
        write_source(tmp_path / f"src{i}.mp4", size=(200 + 40 * i, 200), beep_at=0.2 + 0.2 * i)
        for i in range(3)
    ]
    jobs = [NormalizeJob(src, tmp_path / f"out{i}.mp4", FMT) for i, src in enumerate(sources)]
    infos = normalize_many(jobs, workers=2)
    for i, (job, info) in enumerate(zip(jobs, infos, strict=True)):
        assert info == probe(job.dst)
        assert is_canonical(info, FMT)
        # Each output is its own source's: the beep it carried, where it carried it.
        assert onsets(decode_audio(job.dst)) == pytest.approx([0.2 + 0.2 * i], abs=FRAME)


async def test_concurrent_async_normalisations_are_bounded_by_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import importlib
    import threading

    module = importlib.import_module("videofoundry.media.normalize")

    monkeypatch.setattr(module, "_cores", lambda: 1)
    running, peak, lock = 0, 0, threading.Lock()
    real = module.normalize

    def counting(*args: Any, **kwargs: Any) -> MediaInfo:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            info: MediaInfo = real(*args, **kwargs)
            return info
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(module, "normalize", counting)
    src = write_source(tmp_path / "src.mp4")
    jobs = [NormalizeJob(src, tmp_path / f"out{i}.mp4", FMT) for i in range(3)]
    infos = await asyncio.gather(*(normalize_async(job) for job in jobs))
    assert all(is_canonical(info, FMT) for info in infos)
    assert peak == 1


def test_untagged_hd_source_is_read_as_bt709(tmp_path: Path) -> None:
    # A flat, strongly coloured 720p picture with no colour tags: read as BT.709 (what players
    # assume for HD), its Y'CbCr values pass through; read as BT.601 they would shift.
    fmt = OutputFormat(1280, 720, 24)
    yuv = np.empty((720 * 3 // 2, 1280), dtype=np.uint8)
    yuv[:720], yuv[720:900], yuv[900:] = 110, 170, 70
    src = tmp_path / "untagged.mp4"
    with av.open(str(src), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        for k in range(6):
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = k
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    with av.open(str(src)) as container:
        assert container.streams.video[0].codec_context.colorspace == 2  # unspecified
    out = normalize(src, tmp_path / "out.mp4", fmt)
    assert out.frame_count == 6
    got = decode_frames(tmp_path / "out.mp4")[0].astype(np.int16)
    assert abs(got[:720].mean() - 110) < 2
    assert abs(got[720:900].mean() - 170) < 2
    assert abs(got[900:].mean() - 70) < 2
