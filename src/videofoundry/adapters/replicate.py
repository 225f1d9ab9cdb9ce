"""Replicate adapter: any video model by `owner/name` or version id.

Protocol: docs/providers.md section 4; Replicate's pages:
https://replicate.com/docs/topics/predictions/create-a-prediction ,
https://replicate.com/docs/topics/predictions/rate-limits , and GitHub
replicate/replicate-python for the prediction object.

Model ids: `replicate/<owner>/<name>` (official models endpoint),
`replicate/<owner>/<name>:<version>` or `replicate/<version id>` (`POST /v1/predictions`).
The segment's params are the model's inputs, passed through; for models in the catalogue they
are validated against its schema first. The prompt goes into the model's prompt input, an init
image (as a data URI, which Replicate accepts for file inputs) into its image input.

Flow: create with `Prefer: wait=N` (the answer may already be final) -> save the id -> poll
`GET /v1/predictions/{id}` (built from our base URL: `urls.get` in the answer is not trusted
with the token) -> download `output`. A cancel is `POST /v1/predictions/{id}/cancel`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack

import httpx
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
    parse_model,
    validate_params,
)
from videofoundry.core.config import Settings
from videofoundry.core.errors import (
    Cancelled,
    GenerationError,
    InvalidMedia,
    PermanentError,
    PromptRejected,
)

log = logging.getLogger(__name__)

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_VERSION = r"[0-9a-f]{64}"
_MODEL_RE = re.compile(rf"^(?P<owner>{_NAME})/(?P<name>{_NAME})(?::(?P<version>{_VERSION}))?$")
_VERSION_RE = re.compile(rf"^{_VERSION}$")
_PROGRESS_RE = re.compile(r"(\d{1,3})%\|")
_REJECTION_RE = re.compile(r"nsfw|sensitive|safety|flagged|moderat", re.IGNORECASE)


@dataclass(frozen=True)
class ReplicateModel:
    """A catalogue entry: how the segment's fields map onto the model's inputs."""

    ref: str
    """`owner/name`."""
    label: str
    inputs: dict[str, Any]
    """JSON schema properties of the inputs a segment may set in `params`."""
    prompt_input: str = "prompt"
    image_input: str | None = None
    seed_input: str | None = None
    duration: float = 5.0
    price_per_run: float = 0.0
    text_to_video: bool = True
    aspect_ratios: tuple[str, ...] | None = None
    required: tuple[str, ...] = field(default_factory=tuple)


CATALOGUE: tuple[ReplicateModel, ...] = (
    ReplicateModel(
        ref="minimax/video-01",
        label="MiniMax Video-01 (Hailuo) via Replicate",
        inputs={
            "prompt_optimizer": {
                "type": "boolean",
                "description": "let the model rewrite the prompt",
            },
        },
        image_input="first_frame_image",
        duration=6.0,
        # About $0.50 per video [T] (providers.md); clips are about 6 s at 720p [U].
        price_per_run=0.50,
    ),
)


class Prediction(BaseModel):
    """Replicate's prediction object; unknown members ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["starting", "processing", "succeeded", "failed", "canceled"]
    output: Any = None
    error: str | None = None
    logs: str | None = None


def output_url(output: Any) -> str | None:
    """The first URL in a prediction's output: a string, a list of strings, or an object."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        for item in output:
            if isinstance(item, str):
                return item
    if isinstance(output, dict):
        for item in output.values():
            if isinstance(item, str) and item.startswith(("https://", "http://")):
                return item
    return None


def progress_of(logs: str | None) -> float | None:
    """The last tqdm percentage in the logs (Replicate's only progress signal)."""
    if not logs:
        return None
    matches = _PROGRESS_RE.findall(logs[-4000:])
    return min(100, int(matches[-1])) / 100 if matches else None


class ReplicateAdapter(HostedAdapter[Prediction]):
    """Replicate predictions (`replicate/<owner>/<name>` or a version id).

    Parameters (besides `HostedAdapter`'s):
        prefer_wait: seconds a create may hold the request open (`Prefer: wait=N`, 1..60).
        catalogue: models listed by `models()` and validated strictly.
    """

    name = "replicate"
    provider = "Replicate"
    key_setting = "REPLICATE_API_TOKEN"
    # Replicate limits requests (600 creates/min), not concurrency; one prediction at a time
    # keeps GPU spend predictable and stays under the 1 req/s limit of accounts without a card.
    max_concurrent_tasks = 1
    poll_interval = 2.0
    task_timeout = 45 * 60.0
    retry_policy = RetryPolicy(attempts=4, base_delay=2.0, max_delay=30.0)
    prefer_wait = 60

    def __init__(
        self,
        settings: Settings,
        *,
        prefer_wait: int | None = None,
        catalogue: tuple[ReplicateModel, ...] | None = None,
        **options: Unpack[HostedOptions],
    ) -> None:
        super().__init__(settings, **options)
        if prefer_wait is not None:
            if not 1 <= prefer_wait <= 60:
                raise ValueError("prefer_wait must be 1..60 seconds")
            self.prefer_wait = prefer_wait
        self.catalogue: Mapping[str, ReplicateModel] = {
            m.ref: m for m in (CATALOGUE if catalogue is None else catalogue)
        }

    @property
    def api_key(self) -> str:
        return self.settings.REPLICATE_API_TOKEN

    @property
    def base_url(self) -> str:
        return self.settings.REPLICATE_BASE_URL

    # -- catalogue -------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return [self._info(model) for model in self.catalogue.values()]

    def _info(self, model: ReplicateModel) -> ModelInfo:
        return ModelInfo(
            id=f"replicate/{model.ref}",
            label=model.label,
            text_to_video=model.text_to_video,
            image_to_video=model.image_input is not None,
            min_duration=model.duration,
            max_duration=model.duration,
            durations=(model.duration,),
            aspect_ratios=model.aspect_ratios,
            max_prompt_length=2000,
            price_per_second=round(model.price_per_run / model.duration, 4),
            params_schema={
                "type": "object",
                "additionalProperties": False,
                "properties": dict(model.inputs),
                **({"required": list(model.required)} if model.required else {}),
            },
        )

    def model_info(self, model_id: str) -> ModelInfo | None:
        """Any `replicate/<owner>/<name>[:<version>]` or `replicate/<version id>`: models outside
        the catalogue take their inputs from `params` unchecked and are estimated at $0."""
        prefix = f"{self.name}/"
        ref = model_id.removeprefix(prefix)
        if not model_id.startswith(prefix) or not (_MODEL_RE.match(ref) or _VERSION_RE.match(ref)):
            return None
        spec = self.catalogue.get(ref.split(":", 1)[0])
        if spec is not None:
            return dataclasses.replace(self._info(spec), id=model_id)
        return ModelInfo(
            id=model_id,
            label=f"{ref} via Replicate (not in the catalogue: inputs passed through)",
            text_to_video=True,
            image_to_video=True,
            min_duration=1.0,
            max_duration=30.0,
            max_prompt_length=10000,
            unpriced=True,
        )

    def estimate_cost(self, model: ModelInfo, duration: float, params: dict[str, Any]) -> float:
        spec = self.catalogue.get(model.id.removeprefix("replicate/").split(":", 1)[0])
        if spec is not None:
            return spec.price_per_run  # billed per video, whatever the length
        return super().estimate_cost(model, duration, params)

    # -- generation ------------------------------------------------------------------------

    def _target(self, model_id: str) -> tuple[str, dict[str, Any], ReplicateModel | None]:
        """(create path, body members identifying the model, catalogue entry)."""
        ref = self.model_name(model_id)
        if _VERSION_RE.match(ref):
            return "/v1/predictions", {"version": ref}, None
        match = _MODEL_RE.match(ref)
        if match is None:
            raise PromptRejected(
                f"{model_id!r} is not a Replicate model: use replicate/<owner>/<name>, "
                "replicate/<owner>/<name>:<version> or replicate/<version id>"
            )
        owner_name = f"{match['owner']}/{match['name']}"
        spec = self.catalogue.get(owner_name)
        if match["version"]:
            return "/v1/predictions", {"version": match["version"]}, spec
        return f"/v1/models/{owner_name}/predictions", {}, spec

    def _input(self, request: GenerationRequest, spec: ReplicateModel | None) -> dict[str, Any]:
        if spec is not None:
            validate_params(self._info(spec).params_schema, request.params, request.model)
        payload: dict[str, Any] = dict(request.params)
        prompt_key = spec.prompt_input if spec is not None else "prompt"
        if request.prompt.strip():
            payload.setdefault(prompt_key, request.prompt.strip())
        if spec is not None and spec.seed_input is not None:
            payload.setdefault(spec.seed_input, request.seed)
        if request.init_image is not None:
            image_key = spec.image_input if spec is not None else "image"
            if image_key is None:
                raise PromptRejected(f"{request.model} does not take an init image")
            payload.setdefault(image_key, image_data_uri(request.init_image))
        return payload

    async def create_task(
        self, request: GenerationRequest, context: GenerationContext
    ) -> tuple[str, Prediction | None]:
        path, target, spec = self._target(request.model)
        payload = self._input(request, spec)
        wait = self.prefer_wait
        data = await self.http.request_json(
            "POST",
            path,
            json_body={**target, "input": payload},
            headers={"Prefer": f"wait={wait}", SEGMENT_HEADER: request.segment_render_id},
            idempotent=False,
            ok=(200, 201),
            # The server holds the request for up to `wait` seconds before answering.
            timeout=httpx.Timeout(wait + 30.0, connect=10.0),
        )
        first = parse_model(Prediction, data, self.provider, "prediction", self.redact)
        return check_task_id(first.id, self.provider), first

    async def fetch_task(self, task_id: str, *, missing_ok: bool = False) -> Prediction | None:
        # Built from our base URL: `urls.get` in the answer is not trusted with the token.
        ok = (200, 404) if missing_ok else (200,)
        reply = await self.http.request(
            "GET", f"/v1/predictions/{task_id}", expect_json=True, ok=ok
        )
        if reply.status == 404:
            return None
        return parse_model(Prediction, reply.json(), self.provider, "prediction", self.redact)

    def view(self, task_id: str, task: Prediction) -> TaskView:
        if task.status == "starting":
            return TaskView(False, 0.0, "starting at Replicate (model may be booting)")
        if task.status == "processing":
            return TaskView(False, progress_of(task.logs) or 0.0)
        if task.status == "canceled":
            return TaskView(True, error=Cancelled(f"Replicate prediction {task_id} was canceled"))
        if task.status == "failed":
            text = task.error or "no reason given"
            if _REJECTION_RE.search(text):
                return TaskView(
                    True, error=PromptRejected(f"Replicate refused the generation: {text}")
                )
            failed = PermanentError(f"Replicate prediction {task_id} failed: {text}")
            return TaskView(True, error=failed)
        url = output_url(task.output)
        if url is None:
            missing = InvalidMedia(f"Replicate prediction {task_id} has no video URL in output")
            return TaskView(True, error=missing)
        return TaskView(True, url=url)

    async def cancel(self, provider_task_id: str) -> None:
        """`POST /v1/predictions/{id}/cancel`."""
        prediction_id = check_task_id(provider_task_id, self.provider)
        try:
            await self.http.request(
                "POST", f"/v1/predictions/{prediction_id}/cancel", idempotent=True, ok=(200, 404)
            )
        except GenerationError as exc:
            log.warning("Replicate cancel of %s failed: %s", prediction_id, exc.message)
