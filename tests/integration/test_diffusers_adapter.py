"""DiffusersAdapter end to end with a real (tiny, randomly initialised) diffusers pipeline.

The pipelines (text-to-video and Stable Video Diffusion) are built from small configs by
tests/support/tiny_pipelines.py and saved in diffusers format under `tmp/models`: nothing is
downloaded (the hub is switched off). The adapter then discovers them, loads them with
`from_pretrained(local_files_only=True)` and runs them on the CPU.

Needs the optional extra (`videofoundry[diffusers]`: torch, diffusers, transformers); skipped
without it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from tests.support.recorder import Recorder
from videofoundry.adapters.base import (
    GenerationRequest,
)
from videofoundry.adapters.diffusers import DiffusersAdapter
from videofoundry.core.config import Settings
from videofoundry.core.errors import Cancelled, PromptRejected
from videofoundry.media.format import OutputFormat

# huggingface_hub reads this once, when first imported: set it before the imports below, so any
# attempt to reach the hub fails at once (the adapter also loads with local_files_only=True).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

torch = pytest.importorskip("torch", reason="torch is not installed (videofoundry[diffusers])")
diffusers = pytest.importorskip(
    "diffusers", reason="diffusers is not installed (videofoundry[diffusers])"
)
transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (videofoundry[diffusers])"
)

# diffusers' EulerDiscreteScheduler (SVD's) calls np.array() on a torch tensor, which numpy 2
# warns about with torch 2.13; harmless, and not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

tiny = pytest.importorskip("tests.support.tiny_pipelines")
build_tiny_pipeline, build_tiny_svd, SVD_FRAMES = (
    tiny.build_tiny_pipeline,
    tiny.build_tiny_svd,
    tiny.SVD_FRAMES,
)

WIDTH, HEIGHT, FPS, FRAMES = 96, 64, 8, 4


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diffusers") / "models"
    build_tiny_pipeline(root / "tiny")
    build_tiny_svd(root / "svd")
    tiny.build_tiny_ltx_image_to_video(root / "ltx-i2v")
    return root


def request(**params: Any) -> GenerationRequest:
    return GenerationRequest(
        "sr",
        "h",
        "diffusers/tiny",
        "a painting of a squirrel eating a burger",
        FRAMES / FPS,
        7,
        OutputFormat(1280, 720, 24),
        negative_prompt="blurry",
        params={"num_inference_steps": 2, "width": WIDTH, "height": HEIGHT, "fps": FPS, **params},
    )


def test_the_catalogue_lists_the_tiny_model(model_root: Path) -> None:
    index = json.loads((model_root / "tiny" / "model_index.json").read_text())
    assert index["_class_name"] == "TextToVideoSDPipeline"
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(model_root)))
    assert adapter.availability() is None
    ltx, svd, model = adapter.models()
    assert model.id == "diffusers/tiny"
    assert (model.text_to_video, model.image_to_video) == (True, False)
    assert "TextToVideoSDPipeline" in model.label
    assert svd.id == "diffusers/svd"
    assert (svd.text_to_video, svd.image_to_video) == (False, True)
    assert "motion_bucket_id" in svd.params_schema["properties"]
    assert ltx.id == "diffusers/ltx-i2v"
    assert (ltx.text_to_video, ltx.image_to_video) == (False, True)
    assert "LTXImageToVideoPipeline" in ltx.label


async def test_a_tiny_pipeline_renders_a_clip(model_root: Path, tmp_path: Path) -> None:
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(model_root)))
    recorder = Recorder(tmp_path)
    result = await adapter.generate(request(), recorder.context)

    assert result.path.parent == tmp_path
    assert result.cost == 0.0
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert (stream.codec_context.width, stream.codec_context.height) == (WIDTH, HEIGHT)
        assert stream.average_rate == FPS
    assert len(frames) == FRAMES
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in frames)
    # Random weights still give pixels that vary (not a blank or constant clip).
    assert frames[0].std() > 0

    fractions = [f for f, _ in recorder.events]
    assert recorder.events[0] == (0.0, "loading tiny")
    assert 0.5 in fractions  # the pipeline's step callback reached the worker (step 1 of 2)
    assert recorder.events[-1] == (1.0, None)

    # Same seed, same pixels: the generator is seeded from the request.
    (tmp_path / "again").mkdir()
    again = await adapter.generate(request(), Recorder(tmp_path / "again").context)
    with av.open(str(again.path)) as container:
        repeat = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert [f.tobytes() for f in repeat] == [f.tobytes() for f in frames]


async def test_a_cancelled_job_stops_the_pipeline(model_root: Path, tmp_path: Path) -> None:
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(model_root)))
    recorder = Recorder(tmp_path, cancel=True)
    with pytest.raises(Cancelled):
        await adapter.generate(request(num_inference_steps=200), recorder.context)
    assert not (tmp_path / "diffusers.mp4").exists()
    # The step callback stopped the pipeline at once: it did not run its 200 steps.
    assert max(f for f, _ in recorder.events) < 0.1


def still(width: int, height: int) -> bytes:
    """A PNG with smooth structure (gradients and a disc), so scaling and encoding keep it."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = (xs * 255 // max(1, width - 1)).astype(np.uint8)
    image[..., 1] = (ys * 255 // max(1, height - 1)).astype(np.uint8)
    disc = (xs - width / 3) ** 2 + (ys - height / 2) ** 2 < (height / 4) ** 2
    image[disc] = (240, 240, 40)
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def svd_request(image: bytes | None, **params: Any) -> GenerationRequest:
    return GenerationRequest(
        "sr",
        "h",
        "diffusers/svd",
        "a prompt an image-only model ignores",
        SVD_FRAMES / 4,
        11,
        OutputFormat(WIDTH * 2, HEIGHT * 2, 24),
        params={
            "num_inference_steps": 2,
            "width": WIDTH,
            "height": HEIGHT,
            "fps": 4,
            "motion_bucket_id": 60,
            "noise_aug_strength": 0.05,
            "decode_chunk_size": 2,
            **params,
        },
        init_image=image,
    )


async def test_stable_video_diffusion_turns_an_image_into_a_clip(
    model_root: Path, tmp_path: Path
) -> None:
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(model_root)))
    source = still(300, 200)  # 3:2, fitted (scaled, centre-cropped) to the pipeline's 96x64
    recorder = Recorder(tmp_path)
    result = await adapter.generate(svd_request(source), recorder.context)
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert (stream.codec_context.width, stream.codec_context.height) == (WIDTH, HEIGHT)
        assert stream.average_rate == 4
    assert len(frames) == SVD_FRAMES  # 1 s at 4 fps
    assert 0.5 in [f for f, _ in recorder.events]  # step 1 of 2 reached the worker
    # The clip starts on the image itself, within the encoder's tolerance.
    fitted = np.asarray(Image.open(io.BytesIO(source)).resize((WIDTH, HEIGHT)), dtype=np.int16)
    assert np.abs(frames[0].astype(np.int16) - fitted).mean() < 6
    # The rest is the (random) model's own frames, not copies of the image.
    assert np.abs(frames[-1].astype(np.int16) - fitted).mean() > 20


async def test_stable_video_diffusion_without_an_image_is_refused(
    model_root: Path, tmp_path: Path
) -> None:
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(model_root)))
    with pytest.raises(PromptRejected, match="init_image_asset_id"):
        await adapter.generate(svd_request(None), Recorder(tmp_path).context)


async def test_ltx_video_turns_an_image_and_a_prompt_into_a_clip(
    model_root: Path, tmp_path: Path
) -> None:
    adapter = DiffusersAdapter(Settings(DIFFUSERS_MODEL_DIR=str(model_root)))
    source = still(200, 200)  # square, fitted to the pipeline's 96x64
    request = GenerationRequest(
        "sr",
        "h",
        "diffusers/ltx-i2v",
        "a cat",
        1.0,
        5,
        OutputFormat(WIDTH, HEIGHT, 24),
        params={"num_inference_steps": 2, "width": WIDTH, "height": HEIGHT, "fps": 8},
        init_image=source,
    )
    result = await adapter.generate(request, Recorder(tmp_path).context)
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert (stream.codec_context.width, stream.codec_context.height) == (WIDTH, HEIGHT)
        assert stream.average_rate == 8
    assert len(frames) == 9  # 1 s at 8 fps, rounded up to LTX's 8k+1
    fitted = np.asarray(
        Image.open(io.BytesIO(source)).crop((0, 33, 200, 167)).resize((WIDTH, HEIGHT)),
        dtype=np.int16,
    )
    assert np.abs(frames[0].astype(np.int16) - fitted).mean() < 8
