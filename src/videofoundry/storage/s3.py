"""Any S3 API (AWS, MinIO, R2, moto) through boto3, whose blocking calls run in threads.

Uploads go through boto3's transfer manager (multipart above `multipart_threshold`) with an
S3-side SHA256 checksum; our own sha256 of the whole file is computed separately, because a
multipart object's checksum is a composite of its parts, and stored as `x-amz-meta-sha256`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from videofoundry.core.errors import NotFound
from videofoundry.storage.base import Storage, StoredObject
from videofoundry.storage.local import check_range, validate_key

MIB = 1 << 20
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 limit
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
        config = Config(
            region_name=region,
            signature_version="s3v4",
            retries={"max_attempts": 5, "mode": "standard"},
            # We send our own SHA-256 (small objects) or ask for one (multipart); without this,
            # botocore adds a CRC32 trailer to every upload in aws-chunked encoding as well.
            request_checksum_calculation="when_required",
            # Custom endpoints (MinIO, moto) rarely resolve bucket sub-domains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        # Clients are thread-safe, so one serves every asyncio.to_thread call. Sessions are
        # not, but one shared session keeps the parsed service model (most of a client's cost).
        with _SESSION_LOCK:
            self._client: Any = _SESSION.client(
                "s3",
                endpoint_url=endpoint_url or None,
                aws_access_key_id=access_key or None,
                aws_secret_access_key=secret_key or None,
                config=config,
            )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=4,
        )

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (startup, tests)."""
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        validate_key(key)
        # S3 publishes the object whole at PutObject / CompleteMultipartUpload, never partially.
        return await asyncio.to_thread(self._put, key, Path(path), content_type)

    def _put(self, key: str, path: Path, content_type: str) -> StoredObject:
        if path.stat().st_size >= self._transfer.multipart_threshold:
            size, digest = _hash_file(path)
            self._client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={
                    "ContentType": content_type,
                    "ChecksumAlgorithm": "SHA256",
                    "Metadata": {"sha256": digest},
                },
                Config=self._transfer,
            )
            return StoredObject(key=key, size=size, sha256=digest)
        # One PutObject for small files (clips, posters): the transfer manager's thread pool
        # would cost more than the upload. S3 checks the body against our own SHA-256.
        body = path.read_bytes()
        sha = hashlib.sha256(body)
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumSHA256=base64.b64encode(sha.digest()).decode("ascii"),
            Metadata={"sha256": sha.hexdigest()},
        )
        return StoredObject(key=key, size=len(body), sha256=sha.hexdigest())

    async def get_file(self, key: str, dest: Path) -> None:
        validate_key(key)
        await asyncio.to_thread(self._download, key, Path(dest))

    def _download(self, key: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        try:
            self._client.download_file(self.bucket, key, tmp_name, Config=self._transfer)
            os.replace(tmp_name, dest)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"no stored object {key}") from exc
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)

    async def _head(self, key: str) -> dict[str, Any] | None:
        validate_key(key)
        try:
            head: dict[str, Any] = await asyncio.to_thread(
                self._client.head_object, Bucket=self.bucket, Key=key
            )
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return head

    async def exists(self, key: str) -> bool:
        return await self._head(key) is not None

    async def size(self, key: str) -> int:
        head = await self._head(key)
        if head is None:
            raise NotFound(f"no stored object {key}")
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        validate_key(key)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Yields nothing when `start` is at or past the end; `end` is clipped to the size."""
        validate_key(key)
        check_range(start, end, chunk)
        try:
            response = await asyncio.to_thread(
                self._client.get_object,
                Bucket=self.bucket,
                Key=key,
                Range=f"bytes={start}-{'' if end is None else end}",
            )
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING:
                raise NotFound(f"no stored object {key}") from exc
            if code == "InvalidRange":
                return
            raise
        body = response["Body"]
        try:
            while data := await asyncio.to_thread(body.read, chunk):
                yield data
        finally:
            body.close()

    async def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        validate_key(key)
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=max(1, min(expires, MAX_PRESIGN_SECONDS)),
        )
        return url


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
