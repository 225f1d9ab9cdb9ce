"""Finds adapters through the `videofoundry.adapters` entry-point group.

Built-in and third-party adapters register the same way. `EXTRA_ADAPTERS` (comma-separated
`module:Class`) adds adapters without packaging, which tests and experiments use. An adapter
that fails to import is listed as unavailable with the reason instead of breaking the product.

The registry also holds each adapter's concurrency slots: `generate` runs at most
`adapter.concurrency` generations of one adapter at once (or `PROVIDER_CONCURRENCY[name]`),
however many tasks the worker runs.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from videofoundry.adapters.base import (
    Adapter,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.params import params_problem
from videofoundry.core.config import Settings
from videofoundry.core.errors import InvalidInput

log = logging.getLogger(__name__)
GROUP = "videofoundry.adapters"


@dataclass(frozen=True)
class CatalogueEntry:
    adapter: str
    model: ModelInfo
    unavailable_reason: str | None


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.adapters: dict[str, Adapter] = {}
        self.broken: dict[str, str] = {}
        for name, target in _discover(settings.EXTRA_ADAPTERS):
            try:
                cls = _load(target)
                adapter = cls(settings)
            except Exception as exc:  # a third-party plugin must not take the product down
                log.warning("adapter %s could not be loaded: %s", name, exc)
                self.broken[name] = f"failed to load: {exc}"
                continue
            self.adapters[cls.name] = adapter
        self._limits = {
            name: settings.PROVIDER_CONCURRENCY.get(name, adapter.concurrency)
            for name, adapter in self.adapters.items()
        }
        self._slots: dict[str, asyncio.Semaphore] = {}

    def concurrency(self, adapter: Adapter) -> int | None:
        """Generations of `adapter` this process runs at once (None: no limit of its own)."""
        return self._limits.get(adapter.name, adapter.concurrency)

    async def generate(
        self, adapter: Adapter, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        """`adapter.generate` within the adapter's concurrency slots, shared by every task of
        this process; a task that has to wait says so on its segment."""
        limit = self.concurrency(adapter)
        if limit is None:
            return await adapter.generate(request, context)
        slots = self._slots.get(adapter.name)
        if slots is None:
            # Created on first use, inside the running loop.
            slots = self._slots[adapter.name] = asyncio.Semaphore(max(1, limit))
        if slots.locked():
            await context.progress(0.0, f"waiting for a free {adapter.name} slot")
        async with slots:
            return await adapter.generate(request, context)

    async def aclose(self) -> None:
        """Close adapters' clients."""
        for adapter in self.adapters.values():
            await adapter.aclose()

    def catalogue(self) -> list[CatalogueEntry]:
        entries: list[CatalogueEntry] = []
        for name, adapter in sorted(self.adapters.items()):
            reason = adapter.availability()
            for model in adapter.models():
                entries.append(CatalogueEntry(name, model, reason))
        return entries

    def resolve(self, model_id: str) -> tuple[Adapter, ModelInfo]:
        """The adapter and model for a segment's `model`. Raises InvalidInput naming it."""
        adapter_name = model_id.split("/", 1)[0]
        adapter = self.adapters.get(adapter_name)
        if adapter is None:
            if adapter_name in self.broken:
                raise InvalidInput(
                    f"model {model_id!r}: adapter {adapter_name!r} {self.broken[adapter_name]}",
                    "model",
                )
            known = ", ".join(sorted(self.adapters))
            raise InvalidInput(f"unknown model {model_id!r}; adapters: {known}", "model")
        for model in adapter.models():
            if model.id == model_id:
                return adapter, model
        # Open-ended adapters (e.g. replicate/<owner>/<name>) accept ids they do not list.
        info = adapter.model_info(model_id)
        if info is not None:
            return adapter, info
        listed = ", ".join(m.id for m in adapter.models())
        raise InvalidInput(f"unknown model {model_id!r}; {adapter_name} offers: {listed}", "model")

    def validate_segment(
        self, model_id: str, prompt: str, duration: float, params: dict[str, Any]
    ) -> ModelInfo:
        """Check a segment against its model's limits and params schema (422 naming the field)."""
        _, model = self.resolve(model_id)
        if len(prompt) > model.max_prompt_length:
            raise InvalidInput(
                f"prompt is {len(prompt)} characters; {model_id} accepts at most "
                f"{model.max_prompt_length}",
                "prompt",
            )
        if model.durations is not None:
            if not any(abs(duration - d) < 1e-6 for d in model.durations):
                allowed = ", ".join(f"{d:g}" for d in model.durations)
                raise InvalidInput(
                    f"duration {duration:g} s is not offered by {model_id}; choose one of "
                    f"{allowed}",
                    "duration",
                )
        elif not model.min_duration <= duration <= model.max_duration:
            raise InvalidInput(
                f"duration must be between {model.min_duration:g} and {model.max_duration:g} "
                f"seconds for {model_id}, got {duration:g}",
                "duration",
            )
        problem = params_problem(model.params_schema, params)
        if problem is not None:
            field, message = problem
            raise InvalidInput(f"{field}: {message}", field)
        return model


def _discover(extra: str) -> list[tuple[str, str]]:
    found = [(ep.name, ep.value) for ep in entry_points(group=GROUP)]
    found += [(t.split(":")[-1], t.strip()) for t in extra.split(",") if t.strip()]
    return found


def _load(target: str) -> type[Adapter]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError(f"{target} is not an Adapter subclass")
    if not isinstance(getattr(cls, "name", None), str):
        raise TypeError(f"{target} sets no `name` (the model id prefix)")
    return cls
