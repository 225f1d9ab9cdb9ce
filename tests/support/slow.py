"""A slow procedural model for the web UI's browser tests: `slow` takes about four seconds and
reports its progress as it goes, so a test can watch a render while segments generate.

Loaded by frontend/playwright.config.ts with EXTRA_ADAPTERS=tests.support.slow:SlowProcedural.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.procedural import MODEL, ProceduralAdapter

STEPS = 20
STEP_SECONDS = 0.2


class SlowProcedural(ProceduralAdapter):
    name = "slow"

    def models(self) -> list[ModelInfo]:
        return [replace(MODEL, id="slow", label="Slow test model", price_per_second=0.0)]

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        for step in range(STEPS):
            await asyncio.sleep(STEP_SECONDS)
            await context.progress((step + 1) / (STEPS + 1), None)
        return await super().generate(request, context)
