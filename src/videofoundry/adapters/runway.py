"""Runway developer API adapter (image-to-video and text-to-video).

Protocol: docs/providers.md section 1; Runway's own pages:
https://docs.dev.runwayml.com/api , https://docs.dev.runwayml.com/api-details/errors ,
https://docs.dev.runwayml.com/errors/task-failures/ , https://docs.dev.runwayml.com/usage/tiers ,
and the SDK (GitHub runwayml/sdk-python) for the task object.

Flow: `POST /v1/image_to_video` or `/v1/text_to_video` -> `{"id"}` -> the id is saved through
`context.save_task_id` before the first `GET /v1/tasks/{id}` -> poll (>= 5 s in production) ->
download `output[0]` (a signed URL; if it has expired, GET the task once more for a fresh one).
A cancel is `DELETE /v1/tasks/{id}`.

`gen4_turbo` (the default) is image-to-video only: a text-only segment gets its first frame from
the `text_to_image` hook when one is configured, else a clear error. The catalogue lists only
models the SDK's create parameters list (`gen3a_turbo` and `veo3` were dropped there);
tests/contract compares it with the SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Unpack

from pydantic import BaseModel, ConfigDict

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    ModelInfo,
)
from videofoundry.adapters.hosted import (
    SEGMENT_HEADER,
    HostedAdapter,
    HostedOptions,
    RetryPolicy,
    TaskView,
    check_task_id,
    image_data_uri,
    nearest_ratio,
    parse_model,
    pick_duration,
    validate_params,
)
from videofoundry.core.config import Settings
from videofoundry.core.errors import (
    Cancelled,
    GenerationError,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
    TaskFailed,
)

log = logging.getLogger(__name__)

API_VERSION = "2024-11-06"
USD_PER_CREDIT = 0.01
MAX_PROMPT_UTF16 = 1000

TextToImage = Callable[[str, int, int, int], Awaitable[bytes]]
"""`(prompt, width, height, seed) -> PNG/JPEG bytes`: makes a first frame for image-only models."""

GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
RATIO_NAMES = {
    "1280:720": "16:9",
    "1920:1080": "16:9",
    "720:1280": "9:16",
    "1080:1920": "9:16",
    "1104:832": "4:3",
    "832:1104": "3:4",
    "960:960": "1:1",
    "1584:672": "21:9",
}


@dataclass(frozen=True)
class RunwayModel:
    name: str
    label: str
    i2v_ratios: tuple[str, ...]
    t2v_ratios: tuple[str, ...]
    """Empty for image-to-video-only models."""
    durations: tuple[int, ...]
    prompt_required: bool
    credits_per_second: float
    """Upper bound when the price depends on options (Veo audio)."""
    credits_per_second_silent: float | None = None
    moderation: bool = False
    audio: bool = False
    deprecated: str | None = None

    @property
    def text_to_video(self) -> bool:
        return bool(self.t2v_ratios)

    @property
    def discrete_durations(self) -> bool:
        return self.durations != tuple(range(self.durations[0], self.durations[-1] + 1))


# Prices: 1 credit = $0.01 [C]; per-model credits/s from providers.md ("Price and output").
MODELS: dict[str, RunwayModel] = {
    m.name: m
    for m in (
        RunwayModel(
            "gen4_turbo",
            "Runway Gen-4 Turbo (image to video)",
            GEN4_RATIOS,
            (),
            tuple(range(2, 11)),
            prompt_required=False,
            credits_per_second=5,
            moderation=True,
        ),
        RunwayModel(
            "gen4.5",
            "Runway Gen-4.5 (text or image to video)",
            GEN4_RATIOS,
            ("1280:720", "720:1280"),
            tuple(range(2, 11)),
            prompt_required=True,
            credits_per_second=12,
            moderation=True,
        ),
        RunwayModel(
            "veo3.1",
            "Google Veo 3.1 via Runway",
            VEO_RATIOS,
            VEO_RATIOS,
            (4, 6, 8),
            prompt_required=False,
            credits_per_second=40,
            credits_per_second_silent=20,
            audio=True,
        ),
        RunwayModel(
            "veo3.1_fast",
            "Google Veo 3.1 Fast via Runway",
            VEO_RATIOS,
            VEO_RATIOS,
            (4, 6, 8),
            prompt_required=False,
            credits_per_second=15,
            credits_per_second_silent=10,
            audio=True,
        ),
    )
}
DEFAULT_MODEL = "gen4_turbo"


class _Cost(BaseModel):
    model_config = ConfigDict(extra="ignore")
    credits: float


class RunwayTask(BaseModel):
    """`GET /v1/tasks/{id}` (SDK `types/task_retrieve_response.py`); unknown members ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["PENDING", "THROTTLED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
    progress: float | None = None
    output: list[str] | None = None
    failure: str | None = None
    failureCode: str | None = None  # the provider's member name
    cost: _Cost | None = None
    """Credits charged, on SUCCEEDED/FAILED/CANCELLED tasks."""
    estimatedCost: _Cost | None = None  # the provider's member name
    """Credits expected, on create answers and PENDING/THROTTLED/RUNNING tasks."""


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


def failure_error(task_id: str, code: str | None, failure: str | None) -> GenerationError:
    """Map a FAILED task to an error by `failureCode` family (providers.md "failureCode values").

    SAFETY.* (and INPUT_PREPROCESSING.SAFETY.*) is moderation: PromptRejected with the
    provider's text verbatim. INTERNAL, INTERNAL.* (except BAD_OUTPUT), THIRD_PARTY.* and
    INPUT_PREPROCESSING.INTERNAL are transient: TaskFailed (a RetryableError telling the worker
    to start a new task; failed tasks cost nothing [T]). ASSET.* is a bad input image:
    PromptRejected. Everything else (INTERNAL.BAD_OUTPUT.*, unknown codes, no code) is a
    PermanentError carrying the text.
    """
    text = failure or "no reason given"
    parts = (code or "").split(".")
    if code and "SAFETY" in parts[:2]:
        return PromptRejected(f"Runway refused the generation ({code}): {text}")
    if code and code.startswith("ASSET."):
        return PromptRejected(f"Runway could not use the input image ({code}): {text}")
    if code and (
        code == "INTERNAL"
        or (code.startswith("INTERNAL.") and not code.startswith("INTERNAL.BAD_OUTPUT"))
        or code.startswith("THIRD_PARTY")
        or code == "INPUT_PREPROCESSING.INTERNAL"
    ):
        return TaskFailed(f"Runway task {task_id} failed ({code}): {text}")
    if code and code.startswith("INTERNAL.BAD_OUTPUT"):
        return PermanentError(
            f"Runway rejected its own output ({code}): {text}; change the input "
            "(text or logos in the image often cause this)"
        )
    label = f"{code}: {text}" if code else text
    return PermanentError(f"Runway task {task_id} failed ({label})")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class RunwayAdapter(HostedAdapter[RunwayTask]):
    """Runway (`runway/gen4_turbo` default, `gen4.5`, `veo3.1`, `veo3.1_fast`).

    Parameters (besides `HostedAdapter`'s):
        text_to_image: optional first-frame maker for text-only segments on image-only models.

    Tier 1 allows 1-2 concurrent tasks per model, so the default is 1 task at a time; raise
    `max_concurrent_tasks` with the organisation's tier. Polls every 6 s (Runway: "do not expect
    updates more often than every 5 s").
    """

    name = "runway"
    provider = "Runway"
    key_setting = "RUNWAY_API_KEY"
    max_concurrent_tasks = 1
    poll_interval = 6.0
    task_timeout = 45 * 60.0
    retry_policy = RetryPolicy(attempts=4, base_delay=2.0, max_delay=30.0, jitter=0.5)

    def __init__(
        self,
        settings: Settings,
        *,
        text_to_image: TextToImage | None = None,
        **options: Unpack[HostedOptions],
    ) -> None:
        super().__init__(settings, **options)
        self._stills: HostedAdapter[Any] | None = None
        if text_to_image is None and settings.RUNWAY_FIRST_FRAME == "stability":
            # Stability's still-image API is alive (only its video endpoint was shut down).
            from videofoundry.adapters.stability import StabilityAdapter

            stills = StabilityAdapter(settings)
            self._stills, text_to_image = stills, stills.text_to_image
        self.text_to_image = text_to_image

    async def aclose(self) -> None:
        await super().aclose()
        if self._stills is not None:
            await self._stills.aclose()

    @property
    def api_key(self) -> str:
        return self.settings.RUNWAY_API_KEY

    @property
    def base_url(self) -> str:
        return self.settings.RUNWAY_BASE_URL

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-Runway-Version": API_VERSION}

    def error_reason(self, body: Any) -> str | None:
        """`error`, plus the zod-style `issues` ("ratio: Invalid option ...") when present."""
        if not isinstance(body, dict):
            return None
        error = body.get("error")
        reason = error if isinstance(error, str) else None
        issues = body.get("issues")
        if isinstance(issues, list):
            details = []
            for issue in issues[:5]:
                if isinstance(issue, dict) and isinstance(issue.get("message"), str):
                    path = issue.get("path")
                    where = (
                        ".".join(str(p) for p in path)
                        if isinstance(path, list) and path
                        else "body"
                    )
                    details.append(f"{where}: {issue['message']}")
            if details:
                reason = f"{reason or 'invalid request'} ({'; '.join(details)})"
        return reason

    # -- catalogue -------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return [self._info(model) for model in MODELS.values()]

    def _info(self, model: RunwayModel) -> ModelInfo:
        ratios = tuple(dict.fromkeys(model.i2v_ratios + model.t2v_ratios))
        properties: dict[str, Any] = {
            "ratio": {
                "type": "string",
                "enum": list(ratios),
                "description": "Output size as Runway names it (W:H in pixels); "
                "default: the closest to the project format",
            }
        }
        if model.moderation:
            properties["public_figure_threshold"] = {
                "type": "string",
                "enum": ["auto", "low"],
                "description": "contentModeration.publicFigureThreshold",
            }
        if model.audio:
            properties["audio"] = {"type": "boolean", "description": "generate an audio track"}
        return ModelInfo(
            id=f"runway/{model.name}",
            label=model.label,
            text_to_video=model.text_to_video or self.text_to_image is not None,
            image_to_video=True,
            min_duration=float(model.durations[0]),
            max_duration=float(model.durations[-1]),
            durations=(
                tuple(float(d) for d in model.durations) if model.discrete_durations else None
            ),
            aspect_ratios=tuple(dict.fromkeys(RATIO_NAMES.get(r, r) for r in ratios)),
            max_prompt_length=MAX_PROMPT_UTF16,
            price_per_second=round(model.credits_per_second * USD_PER_CREDIT, 4),
            params_schema={
                "type": "object",
                "additionalProperties": False,
                "properties": properties,
            },
            deprecated=model.deprecated,
        )

    def estimate_cost(self, model: ModelInfo, duration: float, params: dict[str, Any]) -> float:
        """Runway bills the duration it generates (the allowed value at or above `duration`)."""
        spec = MODELS.get(model.id.removeprefix("runway/"))
        if spec is None:
            return super().estimate_cost(model, duration, params)
        credits = spec.credits_per_second
        if params.get("audio") is False and spec.credits_per_second_silent is not None:
            credits = spec.credits_per_second_silent
        seconds = pick_duration(spec.durations, duration)
        return round(credits * USD_PER_CREDIT * seconds, 4)

    def _model(self, model_id: str) -> RunwayModel:
        name = self.model_name(model_id)
        spec = MODELS.get(name)
        if spec is None:
            raise PromptRejected(
                f"unknown Runway model {name!r}; choose one of {', '.join(MODELS)}"
            )
        return spec

    # -- generation: the protocol mapping of HostedAdapter's task flow ----------------------

    async def create_task(
        self, request: GenerationRequest, context: GenerationContext
    ) -> tuple[str, RunwayTask | None]:
        model = self._model(request.model)
        validate_params(self._info(model).params_schema, request.params, request.model)
        endpoint, body = await self._build(request, model, context)
        data = await self.http.request_json(
            "POST",
            endpoint,
            json_body=body,
            headers={SEGMENT_HEADER: request.segment_render_id},
            idempotent=False,
            ok=(200, 201),
        )
        created = parse_model(_Created, data, self.provider, "create answer", self.http.redact)
        return check_task_id(created.id, self.provider), None

    async def fetch_task(self, task_id: str, *, missing_ok: bool = False) -> RunwayTask | None:
        ok = (200, 404) if missing_ok else (200,)
        reply = await self.http.request("GET", f"/v1/tasks/{task_id}", expect_json=True, ok=ok)
        if reply.status == 404:
            return None
        return parse_model(RunwayTask, reply.json(), self.provider, "task", self.http.redact)

    def resumable(self, task_id: str, task: RunwayTask) -> bool:
        # A transient failure whose id was kept anyway: this attempt starts a new task.
        return not (
            task.status == "FAILED"
            and isinstance(failure_error(task_id, task.failureCode, task.failure), TaskFailed)
        )

    def view(self, task_id: str, task: RunwayTask) -> TaskView:
        cost = _usd(task.cost)
        if task.status == "SUCCEEDED":
            if not task.output:
                missing = ProviderUnavailable(
                    f"Runway task {task_id} SUCCEEDED without an output URL"
                )
                return TaskView(True, error=missing, cost=cost)
            return TaskView(True, url=task.output[0], cost=cost)
        if task.status == "FAILED":
            error = failure_error(task_id, task.failureCode, task.failure)
            return TaskView(True, error=error, cost=cost)
        if task.status == "CANCELLED":
            cancelled = Cancelled(f"Runway task {task_id} was cancelled")
            return TaskView(True, error=cancelled, cost=cost)
        estimate = _usd(task.estimatedCost)
        if task.status == "THROTTLED":
            return TaskView(False, 0.0, "waiting for provider capacity", estimated_cost=estimate)
        if task.status == "PENDING":
            return TaskView(False, 0.0, "queued at Runway", estimated_cost=estimate)
        progress = min(1.0, max(0.0, task.progress or 0.0))
        return TaskView(False, progress, estimated_cost=estimate)

    async def _build(
        self, request: GenerationRequest, model: RunwayModel, context: GenerationContext
    ) -> tuple[str, dict[str, Any]]:
        params = request.params
        image = request.init_image
        prompt = request.prompt.strip()
        text_only = image is None and model.text_to_video
        if image is None and not model.text_to_video:
            if self.text_to_image is None:
                raise PromptRejected(
                    f"runway/{model.name} is image-to-video only: attach an init image to this "
                    "segment or pick runway/gen4.5 (text to video)"
                )
            if not prompt:
                raise PromptRejected(f"runway/{model.name} needs a prompt or an init image")
            ratio = self._ratio(model, params, request, text_only=False)
            width, height = (int(v) for v in ratio.split(":"))
            await context.progress(0.0, "making the first frame from the prompt")
            image = await self.text_to_image(prompt, width, height, request.seed)
        ratio = self._ratio(model, params, request, text_only=text_only)
        if (text_only or model.prompt_required) and not prompt:
            raise PromptRejected(f"runway/{model.name} needs a prompt")
        if _utf16_len(prompt) > MAX_PROMPT_UTF16:
            raise PromptRejected(
                f"the prompt is {_utf16_len(prompt)} UTF-16 units long; Runway accepts at most "
                f"{MAX_PROMPT_UTF16}"
            )
        body: dict[str, Any] = {
            "model": model.name,
            "ratio": ratio,
            "duration": pick_duration(model.durations, request.duration),
            "seed": request.seed % 2**32,
        }
        if prompt:
            body["promptText"] = prompt
        if image is not None:
            # Runway cannot fetch from us (and the fake is on loopback): always a data URI.
            body["promptImage"] = image_data_uri(image)
        if model.moderation and "public_figure_threshold" in params:
            body["contentModeration"] = {"publicFigureThreshold": params["public_figure_threshold"]}
        if model.audio and "audio" in params:
            body["audio"] = bool(params["audio"])
        return ("/v1/text_to_video" if text_only else "/v1/image_to_video"), body

    def _ratio(
        self,
        model: RunwayModel,
        params: dict[str, Any],
        request: GenerationRequest,
        *,
        text_only: bool,
    ) -> str:
        allowed = model.t2v_ratios if text_only else model.i2v_ratios
        wanted = params.get("ratio")
        if wanted is not None:
            if wanted not in allowed:
                mode = "text to video" if text_only else "image to video"
                raise PromptRejected(
                    f"ratio {wanted} is not available for runway/{model.name} {mode}; "
                    f"choose one of {', '.join(allowed)}"
                )
            return str(wanted)
        return nearest_ratio(request.output.width, request.output.height, allowed)

    async def cancel(self, provider_task_id: str) -> None:
        """`DELETE /v1/tasks/{id}`: cancels a running task (deletes a finished one)."""
        task_id = check_task_id(provider_task_id, self.provider)
        try:
            await self.http.request(
                "DELETE",
                f"/v1/tasks/{task_id}",
                headers={"Accept": "*/*"},
                ok=(200, 202, 204, 404),
            )
        except GenerationError as exc:
            # The user's cancel must not fail because the provider is flaky; the task then
            # finishes unseen at worst.
            log.warning("Runway cancel of %s failed: %s", task_id, exc.message)


def _usd(cost: _Cost | None) -> float | None:
    return round(cost.credits * USD_PER_CREDIT, 4) if cost is not None else None
