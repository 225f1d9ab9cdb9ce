"""DiffusersAdapter end to end with a real (tiny, randomly initialised) diffusers pipeline.

The pipeline is built here from small configs (after diffusers' own TextToVideoSDPipeline fast
test), with a CLIP tokenizer made from an in-memory byte-level vocabulary, and saved in diffusers
format under `tmp/models/tiny`: nothing is downloaded (the hub is switched off). The adapter then
discovers it, loads it with `from_pretrained(local_files_only=True)` and runs it on the CPU.

Needs the optional extra (`videofoundry[diffusers]`: torch, diffusers, transformers); skipped
without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import av
import pytest

from tests.support.recorder import Recorder
from videofoundry.adapters.base import (
    GenerationRequest,
)
from videofoundry.adapters.diffusers import DiffusersAdapter
from videofoundry.core.config import Settings
from videofoundry.core.errors import Cancelled
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


WIDTH, HEIGHT, FPS, FRAMES = 96, 64, 8, 4


def byte_level_vocab() -> dict[str, int]:
    """A CLIP BPE vocabulary of single bytes only (no merges): every text tokenizes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    chars = [chr(b) for b in printable]
    chars += [chr(256 + n) for n in range(256 - len(printable))]  # GPT-2 byte-to-unicode map
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in chars:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return vocab


def build_tiny_pipeline(dest: Path) -> None:
    """A randomly initialised TextToVideoSDPipeline of a few thousand parameters, saved to dest."""
    vocab = byte_level_vocab()
    torch.manual_seed(0)
    unet = diffusers.UNet3DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=4,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    # Three blocks: latents are 1/8 of the frame, as in real models (one block would leave
    # 96x64 latents and spatial attention over 6144 tokens: ~15 s a step on 2 cores).
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        sample_size=32,
        norm_num_groups=2,
    )
    text_encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=4,
            intermediate_size=16,
            layer_norm_eps=1e-05,
            num_attention_heads=2,
            num_hidden_layers=2,
            max_position_embeddings=77,
            vocab_size=len(vocab),
            hidden_act="gelu",
            projection_dim=32,
        )
    )
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    pipe = diffusers.TextToVideoSDPipeline(
        unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer
    )
    pipe.save_pretrained(str(dest))


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diffusers") / "models"
    build_tiny_pipeline(root / "tiny")
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
    [model] = adapter.models()
    assert model.id == "diffusers/tiny"
    assert model.text_to_video
    assert "TextToVideoSDPipeline" in model.label


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
