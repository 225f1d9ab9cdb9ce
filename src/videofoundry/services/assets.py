"""Asset rows and the URLs clients download them from."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.security import sign_media
from videofoundry.database.base import new_id, utcnow
from videofoundry.models import Asset
from videofoundry.storage.base import Storage, StoredObject

if TYPE_CHECKING:
    from videofoundry.media.probe import MediaInfo


async def by_key(session: AsyncSession, key: str) -> Asset | None:
    return await session.scalar(select(Asset).where(Asset.storage_key == key))


async def by_keys(session: AsyncSession, keys: list[str]) -> dict[str, Asset]:
    """The assets stored under any of `keys`, by key (absent keys are left out)."""
    found: dict[str, Asset] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        rows = await session.scalars(
            select(Asset).where(Asset.storage_key.in_(keys[start : start + 500]))
        )
        found.update((asset.storage_key, asset) for asset in rows)
    return found


async def record(
    session: AsyncSession,
    *,
    owner_id: str,
    kind: str,
    stored: StoredObject,
    content_type: str,
    **media: Any,
) -> Asset:
    """The asset row for a stored object; content-addressed keys make this idempotent.
    `media` holds the facts `fields` takes (duration, width...)."""
    existing = await by_key(session, stored.key)
    if existing is not None:
        return existing
    asset = Asset(**fields(owner_id, kind, stored, content_type, **media))
    session.add(asset)
    await session.flush()
    return asset


def video_facts(info: MediaInfo) -> dict[str, Any]:
    """The asset columns a probed video fills in, for `fields` and `record`."""
    return {
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
    }


def fields(
    owner_id: str, kind: str, stored: StoredObject, content_type: str, **media: Any
) -> dict[str, Any]:
    """Column values of a new asset row for `record_all`; `media` holds duration, width..."""
    return {
        "id": new_id(),
        "owner_id": owner_id,
        "kind": kind,
        "storage_key": stored.key,
        "content_type": content_type,
        "sha256": stored.sha256,
        "bytes": stored.size,
        "created_at": utcnow(),
        **media,
    }


@functools.cache
def _insert_new(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (storage_key) DO NOTHING RETURNING, built once per dialect."""
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Asset.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.storage_key])
        .returning(table.c.storage_key, table.c.id)
    )


async def record_all(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Record several stored objects in one INSERT; keys already recorded keep their row.

    Returns the asset id of every key. Content-addressed keys make this idempotent."""
    columns = {name for row in rows for name in row}
    rows = [{name: row.get(name) for name in columns} for row in rows]  # one VALUES shape
    # Rows as execute parameters, not .values(rows): SQLAlchemy still sends one multi-row
    # INSERT, and the statement stays in its compiled cache.
    inserted = await session.execute(_insert_new(session.get_bind().dialect.name), rows)
    ids: dict[str, str] = dict(inserted.all())
    missing = [row["storage_key"] for row in rows if row["storage_key"] not in ids]
    if missing:
        existing = await session.execute(
            select(Asset.storage_key, Asset.id).where(Asset.storage_key.in_(missing))
        )
        ids.update(existing.all())
    return ids


async def url_for(settings: Settings, storage: Storage, asset: Asset | None) -> str | None:
    """A URL that works without headers: presigned on S3, signed and served by the API locally."""
    if asset is None:
        return None
    direct = await storage.presigned_url(asset.storage_key)
    if direct:
        return direct
    expires, signature = sign_media(settings, asset.id)
    return f"/api/files/{asset.id}?expires={expires}&signature={signature}"
