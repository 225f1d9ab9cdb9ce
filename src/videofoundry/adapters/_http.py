"""Shared HTTP plumbing of the hosted adapters (Runway, Luma, Replicate, Stability).

Protocol facts live in docs/providers.md; this module holds what every provider has in common,
so each adapter module keeps only its protocol mapping:

- `ProviderHTTP`: one `httpx.AsyncClient` per adapter instance with timeouts, bounded retries of
  429 / 5xx / connection errors (exponential backoff with up to 50 % jitter, as Runway's docs ask:
  https://docs.dev.runwayml.com/api-details/errors), `Retry-After` and `retry-after-ms` honoured,
  and every other 4xx mapped to a non-retried error naming the provider's reason verbatim.
- Result downloads streamed to disk with a size cap, URL checks (API10/SSRF in reliability.md)
  and a PyAV decode check, because provider answers are untrusted input.
- `poll_until`: the poll loop with a floor on the interval, a deadline and cancellation.
- `HostedAdapter`: availability from the key setting and a per-instance concurrency limit.

Secrets: the API key is sent only in the `Authorization` header of calls to the configured base
URL, never to result URLs, and every message built here passes through `Redactor`, so a provider
that echoes the key back cannot leak it into errors, logs or events.

Errors raised (see core/errors.py):
    ProviderUnavailable  retries exhausted, a Retry-After too long to wait in-process, malformed
                         or unexpected JSON, connection failures, a task past its deadline
    ExpiredURL           (a ProviderUnavailable) a result URL answered 403/404/410
    PromptRejected       a non-retried 4xx: validation, moderation, out of credits
    PermanentError       401 (bad key) and 404 (unknown task or model)
    InvalidMedia         a download past the size cap or a file PyAV cannot decode
    Cancelled            the user cancelled while polling
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import ipaddress
import json
import logging
import math
import random
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from videofoundry.adapters.base import (
    Adapter,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
)
from videofoundry.core.config import Settings
from videofoundry.core.errors import (
    Cancelled,
    GenerationError,
    InvalidMedia,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

REDACTED = "[REDACTED]"
SEGMENT_HEADER = "X-VideoFoundry-Segment"
"""Opaque SegmentRender id sent on paid creates; providers ignore unknown headers, and the fakes
record it in their ledger so tests can count creates per segment."""

Sleep = Callable[[float], Awaitable[None]]
FileParts = Mapping[str, tuple[str | None, bytes] | tuple[str | None, bytes, str]]
"""Multipart parts: `name -> (filename or None, content[, content type])`."""
_RNG = random.Random()


class ExpiredURL(ProviderUnavailable):
    """A result URL answered 403/404/410: signed URLs expire; a fresh GET of the task renews them
    (Runway), so the caller may ask once more."""


# --------------------------------------------------------------------------------------------
# Retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Parameters:
        attempts: total tries of one call (first one included).
        base_delay: delay before the first retry when the provider gives no hint.
        max_delay: cap of the computed backoff.
        jitter: up to this fraction added at random (0.5 = up to 50 %, per Runway's docs).
        max_retry_after: a `Retry-After` longer than this is not slept in-process: the call fails
            with `ProviderUnavailable(retry_after=...)` and the worker requeues the segment (a
            daily quota 429 would otherwise hold a worker slot for hours).
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry_number` (0 = first retry)."""
        draw = (rng or _RNG).random()
        delay = min(self.max_delay, self.base_delay * (2.0**retry_number))
        return delay * (1.0 + self.jitter * draw)

    def honour(self, retry_after: float, rng: random.Random | None = None) -> float:
        """Delay for a provider hint: never shorter than the hint, a little jitter above it so
        many workers told the same value do not come back in lockstep."""
        return retry_after * (1.0 + 0.1 * (rng or _RNG).random())


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (Runway SDK) or `Retry-After` (seconds or HTTP date).

    Returns None when absent or unparsable; never negative.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return max(0.0, value) if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# Secrets


class Redactor:
    """Removes secrets from any text before it reaches an error, a log line or an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Very short values would blank out ordinary words; real keys are long.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Replies and untrusted JSON


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, read completely (or streamed to `path` when a sink was given)."""

    status: int
    headers: httpx.Headers
    content: bytes
    provider: str
    redact: Redactor
    path: Path | None = None

    def json(self) -> Any:
        """The body as JSON; a clear `ProviderUnavailable` when it is not JSON."""
        try:
            return json.loads(self.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            text = self.content.decode("utf-8", "replace")
            raise ProviderUnavailable(
                f"{self.provider} sent malformed JSON (HTTP {self.status}): "
                f"{self.redact(_snippet(text, 120))!r}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ProviderUnavailable(
                f"{self.provider} sent a JSON {type(data).__name__} where an object was expected"
            )
        return data


def parse_model(
    model: type[M], data: Any, provider: str, what: str, redact: Callable[[str], str]
) -> M:
    """Validate an untrusted provider document against a pydantic model.

    Raises ProviderUnavailable naming the first offending fields (values redacted).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_input=False)[:3]
        )
        raise ProviderUnavailable(
            redact(f"{provider} sent an unexpected {what}: {problems}")
        ) from None


ReasonFn = Callable[[Any], str | None]


def default_reason(body: Any) -> str | None:
    """Common error members: `error`, `detail`, `message`, `title`."""
    if isinstance(body, dict):
        for key in ("error", "detail", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None


# --------------------------------------------------------------------------------------------
# URL safety for result downloads


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_result_url(url: Any, provider: str, *, allow_local: bool) -> str:
    """Refuse result URLs that could point the worker at something it must not fetch.

    A provider answer is untrusted (OWASP API10): only https on a domain or a public IP, at most
    2048 characters. `allow_local` (set when the adapter's own base URL is loopback, i.e. it
    talks to a fake or a local proxy) also admits http and loopback/private hosts.
    DNS is not resolved here; a name resolving to a private address is not caught.
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise ProviderUnavailable(f"{provider} sent an unusable result URL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ProviderUnavailable(f"{provider} sent a result URL with scheme {parts.scheme!r}")
    if allow_local:
        return url
    if parts.scheme != "https":
        raise ProviderUnavailable(f"{provider} sent a non-https result URL")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise ProviderUnavailable(f"{provider} sent a result URL on a local host") from None
        return url
    if not address.is_global:
        raise ProviderUnavailable(f"{provider} sent a result URL on a non-public address")
    return url


# --------------------------------------------------------------------------------------------
# The client


DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MAX_REDIRECTS = 3
MAX_REPLY_BYTES = 32 * 1024 * 1024
"""Cap of any in-memory answer (JSON, error pages): a hostile or broken server cannot OOM us."""


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
        self.allow_local_results = _is_loopback_host(urlsplit(self.base_url).hostname or "")
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
            )
            # Result URLs live on CDNs: no auth header ever goes there; redirects are followed
            # by `download` itself so every hop is checked like the first URL.
            self._media = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                follow_redirects=False,
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

    def error_for(self, reply: Reply, method: str, path: str) -> GenerationError:
        """Map a non-retried answer to an error whose message names the provider's reason."""
        try:
            body: Any = json.loads(reply.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            body = None
        reason = self.reason(body) if body is not None else None
        if not reason:
            text = reply.content.decode("utf-8", "replace").strip()
            reason = _snippet(text) if text else httpx.codes.get_reason_phrase(reply.status)
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
        """One API call with retries; returns the first answer whose status is in `ok`.

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
        policy = self.retry
        last_hint: float | None = None
        last_problem = ""
        for attempt in range(policy.attempts):
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
                last_problem = self.redact(f"{type(exc).__name__}: {exc}")
                before_send = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                if not (idempotent or before_send):
                    raise ProviderUnavailable(
                        f"{self.provider}: {method} {path} failed after the request was sent "
                        f"({last_problem}); not resent to avoid a second paid task"
                    ) from None
                last_hint = None
            else:
                if reply.status in ok_set:
                    if expect_json and reply.path is None:
                        try:
                            reply.json()
                        except ProviderUnavailable as exc:
                            if not idempotent:
                                raise
                            last_problem = exc.message
                            last_hint = None
                            if attempt + 1 < policy.attempts:
                                await self._pause(attempt, None, method, path, last_problem)
                            continue
                    return reply
                if reply.status == 429 or reply.status >= 500:
                    last_hint = parse_retry_after(reply.headers)
                    body = self.error_for(reply, method, path).message
                    last_problem = f"HTTP {reply.status}: {body}"
                    if last_hint is not None and last_hint > policy.max_retry_after:
                        raise ProviderUnavailable(
                            f"{self.provider} asked to wait {last_hint:.0f} s ({last_problem})",
                            retry_after=last_hint,
                        )
                else:
                    raise self.error_for(reply, method, path)
            if attempt + 1 < policy.attempts:
                await self._pause(attempt, last_hint, method, path, last_problem)
        raise ProviderUnavailable(
            f"{self.provider}: {method} {path} still failing after {policy.attempts} attempts "
            f"({last_problem})",
            retry_after=last_hint,
        )

    async def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request` expecting a JSON object."""
        reply = await self.request(method, path, expect_json=True, **kwargs)
        return reply.json_object()

    async def _pause(
        self, attempt: int, hint: float | None, method: str, path: str, problem: str
    ) -> None:
        delay = (
            self.retry.honour(hint, self._rng)
            if hint is not None
            else self.retry.backoff(attempt, self._rng)
        )
        log.warning(
            "%s: %s %s failed (%s); retry %d/%d in %.2f s",
            self.provider,
            method,
            path,
            problem,
            attempt + 1,
            self.retry.attempts - 1,
            delay,
        )
        await self.sleep(delay)

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

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> Path:
        """Stream a result URL to `dest` with a size cap; retries like an idempotent GET.

        The URL comes from the provider and is checked first (`check_result_url`), and again
        at every redirect hop (at most `MAX_REDIRECTS`); no API headers are sent (signed CDN
        URLs need none, and the key must not travel to another host). 403/404/410 raise
        `ExpiredURL`; a file PyAV cannot decode raises InvalidMedia.
        """
        url = check_result_url(url, self.provider, allow_local=self.allow_local_results)
        shown = self.redact(urlsplit(url).path[-60:])
        policy = self.retry
        last_problem = ""
        last_hint: float | None = None
        attempt = hops = 0
        while attempt < policy.attempts:
            _, media = self._clients()
            try:
                reply = await self._send(
                    media, "GET", url, sink=dest, sink_max_bytes=max_bytes, ok=frozenset({200})
                )
            except httpx.RequestError as exc:
                # Covers a body cut short (RemoteProtocolError) and timeouts: fetch again.
                last_problem = self.redact(f"{type(exc).__name__}: {exc}")
                last_hint = None
            else:
                if reply.status == 200:
                    await probe_video(dest, self.provider)
                    return dest
                if reply.status in (301, 302, 303, 307, 308):
                    hops += 1
                    location = reply.headers.get("location")
                    if not location or hops > MAX_REDIRECTS:
                        raise ProviderUnavailable(
                            f"{self.provider} result URL redirected too often or nowhere"
                        )
                    url = check_result_url(
                        urljoin(url, location), self.provider, allow_local=self.allow_local_results
                    )
                    continue
                if reply.status in (403, 404, 410):
                    raise ExpiredURL(
                        f"{self.provider} result URL answered HTTP {reply.status} "
                        f"(expired or removed): …{shown}"
                    )
                if reply.status == 429 or reply.status >= 500:
                    last_hint = parse_retry_after(reply.headers)
                    last_problem = f"HTTP {reply.status}"
                else:
                    raise InvalidMedia(
                        f"{self.provider} result URL answered HTTP {reply.status}: …{shown}"
                    )
            attempt += 1
            if attempt < policy.attempts:
                await self._pause(attempt - 1, last_hint, "GET", f"…{shown}", last_problem)
        raise ProviderUnavailable(
            f"{self.provider}: download of the result failed after {policy.attempts} attempts "
            f"({last_problem})",
            retry_after=last_hint,
        )


# --------------------------------------------------------------------------------------------
# Media helpers


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


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff_image(data: bytes) -> str | None:
    """MIME type of a PNG, JPEG or WebP image from its magic bytes."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_data_uri(data: bytes, *, max_encoded_bytes: int = 5 * 1024 * 1024) -> str:
    """A `data:image/...;base64,` URI of an init image, re-encoded when needed.

    PNG/JPEG/WebP pass through when small enough (Runway: data URIs under 5 MiB encoded, no
    GIF); anything else Pillow can read becomes PNG, and an oversized image becomes a JPEG,
    shrunk until it fits.
    """
    mime = sniff_image(data)
    if mime is not None and _encoded_len(data, mime) < max_encoded_bytes:
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    from PIL import Image, UnidentifiedImageError

    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PromptRejected(f"the init image is not a readable image ({exc})") from None
    image: Image.Image = opened.convert("RGB") if opened.mode not in ("RGB", "L") else opened
    if mime is None:
        out = io.BytesIO()
        image.save(out, format="PNG")
        if _encoded_len(out.getvalue(), "image/png") < max_encoded_bytes:
            return f"data:image/png;base64,{base64.b64encode(out.getvalue()).decode('ascii')}"
    quality = 90
    while True:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        encoded = out.getvalue()
        if _encoded_len(encoded, "image/jpeg") < max_encoded_bytes:
            return f"data:image/jpeg;base64,{base64.b64encode(encoded).decode('ascii')}"
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))
        quality = max(70, quality - 5)


def _encoded_len(data: bytes, mime: str) -> int:
    return len(f"data:{mime};base64,") + 4 * math.ceil(len(data) / 3)


def pick_duration(allowed: Iterable[int], requested: float) -> int:
    """The shortest allowed duration covering `requested` (the worker trims), else the longest."""
    choices = sorted(allowed)
    for value in choices:
        if value >= requested - 1e-6:
            return value
    return choices[-1]


def validate_params(schema: dict[str, Any], params: dict[str, Any], model_id: str) -> None:
    """Check a segment's params against the model's schema; PromptRejected names the field.

    The API validates first (422); this guards params stored before a schema changed.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path)
        field_name = f"params.{where}" if where else "params"
        raise PromptRejected(f"{model_id}: {field_name}: {error.message}")


def nearest_ratio(width: int, height: int, choices: Iterable[str], sep: str = ":") -> str:
    """The `W:H` choice whose aspect is closest (in log space) to width/height."""
    target = math.log(width / height)

    def distance(choice: str) -> float:
        w, h = choice.split(sep)
        return abs(math.log(float(w) / float(h)) - target)

    return min(choices, key=distance)


# --------------------------------------------------------------------------------------------
# Polling


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    provider: str,
    task_id: str,
    interval: float,
    timeout: float,
    context: GenerationContext,
    on_cancel: Callable[[], Awaitable[None]] | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Fetch until `is_done`, no faster than `interval` (jittered upwards only).

    Checks `context.is_cancelled()` between polls: forwards the cancel through `on_cancel` and
    raises Cancelled. Past `timeout` seconds raises ProviderUnavailable: the task id is already
    stored, so the worker's retry resumes the same task rather than paying for a new one.
    """
    rng = rng or random.Random()
    started = time.monotonic()
    while True:
        state = await fetch()
        if is_done(state):
            return state
        if await context.is_cancelled():
            if on_cancel is not None:
                await on_cancel()
            raise Cancelled(f"{provider} task {task_id} cancelled")
        delay = interval * (1.0 + 0.25 * rng.random())
        if time.monotonic() - started + delay > timeout:
            raise ProviderUnavailable(
                f"{provider} task {task_id} did not finish within {timeout:.0f} s; "
                "it is still stored and a retry resumes it"
            )
        await sleep(delay)


# --------------------------------------------------------------------------------------------
# Base of hosted adapters


class HostedOptions(TypedDict, total=False):
    """Tuning every hosted adapter accepts (tests and deployments with higher tiers)."""

    max_concurrent_tasks: int | None
    poll_interval: float | None
    task_timeout: float | None
    retry: RetryPolicy | None
    transport: httpx.AsyncBaseTransport | None


class HostedAdapter(Adapter):
    """What every hosted adapter shares: key, base URL, client, concurrency slots, timings.

    Class attributes are production defaults; the constructor overrides them (tests pass a short
    `poll_interval`, a fast `retry` policy and maybe a `transport`).

    Parameters:
        settings: the product settings (key and base URL).
        max_concurrent_tasks: provider tasks this instance runs at once (default: the lowest
            paid tier of the provider, so a 50-segment render queues here instead of hitting
            429s); also exposed as `concurrency` for the worker.
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
        max_concurrent_tasks = options.get("max_concurrent_tasks")
        poll_interval = options.get("poll_interval")
        task_timeout = options.get("task_timeout")
        retry = options.get("retry")
        transport = options.get("transport")
        super().__init__(settings)
        if max_concurrent_tasks is None:
            max_concurrent_tasks = settings.PROVIDER_CONCURRENCY.get(self.name)
        if max_concurrent_tasks is not None:
            if max_concurrent_tasks < 1:
                raise ValueError("max_concurrent_tasks must be >= 1")
            self.max_concurrent_tasks = max_concurrent_tasks
        if poll_interval is not None:
            self.poll_interval = poll_interval
        if task_timeout is not None:
            self.task_timeout = task_timeout
        if retry is not None:
            self.retry_policy = retry
        self.concurrency = self.max_concurrent_tasks
        self._transport = transport
        self._slots = asyncio.Semaphore(self.max_concurrent_tasks)
        self._http: ProviderHTTP | None = None

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

    @abstractmethod
    async def _generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        """Generate while holding a concurrency slot."""

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

    async def generate(
        self, request: GenerationRequest, context: GenerationContext
    ) -> GenerationResult:
        reason = self.availability()
        if reason is not None:
            raise PermanentError(f"{request.model} is not available: {reason}")
        if self._slots.locked():
            await context.progress(0.0, f"waiting for a free {self.provider} slot")
        async with self._slots:
            return await self._generate(request, context)

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

    def model_name(self, model_id: str) -> str:
        """`runway/gen4_turbo` -> `gen4_turbo`; PromptRejected for another adapter's id."""
        prefix = f"{self.name}/"
        if not model_id.startswith(prefix) or len(model_id) == len(prefix):
            raise PromptRejected(f"{model_id!r} is not a {self.provider} model id")
        return model_id[len(prefix) :]


SAFE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_task_id(value: Any, provider: str) -> str:
    """A provider task id is put into URL paths: accept only plain, short tokens."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 128
        or not set(value) <= SAFE_ID_CHARS
        or value in (".", "..")
    ):
        raise ProviderUnavailable(f"{provider} sent an unusable task id")
    return value
