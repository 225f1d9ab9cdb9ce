"""A model that charges what it estimates: procedural pixels billed at $0.10 per second, so
that what was paid for shows in the budget after the render as well as before it."""

from __future__ import annotations

from dataclasses import replace

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.procedural import MODEL, ProceduralAdapter

PRICE_PER_SECOND = 0.1


class ChargedProcedural(ProceduralAdapter):
    name = "charged"

    def models(self) -> list[ModelInfo]:
        return [replace(MODEL, id="charged", label="Charged test model", price_per_second=0.1)]

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        result = await super().generate(request, context)
        return replace(result, cost=round(PRICE_PER_SECOND * request.duration, 4))
