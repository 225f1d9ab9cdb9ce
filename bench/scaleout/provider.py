"""Hosted models of the scale-out benchmark: the real adapters' protocols against the fakes, with
the downloaded file swapped for a clip already in the project's canonical format (path in
`VF_BENCH_CLIP`), so the workers spend no CPU normalising and the fake's fixed latency is the
whole cost of a segment.

`CannedReplicate` creates with `Prefer: wait`, so the answer arrives as the task ends: the
latency is exact and nothing polls. `CannedRunway` polls every `VF_BENCH_POLL` seconds (0.1 by
default; production polls Runway every 6 s), which adds up to an interval to every segment.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from bench.pipeline.zero import CLIP_ENV
from videofoundry.adapters.base import GenerationContext, GenerationRequest, GenerationResult
from videofoundry.adapters.replicate import ReplicateAdapter
from videofoundry.adapters.runway import RunwayAdapter
from videofoundry.core.config import Settings

POLL_ENV = "VF_BENCH_POLL"


def _canned(result: GenerationResult) -> GenerationResult:
    shutil.copy(Path(os.environ[CLIP_ENV]), result.path)
    return result


class CannedReplicate(ReplicateAdapter):
    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        return _canned(await super().generate(request, context))


class CannedRunway(RunwayAdapter):
    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, poll_interval=float(os.environ.get(POLL_ENV, "0.1")), **options)

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        return _canned(await super().generate(request, context))
