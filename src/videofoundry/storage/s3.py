"""Any S3 API (AWS, MinIO, R2, moto).

Bytes move through obstore (Rust's `object_store`, natively async): every upload, download, head
and presigned URL of a render goes through here, and obstore costs a fraction of botocore's CPU
per request with no thread hop. boto3 does what obstore cannot: create the bucket, and resolve
credentials through AWS's full chain (environment, profiles, SSO, container and instance roles)
when no keys are configured.

Every upload carries an S3-checked SHA-256 (`x-amz-checksum-sha256`), and our own SHA-256 of the
whole file as `x-amz-meta-sha256`: for a multipart object, S3's checksum is a composite of its
parts, so it cannot stand in for ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import obstore
from botocore.config import Config
from botocore.exceptions import ClientError
from obstore.auth.boto3 import Boto3CredentialProvider
from obstore.exceptions import GenericError, NotFoundError
from obstore.store import S3Store

from videofoundry.core.errors import NotFound
from videofoundry.storage.base import Storage, StoredObject
from videofoundry.storage.local import check_range, temp_file_beside, validate_key

if TYPE_CHECKING:
    from obstore.store import S3Config

MIB = 1 << 20
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 limit
_MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_NOT_FOUND = (FileNotFoundError, NotFoundError)
# One boto3 session for the credential chain and bucket creation: it keeps the parsed service
# model, most of what a client costs to build. Sessions are not thread-safe, clients are.
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        multipart_threshold: int = 16 * MIB,
        multipart_chunksize: int = 16 * MIB,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self._endpoint_url = endpoint_url or None
        self._keys = (access_key, secret_key) if access_key and secret_key else None
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        config: S3Config = {"region": region, "checksum_algorithm": "sha256"}
        if self._keys:
            config["access_key_id"], config["secret_access_key"] = self._keys
        if self._endpoint_url:
            config["endpoint"] = self._endpoint_url
            # Custom endpoints (MinIO, moto) rarely resolve bucket sub-domains.
            config["virtual_hosted_style_request"] = False
        self._store = S3Store(
            bucket,
            config=config,
            client_options={
                # A whole large download may take long; a stalled one is cut by read_timeout.
                "timeout": timedelta(hours=1),
                "read_timeout": timedelta(seconds=60),
                "allow_http": bool(self._endpoint_url and self._endpoint_url.startswith("http:")),
            },
            # Retry connection errors and 5xx for up to a minute (a restarting store), not a
            # fixed count: four tries spanned about a second, so a short outage failed the
            # upload and a local model's clip was generated again (tests/faults).
            retry_config={
                "max_retries": 30,
                "retry_timeout": timedelta(seconds=60),
                # Jittered waits from half a second, so 30 tries span at least 15 s.
                "backoff": {
                    "init_backoff": timedelta(milliseconds=500),
                    "max_backoff": timedelta(seconds=5),
                },
            },
            credential_provider=None if self._keys else _credential_chain(),
        )

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (startup, tests)."""
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        keys = self._keys or (None, None)
        with _SESSION_LOCK:
            client: Any = _SESSION.client(
                "s3",
                endpoint_url=self._endpoint_url,
                aws_access_key_id=keys[0],
                aws_secret_access_key=keys[1],
                config=Config(
                    region_name=self.region,
                    s3={"addressing_style": "path" if self._endpoint_url else "auto"},
                ),
            )
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _MISSING_BUCKET:
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        """S3 publishes an object whole, at PutObject or CompleteMultipartUpload."""
        validate_key(key)
        path = Path(path)
        size = path.stat().st_size
        if size >= self.multipart_threshold:
            size, digest = await asyncio.to_thread(_hash_file, path)
            body: Path | bytes = path
        else:
            # Clips and posters: one PutObject of bytes read once, for the hash and the body.
            body = await asyncio.to_thread(path.read_bytes)
            size, digest = len(body), hashlib.sha256(body).hexdigest()
        await obstore.put_async(
            self._store,
            key,
            body,
            attributes={"Content-Type": content_type, "sha256": digest},
            use_multipart=size >= self.multipart_threshold,
            chunk_size=self.multipart_chunksize,
            max_concurrency=4,
        )
        return StoredObject(key=key, size=size, sha256=digest)

    async def get_file(self, key: str, dest: Path) -> None:
        validate_key(key)
        dest = Path(dest)
        fd, tmp_name = temp_file_beside(dest)
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in await self._get(key):
                    handle.write(chunk)
            os.replace(tmp_name, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)

    async def _get(self, key: str, options: Any = None) -> Any:
        """The object's body as a stream of chunks of at least 1 MiB (the last may be less)."""
        try:
            result = await obstore.get_async(self._store, key, options=options)
        except _NOT_FOUND as exc:
            raise NotFound(f"no stored object {key}") from exc
        return result.stream(min_chunk_size=MIB)

    async def _head(self, key: str) -> Any:
        validate_key(key)
        try:
            return await obstore.head_async(self._store, key)
        except _NOT_FOUND:
            return None

    async def exists(self, key: str) -> bool:
        return await self._head(key) is not None

    async def size(self, key: str) -> int:
        head = await self._head(key)
        if head is None:
            raise NotFound(f"no stored object {key}")
        return int(head["size"])

    async def delete(self, key: str) -> None:
        validate_key(key)
        await obstore.delete_async(self._store, key)  # S3 answers 204 for a missing key too

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Yields nothing when `start` is at or past the end; `end` is clipped to the size."""
        validate_key(key)
        check_range(start, end, chunk)
        # obstore's ranges are end-exclusive; ours are inclusive, as HTTP's.
        byte_range: Any = {"offset": start} if end is None else (start, end + 1)
        try:
            stream = await self._get(key, {"range": byte_range})
        except GenericError as exc:
            if "416" in str(exc):  # InvalidRange: the start is past the end
                return
            raise
        async for block in stream:
            view = memoryview(block)
            for offset in range(0, len(view), chunk):
                yield bytes(view[offset : offset + chunk])

    async def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        validate_key(key)
        seconds = max(1, min(expires, MAX_PRESIGN_SECONDS))
        url: str = await obstore.sign_async(self._store, "GET", key, timedelta(seconds=seconds))
        return url

    async def presigned_urls(self, keys: list[str], expires: int = 3600) -> list[str | None]:
        # One call for all: each awaited signing is a round trip to obstore's runtime.
        if not keys:
            return []
        for key in keys:
            validate_key(key)
        seconds = max(1, min(expires, MAX_PRESIGN_SECONDS))
        urls: Sequence[str] = await obstore.sign_async(
            self._store, "GET", keys, timedelta(seconds=seconds)
        )
        return list(urls)


def _credential_chain() -> Boto3CredentialProvider:
    try:
        return Boto3CredentialProvider(_SESSION)
    except ValueError as exc:  # boto3 found nothing anywhere in its chain
        raise ValueError(
            "S3_BUCKET is set but no S3 credentials were found: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or give the process an AWS profile or role"
        ) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
