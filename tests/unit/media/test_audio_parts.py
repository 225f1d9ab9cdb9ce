"""A long timeline's audio is encoded in parts at once (one per core) and spliced at AAC frames:
the result must sound like one continuous encode, to the sample in length and timing."""

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


@pytest.mark.parametrize("cores", [2, 3])
def test_encode_in_parts_matches_a_continuous_one(
    tone_clips: list[Path], media_dir: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    total = samples_at(6 * FRAMES, FMT.fps)
    monkeypatch.setattr(composition, "_cores", lambda: cores)
    monkeypatch.setattr(composition, "AUDIO_PART_MIN_SAMPLES", 10**9)
    whole = stitch_sync(tone_clips, media_dir / "tone-one-part.mp4")
    parts_seen: list[int] = []
    real_write = composition._Composer._write_audio

    def spy(self: object, part: object, soundtrack: object) -> None:
        parts_seen.append(1)
        real_write(self, part, soundtrack)  # type: ignore[arg-type]

    monkeypatch.setattr(composition._Composer, "_write_audio", spy)
    monkeypatch.setattr(composition, "AUDIO_PART_MIN_SAMPLES", AUDIO_RATE)
    split = stitch_sync(tone_clips, media_dir / "tone-parts.mp4")
    assert len(parts_seen) == cores

    # Same length, exactly the video's, and the same video.
    assert whole.audio_duration == split.audio_duration
    assert split.audio_duration == pytest.approx(total / AUDIO_RATE, abs=1 / AUDIO_RATE)
    assert probe(media_dir / "tone-parts.mp4").frame_count == 6 * FRAMES

    one = decode_audio(media_dir / "tone-one-part.mp4")[0, :total]
    many = decode_audio(media_dir / "tone-parts.mp4")[0, :total]
    assert not np.array_equal(one, many)  # several encoders really ran
    want = ideal(total)
    seams = [total * k // cores // 1024 * 1024 for k in range(1, cores)]
    away = slice(0, seams[0] - 8192)
    for seam in seams:
        around = slice(seam - 4096, seam + 4096)
        # The error around a seam is the codec's ordinary error, not a click: no worse than
        # the continuous encode's at the same place, nor than the split encode's away from it.
        err = rms(many[around] - want[around])
        assert err < 2 * rms(one[around] - want[around]) + 1e-4
        assert err < 2 * rms(many[away] - want[away]) + 1e-4
        worst_one = np.abs(one[around] - want[around]).max()
        assert np.abs(many[around] - want[around]).max() < 1.5 * worst_one + 0.01
