"""The storage contract, against local files and S3 (a moto server in its own process)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.moto import MOTO_CREDENTIALS, moto_server
from videofoundry.core.config import Settings
from videofoundry.core.errors import NotFound
from videofoundry.storage import make_storage
from videofoundry.storage import s3 as s3_module
from videofoundry.storage.base import Storage
from videofoundry.storage.local import LocalStorage
from videofoundry.storage.s3 import MIB, S3Storage

KEY = "clips/owner-1/abc123.mp4"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def s3_storage(endpoint: str, **kwargs: int) -> S3Storage:
    return S3Storage(
        bucket=f"vftest-{uuid.uuid4().hex[:16]}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        **kwargs,
    )


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "media")
        return
    s3 = s3_storage(request.getfixturevalue("s3_endpoint"))
    await s3.ensure_bucket()
    yield s3


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_put_get_round_trip_with_sha256(storage: Storage, tmp_path: Path) -> None:
    data = pattern(300_000)
    stored = await storage.put_file(KEY, write(tmp_path / "in.mp4", data), "video/mp4")
    assert stored.key == KEY
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await storage.exists(KEY)
    assert await storage.size(KEY) == len(data)

    dest = tmp_path / "out" / "copy.mp4"
    await storage.get_file(KEY, dest)
    assert dest.read_bytes() == data


async def test_put_replaces_the_whole_object(storage: Storage, tmp_path: Path) -> None:
    await storage.put_file(KEY, write(tmp_path / "a", b"a" * 5000), "video/mp4")
    stored = await storage.put_file(KEY, write(tmp_path / "b", b"b" * 10), "video/mp4")
    assert stored.sha256 == hashlib.sha256(b"b" * 10).hexdigest()
    assert await collect(storage.iter_range(KEY)) == b"b" * 10


async def test_failed_put_leaves_the_old_object(storage: Storage, tmp_path: Path) -> None:
    await storage.put_file(KEY, write(tmp_path / "a", b"old"), "video/mp4")
    with pytest.raises(FileNotFoundError):
        await storage.put_file(KEY, tmp_path / "missing.mp4", "video/mp4")
    assert await collect(storage.iter_range(KEY)) == b"old"


async def test_ranges(storage: Storage, tmp_path: Path) -> None:
    data = pattern(10_000)
    await storage.put_file(KEY, write(tmp_path / "in", data), "video/mp4")
    assert await collect(storage.iter_range(KEY)) == data
    assert await collect(storage.iter_range(KEY, 10, 19)) == data[10:20]
    assert await collect(storage.iter_range(KEY, 9_990)) == data[9_990:]
    assert await collect(storage.iter_range(KEY, 9_999, 9_999)) == data[-1:]
    # An end past the object is clipped, as HTTP ranges are.
    assert await collect(storage.iter_range(KEY, 9_000, 50_000)) == data[9_000:]
    # A start at or past the end yields nothing (the API answers 416 from `size`).
    assert await collect(storage.iter_range(KEY, 10_000)) == b""

    chunks = [c async for c in storage.iter_range(KEY, 100, 1_099, chunk=256)]
    assert b"".join(chunks) == data[100:1_100]
    assert all(len(c) <= 256 for c in chunks)
    assert len(chunks) >= 4

    with pytest.raises(ValueError, match="range"):
        await collect(storage.iter_range(KEY, 20, 10))
    with pytest.raises(ValueError, match="range"):
        await collect(storage.iter_range(KEY, -1))


async def test_missing_key(storage: Storage, tmp_path: Path) -> None:
    missing = "clips/owner-1/nothing.mp4"
    assert not await storage.exists(missing)
    with pytest.raises(NotFound):
        await storage.size(missing)
    with pytest.raises(NotFound):
        await storage.get_file(missing, tmp_path / "dest.mp4")
    assert not (tmp_path / "dest.mp4").exists()
    with pytest.raises(NotFound):
        await collect(storage.iter_range(missing))
    await storage.delete(missing)


async def test_delete(storage: Storage, tmp_path: Path) -> None:
    await storage.put_file(KEY, write(tmp_path / "in", b"x"), "video/mp4")
    await storage.delete(KEY)
    assert not await storage.exists(KEY)
    await storage.delete(KEY)


@pytest.mark.parametrize(
    "key",
    ["../escape.mp4", "/etc/passwd", "clips/../../escape.mp4", "clips//x.mp4", "", "clips/./x"],
)
async def test_unsafe_keys_are_refused(storage: Storage, tmp_path: Path, key: str) -> None:
    source = write(tmp_path / "in", b"x")
    with pytest.raises(ValueError, match="unsafe storage key"):
        await storage.put_file(key, source, "video/mp4")
    with pytest.raises(ValueError, match="unsafe storage key"):
        await storage.exists(key)
    assert not (tmp_path / "escape.mp4").exists()


async def test_presigned_url(storage: Storage, tmp_path: Path) -> None:
    data = pattern(5000)
    await storage.put_file(KEY, write(tmp_path / "in", data), "video/mp4")
    url = await storage.presigned_url(KEY, expires=60)
    if isinstance(storage, LocalStorage):
        assert url is None  # streamed through the API instead
        return
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == "video/mp4"
    # moto does not check signatures, so only their presence is checked here.
    query = httpx.URL(url).params
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert "X-Amz-Signature" in query


async def test_presigned_urls_sign_many_at_once(storage: Storage, tmp_path: Path) -> None:
    other = KEY.replace(".mp4", "-other.mp4")
    await storage.put_file(KEY, write(tmp_path / "a", b"first"), "video/mp4")
    await storage.put_file(other, write(tmp_path / "b", b"second"), "video/mp4")
    urls = await storage.presigned_urls([KEY, other, KEY], expires=60)
    if isinstance(storage, LocalStorage):
        assert urls == [None, None, None]
        return
    assert await storage.presigned_urls([]) == []
    async with httpx.AsyncClient() as client:
        bodies = [(await client.get(url)).content for url in urls if url is not None]
    assert bodies == [b"first", b"second", b"first"]
    assert all(httpx.URL(url).params["X-Amz-Expires"] == "60" for url in urls if url)
    with pytest.raises(ValueError, match="unsafe storage key"):
        await storage.presigned_urls([KEY, "../escape.mp4"])


# Local only ----------------------------------------------------------------------------------


async def test_local_put_is_atomic_for_concurrent_readers(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    versions = [
        write(tmp_path / "a", b"a" * MIB),
        write(tmp_path / "b", b"b" * MIB),
    ]
    await storage.put_file(KEY, versions[0], "video/mp4")
    target = storage.path_for(KEY)
    stop = threading.Event()
    torn: list[int] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            data = target.read_bytes()
            reads += 1
            if len(data) != MIB or len(set(data)) != 1:
                torn.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(12):
            await storage.put_file(KEY, versions[n % 2], "video/mp4")
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    assert reads > 0
    assert torn == []
    # No temp files left behind next to the object.
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


async def test_local_refuses_symlinks_out_of_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "media" / "clips").mkdir(parents=True)
    os.symlink(outside, tmp_path / "media" / "clips" / "owner-1")
    with pytest.raises(ValueError, match="escapes the root"):
        await storage.put_file(KEY, write(tmp_path / "in", b"x"), "video/mp4")
    assert list(outside.iterdir()) == []


async def test_every_backend_answers_path_for_and_ensure_bucket(
    storage: Storage, tmp_path: Path
) -> None:
    """Callers use the base interface, never getattr: each backend answers both calls."""
    await storage.ensure_bucket()  # idempotent on every backend
    await storage.put_file(KEY, write(tmp_path / "in", b"content"), "video/mp4")
    path = storage.path_for(KEY)
    if isinstance(storage, LocalStorage):
        assert path is not None and path.read_bytes() == b"content"
    else:
        assert path is None  # not on this machine: the API streams it with iter_range


async def test_downloads_get_the_permissions_of_a_normal_file(
    storage: Storage, tmp_path: Path
) -> None:
    """A rendered MP4 is the user's file: readable as the umask allows, not mkstemp's 0600.
    The umask is set here: an embedded run earlier in this process may have tightened it."""
    previous = os.umask(0o022)
    try:
        await storage.put_file(KEY, write(tmp_path / "in", b"content"), "video/mp4")
        dest = tmp_path / "out" / "final.mp4"
        await storage.get_file(KEY, dest)
        normal = tmp_path / "normal"
        normal.write_bytes(b"")  # created by open(): what the umask gives
    finally:
        os.umask(previous)
    assert stat.S_IMODE(dest.stat().st_mode) == stat.S_IMODE(normal.stat().st_mode)
    assert stat.S_IMODE(dest.stat().st_mode) & 0o044  # group and others may read (umask 022)


def test_local_path_for_stays_under_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    assert storage.path_for(KEY) == (tmp_path / "media" / KEY).resolve()


# S3 only -------------------------------------------------------------------------------------


async def test_s3_multipart_upload_keeps_our_sha256(s3_endpoint: str, tmp_path: Path) -> None:
    storage = s3_storage(s3_endpoint, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    await storage.ensure_bucket()
    await storage.ensure_bucket()  # idempotent
    data = os.urandom(11 * MIB)
    stored = await storage.put_file(KEY, write(tmp_path / "big", data), "video/mp4")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)

    head = _client(s3_endpoint).head_object(Bucket=storage.bucket, Key=KEY)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    assert head["Metadata"]["sha256"] == stored.sha256
    assert head["ContentType"] == "video/mp4"

    dest = tmp_path / "back"
    await storage.get_file(KEY, dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == stored.sha256
    assert await collect(storage.iter_range(KEY, 6 * MIB, 6 * MIB + 9)) == data[6 * MIB :][:10]


async def test_s3_small_upload_is_one_put_checked_by_s3(s3_endpoint: str, tmp_path: Path) -> None:
    data = pattern(70_000)
    digest = hashlib.sha256(data)
    with _recording_s3() as (endpoint, requests):
        storage = s3_storage(endpoint)
        stored = await storage.put_file(KEY, write(tmp_path / "clip", data), "video/mp4")
    # One request, carrying our SHA-256 for S3 to check the body against (moto ignores it).
    assert [(r.command, r.path) for r in requests] == [("PUT", f"/{storage.bucket}/{KEY}")]
    sent = requests[0]
    assert sent.headers["x-amz-checksum-sha256"] == base64.b64encode(digest.digest()).decode()
    assert sent.headers["x-amz-meta-sha256"] == stored.sha256 == digest.hexdigest()
    assert sent.headers["content-type"] == "video/mp4"
    assert sent.body == data

    # And what S3 (moto) keeps of it.
    storage = s3_storage(s3_endpoint)
    await storage.ensure_bucket()
    await storage.put_file(KEY, write(tmp_path / "clip", data), "video/mp4")
    head = _client(s3_endpoint).head_object(Bucket=storage.bucket, Key=KEY)
    assert head["Metadata"]["sha256"] == digest.hexdigest()
    assert head["ContentType"] == "video/mp4"


async def test_s3_without_keys_signs_with_the_aws_credential_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No keys in the settings: boto3's chain (here its environment step) supplies them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHECHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    monkeypatch.setattr(s3_module, "_SESSION", boto3.session.Session())
    with _recording_s3() as (endpoint, requests):
        storage = S3Storage(bucket="vftest-chain", endpoint_url=endpoint)
        await storage.put_file(KEY, write(tmp_path / "clip", b"x" * 100), "video/mp4")
        url = await storage.presigned_url(KEY)
    assert "Credential=AKIAFROMTHECHAIN/" in requests[0].headers["authorization"]
    assert url is not None
    assert httpx.URL(url).params["X-Amz-Credential"].startswith("AKIAFROMTHECHAIN/")


def test_s3_without_keys_anywhere_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(s3_module, "_SESSION", boto3.session.Session())
    with pytest.raises(ValueError, match="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        S3Storage(bucket="vftest-nokeys", endpoint_url="http://127.0.0.1:1")


@dataclass
class _Request:
    command: str
    path: str
    headers: dict[str, str]
    body: bytes


@contextmanager
def _recording_s3() -> Iterator[tuple[str, list[_Request]]]:
    """An HTTP endpoint that answers every request as S3 does a PutObject and records it: what
    goes over the wire, which moto does not keep."""
    requests: list[_Request] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            requests.append(_Request(self.command, self.path, headers, body))
            self.send_response(200)
            self.send_header("ETag", '"0"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def _client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def test_make_storage_follows_the_settings(tmp_path: Path) -> None:
    local = make_storage(Settings(S3_BUCKET="", DATA_DIR=tmp_path))
    assert isinstance(local, LocalStorage)
    assert local.root == (tmp_path / "media").resolve()
    s3 = make_storage(
        Settings(S3_BUCKET="bucket", S3_ENDPOINT_URL="http://127.0.0.1:1", **MOTO_CREDENTIALS)
    )
    assert isinstance(s3, S3Storage)
    assert s3.bucket == "bucket"
