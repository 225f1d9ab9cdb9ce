"""Files under one root directory. Writes are atomic: temp file, fsync, os.replace."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from videofoundry.core.errors import NotFound
from videofoundry.storage.base import Storage, StoredObject

COPY_CHUNK = 1 << 20


def _umask() -> int:
    """The process umask, read without changing it where the platform says (another thread may
    be creating files meanwhile); elsewhere set and restored."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_file_beside(dest: Path) -> tuple[int, str]:
    """A temp file in `dest`'s directory (for an atomic rename onto `dest`), open for writing,
    with the permissions a normally created file would have (not mkstemp's 0600). The umask is
    read on each call: the embedded run tightens it at start-up, after this module is imported."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        os.unlink(tmp_name)
        raise
    return fd, tmp_name


def validate_key(key: str) -> str:
    """Refuse keys that could name anything but a plain relative file path.

    Keys come from `storage.keys`, so a failure here is a bug, reported as ValueError."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"unsafe storage key: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"unsafe storage key: {key!r}")
    return key


def check_range(start: int, end: int | None, chunk: int) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}-{end}")
    if chunk < 1:
        raise ValueError("chunk must be positive")


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path:
        """The file that holds `key`; ValueError when the key would leave the root."""
        path = (self.root / validate_key(key)).resolve()
        # resolve() follows symlinks, so a link pointing outside the root is refused too.
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        dest = self.path_for(key)
        size, digest = await asyncio.to_thread(_atomic_copy, Path(path), dest)
        return StoredObject(key=key, size=size, sha256=digest)

    async def get_file(self, key: str, dest: Path) -> None:
        source = self.path_for(key)
        try:
            await asyncio.to_thread(_atomic_copy, source, Path(dest))
        except FileNotFoundError as exc:
            if exc.filename == str(source):
                raise NotFound(f"no stored object {key}") from exc
            raise

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    async def size(self, key: str) -> int:
        path = self.path_for(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError as exc:
            raise NotFound(f"no stored object {key}") from exc
        return stat.st_size

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_for(key).unlink, missing_ok=True)

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Yields nothing when `start` is at or past the end; `end` is clipped to the size."""
        check_range(start, end, chunk)
        path = self.path_for(key)
        try:
            handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"no stored object {key}") from exc
        try:
            # The open handle keeps reading the same file even if a put replaces it meanwhile.
            size = os.fstat(handle.fileno()).st_size
            last = size - 1 if end is None else min(end, size - 1)
            position = start
            await asyncio.to_thread(handle.seek, start)
            while position <= last:
                data = await asyncio.to_thread(handle.read, min(chunk, last - position + 1))
                if not data:
                    break
                position += len(data)
                yield data
        finally:
            handle.close()


def _atomic_copy(source: Path, dest: Path) -> tuple[int, str]:
    """Copy `source` to `dest` through a temp file in dest's directory; returns size, sha256."""
    with source.open("rb") as src:
        fd, tmp_name = temp_file_beside(dest)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while block := src.read(COPY_CHUNK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
    _fsync_dir(dest.parent)
    return size, digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported on every platform, hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
