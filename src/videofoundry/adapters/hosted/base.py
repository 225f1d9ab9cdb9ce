"""`HostedAdapter`: what every hosted adapter shares, and the one create-save-poll-download flow.

A provider task goes through the same steps at Runway, Luma and Replicate; a subclass supplies
only the protocol mapping:

- `create_task`: the paid create; returns the task id and, when the answer is already a task
  (Luma, Replicate), that first state, so no extra GET is spent.
- `fetch_task`: one GET of the task (None when the provider no longer has it).
- `view`: reads a task answer as a `TaskView` (finished?, progress, error, result URL, cost).
- `cancel`: forwards a user's cancel.

The flow resumes a stored task id instead of paying again, commits a new id through
`context.save_task_id` before the first poll, polls no faster than `poll_interval`, forwards a
cancel, and downloads the result, fetching the task once more when a signed URL has expired.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar, Unpack

import httpx

from videofoundry.adapters.base import (
    Adapter,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
)
from videofoundry.adapters.hosted.polling import TaskView, poll_until
from videofoundry.adapters.hosted.replies import default_reason
from videofoundry.adapters.hosted.retry import RetryPolicy
from videofoundry.adapters.hosted.transport import ExpiredURL, ProviderHTTP
from videofoundry.adapters.hosted.urls import check_task_id
from videofoundry.core.config import Settings
from videofoundry.core.errors import PermanentError, PromptRejected, ProviderUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Task = TypeVar("Task")


class HostedOptions(TypedDict, total=False):
    """Tuning every hosted adapter accepts (tests and deployments with higher tiers)."""

    max_concurrent_tasks: int | None
    poll_interval: float | None
    task_timeout: float | None
    retry: RetryPolicy | None
    transport: httpx.AsyncBaseTransport | None


class HostedAdapter(Adapter, Generic[Task]):
    """Key, base URL, HTTP client, timings and the task flow of a hosted provider.

    Class attributes are production defaults; the constructor overrides them (tests pass a short
    `poll_interval`, a fast `retry` policy and maybe a `transport`).

    Parameters:
        settings: the product settings (key and base URL).
        max_concurrent_tasks: provider tasks one worker process runs at once (default: the
            lowest paid tier of the provider, so a 50-segment render queues instead of hitting
            429s); becomes `concurrency`, which the registry enforces.
        poll_interval: seconds between polls (production floor per provider).
        task_timeout: seconds one task may take before the attempt gives up (task kept).
        retry: retry policy of every call.
        transport: httpx transport override (tests).
    """

    provider: str = ""
    """Display name in messages."""
    key_setting: str = ""
    """Name of the setting holding the key, shown when it is missing."""
    max_concurrent_tasks: int = 1
    poll_interval: float = 6.0
    task_timeout: float = 30 * 60.0
    max_download_bytes: int = 512 * 1024 * 1024
    retry_policy: RetryPolicy = RetryPolicy()

    def __init__(self, settings: Settings, **options: Unpack[HostedOptions]) -> None:
        super().__init__(settings)
        max_concurrent_tasks = options.get("max_concurrent_tasks")
        if max_concurrent_tasks is None:
            max_concurrent_tasks = settings.PROVIDER_CONCURRENCY.get(self.name)
        if max_concurrent_tasks is not None:
            if max_concurrent_tasks < 1:
                raise ValueError("max_concurrent_tasks must be >= 1")
            self.max_concurrent_tasks = max_concurrent_tasks
        poll_interval, task_timeout = options.get("poll_interval"), options.get("task_timeout")
        if poll_interval is not None:
            self.poll_interval = poll_interval
        if task_timeout is not None:
            self.task_timeout = task_timeout
        self.retry_policy = options.get("retry") or self.retry_policy
        self.concurrency = self.max_concurrent_tasks
        self._transport = options.get("transport")
        self._http: ProviderHTTP | None = None

    @property
    def call_attempts(self) -> int:
        return self.retry_policy.attempts

    # -- to implement ----------------------------------------------------------------------

    @property
    @abstractmethod
    def api_key(self) -> str:
        """The key from settings ("" when unset)."""

    @property
    @abstractmethod
    def base_url(self) -> str:
        """The API root from settings."""

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def error_reason(self, body: Any) -> str | None:
        return default_reason(body)

    async def create_task(
        self, request: GenerationRequest, context: GenerationContext
    ) -> tuple[str, Task | None]:
        """Start the paid task; its id (checked) and the first state when the answer has one."""
        raise NotImplementedError

    async def fetch_task(self, task_id: str, *, missing_ok: bool = False) -> Task | None:
        """One GET of the task; None only with `missing_ok` when the provider has no such task."""
        raise NotImplementedError

    def view(self, task_id: str, task: Task) -> TaskView:
        """Read one task answer."""
        raise NotImplementedError

    def resumable(self, task_id: str, task: Task) -> bool:
        """Whether a stored task is worth following again (Runway: not a transient failure)."""
        return True

    # -- shared ----------------------------------------------------------------------------

    def availability(self) -> str | None:
        if not self.api_key:
            return f"{self.key_setting} is not set"
        return None

    @property
    def http(self) -> ProviderHTTP:
        if self._http is None:
            self._http = ProviderHTTP(
                provider=self.provider,
                base_url=self.base_url,
                headers={**self.auth_headers(), "Accept": "application/json"},
                secrets=[self.api_key],
                reason=self.error_reason,
                retry=self.retry_policy,
                transport=self._transport,
            )
        return self._http

    def redact(self, text: str) -> str:
        return self.http.redact(text)

    async def aclose(self) -> None:
        """Close the HTTP clients (tests and worker shutdown)."""
        if self._http is not None:
            await self._http.aclose()

    def model_name(self, model_id: str) -> str:
        """`runway/gen4_turbo` -> `gen4_turbo`; PromptRejected for another adapter's id."""
        prefix = f"{self.name}/"
        if not model_id.startswith(prefix) or len(model_id) == len(prefix):
            raise PromptRejected(f"{model_id!r} is not a {self.provider} model id")
        return model_id[len(prefix) :]

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        reason = self.availability()
        if reason is not None:
            raise PermanentError(f"{request.model} is not available: {reason}")
        return await self._generate(request, context)

    async def _generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        """Resume or create the task, then follow it to a clip (override for other shapes)."""
        task_id: str | None = None
        first: Task | None = None
        if request.provider_task_id:
            task_id = check_task_id(request.provider_task_id, self.provider)
            first = await self.fetch_task(task_id, missing_ok=True)
            if first is None:
                # A deleted or purged task cannot be fetched again: its output is gone too.
                await context.progress(
                    0.0, f"the stored {self.provider} task no longer exists; restarting"
                )
                task_id = None
            elif not self.resumable(task_id, first):
                task_id, first = None, None
        if task_id is None:
            task_id, first = await self.create_task(request, context)
            await context.save_task_id(task_id)
        return await self.follow(task_id, first, context)

    async def follow(
        self, task_id: str, first: Task | None, context: GenerationContext
    ) -> GenerationResult:
        """Poll a stored task to its end, report progress, download the clip."""
        last: tuple[float, str | None] | None = None
        pending = first
        estimate: float | None = None

        async def fetch() -> TaskView:
            nonlocal last, pending, estimate
            task = pending if pending is not None else await self._fetch_existing(task_id)
            pending = None
            view = self.view(task_id, task)
            if view.estimated_cost is not None:
                estimate = view.estimated_cost
            if not view.finished and (view.progress, view.message) != last:
                last = (view.progress, view.message)
                await context.progress(*last)
            return view

        async def forward_cancel() -> None:
            await self.cancel(task_id)

        view = await self.poll(
            fetch, lambda v: v.finished, task_id=task_id, context=context, on_cancel=forward_cancel
        )
        url = self._result_url(task_id, view)

        async def refresh() -> str:
            fresh = self.view(task_id, await self._fetch_existing(task_id))
            return self._result_url(task_id, fresh)

        dest = context.workdir / f"{self.name}-{task_id}.mp4"
        dest = await self.download_result(url, dest, refresh)
        await context.progress(1.0, None)
        return GenerationResult(
            path=dest, provider_task_id=task_id, cost=view.cost, estimated_cost=estimate
        )

    async def _fetch_existing(self, task_id: str) -> Task:
        task = await self.fetch_task(task_id)
        if task is None:  # only with missing_ok; kept for the type checker
            raise ProviderUnavailable(f"{self.provider} task {task_id} vanished while followed")
        return task

    def _result_url(self, task_id: str, view: TaskView) -> str:
        if view.error is not None:
            raise view.error
        if not view.finished or not view.url:
            raise ProviderUnavailable(f"{self.provider} task {task_id} finished without a video")
        return view.url

    async def poll(
        self,
        fetch: Callable[[], Awaitable[T]],
        is_done: Callable[[T], bool],
        *,
        task_id: str,
        context: GenerationContext,
        on_cancel: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        return await poll_until(
            fetch,
            is_done,
            provider=self.provider,
            task_id=task_id,
            interval=self.poll_interval,
            timeout=self.task_timeout,
            context=context,
            on_cancel=on_cancel,
            sleep=asyncio.sleep,
        )

    async def download_result(
        self,
        url: str,
        dest: Path,
        refresh: Callable[[], Awaitable[str]],
    ) -> Path:
        """Download a result URL; if it has expired (403/404/410), ask `refresh` once for a
        fresh URL (a new GET of the task) and try that."""
        try:
            return await self.http.download(url, dest, max_bytes=self.max_download_bytes)
        except ExpiredURL:
            log.info("%s result URL expired; fetching a fresh one", self.provider)
            fresh = await refresh()
            return await self.http.download(fresh, dest, max_bytes=self.max_download_bytes)
