"""Stored media is checked against what was recorded when it was stored (size and SHA-256)
before anything trusts it.

Where each check happens, and why there:
- Planning a render checks every clip it would reuse by size (a stat on local files, a HEAD on
  S3, a few at a time) and the `damaged` mark; hashing 200 clips there would make every plan
  read the whole project. The final video it would reuse is one file: it is hashed as well.
- Composition hashes each clip it reads anyway, so a clip overwritten with other bytes of the
  same size is caught there: the job fails naming the segment and the asset is marked damaged,
  so the next plan says why and generates it again.
- Storing an object again (a regenerated clip, a recomposed final) replaces its row's size,
  hash and facts and clears the mark (`record_replacing`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.errors import NotFound
from videofoundry.models import Asset
from videofoundry.storage.base import Storage

CHECKS_AT_ONCE = 16
"""Size checks in flight together (S3 HEADs; local stats are cheap either way)."""


async def problem(storage: Storage, asset: Asset, *, full: bool) -> str | None:
    """None when the stored object matches its record, else why it does not, in words for a
    plan ("stored clip is damaged (size 0 of 123456 bytes)"). `full` hashes it too."""
    kind = asset.kind
    try:
        size = await storage.size(asset.storage_key)
    except NotFound:
        return f"stored {kind} is missing"
    if asset.damaged:
        return asset.damaged
    if size != asset.bytes:
        return f"stored {kind} is damaged (size {size} of {asset.bytes} bytes)"
    if full:
        try:
            digest = await sha256_of_stored(storage, asset.storage_key)
        except NotFound:
            return f"stored {kind} is missing"
        if digest != asset.sha256:
            return f"stored {kind} is damaged ({HASH_DIFFERS})"
    return None


HASH_DIFFERS = "its SHA-256 differs from the one recorded"


async def problems(
    storage: Storage, stored: Sequence[Asset], *, full: bool = False
) -> list[str | None]:
    """`problem` of each asset, in order, a few checks at a time."""
    gate = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def one(asset: Asset) -> str | None:
        async with gate:
            return await problem(storage, asset, full=full)

    return list(await asyncio.gather(*(one(asset) for asset in stored)))


async def sha256_of_stored(storage: Storage, key: str) -> str:
    """SHA-256 of a stored object: the local file read in a thread, else streamed."""
    path = storage.path_for(key)
    if path is not None:
        if not path.exists():
            raise NotFound(key)
        return await asyncio.to_thread(sha256_of_file, path)
    digest = hashlib.sha256()
    async for chunk in storage.iter_range(key):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_problem(path: Path, asset: Asset) -> str | None:
    """Why a downloaded copy of `asset` is not what was stored (size, then SHA-256), or None.
    Blocking: call it in a thread."""
    size = path.stat().st_size
    if size != asset.bytes:
        return f"size {size} of {asset.bytes} bytes"
    if sha256_of_file(path) != asset.sha256:
        return HASH_DIFFERS
    return None


async def mark_damaged(session: AsyncSession, damaged: dict[str, str]) -> None:
    """Remember, by asset id, why objects no longer match their records (a `problem` text), so
    neither a plan nor a worker reuses them until they are stored again."""
    for asset_id, why in damaged.items():
        await session.execute(update(Asset).where(Asset.id == asset_id).values(damaged=why[:300]))


_REPLACED = (
    "content_type",
    "sha256",
    "bytes",
    "duration",
    "width",
    "height",
    "fps",
    "video_codec",
    "audio_codec",
)


@functools.cache
def _upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (storage_key) DO UPDATE, built once per dialect: the row keeps
    its id (jobs and segments refer to it) and takes the new object's facts."""
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Asset.__table__
    statement = insert(table)
    replaced = {name: statement.excluded[name] for name in _REPLACED}
    return statement.on_conflict_do_update(
        index_elements=[table.c.storage_key], set_={**replaced, "damaged": None}
    ).returning(table.c.storage_key, table.c.id)


async def record_replacing(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Record objects just stored (rows from `assets.fields`), replacing what an existing row
    of the same key says: the object under that key is now this one. Returns each key's id."""
    columns = {name for row in rows for name in row} | set(_REPLACED)
    rows = [{name: row.get(name) for name in columns} for row in rows]
    result = await session.execute(_upsert(session.get_bind().dialect.name), rows)
    return dict(result.all())
