"""Unit tests of the shared hosted-adapter plumbing (`adapters/hosted/`) on httpx.MockTransport."""

from __future__ import annotations

import base64
import email.utils
import io
import ipaddress
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from videofoundry.adapters.base import (
    GenerationContext,
)
from videofoundry.adapters.hosted import (
    ExpiredURL,
    ProviderHTTP,
    Redactor,
    RetryPolicy,
    check_result_url,
    check_task_id,
    image_data_uri,
    nearest_ratio,
    parse_retry_after,
    pick_duration,
    poll_until,
    validate_params,
)
from videofoundry.core.errors import (
    Cancelled,
    InvalidMedia,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
)
from videofoundry.testing.fakes._common import make_mp4

KEY = "key_" + "c3" * 64
Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    """Records requested delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(
    handler: Handler,
    *,
    sleeps: Sleeps | None = None,
    retry: RetryPolicy | None = None,
    base_url: str = "https://api.example.com",
    max_reply_bytes: int = 1 << 20,
) -> ProviderHTTP:
    return ProviderHTTP(
        provider="Example",
        base_url=base_url,
        headers={"Authorization": f"Bearer {KEY}"},
        secrets=[KEY],
        retry=retry or RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0, jitter=0.5),
        transport=httpx.MockTransport(handler),
        sleep=sleeps or Sleeps(),
        max_reply_bytes=max_reply_bytes,
    )


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering from a script (the last answer repeats), recording requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


# -- Retry-After and backoff -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "nan", "retry-after": "2"}, 2.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers)) == expected


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    value = parse_retry_after(httpx.Headers({"retry-after": header}), now=now)
    assert value is not None
    assert 28 <= value <= 31


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.5)
    rng = random.Random(3)
    for attempt, base in enumerate([1.0, 2.0, 4.0, 8.0, 10.0, 10.0]):
        samples = [policy.backoff(attempt, rng) for _ in range(200)]
        assert min(samples) >= base
        assert max(samples) <= base * 1.5
        assert max(samples) - min(samples) > base * 0.3  # the jitter is really there


# -- request() ---------------------------------------------------------------------------------


async def test_429_is_retried_after_the_hint() -> None:
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"}),
        httpx.Response(200, json={"id": "t1"}),
    )
    sleeps = Sleeps()
    data = await client(handler, sleeps=sleeps).request_json("POST", "/v1/create", idempotent=False)
    assert data == {"id": "t1"}
    assert len(seen) == 2
    [delay] = sleeps.delays
    assert 7.0 <= delay <= 7.7


async def test_5xx_without_hint_backs_off_exponentially() -> None:
    handler, seen = scripted(
        httpx.Response(502), httpx.Response(503), httpx.Response(504), httpx.Response(200, json={})
    )
    sleeps = Sleeps()
    await client(handler, sleeps=sleeps).request_json("GET", "/v1/tasks/a")
    assert len(seen) == 4
    assert [int(d) for d in sleeps.delays] in ([1, 2, 4], [1, 2, 5], [1, 3, 4], [1, 3, 5])
    for delay, base in zip(sleeps.delays, [1, 2, 4], strict=True):
        assert base <= delay <= base * 1.5


async def test_exhausted_retries_raise_provider_unavailable_with_hint() -> None:
    handler, seen = scripted(
        httpx.Response(503, headers={"retry-after": "2"}, json={"error": "busy"})
    )
    with pytest.raises(ProviderUnavailable) as caught:
        await client(handler).request("GET", "/v1/tasks/a")
    assert len(seen) == 4
    assert caught.value.retry_after == 2.0
    assert "busy" in caught.value.message


async def test_long_retry_after_is_handed_back_without_sleeping() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"retry-after": "86400"}))
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailable) as caught:
        await client(handler, sleeps=sleeps).request("POST", "/v1/create")
    assert caught.value.retry_after == 86400
    assert sleeps.delays == []
    assert len(seen) == 1


@pytest.mark.parametrize("status", [400, 403, 409, 413, 422])
async def test_4xx_is_prompt_rejected_verbatim_and_not_retried(status: int) -> None:
    handler, seen = scripted(httpx.Response(status, json={"error": "Prompt mentions a celebrity."}))
    with pytest.raises(PromptRejected) as caught:
        await client(handler).request("POST", "/v1/create")
    assert len(seen) == 1
    assert caught.value.message.endswith("Prompt mentions a celebrity.")
    assert f"HTTP {status}" in caught.value.message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"detail": "Invalid API key"}, "Invalid API key"),
        (b"<html>gateway said no</html>", "<html>gateway said no</html>"),
        (b"", "Unauthorized"),
    ],
)
async def test_401_is_permanent_and_reads_any_body(body: Any, reason: str) -> None:
    response = (
        httpx.Response(401, json=body)
        if isinstance(body, dict)
        else httpx.Response(401, content=body)
    )
    handler, _ = scripted(response)
    with pytest.raises(PermanentError) as caught:
        await client(handler).request("GET", "/v1/tasks/a")
    assert not isinstance(caught.value, PromptRejected)
    assert reason in caught.value.message


async def test_echoed_key_is_redacted_everywhere() -> None:
    handler, _ = scripted(httpx.Response(400, json={"error": f"bad key {KEY} for Bearer {KEY}"}))
    with pytest.raises(PromptRejected) as caught:
        await client(handler).request("POST", "/v1/create")
    assert KEY not in str(caught.value)
    assert caught.value.message.count("[REDACTED]") == 2


async def test_key_is_sent_only_to_the_api(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    mp4 = make_mp4(32, 32, 3, 24)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "cdn.example.net":
            return httpx.Response(200, content=mp4)
        return httpx.Response(200, json={})

    http = client(handler)
    await http.request("GET", "/v1/tasks/a")
    await http.download("https://cdn.example.net/out.mp4", tmp_path / "out.mp4", max_bytes=1 << 20)
    api, media = seen
    assert api.headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in media.headers


async def test_connection_errors_are_retried_for_reads() -> None:
    handler, seen = scripted(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"ok": 1}),
    )
    assert await client(handler).request_json("GET", "/v1/tasks/a") == {"ok": 1}
    assert len(seen) == 3


async def test_create_is_retried_after_connect_errors_only() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(200, json={"id": "x"}))
    assert await client(handler).request_json("POST", "/v1/create") == {"id": "x"}
    assert len(seen) == 2

    handler, seen = scripted(httpx.ReadTimeout("no answer"), httpx.Response(200, json={"id": "y"}))
    with pytest.raises(ProviderUnavailable, match="not resent to avoid a second paid task"):
        await client(handler).request_json("POST", "/v1/create")
    assert len(seen) == 1


async def test_malformed_json_is_retried_for_reads_only() -> None:
    handler, seen = scripted(
        httpx.Response(200, content=b"{oops"), httpx.Response(200, json={"a": 1})
    )
    assert await client(handler).request_json("GET", "/v1/tasks/a") == {"a": 1}
    assert len(seen) == 2

    handler, seen = scripted(httpx.Response(200, content=b"<html>"), httpx.Response(200, json={}))
    with pytest.raises(ProviderUnavailable, match=r"malformed JSON \(HTTP 200\): '<html>'"):
        await client(handler).request_json("POST", "/v1/create")
    assert len(seen) == 1


async def test_json_of_the_wrong_type_is_refused() -> None:
    handler, _ = scripted(httpx.Response(200, json=["not", "an", "object"]))
    with pytest.raises(ProviderUnavailable, match="JSON list where an object"):
        await client(handler).request_json("GET", "/v1/tasks/a")


async def test_oversized_answer_is_refused() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"x" * 5000))
    with pytest.raises(ProviderUnavailable, match="larger than 1000 bytes"):
        await client(handler, max_reply_bytes=1000).request("GET", "/v1/tasks/a")


# -- download() ------------------------------------------------------------------------------


async def test_download_writes_and_checks_the_video(tmp_path: Path) -> None:
    mp4 = make_mp4(48, 32, 5, 24)
    handler, _ = scripted(httpx.Response(200, content=mp4))
    dest = tmp_path / "clip.mp4"
    await client(handler).download("https://cdn.example.net/a.mp4", dest, max_bytes=1 << 20)
    assert dest.read_bytes() == mp4


async def test_declared_length_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    handler, _ = scripted(
        httpx.Response(200, headers={"content-length": "999999"}, content=b"x" * 999999)
    )
    with pytest.raises(InvalidMedia, match="above the 1000-byte cap"):
        await client(handler).download(
            "https://cdn.example.net/a.mp4", tmp_path / "a", max_bytes=1000
        )


async def test_streamed_body_over_the_cap_is_aborted(tmp_path: Path) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"y" * 100

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())  # chunked: no content-length

    dest = tmp_path / "a.mp4"
    with pytest.raises(InvalidMedia, match="exceeded the 1000-byte cap"):
        await client(handler).download("https://cdn.example.net/a.mp4", dest, max_bytes=1000)
    assert not dest.exists()


async def test_file_that_is_not_a_video_is_invalid_media(tmp_path: Path) -> None:
    handler, _ = scripted(httpx.Response(200, content=b"<html>not a video</html>"))
    with pytest.raises(InvalidMedia, match="not a usable video"):
        await client(handler).download(
            "https://cdn.example.net/a.mp4", tmp_path / "a", max_bytes=1 << 20
        )


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_expired_url_raises_expired(tmp_path: Path, status: int) -> None:
    handler, seen = scripted(httpx.Response(status))
    with pytest.raises(ExpiredURL):
        await client(handler).download(
            "https://cdn.example.net/a.mp4", tmp_path / "a", max_bytes=100
        )
    assert len(seen) == 1


async def test_truncated_body_is_downloaded_again(tmp_path: Path) -> None:
    mp4 = make_mp4(32, 32, 3, 24)
    handler, seen = scripted(
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.Response(200, content=mp4),
    )
    await client(handler).download(
        "https://cdn.example.net/a.mp4", tmp_path / "a", max_bytes=1 << 20
    )
    assert len(seen) == 2


async def test_redirects_are_followed_and_each_hop_checked(tmp_path: Path) -> None:
    mp4 = make_mp4(32, 32, 3, 24)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a.mp4":
            return httpx.Response(302, headers={"location": "https://cdn2.example.net/b.mp4"})
        if request.url.path == "/b.mp4":
            return httpx.Response(200, content=mp4)
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest"})

    http = client(handler)
    await http.download("https://cdn.example.net/a.mp4", tmp_path / "a", max_bytes=1 << 20)
    assert (tmp_path / "a").read_bytes() == mp4
    with pytest.raises(ProviderUnavailable, match="non-https"):
        await http.download("https://cdn.example.net/evil.mp4", tmp_path / "b", max_bytes=1 << 20)


async def test_redirect_loops_end(tmp_path: Path) -> None:
    handler, seen = scripted(httpx.Response(302, headers={"location": "/again.mp4"}))
    with pytest.raises(ProviderUnavailable, match="redirected too often"):
        await client(handler).download("https://cdn.example.net/a.mp4", tmp_path / "a", max_bytes=9)
    assert len(seen) == 4


@pytest.mark.parametrize(
    ("url", "allow_local", "ok"),
    [
        ("https://cdn.example.net/a.mp4", False, True),
        ("http://cdn.example.net/a.mp4", False, False),
        ("file:///etc/passwd", False, False),
        ("https://127.0.0.1/a.mp4", False, False),
        ("https://10.0.0.8/a.mp4", False, False),
        ("https://169.254.169.254/latest/meta-data", False, False),
        ("https://[::1]/a.mp4", False, False),
        ("https://localhost/a.mp4", False, False),
        ("https://8.8.8.8/a.mp4", False, True),
        ("https://0x7f.1/a.mp4", False, False),
        ("https://2130706433/a.mp4", False, False),
        ("https://[::ffff:10.0.0.1]/a.mp4", False, False),
        ("https://user:pw@cdn.example.net/a.mp4", False, False),
        ("http://127.0.0.1:8000/a.mp4", True, True),
        ("ftp://127.0.0.1/a.mp4", True, False),
        ("https://cdn.example.net/" + "a" * 2100, False, False),
        (None, False, False),
    ],
)
def test_result_url_checks(url: Any, allow_local: bool, ok: bool) -> None:
    if ok:
        assert check_result_url(url, "X", allow_local=allow_local) == url
    else:
        with pytest.raises(ProviderUnavailable):
            check_result_url(url, "X", allow_local=allow_local)


async def test_a_name_resolving_to_a_private_address_is_refused_at_connect(
    tmp_path: Path,
) -> None:
    # This machine's own name resolves to a local address: it passes the static check (it is
    # a name) and is refused by the address guard when the download connects, before any byte.
    import socket

    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    if not addresses or any(ipaddress.ip_address(a).is_global for a in addresses):
        pytest.skip(f"{name} does not resolve to a local address here")
    http = ProviderHTTP(
        provider="Example",
        base_url="https://api.example.com",
        headers={},
        secrets=[KEY],
        retry=RetryPolicy(attempts=2, base_delay=0.0),
        sleep=Sleeps(),
    )
    url = f"https://{name}/a.mp4"
    assert check_result_url(url, "Example", allow_local=False) == url
    with pytest.raises(ProviderUnavailable, match="non-public address"):
        await http.download(url, tmp_path / "a.mp4", max_bytes=1 << 20)
    assert not (tmp_path / "a.mp4").exists()
    await http.aclose()


def test_loopback_base_url_allows_local_results() -> None:
    handler, _ = scripted(httpx.Response(200))
    assert client(handler, base_url="http://127.0.0.1:9").allow_local_results is True
    assert client(handler).allow_local_results is False


# -- polling ---------------------------------------------------------------------------------


def context(tmp_path: Path, cancelled: Callable[[], bool] = lambda: False) -> GenerationContext:
    async def progress(fraction: float, message: str | None) -> None:
        return None

    async def save(task_id: str) -> None:
        return None

    async def is_cancelled() -> bool:
        return cancelled()

    return GenerationContext(tmp_path, progress, save, is_cancelled)


async def test_poll_until_sleeps_at_least_the_interval(tmp_path: Path) -> None:
    states = iter(["a", "b", "done"])
    sleeps = Sleeps()

    async def fetch() -> str:
        return next(states)

    result = await poll_until(
        fetch,
        lambda s: s == "done",
        provider="X",
        task_id="t",
        interval=6.0,
        timeout=600,
        context=context(tmp_path),
        sleep=sleeps,
    )
    assert result == "done"
    assert len(sleeps.delays) == 2
    assert all(6.0 <= d <= 7.5 for d in sleeps.delays)


async def test_poll_until_forwards_cancel(tmp_path: Path) -> None:
    forwarded: list[bool] = []

    async def fetch() -> str:
        return "running"

    async def on_cancel() -> None:
        forwarded.append(True)

    with pytest.raises(Cancelled, match="task t cancelled"):
        await poll_until(
            fetch,
            lambda s: False,
            provider="X",
            task_id="t",
            interval=0.01,
            timeout=5,
            context=context(tmp_path, lambda: True),
            on_cancel=on_cancel,
        )
    assert forwarded == [True]


async def test_poll_until_times_out(tmp_path: Path) -> None:
    async def fetch() -> str:
        return "running"

    with pytest.raises(ProviderUnavailable, match="did not finish within"):
        await poll_until(
            fetch,
            lambda s: False,
            provider="X",
            task_id="t",
            interval=0.01,
            timeout=0.05,
            context=context(tmp_path),
        )


# -- helpers ---------------------------------------------------------------------------------


def test_redactor_ignores_short_values() -> None:
    redact = Redactor(["", "ab", KEY])
    assert redact(f"x{KEY}y ab") == "x[REDACTED]y ab"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("3f0c0e1a-aaaa-4bbb-8ccc-0123456789ab", True),
        ("ab" * 32, True),
        ("../etc", False),
        ("a/b", False),
        ("", False),
        ("x" * 129, False),
        ("..", False),
        (5, False),
    ],
)
def test_task_ids_are_safe_path_segments(value: Any, ok: bool) -> None:
    if ok:
        assert check_task_id(value, "X") == value
    else:
        with pytest.raises(ProviderUnavailable):
            check_task_id(value, "X")


def test_image_data_uri_keeps_small_images_and_converts_others() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    assert (
        image_data_uri(out.getvalue())
        == "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    )
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    assert image_data_uri(gif.getvalue()).startswith("data:image/png;base64,")
    with pytest.raises(PromptRejected, match="not a readable image"):
        image_data_uri(b"garbage")


def test_image_data_uri_shrinks_to_the_limit() -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    uri = image_data_uri(out.getvalue(), max_encoded_bytes=60_000)
    assert uri.startswith("data:image/jpeg;base64,")
    assert len(uri) < 60_000


def test_nearest_ratio_and_pick_duration() -> None:
    choices = ("1280:720", "720:1280", "960:960", "1584:672")
    assert nearest_ratio(1920, 1080, choices) == "1280:720"
    assert nearest_ratio(1080, 1350, choices) == "960:960"
    assert nearest_ratio(2560, 1080, choices) == "1584:672"
    assert pick_duration((5, 10), 5.0) == 5
    assert pick_duration((5, 10), 5.01) == 10
    assert pick_duration((4, 6, 8), 20) == 8
    assert pick_duration(range(2, 11), 0.5) == 2


def test_validate_params_names_the_field() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"ratio": {"type": "string", "enum": ["1280:720"]}},
    }
    validate_params(schema, {"ratio": "1280:720"}, "m")
    with pytest.raises(PromptRejected, match=r"m: params.ratio: '4:3' is not one of"):
        validate_params(schema, {"ratio": "4:3"}, "m")
    with pytest.raises(PromptRejected, match=r"m: params: Additional properties"):
        validate_params(schema, {"other": 1}, "m")
