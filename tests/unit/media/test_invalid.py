"""Unusable inputs fail clearly, name the clip, and leave no partial output behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from tests.unit.media.media_helpers import FMT
from videofoundry.core.errors import InvalidMedia
from videofoundry.media import ClipSpec, ComposeOptions, compose, normalize, probe
from videofoundry.media.encoder import AUDIO_RATE, CanonicalWriter, pcm_frame


def truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 6 // 10])
    return dst


def empty(_src: Path, dst: Path) -> Path:
    dst.write_bytes(b"")
    return dst


def garbage(_src: Path, dst: Path) -> Path:
    dst.write_bytes(np.random.default_rng(0).bytes(50_000))
    return dst


def audio_only(_src: Path, dst: Path) -> Path:
    with av.open(str(dst), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        container.mux(stream.encode(pcm_frame(np.zeros((2, 4800), dtype=np.float32), 0)))
        container.mux(stream.encode(None))
    return dst


def missing(_src: Path, dst: Path) -> Path:
    return dst


BAD: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "truncated": (truncated, "truncated"),
    "zero length": (empty, "empty"),
    "not media": (garbage, "not a readable media file"),
    "no video": (audio_only, "no video stream"),
    "missing": (missing, "not found"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_probe_explains_what_is_wrong(case: str, clips: list[Path], tmp_path: Path) -> None:
    make, words = BAD[case]
    bad = make(clips[0], tmp_path / "bad.mp4")
    with pytest.raises(InvalidMedia, match=f"segment 9: .*{words}"):
        probe(bad, label="segment 9")


@pytest.mark.parametrize("case", list(BAD))
async def test_compose_names_the_bad_segment_and_writes_nothing(
    case: str, clips: list[Path], tmp_path: Path
) -> None:
    make, words = BAD[case]
    bad = make(clips[1], tmp_path / "bad.mp4")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    items = [
        ClipSpec(clips[0], label="segment 1"),
        ClipSpec(bad, label="segment 2"),
        ClipSpec(clips[2], label="segment 3"),
    ]
    with pytest.raises(InvalidMedia, match=f"segment 2: .*{words}"):
        await compose(items, out_dir / "final.mp4")
    assert list(out_dir.iterdir()) == []


def video_without_audio(path: Path) -> Path:
    with CanonicalWriter(path, FMT, audio="none") as writer:
        writer.write_frame(np.zeros((FMT.height * 3 // 2, FMT.width), dtype=np.uint8))
    return path


@pytest.mark.parametrize("kind", ["video only", "text", "empty"])
async def test_soundtrack_that_is_not_audio(kind: str, clips: list[Path], tmp_path: Path) -> None:
    soundtrack = tmp_path / "soundtrack.bin"
    if kind == "video only":
        soundtrack = video_without_audio(tmp_path / "soundtrack.mp4")
    elif kind == "text":
        soundtrack.write_text("definitely not audio\n" * 100)
    else:
        soundtrack.write_bytes(b"")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(InvalidMedia, match="soundtrack"):
        await compose(
            [ClipSpec(clips[0])], out_dir / "final.mp4", ComposeOptions(soundtrack=soundtrack)
        )
    assert list(out_dir.iterdir()) == []


def test_normalize_rejects_corrupt_input_and_writes_nothing(
    clips: list[Path], tmp_path: Path
) -> None:
    bad = truncated(clips[0], tmp_path / "bad.mp4")
    dst = tmp_path / "out.mp4"
    with pytest.raises(InvalidMedia, match="segment 4"):
        normalize(bad, dst, FMT, label="segment 4")
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.mp4"]


def test_empty_timeline_is_refused(tmp_path: Path) -> None:
    from videofoundry.media import compose_sync

    with pytest.raises(InvalidMedia, match="no clips"):
        compose_sync([], tmp_path / "x.mp4")
