"""DiffusersAdapter without torch: availability, catalogue, frame maths, MP4 writing, the
thread/progress/cancel orchestration and how the pipeline call is made.

The real torch/diffusers run (a tiny randomly initialised pipeline built in the test) is in
tests/integration/test_diffusers_adapter.py and needs the `diffusers` extra; here `stub_render`
replaces the pipeline call, and `FakePipeline` a loaded pipeline, to exercise the code around it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import sys
import threading
import types
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.recorder import Recorder
from videofoundry.adapters import diffusers as module
from videofoundry.adapters import diffusers_kinds as kinds
from videofoundry.adapters.base import (
    GenerationRequest,
)
from videofoundry.adapters.diffusers import (
    DiffusersAdapter,
    Job,
    frame_count,
    frame_size,
    to_uint8_frames,
    write_mp4,
)
from videofoundry.core.config import Settings
from videofoundry.core.errors import Cancelled, InvalidMedia, PermanentError, PromptRejected
from videofoundry.media.format import OutputFormat


def make_model(root: Path, name: str, cls: str = "CogVideoXPipeline") -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    return path


@pytest.fixture
def pretend_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        if name in ("torch", "diffusers"):
            return object()
        return real(name, *args)

    monkeypatch.setattr(module.importlib.util, "find_spec", find_spec)


def test_availability_explains_a_missing_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = module.importlib.util.find_spec

    def without_torch(name: str, *args: Any) -> Any:
        # As on an installation without the extra, whether or not this one has it.
        return None if name in ("torch", "diffusers") else real(name, *args)

    monkeypatch.setattr(module.importlib.util, "find_spec", without_torch)
    make_model(tmp_path, "cog")
    reason = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path))).availability()
    assert reason is not None
    assert "not installed" in reason
    assert "videofoundry[diffusers]" in reason


@pytest.mark.usefixtures("pretend_installed")
def test_availability_explains_the_model_dir(tmp_path: Path) -> None:
    assert DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR="")).availability() == (
        "DIFFUSERS_MODEL_DIR is not set"
    )
    missing = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path / "nope"))).availability()
    assert missing is not None
    assert "is not a directory" in missing
    (tmp_path / "not-a-model").mkdir()
    empty = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path))).availability()
    assert empty is not None
    assert "no model directories" in empty
    make_model(tmp_path, "cog")
    assert DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path))).availability() is None


def test_models_are_the_pipeline_subdirectories(tmp_path: Path) -> None:
    make_model(tmp_path, "cogvideox-2b")
    make_model(tmp_path, "ltx", "LTXPipeline")
    (tmp_path / "junk").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text("{not json")
    models = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path))).models()
    assert [m.id for m in models] == ["diffusers/cogvideox-2b", "diffusers/ltx"]
    assert all(m.price_per_second == 0 for m in models)
    assert all(m.params_schema["additionalProperties"] is False for m in models)
    assert "LTXPipeline" in models[1].label


@pytest.mark.parametrize(
    ("seconds", "fps", "step", "frames"),
    [(6.0, 8, 8, 49), (5.0, 24, 8, 121), (5.0, 16, 4, 81), (2.0, 10, 1, 20), (60, 24, 8, 257)],
)
def test_frame_count(seconds: float, fps: int, step: int, frames: int) -> None:
    assert frame_count(seconds, fps, step) == frames
    assert (frames - 1) % step == 0 or step == 1


def test_frame_size_keeps_the_budget_and_aspect() -> None:
    defaults = module.DEFAULTS["CogVideoXPipeline"]
    assert frame_size(1280, 720, defaults) == (768, 448)
    width, height = frame_size(720, 1280, defaults)
    assert (width % 32, height % 32) == (0, 0)
    assert width < height


def test_frames_are_normalised_to_uint8() -> None:
    frames = to_uint8_frames(np.full((2, 4, 6, 3), 0.5, dtype=np.float32))
    assert frames[0].dtype == np.uint8
    assert int(frames[0][0, 0, 0]) == 128
    assert to_uint8_frames([np.zeros((4, 6), dtype=np.uint8)])[0].shape == (4, 6, 3)
    with pytest.raises(InvalidMedia):
        to_uint8_frames([])


def test_write_mp4_crops_odd_sides(tmp_path: Path) -> None:
    frames = [np.full((33, 65, 3), i * 20, dtype=np.uint8) for i in range(9)]
    dest = write_mp4(frames, 8, tmp_path / "out.mp4")
    with av.open(str(dest)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 32)
        assert len(decoded) == 9
        assert stream.average_rate == 8


def stub_render(job: Job, report: module.Report, cancel: threading.Event) -> Any:
    """Stands in for the pipeline call (numpy only): same contract as the diffusers output."""
    for step in range(job.steps):
        if cancel.wait(0.005):
            raise module._Interrupted
        report((step + 1) / job.steps)
    return np.random.default_rng(job.seed).random((job.num_frames, job.height, job.width, 3))


@pytest.mark.usefixtures("pretend_installed")
async def test_generate_orchestration_with_a_stub_pipeline(tmp_path: Path) -> None:
    make_model(tmp_path / "models", "cog")
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path / "models")))
    adapter.render = stub_render
    work = tmp_path / "work"
    work.mkdir()
    recorder = Recorder(work)
    request = GenerationRequest(
        "sr",
        "h",
        "diffusers/cog",
        "a fox in snow",
        2.0,
        5,
        OutputFormat(320, 180, 24),
        params={"num_inference_steps": 4, "width": 96, "height": 64},
    )
    result = await adapter.generate(request, recorder.context)
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (96, 64)
        assert sum(1 for _ in container.decode(stream)) == 17  # 2 s x 8 fps -> 8k+1
    fractions = [f for f, _ in recorder.events]
    assert 0.25 in fractions
    assert recorder.events[-1] == (1.0, None)
    assert result.cost == 0.0


@pytest.mark.usefixtures("pretend_installed")
async def test_cancel_interrupts_the_pipeline(tmp_path: Path) -> None:
    make_model(tmp_path / "models", "cog")
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path / "models")))
    adapter.render = stub_render
    request = GenerationRequest(
        "sr", "h", "diffusers/cog", "x", 1.0, 1, OutputFormat(), params={"num_inference_steps": 200}
    )
    with pytest.raises(Cancelled):
        await adapter.generate(request, Recorder(tmp_path, cancel=True).context)


@pytest.mark.usefixtures("pretend_installed")
async def test_bad_requests_are_refused(tmp_path: Path) -> None:
    make_model(tmp_path, "cog")
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path)))
    context = Recorder(tmp_path).context
    base = GenerationRequest("sr", "h", "diffusers/cog", "x", 1.0, 1, OutputFormat())
    with pytest.raises(PermanentError, match="no diffusers model"):
        await adapter.generate(
            GenerationRequest("sr", "h", "diffusers/other", "x", 1.0, 1, OutputFormat()), context
        )
    with pytest.raises(PromptRejected, match="not a diffusers model id"):
        await adapter.generate(
            GenerationRequest("sr", "h", "diffusers/../cog", "x", 1.0, 1, OutputFormat()), context
        )
    with pytest.raises(PromptRejected, match=r"params\.width"):
        await adapter.generate(
            GenerationRequest(
                "sr", "h", "diffusers/cog", "x", 1.0, 1, OutputFormat(), params={"width": 100}
            ),
            context,
        )
    with pytest.raises(PromptRejected, match="prompt is empty"):
        await adapter.generate(
            GenerationRequest("sr", "h", base.model, " ", 1.0, 1, OutputFormat()), context
        )


class FakeGenerator:
    def __init__(self, device: str) -> None:
        self.device = device

    def manual_seed(self, seed: int) -> FakeGenerator:
        self.seed = seed
        return self


class LegacyPipeline:
    """The call signature of older pipelines (TextToVideoSDPipeline): `callback` per step."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        prompt: str,
        height: int,
        width: int,
        num_frames: int,
        num_inference_steps: int,
        guidance_scale: float,
        negative_prompt: str | None = None,
        generator: Any = None,
        output_type: str = "np",
        callback: Any = None,
        callback_steps: int = 1,
    ) -> Any:
        self.calls.append(dict(locals()))
        for step in range(num_inference_steps):
            callback(step, 999 - step, None)
        return types.SimpleNamespace(frames=np.zeros((1, num_frames, height, width, 3)))


class ModernPipeline:
    """The call signature of current pipelines (CogVideoX, LTX, Wan): `callback_on_step_end`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        prompt: str,
        num_frames: int,
        height: int,
        width: int,
        num_inference_steps: int,
        frame_rate: int = 25,
        generator: Any = None,
        output_type: str = "np",
        callback_on_step_end: Any = None,
    ) -> Any:
        self.calls.append(dict(locals()))
        for step in range(num_inference_steps):
            assert callback_on_step_end(self, step, 999 - step, {}) == {}
        return types.SimpleNamespace(frames=[np.zeros((num_frames, height, width, 3))])


@pytest.mark.parametrize("pipeline", [LegacyPipeline, ModernPipeline])
def test_the_pipeline_call_matches_its_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: type[Any]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(Generator=FakeGenerator))
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path)))
    pipe = pipeline()
    adapter._pipelines = {tmp_path: (pipe, "cpu")}
    job = Job(tmp_path, "a fox", None, 2**64 + 5, 9, 96, 64, 4, 6.0, 12)
    reports: list[float] = []
    frames = adapter.render(job, reports.append, threading.Event())
    assert np.asarray(frames).shape == (9, 64, 96, 3)
    assert reports == [0.25, 0.5, 0.75, 1.0]
    [call] = pipe.calls
    assert call["generator"].seed == 5  # seeds are folded into torch's range
    assert call["output_type"] == "np"
    assert "negative_prompt" not in call or call["negative_prompt"] is None
    if pipeline is ModernPipeline:
        assert call["frame_rate"] == 12
    else:
        assert call["callback_steps"] == 1
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(module._Interrupted):
        adapter.render(job, reports.append, cancel)


# -- pipeline kinds: what the catalogue says each local pipeline takes --------------------------

KINDS = [
    # class name, text_to_video, image_to_video
    ("StableVideoDiffusionPipeline", False, True),
    ("LTXImageToVideoPipeline", False, True),
    ("WanImageToVideoPipeline", False, True),
    ("CogVideoXImageToVideoPipeline", False, True),
    ("LTXConditionPipeline", True, True),
    ("CogVideoXPipeline", True, False),
    ("LTXPipeline", True, False),
    ("WanPipeline", True, False),
]


@pytest.fixture
def fresh_kinds() -> Any:
    kinds.describe.cache_clear()
    yield kinds
    kinds.describe.cache_clear()


@pytest.mark.parametrize(("cls", "text", "image"), KINDS)
def test_the_catalogue_flags_come_from_the_pipeline_class(
    tmp_path: Path, fresh_kinds: Any, cls: str, text: bool, image: bool
) -> None:
    pytest.importorskip("diffusers", reason="reads the real pipeline classes")
    make_model(tmp_path, "m", cls)
    [model] = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path))).models()
    assert (model.text_to_video, model.image_to_video) == (text, image)
    assert ("image-to-video" in model.label) == image
    properties = model.params_schema["properties"]
    # The schema offers exactly the controls the pipeline's call takes.
    assert ("motion_bucket_id" in properties) == (cls == "StableVideoDiffusionPipeline")
    assert ("guidance_scale" in properties) == (cls != "StableVideoDiffusionPipeline")
    assert {"fps", "width", "height", "num_inference_steps"} <= properties.keys()


@pytest.mark.parametrize(("cls", "text", "image"), KINDS)
def test_without_diffusers_the_kind_is_guessed_from_the_name(
    monkeypatch: pytest.MonkeyPatch, fresh_kinds: Any, cls: str, text: bool, image: bool
) -> None:
    real = kinds.importlib.util.find_spec
    monkeypatch.setattr(
        kinds.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "diffusers" else real(name, *a),
    )
    kind = kinds.describe(cls)
    assert (kind.text_to_video, kind.image_to_video) == (text, image)


def test_the_svd_schema_has_its_real_controls(fresh_kinds: Any) -> None:
    pytest.importorskip("diffusers", reason="reads the real pipeline class")
    schema = kinds.describe("StableVideoDiffusionPipeline").params_schema
    properties = schema["properties"]
    for control in (
        "num_frames",
        "fps",
        "motion_bucket_id",
        "noise_aug_strength",
        "decode_chunk_size",
        "min_guidance_scale",
        "max_guidance_scale",
    ):
        assert control in properties, control
    assert "prompt" not in properties
    assert "conditioning" in properties["fps"]["description"]
    assert schema["additionalProperties"] is False


def image_bytes(width: int, height: int) -> bytes:
    from PIL import Image

    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (250, 20, 20)
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.usefixtures("pretend_installed")
async def test_an_image_model_gets_the_image_fitted_as_its_first_frame(
    tmp_path: Path, fresh_kinds: Any
) -> None:
    pytest.importorskip("diffusers", reason="reads the real pipeline class")
    make_model(tmp_path / "models", "svd", "StableVideoDiffusionPipeline")
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(tmp_path / "models")))
    jobs: list[Job] = []

    def render(job: Job, report: module.Report, cancel: threading.Event) -> Any:
        jobs.append(job)
        return np.zeros((job.num_frames, job.height, job.width, 3), dtype=np.uint8)

    adapter.render = render
    base = GenerationRequest(
        "sr",
        "h",
        "diffusers/svd",
        "ignored",
        1.0,
        3,
        OutputFormat(320, 180, 24),
        params={"width": 128, "height": 64, "motion_bucket_id": 40, "num_inference_steps": 2},
    )
    with pytest.raises(PromptRejected, match="init_image_asset_id or continue_from_previous"):
        await adapter.generate(base, Recorder(tmp_path).context)
    work = tmp_path / "work"
    work.mkdir()
    request = dataclasses.replace(base, init_image=image_bytes(400, 100))
    result = await adapter.generate(request, Recorder(work).context)
    [job] = jobs
    assert job.image is not None
    assert job.image.shape == (64, 128, 3)  # covered and centre-cropped to the pipeline size
    assert job.num_frames == 7  # 1 s at SVD's 7 fps
    assert job.controls == {"motion_bucket_id": 40, "decode_chunk_size": 8}
    with av.open(str(result.path)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    # The pipeline returned black frames; the first frame is the image (red left half).
    assert first[32, 10, 0] > 200
    assert first[32, 120].max() < 40


def test_the_stability_entry_points_to_a_local_svd(tmp_path: Path) -> None:
    from videofoundry.adapters.stability import StabilityAdapter

    without = StabilityAdapter(Settings(STABILITY_API_KEY="k", DIFFUSERS_MODEL_DIR=str(tmp_path)))
    assert without.availability() is not None
    assert "diffusers/" not in (without.availability() or "")
    make_model(tmp_path, "svd-xt", "StableVideoDiffusionPipeline")
    make_model(tmp_path, "cog", "CogVideoXPipeline")
    for settings in (
        Settings(STABILITY_API_KEY="k", DIFFUSERS_MODEL_DIR=str(tmp_path)),  # discontinued
        Settings(STABILITY_API_KEY="", DIFFUSERS_MODEL_DIR=str(tmp_path)),  # no key either
    ):
        reason = StabilityAdapter(settings).availability()
        assert reason is not None
        assert reason.endswith("Stable Video Diffusion runs locally here as diffusers/svd-xt")
    enabled = Settings(
        STABILITY_API_KEY="k", STABILITY_ENABLE_DEPRECATED=True, DIFFUSERS_MODEL_DIR=str(tmp_path)
    )
    assert StabilityAdapter(enabled).availability() is None


@pytest.mark.usefixtures("pretend_installed")
def test_cpu_offload_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model(tmp_path, "cog")
    find_spec = module.importlib.util.find_spec
    monkeypatch.setattr(
        module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "accelerate" else find_spec(name, *a),
    )
    settings = Settings(DIFFUSERS_MODEL_DIR=str(tmp_path), DIFFUSERS_CPU_OFFLOAD=True)
    assert DiffusersAdapter(settings).availability() == (
        "DIFFUSERS_CPU_OFFLOAD needs accelerate (pip install accelerate)"
    )
    settings = Settings(DIFFUSERS_MODEL_DIR=str(tmp_path), DIFFUSERS_CPU_OFFLOAD=False)
    assert DiffusersAdapter(settings).availability() is None
