"""A model whose provider echoes the API key in its failure texts, as some do.

Loaded with EXTRA_ADAPTERS=tests.security.leaky:LeakyModel; model id `leaky`. The first
attempt of a segment fails transiently, the second for good, both quoting the key."""

from __future__ import annotations

from dataclasses import replace

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.procedural import MODEL, ProceduralAdapter
from videofoundry.core.errors import PermanentError, TaskFailed

_failed_once: set[str] = set()


class LeakyModel(ProceduralAdapter):
    name = "leaky"

    def models(self) -> list[ModelInfo]:
        return [replace(MODEL, id="leaky", label="Leaky test model")]

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        key = self.settings.RUNWAY_API_KEY
        if request.segment_render_id not in _failed_once:
            _failed_once.add(request.segment_render_id)
            raise TaskFailed(f"task failed: upstream rejected Authorization: Bearer {key}")
        raise PermanentError(f"invalid credentials {key} for https://x.test/v1?key={key}")
