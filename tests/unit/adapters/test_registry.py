"""The registry: plugin loading, concurrency slots per adapter, open-ended model ids, closing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest

from videofoundry.adapters.base import (
    MAX_TRIES_PER_PAID_CALL,
    Adapter,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.hosted import RetryPolicy
from videofoundry.adapters.registry import Registry
from videofoundry.adapters.runway import RunwayAdapter
from videofoundry.core.config import Settings
from videofoundry.core.errors import InvalidInput
from videofoundry.media.format import OutputFormat

HERE = "tests.unit.adapters.test_registry"


class GatedAdapter(Adapter):
    """Holds every generation until the test opens the gate; counts how many run at once."""

    name: ClassVar[str] = "gated"
    concurrency = 2
    gate: ClassVar[asyncio.Event]
    active: ClassVar[int] = 0
    peak: ClassVar[int] = 0
    closed: ClassVar[bool] = False

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="gated/one", label="one")]

    def model_info(self, model_id: str) -> ModelInfo | None:
        if model_id.startswith("gated/any-"):
            return ModelInfo(id=model_id, label="dynamic")
        return None

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        cls = GatedAdapter  # shared counters, also for the subclass
        cls.active += 1
        cls.peak = max(cls.peak, cls.active)
        await cls.gate.wait()
        cls.active -= 1
        return GenerationResult(path=context.workdir)

    async def aclose(self) -> None:
        GatedAdapter.closed = True


class UnlimitedAdapter(GatedAdapter):
    name: ClassVar[str] = "unlimited"
    concurrency = None


class NamelessAdapter(Adapter):
    def models(self) -> list[ModelInfo]:
        return []

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _reset() -> None:
    GatedAdapter.gate = asyncio.Event()
    GatedAdapter.active = GatedAdapter.peak = 0
    GatedAdapter.closed = False


def registry(**settings: Any) -> Registry:
    extra = f"{HERE}:GatedAdapter,{HERE}:UnlimitedAdapter"
    return Registry(Settings(EXTRA_ADAPTERS=extra, **settings))


def recorder(tmp_path: Path, messages: list[str | None]) -> GenerationContext:
    async def progress(fraction: float, message: str | None) -> None:
        messages.append(message)

    async def save(task_id: str) -> None:
        return None

    async def is_cancelled() -> bool:
        return False

    return GenerationContext(tmp_path, progress, save, is_cancelled)


async def run_six(reg: Registry, name: str, tmp_path: Path) -> tuple[int, list[str | None]]:
    adapter = reg.adapters[name]
    messages: list[str | None] = []
    request = GenerationRequest("s", "h", f"{name}/one", "p", 1.0, 1, OutputFormat())
    tasks = [
        asyncio.create_task(reg.generate(adapter, request, recorder(tmp_path, messages)))
        for _ in range(6)
    ]
    # Let every task run up to where it blocks (the gate or a slot); no clock involved.
    for _ in range(20):
        await asyncio.sleep(0)
    GatedAdapter.gate.set()
    await asyncio.gather(*tasks)
    return GatedAdapter.peak, messages


async def test_concurrency_is_enforced_per_adapter_across_tasks(tmp_path: Path) -> None:
    peak, messages = await run_six(registry(), "gated", tmp_path)
    assert peak == 2
    assert messages.count("waiting for a free gated slot") == 4


async def test_provider_concurrency_setting_overrides_the_adapter(tmp_path: Path) -> None:
    reg = registry(PROVIDER_CONCURRENCY={"gated": 3})
    assert reg.concurrency(reg.adapters["gated"]) == 3
    peak, _ = await run_six(reg, "gated", tmp_path)
    assert peak == 3


async def test_an_adapter_without_a_limit_is_not_held_back(tmp_path: Path) -> None:
    peak, messages = await run_six(registry(), "unlimited", tmp_path)
    assert peak == 6
    assert messages == []


def test_hosted_adapters_default_to_the_lowest_tier_and_take_the_setting() -> None:
    reg = registry(RUNWAY_API_KEY="k" * 10, PROVIDER_CONCURRENCY={"runway": 4})
    assert RunwayAdapter(Settings()).concurrency == 1
    assert reg.concurrency(reg.adapters["runway"]) == 4
    assert reg.concurrency(reg.adapters["procedural"]) is None


def test_open_ended_ids_resolve_through_model_info() -> None:
    reg = registry()
    adapter, model = reg.resolve("gated/any-thing")
    assert adapter is reg.adapters["gated"]
    assert model.label == "dynamic"
    with pytest.raises(InvalidInput, match="gated offers: gated/one"):
        reg.resolve("gated/other")


def test_a_plugin_without_a_name_is_listed_as_broken() -> None:
    reg = Registry(Settings(EXTRA_ADAPTERS=f"{HERE}:NamelessAdapter"))
    assert "sets no `name`" in reg.broken["NamelessAdapter"]


async def test_aclose_reaches_every_adapter() -> None:
    reg = registry()
    await reg.aclose()
    assert GatedAdapter.closed


def test_generation_attempts_keep_a_paid_call_under_the_cap() -> None:
    runway = RunwayAdapter(Settings(), retry=RetryPolicy(attempts=4))
    assert runway.call_attempts == 4
    assert runway.max_generation_attempts() == MAX_TRIES_PER_PAID_CALL // 4
    assert runway.call_attempts * runway.max_generation_attempts() <= MAX_TRIES_PER_PAID_CALL
    assert GatedAdapter(Settings()).max_generation_attempts() == MAX_TRIES_PER_PAID_CALL


def test_any_replicate_model_resolves() -> None:
    reg = Registry(Settings())
    adapter, model = reg.resolve("replicate/someone/some-video-model")
    assert adapter is reg.adapters["replicate"]
    assert model.id == "replicate/someone/some-video-model"
    assert adapter.estimate_cost(model, 5, {}) == 0
    version = "b" * 64
    _, pinned = reg.resolve(f"replicate/minimax/video-01:{version}")
    assert pinned.params_schema["additionalProperties"] is False  # the catalogue's schema
    assert adapter.estimate_cost(pinned, 6, {}) == 0.5
    assert reg.resolve(f"replicate/{version}")[1].id == f"replicate/{version}"
    with pytest.raises(InvalidInput, match="unknown model"):
        reg.resolve("replicate/not a model")
