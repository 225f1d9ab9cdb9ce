"""A model that costs nothing: it returns one pre-made canonical clip, so a render measures only
the product's own overhead (claims, storage, events, composition)."""

from __future__ import annotations

import shutil
from pathlib import Path

from videofoundry.workers.ai_worker.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.workers.ai_worker.adapters.procedural import MODEL, ProceduralAdapter

_cache: dict[tuple[int, int, int, float], Path] = {}


class ZeroCostAdapter(ProceduralAdapter):
    name = "zero"

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(**{**MODEL.__dict__, "id": "zero", "label": "Zero-cost (bench)"})]

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        out = request.output
        key = (out.width, out.height, out.fps, request.duration)
        if key not in _cache:
            made = await super().generate(request, context)
            keep = Path(shutil.copy(made.path, made.path.parent.parent / f"zero-{hash(key)}.mp4"))
            _cache[key] = keep
        target = context.workdir / "zero.mp4"
        shutil.copy(_cache[key], target)
        return GenerationResult(path=target)
