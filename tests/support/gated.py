"""The procedural adapter with a gate, for tests that look at a render while it works.

Loaded with EXTRA_ADAPTERS=tests.support.gated:GatedProcedural (it takes the name `procedural`).
A prompt containing `[gate]` reports half progress, then waits until the test opens `GATE`;
`[reject]` fails as moderation would. Everything else renders at once.
"""

from __future__ import annotations

import asyncio

from videofoundry.adapters.base import GenerationContext, GenerationRequest, GenerationResult
from videofoundry.adapters.procedural import ProceduralAdapter
from videofoundry.core.errors import PromptRejected


class Gate:
    """Set `reached` when a gated generation is halfway; it goes on once `opened` is set."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    def reset(self) -> None:
        self.reached, self.opened = asyncio.Event(), asyncio.Event()


GATE = Gate()


class GatedProcedural(ProceduralAdapter):
    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        if "[reject]" in request.prompt:
            raise PromptRejected("the prompt was rejected by moderation (test)")
        if "[gate]" in request.prompt:
            await context.progress(0.5, "halfway (test)")
            GATE.reached.set()
            await GATE.opened.wait()
        return await super().generate(request, context)
