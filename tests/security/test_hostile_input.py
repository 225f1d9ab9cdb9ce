"""Hostile input answers 4xx naming what is wrong, never 5xx, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import struct
import uuid
import wave
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from tests.security.conftest import instance
from tests.support.app import register

pytestmark = pytest.mark.timeout(180)
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir = tmp_path_factory.mktemp(f"hostile-{request.param}")
    async with instance(data_dir, request.param, RATE_LIMITS_ENABLED=False) as c:
        yield c


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await register(client)


def assert_4xx(answer: httpx.Response, *words: str) -> None:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    for word in words:
        assert word in answer.text, answer.text


@pytest.mark.parametrize(
    "query",
    [
        "offset=1000000000000",
        "offset=9223372036854775808",
        "offset=18446744073709551616",
        "offset=-1",
        "offset=abc",
        "offset=1e3",
        "offset=%EF%BC%91",  # a full-width digit
        "limit=0",
        "limit=101",
        "limit=99999999999999999999",
    ],
)
async def test_out_of_range_pagination(
    client: httpx.AsyncClient, auth: dict[str, str], query: str
) -> None:
    answer = await client.get(f"/api/projects?{query}", headers=auth)
    assert_4xx(answer, query.split("=")[0])


async def test_the_largest_offset_is_an_empty_page(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    answer = await client.get("/api/projects?offset=1000000000", headers=auth)
    assert answer.status_code == 200 and answer.json()["items"] == []


@pytest.mark.parametrize(
    "query",
    [
        "expires=99999999999&signature=%C3%BC",
        "expires=99999999999&signature=%F0%9F%98%80",
        "expires=99999999999&signature=" + "a" * 5000,
        "expires=99999999999&signature=",
        "expires=-1&signature=abc",
        "expires=" + "9" * 400 + "&signature=abc",
        "expires=abc&signature=abc",
        "signature=abc",
    ],
)
async def test_odd_media_link_signatures(client: httpx.AsyncClient, query: str) -> None:
    assert_4xx(await client.get(f"/api/files/{uuid.uuid4().hex}?{query}"))


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/projects", b'{"name": "x", "fps": NaN}', "fps"),
        ("/api/projects", b'{"name": "x", "width": Infinity}', "width"),
        ("/api/projects", b'{"name": "x", "height": -Infinity}', "height"),
        ("/api/projects", b'{"name": "\\ud800"}', "name"),
        ("/api/projects", b'{"name": "a\\udfffb"}', "name"),
        ("/api/projects", b'{"name": "a\\u0000b"}', "name"),
        ("/api/projects", b'{"name": "x", "\\u0000": 1}', "body"),
        ("/api/tokens", b'{"name": "ci\\u0000"}', "name"),
        ("/api/tokens", b'{"name": "\\udbff"}', "name"),
        ("/api/me", b'{"budget_usd": NaN}', "budget_usd"),
        (
            "/api/auth/register",
            b'{"email": "a\\u0000@example.com", "password": "xxxxxxxxx"}',
            "email",
        ),
        (
            "/api/auth/register",
            b'{"email": "b@example.com", "password": "\\ud800xxxxxxxx"}',
            "password",
        ),
        ("/api/projects", b"[" * 100_000 + b"]" * 100_000, "nested"),
    ],
)
async def test_unstorable_json_is_a_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, body: bytes, field: str
) -> None:
    method = "PATCH" if path == "/api/me" else "POST"
    answer = await client.request(method, path, content=body, headers={**auth, **JSON})
    assert answer.status_code == 422, answer.text
    assert field in answer.text


async def test_unstorable_text_deep_inside_a_segment(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    project = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()
    url = f"/api/projects/{project['id']}/segments"
    for body, field in [
        (b'{"prompt": "sea\\u0000", "duration": 1}', "prompt"),
        (b'{"prompt": "sea", "duration": NaN}', "duration"),
        (b'{"prompt": "sea", "duration": 1, "params": {"speed": Infinity}}', "speed"),
        (b'{"prompt": "sea", "duration": 1, "params": {"k": ["\\ud83d"]}}', "k"),
        (b'{"prompt": "sea", "duration": 1, "negative_prompt": "\\u0000"}', "negative_prompt"),
    ]:
        answer = await client.post(url, content=body, headers={**auth, **JSON})
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    emoji = b'{"prompt": "sea \\ud83c\\udf0a", "duration": 1}'  # a valid surrogate pair
    assert (await client.post(url, content=emoji, headers={**auth, **JSON})).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/%00",
        "/api/projects/abc%00def",
        "/api/segments/%00",
        "/api/render-jobs/%00",
        "/api/projects?offset=%00",
        "/api/assets/%00",
    ],
)
async def test_nul_in_urls(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> None:
    assert_4xx(await client.get(path, headers=auth))


@pytest.mark.parametrize("username", ["a\x00@example.com", "\x00", "x" * 5000, "ü@ü.ü"])
async def test_odd_login_names_are_a_plain_401(client: httpx.AsyncClient, username: str) -> None:
    answer = await client.post(
        "/api/auth/token", data={"username": username, "password": "whatever"}
    )
    assert answer.status_code == 401, answer.text


# Uploads ------------------------------------------------------------------------------------


def png(width: int, height: int, trailer: bytes = b"") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "PNG")
    return out.getvalue() + trailer


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming width x height, then one small IDAT and no end."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 20, 20)).save(out, "JPEG")
    return out.getvalue()


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, auth: dict[str, str], kind: str, data: bytes, name: str = "f"
) -> httpx.Response:
    files = {"file": (name, data, "application/octet-stream")}
    return await client.post("/api/assets", data={"kind": kind}, files=files, headers=auth)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (png_header_only(12000, 12000), ("file", "too large")),
        (png_header_only(8000, 8000), ("file", "too large")),  # 64 megapixels
        (png_header_only(100000, 1), ("file", "too large")),
        (png_header_only(64, 64), ("file", "not a readable image")),  # truncated data
        (png(64, 64)[:-30], ("file",)),  # the end of its pixel data cut off
        (jpeg(256, 256)[:400], ("file", "not a readable image")),
        (b"GIF89a" + b"\0" * 100, ("file",)),
        (b"<html><script>alert(1)</script></html>", ("file",)),
        (b"\x89PNG\r\n\x1a\n", ("file",)),
    ],
)
async def test_images_are_decoded_within_caps_before_acceptance(
    client: httpx.AsyncClient, auth: dict[str, str], data: bytes, words: tuple[str, ...]
) -> None:
    answer = await upload(client, auth, "image", data)
    assert answer.status_code == 422, answer.text
    for word in words:
        assert word in answer.text


@pytest.mark.parametrize(
    "data",
    [b"RIFF" + b"\0" * 100, b"\0" * 4096, wav(1)[:44], png(8, 8), b"ID3" + b"\xff" * 500],
)
async def test_unreadable_audio_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], data: bytes
) -> None:
    assert_4xx(await upload(client, auth, "audio", data), "file")


async def test_good_uploads_are_accepted(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    image = await upload(client, auth, "image", png(640, 360))
    assert image.status_code == 201 and image.json()["width"] == 640
    sound = await upload(client, auth, "audio", wav(1.5))
    assert sound.status_code == 201 and sound.json()["duration"] == pytest.approx(1.5)


async def test_a_png_with_html_appended_is_never_served_as_a_page(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    sneaky = png(32, 32, trailer=b"<html><script>alert(document.cookie)</script></html>")
    answer = await upload(client, auth, "image", sneaky)
    assert answer.status_code == 201
    served = await client.get(answer.json()["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["content-disposition"].startswith("inline")
    sound = await upload(client, auth, "audio", wav(0.5))
    served = await client.get(sound.json()["url"])
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment")


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/models", "/api/projects", "/healthz", "/api/nothing"):
        answer = await client.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["x-frame-options"] == "DENY", path
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
    docs = await client.get("/docs")
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in docs.headers  # Swagger UI loads from its CDN
