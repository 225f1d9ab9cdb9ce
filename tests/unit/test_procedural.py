"""The procedural model: real, canonical, deterministic, prompt-dependent video."""

from __future__ import annotations

from pathlib import Path

import av
import jsonschema
import numpy as np
import pytest

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
)
from videofoundry.adapters.procedural import ProceduralAdapter
from videofoundry.core.config import Settings
from videofoundry.core.errors import Cancelled, PromptRejected
from videofoundry.media import is_canonical, keyframe_times, probe, stitch_sync
from videofoundry.media.format import OutputFormat

FMT = OutputFormat(width=160, height=96, fps=24)


class Recorder:
    def __init__(self, workdir: Path, cancel_after: int | None = None) -> None:
        self.progress: list[float] = []
        self.cancel_after = cancel_after
        self.checks = 0
        self.context = GenerationContext(workdir, self.on_progress, self.save_id, self.cancelled)

    async def on_progress(self, fraction: float, message: str | None) -> None:
        self.progress.append(fraction)

    async def save_id(self, task_id: str) -> None:
        raise AssertionError("an offline model has no provider task")

    async def cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after


def request(prompt: str = "a lighthouse in a storm", **kw: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "segment_render_id": "sr-1",
        "spec_hash": "h",
        "model": "procedural",
        "prompt": prompt,
        "duration": 1.5,
        "seed": 7,
        "output": FMT,
    }
    fields.update(kw)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


async def generate(tmp_path: Path, name: str, req: GenerationRequest) -> Path:
    workdir = tmp_path / name
    workdir.mkdir()
    result = await ProceduralAdapter(Settings()).generate(req, Recorder(workdir).context)
    return result.path


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray() for f in container.decode(video=0)]


def test_catalogue_entry() -> None:
    (model,) = ProceduralAdapter(Settings()).models()
    assert model.id == "procedural"
    assert model.text_to_video
    assert (model.min_duration, model.max_duration, model.price_per_second) == (1, 30, 0)
    jsonschema.Draft202012Validator.check_schema(model.params_schema)
    jsonschema.validate({"style": "orbs", "speed": 2}, model.params_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"colour": "red"}, model.params_schema)


async def test_clip_is_canonical_with_exact_length(tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    workdir.mkdir()
    recorder = Recorder(workdir)
    result = await ProceduralAdapter(Settings()).generate(request(), recorder.context)
    assert result.path.parent == workdir
    assert result.cost == 0
    info = probe(result.path)
    assert info.frame_count == 36
    assert info.duration == pytest.approx(1.5)
    assert (info.width, info.height, info.fps) == (160, 96, 24)
    assert info.audio_duration == pytest.approx(1.5, abs=1 / 24)
    assert is_canonical(info, FMT)
    assert keyframe_times(result.path) == pytest.approx([0, 0.5, 1.0])
    assert recorder.progress == sorted(recorder.progress)
    assert recorder.progress[-1] == 1.0


@pytest.mark.parametrize(("duration", "expected"), [(1.0, 24), (2.02, 48), (1.99, 48)])
async def test_frame_count_is_duration_times_fps(
    tmp_path: Path, duration: float, expected: int
) -> None:
    path = await generate(tmp_path, "d", request(duration=duration))
    assert probe(path).frame_count == expected


async def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    a = await generate(tmp_path, "a", request())
    b = await generate(tmp_path, "b", request())
    assert a.read_bytes() == b.read_bytes()


async def test_prompts_look_different(tmp_path: Path) -> None:
    a = frames(await generate(tmp_path, "a", request("a lighthouse in a storm")))
    b = frames(await generate(tmp_path, "b", request("a cat asleep in the sun")))
    # Compare the picture above the caption band: palette and pattern both differ.
    top = slice(0, FMT.height // 2)
    diff = np.abs(a[18][top].astype(int) - b[18][top].astype(int)).mean()
    assert diff > 15


async def test_seed_and_params_change_the_pixels(tmp_path: Path) -> None:
    base = frames(await generate(tmp_path, "a", request()))
    seeded = frames(await generate(tmp_path, "b", request(seed=8)))
    styled = frames(await generate(tmp_path, "c", request(params={"style": "stripes"})))
    assert not np.array_equal(base[10], seeded[10])
    assert not np.array_equal(base[10], styled[10])


async def test_frames_move(tmp_path: Path) -> None:
    clip = frames(await generate(tmp_path, "a", request(params={"speed": 3})))
    assert np.abs(clip[0].astype(int) - clip[-1].astype(int)).mean() > 2


async def test_clips_join_by_copy(tmp_path: Path) -> None:
    a = await generate(tmp_path, "a", request("first"))
    b = await generate(tmp_path, "b", request("second"))
    info = stitch_sync([a, b], tmp_path / "joined.mp4")
    assert info.frame_count == 72


async def test_cancel_stops_and_leaves_no_file(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, cancel_after=1)
    with pytest.raises(Cancelled):
        await ProceduralAdapter(Settings()).generate(request(duration=3), recorder.context)
    assert list(tmp_path.iterdir()) == []
    assert recorder.progress
    assert recorder.progress[-1] < 1


@pytest.mark.parametrize(
    "kw", [{"params": {"style": "plasma"}}, {"params": {"speed": 50}}, {"duration": 31.0}]
)
async def test_invalid_requests_are_rejected(tmp_path: Path, kw: dict[str, object]) -> None:
    with pytest.raises(PromptRejected):
        await ProceduralAdapter(Settings()).generate(request(**kw), Recorder(tmp_path).context)
