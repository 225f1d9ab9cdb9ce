"""The HTTP transport of the hosted adapters: one client pair per adapter, error mapping,
redaction, capped reads and result downloads.

Every call goes through the one retry policy (`retry.retrying`); this module only decides,
per try, whether a failure is worth another try (`RetryableAnswer`) or final.

Secrets: the API key is sent only in the headers of calls to the configured base URL, never to
result URLs, and every message built here passes through `Redactor`, so a provider that echoes
the key back cannot leak it into errors, logs or events.

Errors raised (see core/errors.py):
    ProviderUnavailable  retries exhausted, a Retry-After too long to wait in-process, malformed
                         or unexpected JSON, connection failures
    ExpiredURL           (a ProviderUnavailable) a result URL answered 403/404/410
    PromptRejected       a non-retried 4xx: validation, moderation, out of credits
    PermanentError       401 (bad key) and 404 (unknown task or model)
    InvalidMedia         a download past the size cap or a file PyAV cannot decode
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from videofoundry.adapters.hosted.replies import (
    ReasonFn,
    Redactor,
    Reply,
    default_reason,
    snippet,
)
from videofoundry.adapters.hosted.retry import (
    RetryableAnswer,
    RetryPolicy,
    Sleep,
    parse_retry_after,
    retrying,
)
from videofoundry.adapters.hosted.urls import (
    check_result_url,
    is_loopback_host,
    media_transport,
)
from videofoundry.core import tls
from videofoundry.core.errors import (
    GenerationError,
    InvalidMedia,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
)
from videofoundry.core.outbound import OutboundRefused

T = TypeVar("T")

SEGMENT_HEADER = "X-VideoFoundry-Segment"
"""Opaque SegmentRender id sent on paid creates; providers ignore unknown headers, and the fakes
record it in their ledger so tests can count creates per segment."""

FileParts = Mapping[str, tuple[str | None, bytes] | tuple[str | None, bytes, str]]
"""Multipart parts: `name -> (filename or None, content[, content type])`."""

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MAX_REDIRECTS = 3
MAX_REPLY_BYTES = 32 * 1024 * 1024
"""Cap of any in-memory answer (JSON, error pages): a hostile or broken server cannot OOM us."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ExpiredURL(ProviderUnavailable):
    """A result URL answered 403/404/410: signed URLs expire; a fresh GET of the task renews them
    (Runway), so the caller may ask once more."""


class ProviderHTTP:
    """Calls to one provider's API, with retries, error mapping and redaction.

    Parameters:
        provider: display name used in messages, e.g. "Runway".
        base_url: the provider's API root (a setting, so it can point at a proxy or a fake).
        headers: sent on every API call (auth, version); never on result downloads.
        secrets: strings to redact from every message (the API key).
        reason: extracts the provider's human reason from a decoded error body.
        retry, timeout: see `RetryPolicy`; `httpx.Timeout`.
        transport: for tests (`httpx.MockTransport`); None uses the network.
        sleep: injectable for tests that measure requested delays.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        secrets: Iterable[str],
        reason: ReasonFn = default_reason,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.redact = Redactor(secrets)
        self.retry = retry or RetryPolicy()
        self.reason = reason
        self.sleep = sleep
        self.max_reply_bytes = max_reply_bytes
        self.allow_local_results = is_loopback_host(urlsplit(self.base_url).hostname or "")
        self._headers = dict(headers)
        self._timeout = timeout
        self._transport = transport
        self._api: httpx.AsyncClient | None = None
        self._media: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random()

    # -- clients ---------------------------------------------------------------------------

    def _clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        loop = asyncio.get_running_loop()
        if self._api is None or self._media is None or self._loop is not loop:
            # Connection pools belong to one event loop; a new loop (tests, a restarted worker
            # loop) gets fresh clients instead of sharing sockets across loops.
            self._loop = loop
            self._api = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=self._timeout,
                transport=self._transport,
                follow_redirects=False,
                verify=tls.client_context(),
            )
            # Result URLs live on CDNs: no auth header ever goes there; redirects are followed
            # by `download` itself so every hop is checked like the first URL.
            self._media = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport or media_transport(self.allow_local_results),
                follow_redirects=False,
                trust_env=False,
                verify=tls.client_context(),
            )
        return self._api, self._media

    async def aclose(self) -> None:
        api, media = self._api, self._media
        self._api = self._media = None
        if api is not None and self._loop is asyncio.get_running_loop():
            await api.aclose()
        if media is not None and self._loop is asyncio.get_running_loop():
            await media.aclose()

    # -- errors ----------------------------------------------------------------------------
    # -- errors ----------------------------------------------------------------------------

    def error_for(self, reply: Reply, method: str, path: str) -> GenerationError:
        """Map a non-retried answer to an error whose message names the provider's reason."""
        try:
            body: Any = json.loads(reply.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            body = None
        reason = self.reason(body) if body is not None else None
        if not reason:
            text = reply.content.decode("utf-8", "replace").strip()
            reason = snippet(text) if text else httpx.codes.get_reason_phrase(reply.status)
        reason = self.redact(reason)
        status = reply.status
        if status == 401:
            return PermanentError(
                f"{self.provider} refused the API key (HTTP 401): {reason}; check the key setting"
            )
        if status == 404:
            return PermanentError(f"{self.provider}: not found (HTTP 404 on {path}): {reason}")
        if 400 <= status < 500:
            return PromptRejected(f"{self.provider} rejected the request (HTTP {status}): {reason}")
        return ProviderUnavailable(f"{self.provider} answered HTTP {status} on {path}: {reason}")

    # -- calls -----------------------------------------------------------------------------

    # -- calls -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        files: FileParts | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        expect_json: bool = False,
        ok: Iterable[int] = (200, 201, 202, 204),
        sink: Path | None = None,
        sink_max_bytes: int | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> Reply:
        """One API call under the retry policy; returns the first answer whose status is in `ok`.

        `idempotent` defaults to True for GET/HEAD/DELETE. A non-idempotent call (a paid create)
        is retried on 429/5xx (the provider answered, so nothing ran or it was shed) and on
        errors before the request left (connect); a timeout or reset *after* sending is not
        retried, because the provider may have accepted the task and a second create pays twice.

        `expect_json`: a 2xx body that is not JSON is retried like a 5xx for idempotent calls.
        `sink`: a 200 answer's body is streamed to this file (capped by `sink_max_bytes`).
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "DELETE")
        ok_set = frozenset(ok)

        async def attempt() -> Reply:
            api, _ = self._clients()
            try:
                reply = await self._send(
                    api,
                    method,
                    path,
                    json_body=json_body,
                    data=data,
                    files=files,
                    headers=headers,
                    sink=sink,
                    sink_max_bytes=sink_max_bytes,
                    ok=ok_set,
                    timeout=timeout,
                )
            except httpx.RequestError as exc:
                problem = self.redact(f"{type(exc).__name__}: {exc}")
                before_send = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                if not (idempotent or before_send):
                    raise ProviderUnavailable(
                        f"{self.provider}: {method} {path} failed after the request was sent "
                        f"({problem}); not resent to avoid a second paid task"
                    ) from None
                raise RetryableAnswer(problem) from None
            if reply.status in ok_set:
                if expect_json and reply.path is None:
                    try:
                        reply.json()
                    except ProviderUnavailable as exc:
                        if not idempotent:
                            raise
                        raise RetryableAnswer(exc.message) from None
                return reply
            if reply.status == 429 or reply.status >= 500:
                hint = parse_retry_after(reply.headers)
                problem = f"HTTP {reply.status}: {self.error_for(reply, method, path).message}"
                if hint is not None and hint > self.retry.max_retry_after:
                    raise ProviderUnavailable(
                        f"{self.provider} asked to wait {hint:.0f} s ({problem})",
                        retry_after=hint,
                    )
                raise RetryableAnswer(problem, hint)
            raise self.error_for(reply, method, path)

        return await self._retrying(attempt, f"{method} {path}")

    async def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request` expecting a JSON object."""
        reply = await self.request(method, path, expect_json=True, **kwargs)
        return reply.json_object()

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> Path:
        """Stream a result URL to `dest` with a size cap, under the retry policy like a GET.

        The URL comes from the provider and is checked first (`check_result_url`), and again
        at every redirect hop (at most `MAX_REDIRECTS`, not counted as tries); no API headers
        are sent (signed CDN URLs need none, and the key must not travel to another host).
        403/404/410 raise `ExpiredURL`; a file PyAV cannot decode raises InvalidMedia.
        """
        current = check_result_url(url, self.provider, allow_local=self.allow_local_results)
        hops = 0

        async def attempt() -> Path:
            nonlocal current, hops
            while True:
                shown = self.redact(urlsplit(current).path[-60:])
                _, media = self._clients()
                try:
                    reply = await self._send(
                        media,
                        "GET",
                        current,
                        sink=dest,
                        sink_max_bytes=max_bytes,
                        ok=frozenset({200}),
                    )
                except httpx.RequestError as exc:
                    # Covers a body cut short (RemoteProtocolError) and timeouts: fetch again.
                    raise RetryableAnswer(self.redact(f"{type(exc).__name__}: {exc}")) from None
                except OutboundRefused:
                    # The host resolved to a non-public address (checked at connect).
                    raise ProviderUnavailable(
                        f"{self.provider} sent a result URL on a non-public address"
                    ) from None
                if reply.status == 200:
                    await probe_video(dest, self.provider)
                    return dest
                if reply.status in REDIRECTS:
                    hops += 1
                    location = reply.headers.get("location")
                    if not location or hops > MAX_REDIRECTS:
                        raise ProviderUnavailable(
                            f"{self.provider} result URL redirected too often or nowhere"
                        )
                    current = check_result_url(
                        urljoin(current, location),
                        self.provider,
                        allow_local=self.allow_local_results,
                    )
                    continue
                if reply.status in (403, 404, 410):
                    raise ExpiredURL(
                        f"{self.provider} result URL answered HTTP {reply.status} "
                        f"(expired or removed): …{shown}"
                    )
                if reply.status == 429 or reply.status >= 500:
                    raise RetryableAnswer(f"HTTP {reply.status}", parse_retry_after(reply.headers))
                raise InvalidMedia(
                    f"{self.provider} result URL answered HTTP {reply.status}: …{shown}"
                )

        return await self._retrying(attempt, "download of the result")

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        return await retrying(
            attempt,
            policy=self.retry,
            provider=self.provider,
            what=what,
            sleep=self.sleep,
            rng=self._rng,
        )

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        files: FileParts | None = None,
        headers: Mapping[str, str] | None = None,
        sink: Path | None = None,
        sink_max_bytes: int | None = None,
        ok: frozenset[int] = frozenset({200}),
        timeout: httpx.Timeout | None = None,
    ) -> Reply:
        request = client.build_request(
            method,
            url,
            json=json_body,
            data=data,
            files=files,
            headers=headers,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response = await client.send(request, stream=True)
        try:
            if sink is not None and response.status_code == 200 and response.status_code in ok:
                await self._stream_to(response, sink, sink_max_bytes or self.max_reply_bytes)
                return Reply(
                    response.status_code,
                    response.headers,
                    b"",
                    self.provider,
                    self.redact,
                    path=sink,
                )
            content = await self._read_capped(response, self.max_reply_bytes)
        finally:
            await response.aclose()
        return Reply(response.status_code, response.headers, content, self.provider, self.redact)

    async def _read_capped(self, response: httpx.Response, cap: int) -> bytes:
        buffer = bytearray()
        async for chunk in response.aiter_bytes():
            buffer += chunk
            if len(buffer) > cap:
                raise ProviderUnavailable(
                    f"{self.provider} sent an answer larger than {cap} bytes (HTTP "
                    f"{response.status_code}); refused"
                )
        return bytes(buffer)

    async def _stream_to(self, response: httpx.Response, dest: Path, cap: int) -> None:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise InvalidMedia(
                f"{self.provider} result is {int(declared)} bytes, above the {cap}-byte cap"
            )
        received = 0
        try:
            with dest.open("wb") as out:
                # Decoded bytes: the cap also bounds a compressed body's expansion.
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > cap:
                        raise InvalidMedia(
                            f"{self.provider} result exceeded the {cap}-byte cap; download aborted"
                        )
                    out.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        identity = response.headers.get("content-encoding", "identity") == "identity"
        if identity and declared is not None and declared.isdigit() and received != int(declared):
            # h11 normally notices this itself; belt and braces for other transports.
            dest.unlink(missing_ok=True)
            raise httpx.RemoteProtocolError(
                f"truncated body: received {received} of {declared} bytes"
            )


async def probe_video(path: Path, provider: str) -> None:
    """Raise InvalidMedia unless PyAV finds a video stream and decodes a frame."""

    def _probe() -> str | None:
        import av  # PyAV is a core dependency; imported here to keep module import cheap

        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    return "no video stream"
                for _frame in container.decode(video=0):
                    return None
                return "no decodable frame"
        except (av.FFmpegError, OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"

    problem = await asyncio.to_thread(_probe)
    if problem is not None:
        raise InvalidMedia(f"{provider} returned a file that is not a usable video ({problem})")
