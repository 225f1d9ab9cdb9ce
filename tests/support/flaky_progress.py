"""The procedural adapter, flaky half way, for the job-progress tests (issue 13).

Loaded with EXTRA_ADAPTERS=tests.support.flaky_progress:FlakyProcedural (it takes the name
`procedural`). A prompt containing `[flaky]` waits for `STEPS.start`, reports 0.6 and fails with
a retryable error; the retry starts over at 0.1 (after 0.3 s), reports 0.2 a little over a
second later (so the worker saves it), sets `STEPS.retried` and waits for `STEPS.finish`.
"""

from __future__ import annotations

import asyncio

from videofoundry.adapters.base import GenerationContext, GenerationRequest, GenerationResult
from videofoundry.adapters.procedural import ProceduralAdapter
from videofoundry.core.errors import RetryableError

FIRST_TRY = 0.6
RETRY_SAVED = 0.2


class Steps:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.start, self.retried, self.finish = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.calls = 0


STEPS = Steps()


class FlakyProcedural(ProceduralAdapter):
    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        if "[flaky]" in request.prompt:
            STEPS.calls += 1
            if STEPS.calls == 1:
                await STEPS.start.wait()
                await context.progress(FIRST_TRY, "first try (test)")
                raise RetryableError("flaky half way (test)", retry_after=0.0)
            await asyncio.sleep(0.3)  # ticks closer than a quarter of a second are dropped
            await context.progress(0.1, "starting over (test)")
            # The worker saves a segment's progress at most once a second.
            await asyncio.sleep(1.1)
            await context.progress(RETRY_SAVED, "second try (test)")
            STEPS.retried.set()
            await STEPS.finish.wait()
        return await super().generate(request, context)
