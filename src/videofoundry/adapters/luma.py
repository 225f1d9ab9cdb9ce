"""Luma Dream Machine adapter (`ray-2`, `ray-flash-2`).

Protocol: docs/providers.md section 3; Luma's pages: https://docs.lumalabs.ai/docs/api ,
https://docs.lumalabs.ai/docs/errors , and the OpenAPI spec in GitHub lumalabs/lumaai-api.

Flow: `POST {base}/dream-machine/v1/generations/video` -> 201 Generation (`queued`) -> id saved
before the first poll -> `GET /generations/{id}` until `completed` (download `assets.video`) or
`failed` (`failure_reason`). A cancel is `DELETE /generations/{id}` (Luma deletes it).

An init image becomes keyframe `frame0`. Luma fetches keyframe URLs itself, so they must be
publicly reachable: with S3 storage the worker passes a presigned URL of the stored image
(`init_image_url`). With local storage there is none, and the image is sent as a `data:` URI,
which the API may refuse [U]; the refusal then surfaces verbatim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    ModelInfo,
)
from videofoundry.adapters.hosted import (
    SEGMENT_HEADER,
    HostedAdapter,
    RetryPolicy,
    TaskView,
    check_task_id,
    image_data_uri,
    nearest_ratio,
    parse_model,
    pick_duration,
    validate_params,
)
from videofoundry.core.errors import (
    GenerationError,
    PermanentError,
    PromptRejected,
)

log = logging.getLogger(__name__)

API_PATH = "/dream-machine/v1"
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
RESOLUTIONS = ("540p", "720p", "1080p")
"""4k exists but its price is not in providers.md, so it is not offered."""
DURATIONS = (5, 9)
MIN_PROMPT, MAX_PROMPT = 3, 5000

# USD per second by resolution, from the [T] price table (ray-2: 5 s at 540p $0.40, 720p $0.71,
# 1080p $1.59; 9 s at 540p $0.72, 720p $1.27).
USD_PER_SECOND = {"540p": 0.08, "720p": 0.142, "1080p": 0.318}

# Failure reasons Luma documents for submitted generations that are the user's to fix.
_REJECTIONS = (
    "blacklisted",
    "moderation",
    "failed to read user input frames",
    "prompt processing failed",
)


@dataclass(frozen=True)
class LumaModel:
    name: str
    label: str


# ray-flash-2's price is not in providers.md: ray-2's list price [T] serves as an upper bound.
MODELS = {
    m.name: m
    for m in (LumaModel("ray-2", "Luma Ray 2"), LumaModel("ray-flash-2", "Luma Ray Flash 2"))
}


class _Assets(BaseModel):
    model_config = ConfigDict(extra="ignore")
    video: str | None = None


class Generation(BaseModel):
    """Luma's Generation object (`types/generation.py` in lumaai-python); extras ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    state: Literal["queued", "dreaming", "completed", "failed"]
    failure_reason: str | None = None
    assets: _Assets | None = None


def failure_error(generation_id: str, reason: str | None) -> GenerationError:
    text = reason or "no reason given"
    if any(marker in text.lower() for marker in _REJECTIONS):
        return PromptRejected(f"Luma refused the generation: {text}")
    return PermanentError(f"Luma generation {generation_id} failed: {text}")


class LumaAdapter(HostedAdapter[Generation]):
    """Luma Dream Machine (`luma/ray-2`, `luma/ray-flash-2`)."""

    name = "luma"
    provider = "Luma"
    key_setting = "LUMA_API_KEY"
    # Luma's concurrency limits are not documented [U]: one at a time unless configured.
    max_concurrent_tasks = 1
    poll_interval = 5.0
    task_timeout = 45 * 60.0
    retry_policy = RetryPolicy(attempts=4, base_delay=2.0, max_delay=30.0)

    @property
    def api_key(self) -> str:
        return self.settings.LUMA_API_KEY

    @property
    def base_url(self) -> str:
        """LUMA_BASE_URL is the host (`https://api.lumalabs.ai`); a value that already ends in
        `/dream-machine/v1` is taken as is."""
        base = self.settings.LUMA_BASE_URL.rstrip("/")
        return base if urlsplit(base).path.endswith(API_PATH) else base + API_PATH

    # -- catalogue -------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return [self._info(model) for model in MODELS.values()]

    def _info(self, model: LumaModel) -> ModelInfo:
        return ModelInfo(
            id=f"luma/{model.name}",
            label=model.label,
            text_to_video=True,
            image_to_video=True,
            min_duration=float(DURATIONS[0]),
            max_duration=float(DURATIONS[-1]),
            durations=tuple(float(d) for d in DURATIONS),
            aspect_ratios=ASPECT_RATIOS,
            max_prompt_length=MAX_PROMPT,
            price_per_second=USD_PER_SECOND["720p"],
            params_schema={
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "resolution": {
                        "type": "string",
                        "enum": list(RESOLUTIONS),
                        "description": "default: from the project height (at most 1080p)",
                    },
                    "aspect_ratio": {
                        "type": "string",
                        "enum": list(ASPECT_RATIOS),
                        "description": "default: the closest to the project format",
                    },
                    "loop": {"type": "boolean", "description": "make the clip loop seamlessly"},
                },
            },
        )

    def estimate_cost(self, model: ModelInfo, duration: float, params: dict[str, Any]) -> float:
        resolution = params.get("resolution", "720p")
        rate = USD_PER_SECOND.get(str(resolution), USD_PER_SECOND["720p"])
        return round(rate * pick_duration(DURATIONS, duration), 4)

    # -- generation ------------------------------------------------------------------------

    async def create_task(
        self, request: GenerationRequest, context: GenerationContext
    ) -> tuple[str, Generation | None]:
        name = self.model_name(request.model)
        model = MODELS.get(name)
        if model is None:
            raise PromptRejected(f"unknown Luma model {name!r}; choose one of {', '.join(MODELS)}")
        validate_params(self._info(model).params_schema, request.params, request.model)
        created = await self.http.request_json(
            "POST",
            "/generations/video",
            json_body=await self._body(request, model),
            headers={SEGMENT_HEADER: request.segment_render_id},
            idempotent=False,
            ok=(200, 201),
        )
        first = parse_model(Generation, created, self.provider, "generation", self.redact)
        return check_task_id(first.id, self.provider), first

    async def fetch_task(self, task_id: str, *, missing_ok: bool = False) -> Generation | None:
        ok = (200, 404) if missing_ok else (200,)
        reply = await self.http.request("GET", f"/generations/{task_id}", expect_json=True, ok=ok)
        if reply.status == 404:
            return None
        return parse_model(Generation, reply.json(), self.provider, "generation", self.redact)

    def view(self, task_id: str, task: Generation) -> TaskView:
        if task.state == "queued":
            return TaskView(False, 0.0, "queued at Luma")
        if task.state == "dreaming":
            return TaskView(False, 0.5, "generating at Luma")
        if task.state == "failed":
            return TaskView(True, error=failure_error(task_id, task.failure_reason))
        return TaskView(True, url=task.assets.video if task.assets is not None else None)

    async def _body(self, request: GenerationRequest, model: LumaModel) -> dict[str, Any]:
        params = request.params
        prompt = request.prompt.strip()
        if request.init_image is None and not prompt:
            raise PromptRejected("Luma needs a prompt or an init image")
        if prompt and not MIN_PROMPT <= len(prompt) <= MAX_PROMPT:
            raise PromptRejected(
                f"Luma accepts prompts of {MIN_PROMPT} to {MAX_PROMPT} characters "
                f"(this one has {len(prompt)})"
            )
        height = request.output.height
        resolution = params.get("resolution") or (
            "540p" if height <= 540 else "720p" if height <= 720 else "1080p"
        )
        body: dict[str, Any] = {
            "model": model.name,
            "aspect_ratio": params.get("aspect_ratio")
            or nearest_ratio(request.output.width, request.output.height, ASPECT_RATIOS),
            "resolution": resolution,
            "duration": f"{pick_duration(DURATIONS, request.duration)}s",
            "loop": bool(params.get("loop", False)),
        }
        if prompt:
            body["prompt"] = prompt
        if request.init_image is not None:
            url = request.init_image_url or image_data_uri(request.init_image)
            body["keyframes"] = {"frame0": {"type": "image", "url": url}}
        return body

    async def cancel(self, provider_task_id: str) -> None:
        """`DELETE /generations/{id}` (204); a missing generation is already gone."""
        generation_id = check_task_id(provider_task_id, self.provider)
        try:
            await self.http.request(
                "DELETE", f"/generations/{generation_id}", ok=(200, 202, 204, 404)
            )
        except GenerationError as exc:
            log.warning("Luma cancel of %s failed: %s", generation_id, exc.message)
