"""The storage interface. Keys are built by `storage.keys` only, never from user text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class Storage(ABC):
    @abstractmethod
    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        """Store a file atomically: readers see the whole object or nothing."""

    @abstractmethod
    async def get_file(self, key: str, dest: Path) -> None:
        """Download `key` into `dest`. Raises NotFound."""

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def size(self, key: str) -> int:
        """Raises NotFound."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """No error when absent."""

    @abstractmethod
    def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Bytes `start..end` inclusive (HTTP range semantics); whole object when end is None."""

    async def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        """A direct download URL where the backend has one; None means stream through the API."""
        return None

    async def presigned_urls(self, keys: list[str], expires: int = 3600) -> list[str | None]:
        """`presigned_url` of each key; backends that can sign many at once override this (a
        view links hundreds of clips and posters)."""
        return [await self.presigned_url(key, expires) for key in keys]

    def path_for(self, key: str) -> Path | None:
        """The local file holding `key` where the backend keeps files on this machine (the API
        then serves it with range support); None means stream it with `iter_range`."""
        return None

    async def ensure_bucket(self) -> None:
        """Create the container objects live in, if the backend has one and it may be missing
        (called once at startup; idempotent). Nothing to do by default."""
        return None
