"""The interface every model adapter implements.

An adapter turns one segment spec into one video file. It declares what its models can do
(`ModelInfo`), validates params through a JSON schema, estimates cost, and generates. Adapters
are found through the entry-point group `videofoundry.adapters` (see `registry.py`), so a
third-party package adds a model by declaring::

    [project.entry-points."videofoundry.adapters"]
    mymodel = "my_package.adapter:MyAdapter"

The worker owns everything around `generate`: leases, retries, normalisation to the project's
canonical format, storage and events. An adapter only talks to its model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from videofoundry.core.config import Settings
from videofoundry.media.format import OutputFormat

MAX_TRIES_PER_PAID_CALL = 12
"""Cap on the tries of one paid provider call across every layer that repeats it: the HTTP
retries inside one `generate` (`Adapter.call_attempts`) times the `generate` calls the worker
makes for one segment render, counted across queue deliveries. The worker stops a segment after
`Adapter.max_generation_attempts()` calls; docs/providers.md ("Retry layers") has the numbers."""


@dataclass(frozen=True)
class ModelInfo:
    """What one model can do, as listed in the catalogue (`GET /api/models`)."""

    id: str
    """Full model id used in a segment's `model` field, e.g. `runway/gen4_turbo`."""
    label: str
    text_to_video: bool = True
    image_to_video: bool = False
    min_duration: float = 1.0
    max_duration: float = 30.0
    durations: tuple[float, ...] | None = None
    """Allowed durations when the model only takes a few discrete values."""
    aspect_ratios: tuple[str, ...] | None = None
    max_prompt_length: int = 2000
    price_per_second: float = 0.0
    """USD per second of generated video."""
    params_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    """JSON schema of the model's `params`; the web UI builds its form from it."""
    deprecated: str | None = None
    """Why the model should no longer be used, if so."""
    unpriced: bool = False
    """The cost of a clip cannot be known in advance (a paid model outside the adapter's price
    list): only accounts without a spending cap may generate with it."""


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines the pixels of one clip (the inputs of its spec_hash)."""

    segment_render_id: str
    spec_hash: str
    model: str
    """Full model id, e.g. `procedural` or `runway/gen4_turbo`."""
    prompt: str
    duration: float
    seed: int
    output: OutputFormat
    negative_prompt: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    init_image: bytes | None = None
    init_image_url: str | None = None
    """A time-limited URL of `init_image` that a provider can fetch itself (a presigned S3 URL);
    None when the storage has none (local files)."""
    provider_task_id: str | None = None
    """Set when a previous attempt already created a provider task: resume it, never re-create."""


ProgressFn = Callable[[float, str | None], Awaitable[None]]
TaskIdFn = Callable[[str], Awaitable[None]]


@dataclass
class GenerationContext:
    """What the worker lends an adapter for one generation.

    Parameters:
        workdir: an empty private directory; write the result file here.
        progress: report a fraction in 0..1 and an optional human message
            (for example "waiting for provider capacity").
        save_task_id: must be awaited with the provider's task id *before* the first poll;
            it commits the id so a restarted worker resumes instead of paying again.
        is_cancelled: true once the user cancelled the job; stop and raise `Cancelled`.
    """

    workdir: Path
    progress: ProgressFn
    save_task_id: TaskIdFn
    is_cancelled: Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class GenerationResult:
    path: Path
    """The generated clip, in whatever format the model produced; the worker normalises it."""
    provider_task_id: str | None = None
    cost: float | None = None
    """Actual cost in USD when the provider reports it; otherwise the estimate is recorded."""
    estimated_cost: float | None = None
    """The provider's own estimate in USD (Runway's `estimatedCost`), when it gives one: closer
    than the catalogue's price when the actual cost is missing."""


class Adapter(ABC):
    """Base class of model adapters.

    Raises (from `generate`):
        RetryableError / ProviderUnavailable: transient, the worker retries with backoff.
        PromptRejected: moderation or validation by the provider; shown verbatim, not retried.
        InvalidMedia: the provider returned something that is not a usable video.
        Cancelled: `context.is_cancelled()` became true.
    """

    name: ClassVar[str]
    """Adapter id: the part of a model id before the first `/` (or the whole id)."""

    concurrency: int | None = 1
    """Generations one worker process runs at once with this adapter (provider politeness, GPU
    memory); None for no limit of its own. The registry enforces it across the worker's tasks
    (`Registry.generate`); `PROVIDER_CONCURRENCY` overrides it per adapter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def call_attempts(self) -> int:
        """Tries of the paid call one `generate` may make by itself (its HTTP retries)."""
        return 1

    def max_generation_attempts(self) -> int:
        """`generate` calls the worker may make for one segment render, all deliveries counted,
        so that the tries of one paid call stay within `MAX_TRIES_PER_PAID_CALL`."""
        return max(1, MAX_TRIES_PER_PAID_CALL // max(1, self.call_attempts))

    def model_info(self, model_id: str) -> ModelInfo | None:
        """The model for an id `models()` does not list (open-ended adapters such as
        `replicate/<owner>/<name>`); None when the id is not one of this adapter's."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release clients and pools (worker shutdown, tests)."""

    def availability(self) -> str | None:
        """None when usable; otherwise the reason, e.g. "RUNWAY_API_KEY is not set"."""
        return None

    @abstractmethod
    def models(self) -> list[ModelInfo]:
        """The models this adapter offers."""

    def estimate_cost(self, model: ModelInfo, duration: float, params: dict[str, Any]) -> float:
        """USD for one clip of `duration` seconds."""
        return round(model.price_per_second * duration, 4)

    @abstractmethod
    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        """Generate one clip into `context.workdir`."""

    async def cancel(self, provider_task_id: str) -> None:  # noqa: B027 - optional hook
        """Forward a cancel to the provider, where it has such a call."""
