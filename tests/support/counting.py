"""The procedural adapter with a ledger, for tests that count generations from the adapter's
side rather than trusting the API.

Loaded in test processes with EXTRA_ADAPTERS=tests.support.counting:CountingProcedural; it takes
the name `procedural`, replacing the built-in one. Environment:
    VF_TEST_LEDGER          file; every *finished* generation appends one JSON line
    VF_TEST_GENERATE_DELAY  seconds added to each generation, to open a window for kill tests
Prompts containing `[reject]` fail as moderation would; `[flaky]` fails transiently once per
segment render; `[busy]` fails transiently every time (a hint of 10 ms); `[quota]` fails with a
hint of a day, as a daily quota does. `calls` counts every call per segment render (in-process).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
)
from videofoundry.adapters.procedural import ProceduralAdapter
from videofoundry.core.errors import PromptRejected, ProviderUnavailable

_flaked: set[str] = set()
calls: Counter[str] = Counter()


class CountingProcedural(ProceduralAdapter):
    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        calls[request.segment_render_id] += 1
        if "[busy]" in request.prompt:
            raise ProviderUnavailable("provider busy (test)", retry_after=0.01)
        if "[quota]" in request.prompt:
            raise ProviderUnavailable("daily quota reached (test)", retry_after=86400)
        if "[reject]" in request.prompt:
            raise PromptRejected("the prompt was rejected by moderation (test)")
        if "[flaky]" in request.prompt and request.segment_render_id not in _flaked:
            _flaked.add(request.segment_render_id)
            raise ProviderUnavailable("provider overloaded (test)", retry_after=0.1)
        delay = float(os.environ.get("VF_TEST_GENERATE_DELAY", "0"))
        for step in range(10):
            if delay:
                await asyncio.sleep(delay / 10)
                await context.progress(step / 20, None)
        result = await super().generate(request, context)
        ledger = os.environ.get("VF_TEST_LEDGER")
        if ledger:
            entry = {
                "spec_hash": request.spec_hash,
                "row": request.segment_render_id,
                "init_image_url": request.init_image_url,
            }
            with open(ledger, "a") as f:
                f.write(json.dumps({**entry, "pid": os.getpid()}) + "\n")
        return result


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
