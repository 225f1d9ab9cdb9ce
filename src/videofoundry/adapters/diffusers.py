"""Local video models with Hugging Face diffusers (optional extra `videofoundry[diffusers]`).

Each sub-directory of `DIFFUSERS_MODEL_DIR` holding a diffusers-format pipeline
(`model_index.json`) is offered as `diffusers/<name>`: text-to-video (CogVideoX, LTX-Video, Wan)
and image-to-video (Stable Video Diffusion, LTX-Video, Wan and CogVideoX image-to-video, ...).
What each takes is read from its pipeline class (`diffusers_kinds.py`). An image-to-video
pipeline gets the segment's init image (or the previous shot's last frame) scaled and cropped
to its frame size, and that image is the clip's first frame.

The pipeline loads with `local_files_only=True`, so nothing is downloaded at run time; it runs on
CUDA when present, else Apple MPS, else the CPU, in a worker thread so the event loop stays free.
Memory: VAE decoding is chunked (`decode_chunk_size`) or tiled where the pipeline offers it, and
`DIFFUSERS_CPU_OFFLOAD=true` keeps only the running sub-model on the GPU.
Frames are written as an H.264 MP4 with PyAV; the worker normalises it to the project format.

diffusers and torch are imported lazily: the adapter module imports (and the catalogue lists
the models with a reason) without them.
Docs: https://huggingface.co/docs/diffusers/api/pipelines/overview
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from videofoundry.adapters import diffusers_kinds as kinds
from videofoundry.adapters.base import (
    Adapter,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.diffusers_kinds import (
    MAX_FRAMES,
    PipelineDefaults,
    PipelineKind,
    describe,
    fit_image,
)
from videofoundry.adapters.params import validate_params
from videofoundry.core.config import Settings
from videofoundry.core.errors import Cancelled, InvalidMedia, PermanentError, PromptRejected

log = logging.getLogger(__name__)

Image = np.ndarray[Any, np.dtype[np.uint8]]
Frames = Sequence[Image]
Report = Callable[[float], None]


SIZE_MULTIPLE = 32
SVD_CLASS = kinds.SVD_CLASS
DEFAULTS = kinds.DEFAULTS


@dataclass(frozen=True)
class Job:
    """Everything the pipeline call needs (plain data, safe to hand to a thread)."""

    path: Path
    prompt: str
    negative_prompt: str | None
    seed: int
    num_frames: int
    width: int
    height: int
    steps: int
    guidance: float
    fps: int
    image: Image | None = None
    """The init image fitted to width x height, for image-to-video pipelines."""
    controls: dict[str, Any] = field(default_factory=dict)
    """Pipeline-specific call arguments from params (motion_bucket_id, decode_chunk_size, ...)."""


def pipeline_class(model_dir: Path) -> str | None:
    """`_class_name` from `model_index.json`, or None when the directory is not a pipeline."""
    index = model_dir / "model_index.json"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    name = data.get("_class_name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def frame_count(seconds: float, fps: int, step: int) -> int:
    """Frames covering `seconds` at `fps`, rounded up to `step * k + 1`, capped."""
    wanted = max(1, math.ceil(seconds * fps))
    if step > 1:
        wanted = step * math.ceil(max(0, wanted - 1) / step) + 1
    return min(wanted, MAX_FRAMES if step == 1 else step * ((MAX_FRAMES - 1) // step) + 1)


def frame_size(width: int, height: int, defaults: PipelineDefaults) -> tuple[int, int]:
    """The model's native pixel budget at the project's aspect, in multiples of 32."""
    budget = defaults.width * defaults.height
    aspect = width / height
    w = math.sqrt(budget * aspect)
    h = w / aspect
    return (
        max(SIZE_MULTIPLE, round(w / SIZE_MULTIPLE) * SIZE_MULTIPLE),
        max(SIZE_MULTIPLE, round(h / SIZE_MULTIPLE) * SIZE_MULTIPLE),
    )


def local_models_of(settings: Settings, class_name: str) -> list[str]:
    """Model ids of the local pipelines of one class (e.g. to point at a local SVD)."""
    adapter = DiffusersAdapter(settings)
    return [f"diffusers/{n}" for n, (_, cls) in adapter._model_dirs().items() if cls == class_name]


def to_uint8_frames(frames: Any) -> list[np.ndarray[Any, np.dtype[np.uint8]]]:
    """Pipeline output (float array in 0..1, uint8 array or PIL images) -> RGB uint8 frames."""
    out: list[np.ndarray[Any, np.dtype[np.uint8]]] = []
    for frame in frames:
        array = np.asarray(frame)
        if array.dtype != np.uint8:
            array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise InvalidMedia(f"the pipeline returned a frame of shape {array.shape}")
        out.append(np.ascontiguousarray(array[..., :3]))
    if not out:
        raise InvalidMedia("the pipeline returned no frames")
    return out


def write_mp4(frames: Frames, fps: int, dest: Path) -> Path:
    """Encode RGB uint8 frames as H.264 (yuv420p needs even sides: odd ones are cropped)."""
    import av

    height, width = frames[0].shape[:2]
    even_w, even_h = width - width % 2, height - height % 2
    if even_w < 2 or even_h < 2:
        raise InvalidMedia(f"frames of {width}x{height} are too small to encode")
    with av.open(str(dest), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = even_w
        stream.height = even_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "medium"}
        for frame in frames:
            if frame.shape[:2] != (height, width):
                raise InvalidMedia("the pipeline returned frames of different sizes")
            image = av.VideoFrame.from_ndarray(frame[:even_h, :even_w], format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return dest


class _Interrupted(Exception):
    """Raised inside the pipeline's step callback to stop a cancelled generation."""


class DiffusersAdapter(Adapter):
    """Local diffusers text-to-video pipelines (`diffusers/<sub-directory>`)."""

    name = "diffusers"
    concurrency = 1
    """One pipeline at a time: a second would compete for the same GPU memory."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._pipelines: dict[Path, tuple[Any, str]] = {}
        self._lock = threading.Lock()
        # The torch/diffusers part; replaceable so the orchestration can be exercised alone.
        self.render: Callable[[Job, Report, threading.Event], Any] = self._render_with_diffusers

    # -- catalogue -------------------------------------------------------------------------

    @property
    def model_dir(self) -> Path | None:
        value = self.settings.DIFFUSERS_MODEL_DIR.strip()
        return Path(value).expanduser() if value else None

    def _model_dirs(self) -> dict[str, tuple[Path, str]]:
        root = self.model_dir
        if root is None or not root.is_dir():
            return {}
        found: dict[str, tuple[Path, str]] = {}
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                cls = pipeline_class(child)
                if cls is not None:
                    found[child.name] = (child, cls)
        return found

    def availability(self) -> str | None:
        missing = [m for m in ("diffusers", "torch") if importlib.util.find_spec(m) is None]
        if missing:
            return f"{' and '.join(missing)} not installed (pip install 'videofoundry[diffusers]')"
        if self.settings.DIFFUSERS_CPU_OFFLOAD and importlib.util.find_spec("accelerate") is None:
            return "DIFFUSERS_CPU_OFFLOAD needs accelerate (pip install accelerate)"
        root = self.model_dir
        if root is None:
            return "DIFFUSERS_MODEL_DIR is not set"
        if not root.is_dir():
            return f"DIFFUSERS_MODEL_DIR ({root}) is not a directory"
        if not self._model_dirs():
            return (
                f"DIFFUSERS_MODEL_DIR ({root}) has no model directories "
                "(each needs a diffusers model_index.json)"
            )
        return None

    def models(self) -> list[ModelInfo]:
        return [
            self._model_info(name, describe(cls)) for name, (_, cls) in self._model_dirs().items()
        ]

    @staticmethod
    def _model_info(name: str, kind: PipelineKind) -> ModelInfo:
        defaults = kind.defaults
        what = "image-to-video" if kind.image_only else "text-to-video"
        if kind.image_to_video and kind.text_to_video:
            what = "text- and image-to-video"
        return ModelInfo(
            id=f"diffusers/{name}",
            label=f"{name} (local {kind.class_name}, {what})",
            text_to_video=kind.text_to_video,
            image_to_video=kind.image_to_video,
            min_duration=1.0 / defaults.fps,
            max_duration=round((MAX_FRAMES - 1) / defaults.fps, 2),
            max_prompt_length=2000,
            price_per_second=0.0,
            params_schema=kind.params_schema,
        )

    # -- generation ------------------------------------------------------------------------

    def _job(self, request: GenerationRequest) -> Job:
        prefix = "diffusers/"
        name = request.model.removeprefix(prefix)
        if not request.model.startswith(prefix) or not name or "/" in name:
            raise PromptRejected(f"{request.model!r} is not a diffusers model id")
        entry = self._model_dirs().get(name)
        if entry is None:
            raise PermanentError(f"no diffusers model {name!r} in DIFFUSERS_MODEL_DIR")
        path, cls = entry
        kind = describe(cls)
        validate_params(kind.params_schema, request.params, request.model)
        if kind.image_only and request.init_image is None:
            raise PromptRejected(
                f"{request.model} makes video from an image: set init_image_asset_id "
                "or continue_from_previous"
            )
        if request.init_image is not None and not kind.image_to_video:
            raise PromptRejected(f"{request.model} is text-to-video and takes no init image")
        if kind.takes_prompt and request.init_image is None and not request.prompt.strip():
            raise PromptRejected(f"{request.model} is text-to-video: the prompt is empty")
        defaults = kind.defaults
        params = dict(request.params)
        fps = int(params.pop("fps", defaults.fps))
        fitted_w, fitted_h = frame_size(request.output.width, request.output.height, defaults)
        width, height = int(params.pop("width", fitted_w)), int(params.pop("height", fitted_h))
        frames = int(params.pop("num_frames", 0)) or frame_count(
            request.duration, fps, defaults.frame_step
        )
        if "decode_chunk_size" in kind.call_parameters:
            params.setdefault("decode_chunk_size", self.settings.DIFFUSERS_DECODE_CHUNK_SIZE)
        image = None
        if request.init_image is not None:
            image = fit_image(request.init_image, width, height)
        return Job(
            path=path,
            prompt=request.prompt.strip(),
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            num_frames=frames,
            width=width,
            height=height,
            steps=int(params.pop("num_inference_steps", defaults.steps)),
            guidance=float(params.pop("guidance_scale", defaults.guidance)),
            fps=fps,
            image=image,
            controls=params,
        )

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        reason = self.availability()
        if reason is not None:
            raise PermanentError(f"{request.model} is not available: {reason}")
        return await self.run(self._job(request), context)

    async def run(self, job: Job, context: GenerationContext) -> GenerationResult:
        """Run `self.render` in a thread with progress relayed and cancellation watched."""
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        pending: set[asyncio.Future[None]] = set()

        async def send(fraction: float) -> None:
            await context.progress(min(0.99, max(0.0, fraction)), None)

        def report(fraction: float) -> None:
            # Called from the pipeline thread: hand the coroutine to the event loop.
            future = asyncio.run_coroutine_threadsafe(send(fraction), loop)
            pending.add(asyncio.wrap_future(future, loop=loop))

        async def watch() -> None:
            while not cancel.is_set():
                if await context.is_cancelled():
                    cancel.set()
                    return
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch())
        await context.progress(0.0, f"loading {job.path.name}")
        try:
            output = await asyncio.to_thread(self.render, job, report, cancel)
        except _Interrupted:
            raise Cancelled(f"diffusers generation of {job.path.name} cancelled") from None
        finally:
            cancel.set()
            watcher.cancel()
            await asyncio.gather(watcher, *pending, return_exceptions=True)
        if await context.is_cancelled():
            raise Cancelled(f"diffusers generation of {job.path.name} cancelled")
        frames = to_uint8_frames(output)
        if job.image is not None and frames[0].shape == job.image.shape:
            # The pipeline conditions its first frame on the image; make it exactly the image,
            # so a continued shot starts on the very frame the previous one ended with.
            frames[0] = job.image
        dest = context.workdir / "diffusers.mp4"
        await asyncio.to_thread(write_mp4, frames, job.fps, dest)
        await context.progress(1.0, None)
        return GenerationResult(path=dest, cost=0.0)

    # -- torch / diffusers (tests/integration/test_diffusers_adapter.py runs a tiny pipeline) --

    def _pipeline(self, path: Path) -> tuple[Any, str]:
        with self._lock:
            cached = self._pipelines.get(path)
            if cached is not None:
                return cached
            torch = importlib.import_module("torch")
            diffusers = importlib.import_module("diffusers")

            if torch.cuda.is_available():
                device, dtype = "cuda", torch.bfloat16
            elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                device, dtype = "mps", torch.float16
            else:
                device, dtype = "cpu", torch.float32
            # diffusers 0.42 renamed `torch_dtype` to `dtype` (the old name warns until 1.0).
            utils = importlib.import_module("diffusers.utils.deprecation_utils")
            dtype_arg = "dtype" if hasattr(utils, "_resolve_dtype") else "torch_dtype"
            pipe = diffusers.DiffusionPipeline.from_pretrained(
                str(path), local_files_only=True, **{dtype_arg: dtype}
            )
            if device == "cuda" and self.settings.DIFFUSERS_CPU_OFFLOAD:
                # Only the sub-model that is running sits on the GPU (needs accelerate).
                pipe.enable_model_cpu_offload()
            else:
                pipe = pipe.to(device)
            vae = getattr(pipe, "vae", None)
            if device != "cpu" and vae is not None and hasattr(vae, "enable_tiling"):
                # Decode the latents in tiles: the full-frame decode is the memory peak.
                with contextlib.suppress(NotImplementedError, AttributeError):
                    vae.enable_tiling()
            # Progress goes to the worker through the step callback, not to a tqdm bar on stderr.
            if hasattr(pipe, "set_progress_bar_config"):
                pipe.set_progress_bar_config(disable=True)
            # Keep one pipeline resident: models are several GB each.
            self._pipelines = {path: (pipe, device)}
            return pipe, device

    def _render_with_diffusers(self, job: Job, report: Report, cancel: threading.Event) -> Any:
        # Imported by name: the extra is optional and has no stubs in the base environment.
        torch = importlib.import_module("torch")

        pipe, _device = self._pipeline(job.path)
        # A CPU generator gives the same noise whatever the device (reproducible from the seed).
        generator = torch.Generator(device="cpu").manual_seed(job.seed % 2**63)

        def step_done(step: int) -> None:
            report((step + 1) / max(1, job.steps))
            if cancel.is_set():
                raise _Interrupted

        def on_step_end(_pipe: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> Any:
            step_done(step)
            return kwargs

        def on_step_legacy(step: int, _timestep: Any, _latents: Any) -> None:
            step_done(step)

        wanted: dict[str, Any] = {
            "image": None if job.image is None else _pil(job.image),
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt,
            "num_frames": job.num_frames,
            "width": job.width,
            "height": job.height,
            "num_inference_steps": job.steps,
            "guidance_scale": job.guidance,
            "frame_rate": job.fps,  # LTX-Video conditions on the frame rate
            "fps": job.fps,  # ... and Stable Video Diffusion on `fps`
            "target_fps": job.fps,  # ... and I2VGen-XL on `target_fps`
            "max_guidance_scale": job.guidance,  # SVD's guidance rises to this over the clip
            "generator": generator,
            "output_type": "np",
            **job.controls,
        }
        accepted = inspect.signature(pipe.__call__).parameters
        if "callback_on_step_end" in accepted:
            wanted["callback_on_step_end"] = on_step_end
        elif "callback" in accepted:
            # Older pipelines (e.g. TextToVideoSDPipeline) only have the per-step `callback`.
            wanted["callback"] = on_step_legacy
            wanted["callback_steps"] = 1
        kwargs = {k: v for k, v in wanted.items() if k in accepted and v is not None}
        result = pipe(**kwargs)
        frames = result.frames
        # Video pipelines return a batch: frames[0] is the first (only) video.
        return frames[0]


def _pil(image: Image) -> Any:
    from PIL import Image as PILImage

    return PILImage.fromarray(image)
