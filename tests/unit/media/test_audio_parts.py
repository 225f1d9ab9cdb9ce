"""A long timeline's audio is encoded in two parts at once and spliced at an AAC frame: the
result must sound like one continuous encode, to the sample in length and timing."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.unit.media.media_helpers import FMT, decode_audio, rgb_pattern
from videofoundry.media.composition import stitch_sync
from videofoundry.media.encoder import AUDIO_RATE, CanonicalWriter, samples_at
from videofoundry.media.probe import probe

composition = importlib.import_module("videofoundry.media.composition")

FRAMES = 36  # 1.5 s: 72000 samples, a whole number of 1 kHz periods, so clips join seamlessly
HZ = 1000.0


def tone_clip(path: Path, seed: int) -> Path:
    n = samples_at(FRAMES, FMT.fps)
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    tone = (0.4 * np.sin(2 * np.pi * HZ * t)).astype(np.float32)
    with CanonicalWriter(path, FMT, audio="pcm", threads=1) as writer:
        for i in range(FRAMES):
            writer.write_frame(rgb_pattern(i, seed))
        writer.write_audio(np.stack([tone, tone]))
    return path


def ideal(n: int) -> npt.NDArray[np.float32]:
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    return (0.4 * np.sin(2 * np.pi * HZ * t)).astype(np.float32)


def rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def tone_clips(media_dir: Path) -> list[Path]:
    return [tone_clip(media_dir / f"tone{i}.mp4", i) for i in range(6)]


def test_two_part_encode_matches_a_continuous_one(
    tone_clips: list[Path], media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = samples_at(6 * FRAMES, FMT.fps)
    monkeypatch.setattr(composition, "_spare_cores", lambda: 2.0)
    monkeypatch.setattr(composition, "PARALLEL_AUDIO_MIN_SAMPLES", 10**9)
    whole = stitch_sync(tone_clips, media_dir / "tone-one-part.mp4")
    parts_seen: list[int] = []
    real_write = composition._Composer._write_audio

    def spy(self: object, part: object, soundtrack: object) -> None:
        parts_seen.append(1)
        real_write(self, part, soundtrack)  # type: ignore[arg-type]

    monkeypatch.setattr(composition._Composer, "_write_audio", spy)
    monkeypatch.setattr(composition, "PARALLEL_AUDIO_MIN_SAMPLES", AUDIO_RATE)
    split = stitch_sync(tone_clips, media_dir / "tone-two-parts.mp4")
    assert len(parts_seen) == 2

    # Same length, exactly the video's, and the same video.
    assert whole.audio_duration == split.audio_duration
    assert split.audio_duration == pytest.approx(total / AUDIO_RATE, abs=1 / AUDIO_RATE)
    assert probe(media_dir / "tone-two-parts.mp4").frame_count == 6 * FRAMES

    one = decode_audio(media_dir / "tone-one-part.mp4")[0, :total]
    two = decode_audio(media_dir / "tone-two-parts.mp4")[0, :total]
    assert not np.array_equal(one, two)  # two encoders really ran
    want = ideal(total)
    seam = total // 2 // 1024 * 1024
    around = slice(seam - 4096, seam + 4096)
    # The error around the seam is the codec's ordinary error, not a click: no worse than the
    # continuous encode's at the same place, nor than the two-part encode's away from it.
    err_two = rms(two[around] - want[around])
    assert err_two < 2 * rms(one[around] - want[around]) + 1e-4
    assert err_two < 2 * rms(two[: seam - 8192] - want[: seam - 8192]) + 1e-4
    worst_one = np.abs(one[around] - want[around]).max()
    assert np.abs(two[around] - want[around]).max() < 1.5 * worst_one + 0.01
