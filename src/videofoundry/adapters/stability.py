"""Stability AI adapter (Stable Video Diffusion): legacy, disabled by default.

Stability discontinued its Stable Video API on 2025-07-24
(https://stability.ai/api-pricing-update-25). The adapter stays for compatible proxies: it is
listed as deprecated and unavailable unless `STABILITY_ENABLE_DEPRECATED=true`.

Protocol: docs/providers.md section 2; https://platform.stability.ai/docs/api-reference .
Flow: a first frame from `POST /v2beta/stable-image/generate/core` (unless the segment has an
init image), resized and centre-cropped to 1024x576, 576x1024 or 768x768 -> multipart
`POST /v2beta/image-to-video` -> `{"id"}` saved before polling ->
`GET /v2beta/image-to-video/result/{id}` (202 while running, then the MP4 bytes), at most every
10 s in production. There is no cancel call.

`text_to_image` is also usable on its own (the still endpoint was not discontinued), e.g. as the
Runway adapter's first-frame step.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Unpack

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.diffusers import SVD_CLASS, local_models_of
from videofoundry.adapters.hosted import (
    SEGMENT_HEADER,
    HostedAdapter,
    HostedOptions,
    RetryPolicy,
    check_task_id,
    nearest_ratio,
    probe_video,
    sniff_image,
    validate_params,
)
from videofoundry.core.config import Settings
from videofoundry.core.errors import PermanentError, PromptRejected, ProviderUnavailable

log = logging.getLogger(__name__)

DEPRECATED = (
    "Stability AI discontinued its Stable Video API on 2025-07-24; "
    "set STABILITY_ENABLE_DEPRECATED=true only for a compatible proxy"
)
VIDEO_SIZES = {"16:9": (1024, 576), "9:16": (576, 1024), "1:1": (768, 768)}
CORE_ASPECTS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
PRICE_VIDEO = 0.20
"""20 credits per successful generation [C]."""
PRICE_STILL = 0.03
"""Core still, 3 credits [C]."""
NOMINAL_SECONDS = 4.0
"""SVD clips are about 2-4 s [U]; used to express the flat price per second."""


def error_reason(body: Any) -> str | None:
    """`{"id", "name", "errors": [...]}` -> `name: error; error`."""
    if not isinstance(body, dict):
        return None
    name = body.get("name")
    errors = body.get("errors")
    texts = [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
    if texts:
        joined = "; ".join(texts[:5])
        return f"{name}: {joined}" if isinstance(name, str) else joined
    return name if isinstance(name, str) else None


def fit_image(data: bytes, width: int, height: int) -> bytes:
    """Resize to cover (width, height) and centre-crop to exactly that size; PNG bytes."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PromptRejected(f"the first frame is not a readable image ({exc})") from None
    fitted = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, format="PNG")
    return out.getvalue()


class StabilityAdapter(HostedAdapter[str]):
    """Stable Video Diffusion (`stability/svd`), deprecated."""

    name = "stability"
    provider = "Stability AI"
    key_setting = "STABILITY_API_KEY"
    max_concurrent_tasks = 1
    poll_interval = 10.0
    """Stability: "poll at most once every 10 s" (faster may be rate limited)."""
    task_timeout = 20 * 60.0
    retry_policy = RetryPolicy(attempts=4, base_delay=2.0, max_delay=60.0)
    max_download_bytes = 256 * 1024 * 1024

    def __init__(
        self,
        settings: Settings,
        **options: Unpack[HostedOptions],
    ) -> None:
        super().__init__(settings, **options)

    @property
    def api_key(self) -> str:
        return self.settings.STABILITY_API_KEY

    @property
    def base_url(self) -> str:
        return self.settings.STABILITY_BASE_URL

    def error_reason(self, body: Any) -> str | None:
        return error_reason(body)

    def availability(self) -> str | None:
        reason = super().availability()
        if reason is None and not self.settings.STABILITY_ENABLE_DEPRECATED:
            reason = DEPRECATED
        if reason is not None:
            # The open weights are how Stable Video Diffusion is used today: point to them.
            local = local_models_of(self.settings, SVD_CLASS)
            if local:
                reason += f"; Stable Video Diffusion runs locally here as {', '.join(local)}"
        return reason

    # -- catalogue -------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id="stability/svd",
                label="Stable Video Diffusion (Stability AI, discontinued)",
                text_to_video=True,
                image_to_video=True,
                min_duration=1.0,
                max_duration=NOMINAL_SECONDS,
                aspect_ratios=tuple(VIDEO_SIZES),
                max_prompt_length=10000,
                price_per_second=round((PRICE_VIDEO + PRICE_STILL) / NOMINAL_SECONDS, 4),
                params_schema={
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "cfg_scale": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": 10,
                            "description": "how closely the motion sticks to the image (1.8)",
                        },
                        "motion_bucket_id": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 255,
                            "description": "more is more motion (127)",
                        },
                        "style_preset": {
                            "type": "string",
                            "maxLength": 40,
                            "description": "first frame style, e.g. cinematic, photographic",
                        },
                    },
                },
                deprecated=DEPRECATED,
            )
        ]

    def estimate_cost(self, model: ModelInfo, duration: float, params: dict[str, Any]) -> float:
        """Flat per clip: the video plus the still (when no init image is attached)."""
        return PRICE_VIDEO + PRICE_STILL

    # -- the still -------------------------------------------------------------------------

    async def text_to_image(
        self,
        prompt: str,
        width: int,
        height: int,
        seed: int,
        *,
        negative_prompt: str | None = None,
        style_preset: str | None = None,
        segment: str | None = None,
    ) -> bytes:
        """A PNG of exactly `width`x`height` from Stable Image Core (3 credits).

        Core answers about 1.5 MP at a fixed aspect ratio; the nearest one is asked for, then
        the image is resized and centre-cropped. Matches the Runway adapter's `TextToImage`.
        """
        if not self.api_key:
            raise PermanentError("STABILITY_API_KEY is not set")
        prompt = prompt.strip()
        if not 1 <= len(prompt) <= 10000:
            raise PromptRejected("Stability needs a prompt of 1 to 10000 characters")
        fields = {
            "prompt": prompt,
            "aspect_ratio": nearest_ratio(width, height, CORE_ASPECTS),
            "seed": str(seed % 4294967295),
            "output_format": "png",
        }
        if negative_prompt:
            fields["negative_prompt"] = negative_prompt
        if style_preset:
            fields["style_preset"] = style_preset
        headers = {"Accept": "image/*"}
        if segment:
            headers[SEGMENT_HEADER] = segment
        reply = await self.http.request(
            "POST",
            "/v2beta/stable-image/generate/core",
            # The API takes multipart/form-data only; httpx sends multipart when `files` is
            # given, so each field goes as a part without a filename.
            files={name: (None, value.encode()) for name, value in fields.items()},
            headers=headers,
            idempotent=False,
            ok=(200,),
        )
        if sniff_image(reply.content) is None:
            raise ProviderUnavailable("Stability AI sent a still that is not an image")
        return fit_image(reply.content, width, height)

    # -- generation ------------------------------------------------------------------------

    async def _generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        if request.model != "stability/svd":
            raise PromptRejected(f"unknown Stability model {request.model!r}; use stability/svd")
        validate_params(self.models()[0].params_schema, request.params, request.model)
        dest = context.workdir / "stability.mp4"
        generation_id: str | None = None
        if request.provider_task_id:
            generation_id = check_task_id(request.provider_task_id, self.provider)
            state = await self._result(generation_id, dest, context, missing_ok=True)
            if state == "missing":
                # Results are kept 24 h; an expired or unknown id cannot be fetched again.
                await context.progress(0.0, "the stored Stability result expired; restarting")
                generation_id = None
            elif state != "running":
                return await self._done(generation_id, dest, context, state)
        if generation_id is None:
            generation_id = await self._create(request, context)
            await context.save_task_id(generation_id)
        task_id = generation_id

        async def fetch() -> str:
            return await self._result(task_id, dest, context)

        reason = await self.poll(
            fetch, lambda state: state != "running", task_id=task_id, context=context
        )
        return await self._done(task_id, dest, context, reason)

    async def _create(self, request: GenerationRequest, context: GenerationContext) -> str:
        params = request.params
        aspect = nearest_ratio(request.output.width, request.output.height, VIDEO_SIZES)
        width, height = VIDEO_SIZES[aspect]
        if request.init_image is not None:
            image = fit_image(request.init_image, width, height)
        else:
            await context.progress(0.0, "making the first frame from the prompt")
            image = await self.text_to_image(
                request.prompt,
                width,
                height,
                request.seed,
                negative_prompt=request.negative_prompt,
                style_preset=params.get("style_preset"),
                segment=request.segment_render_id,
            )
        fields = {
            "seed": str(request.seed % 4294967295),
            "cfg_scale": str(params.get("cfg_scale", 1.8)),
            "motion_bucket_id": str(params.get("motion_bucket_id", 127)),
        }
        data = await self.http.request_json(
            "POST",
            "/v2beta/image-to-video",
            data=fields,
            files={"image": ("frame.png", image, "image/png")},
            headers={SEGMENT_HEADER: request.segment_render_id},
            idempotent=False,
            ok=(200,),
        )
        return check_task_id(data.get("id"), self.provider)

    async def _result(
        self,
        generation_id: str,
        dest: Path,
        context: GenerationContext,
        *,
        missing_ok: bool = False,
    ) -> str:
        """One poll: the finish reason once the video is on disk, else "running" or "missing"."""
        reply = await self.http.request(
            "GET",
            f"/v2beta/image-to-video/result/{generation_id}",
            headers={"Accept": "video/*"},
            ok=(200, 202, 404) if missing_ok else (200, 202),
            sink=dest,
            sink_max_bytes=self.max_download_bytes,
        )
        if reply.status == 404:
            return "missing"
        if reply.status == 202:
            await context.progress(0.5, "generating at Stability AI")
            return "running"
        return str(reply.headers.get("finish-reason", "SUCCESS")).upper()

    async def _done(
        self, generation_id: str, dest: Path, context: GenerationContext, reason: str
    ) -> GenerationResult:
        await probe_video(dest, self.provider)
        if reason == "CONTENT_FILTERED":
            # Stability still returns the clip, with the offending frames blurred.
            await context.progress(
                1.0, "Stability AI blurred frames its content filter flagged (CONTENT_FILTERED)"
            )
        else:
            await context.progress(1.0, None)
        return GenerationResult(path=dest, provider_task_id=generation_id)

    async def cancel(self, provider_task_id: str) -> None:
        """Stability has no cancel call; the generation finishes (and is billed) anyway."""
        log.info("Stability AI has no cancel call; generation %s runs to its end", provider_task_id)
