"""What a local diffusers pipeline takes, read from the pipeline class itself.

A model directory names its pipeline class in `model_index.json`. The class's `__call__`
signature says whether it takes a prompt, an image (and whether the image is required) and
which controls it has; the catalogue flags and the params schema follow from that, so a new
pipeline family works without a table entry here. The table only adds native sizes and rates.

diffusers is imported lazily and only to look at the class; without it, the kind is guessed
from the class name (the adapter is unavailable then anyway, but the catalogue stays right).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from videofoundry.core.errors import PromptRejected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineDefaults:
    fps: int
    width: int
    height: int
    frame_step: int
    """Frame counts must be `frame_step * k + 1` (1 = any count)."""
    steps: int = 30
    guidance: float = 6.0


_COG = PipelineDefaults(8, 720, 480, 8, 50, 6.0)
_LTX = PipelineDefaults(24, 704, 480, 8, 40, 3.0)
_WAN = PipelineDefaults(16, 832, 480, 4, 40, 5.0)
# Native settings of the families named in the issue; anything else gets a cautious default.
DEFAULTS: dict[str, PipelineDefaults] = {
    "CogVideoXPipeline": _COG,
    "CogVideoXImageToVideoPipeline": _COG,
    "LTXPipeline": _LTX,
    "LTXImageToVideoPipeline": _LTX,
    "LTXConditionPipeline": _LTX,
    "WanPipeline": _WAN,
    "WanImageToVideoPipeline": _WAN,
    # SVD: 25 frames at 1024x576, conditioned on fps 7; `guidance` is its max_guidance_scale.
    "StableVideoDiffusionPipeline": PipelineDefaults(7, 1024, 576, 1, 25, 3.0),
    "I2VGenXLPipeline": PipelineDefaults(16, 1280, 704, 1, 50, 9.0),
}
FALLBACK = PipelineDefaults(8, 512, 288, 1, 25, 7.5)
SVD_CLASS = "StableVideoDiffusionPipeline"
OPTIONAL_IMAGE = frozenset({"LTXConditionPipeline"})
"""Pipelines that take a prompt, an image or both."""

# Each control appears in a model's params schema only when its pipeline's call takes it.
CONTROLS: dict[str, dict[str, Any]] = {
    "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 200},
    "guidance_scale": {"type": "number", "minimum": 0, "maximum": 30},
    "min_guidance_scale": {
        "type": "number",
        "minimum": 0,
        "maximum": 30,
        "description": "guidance at the first frame, rising to max_guidance_scale (1.0)",
    },
    "max_guidance_scale": {
        "type": "number",
        "minimum": 0,
        "maximum": 30,
        "description": "guidance at the last frame (3.0)",
    },
    "motion_bucket_id": {
        "type": "integer",
        "minimum": 1,
        "maximum": 255,
        "description": "more is more motion (127)",
    },
    "noise_aug_strength": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "noise added to the image: more moves further from it (0.02)",
    },
    "decode_chunk_size": {
        "type": "integer",
        "minimum": 1,
        "maximum": 64,
        "description": "frames decoded at once: fewer use less memory (8)",
    },
}
COMMON: dict[str, dict[str, Any]] = {
    "fps": {"type": "integer", "minimum": 1, "maximum": 60},
    "width": {"type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 32},
    "height": {"type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 32},
}
MAX_FRAMES = 257
# Call parameters assumed when diffusers is not installed to look (by class name).
_GUESSED_TEXT = frozenset({"prompt", "negative_prompt", "num_inference_steps", "guidance_scale"})
_GUESSED_SVD = frozenset({"image", "fps", "num_frames", *CONTROLS}) - {"guidance_scale"}


@dataclass(frozen=True)
class PipelineKind:
    """One pipeline class as the adapter drives it."""

    class_name: str
    call_parameters: frozenset[str]
    text_to_video: bool
    image_to_video: bool
    defaults: PipelineDefaults

    @property
    def image_only(self) -> bool:
        return self.image_to_video and not self.text_to_video

    @property
    def takes_prompt(self) -> bool:
        return "prompt" in self.call_parameters

    @property
    def params_schema(self) -> dict[str, Any]:
        properties = {k: v for k, v in CONTROLS.items() if k in self.call_parameters}
        if "motion_bucket_id" in self.call_parameters:
            # SVD-style models are trained on a fixed clip length; choosing it is a real control.
            properties["num_frames"] = {
                "type": "integer",
                "minimum": 2,
                "maximum": MAX_FRAMES,
                "description": "frames to generate (default: duration x fps); "
                "the clip lasts num_frames / fps",
            }
        properties.update(COMMON)
        if "fps" in self.call_parameters or "frame_rate" in self.call_parameters:
            properties["fps"] = {
                **COMMON["fps"],
                "description": f"clip frame rate, also the model's fps conditioning "
                f"({self.defaults.fps})",
            }
        return {"type": "object", "additionalProperties": False, "properties": properties}


def _needs_image(class_name: str) -> bool:
    # Some image-to-video pipelines default `image` to None yet cannot run without one.
    return "ImageToVideo" in class_name or "I2V" in class_name or class_name == SVD_CLASS


def _signature(class_name: str) -> tuple[frozenset[str], bool] | None:
    """(call parameter names, image required) from the class, or None without diffusers."""
    if importlib.util.find_spec("diffusers") is None:
        return None
    try:
        diffusers = importlib.import_module("diffusers")
        cls = getattr(diffusers, class_name)
        parameters = inspect.signature(cls.__call__).parameters
    except Exception as exc:  # an unknown class or a broken install: guess by name
        log.info("pipeline class %s could not be inspected: %s", class_name, exc)
        return None
    image = parameters.get("image")
    required = image is not None and image.default is inspect.Parameter.empty
    return frozenset(parameters) - {"self"}, required


@functools.lru_cache(maxsize=64)
def describe(class_name: str) -> PipelineKind:
    """The kind of the pipeline class named `class_name` (cached: it may import diffusers)."""
    found = _signature(class_name)
    if found is None:
        if class_name == SVD_CLASS:
            params = _GUESSED_SVD
        elif _needs_image(class_name) or class_name in OPTIONAL_IMAGE:
            params = _GUESSED_TEXT | {"image"}
        else:
            params = _GUESSED_TEXT
        required = _needs_image(class_name)
    else:
        params, required = found
        required = required or ("image" in params and _needs_image(class_name))
    takes_image = "image" in params
    return PipelineKind(
        class_name=class_name,
        call_parameters=params,
        text_to_video="prompt" in params and not required,
        image_to_video=takes_image,
        defaults=DEFAULTS.get(class_name, FALLBACK),
    )


def fit_image(data: bytes, width: int, height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Scale to cover (width, height) and centre-crop to exactly that size; RGB uint8 array."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PromptRejected(f"the init image is not a readable image ({exc})") from None
    fitted = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    return np.asarray(fitted, dtype=np.uint8).copy()
