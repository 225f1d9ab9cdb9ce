"""A model that costs nothing: it hands back a copy of one clip made before the clock starts
(path in `VF_BENCH_CLIP`, in the bench project's format), so a render measures only the
product's own overhead (claims, checks, storage, events, composition)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
)
from videofoundry.adapters.procedural import MODEL, ProceduralAdapter

CLIP_ENV = "VF_BENCH_CLIP"


class ZeroCostAdapter(ProceduralAdapter):
    name = "zero"

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(**{**MODEL.__dict__, "id": "zero", "label": "Zero-cost (bench)"})]

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        target = context.workdir / "zero.mp4"
        shutil.copy(Path(os.environ[CLIP_ENV]), target)
        return GenerationResult(path=target)
