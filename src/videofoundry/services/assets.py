"""Asset rows and the URLs clients download them from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.config import Settings
from videofoundry.core.security import sign_media
from videofoundry.models import Asset
from videofoundry.storage.base import Storage, StoredObject


async def by_key(session: AsyncSession, key: str) -> Asset | None:
    return await session.scalar(select(Asset).where(Asset.storage_key == key))


async def record(
    session: AsyncSession,
    *,
    owner_id: str,
    kind: str,
    stored: StoredObject,
    content_type: str,
    duration: float | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    video_codec: str | None = None,
    audio_codec: str | None = None,
) -> Asset:
    """The asset row for a stored object; content-addressed keys make this idempotent."""
    existing = await by_key(session, stored.key)
    if existing is not None:
        return existing
    asset = Asset(
        owner_id=owner_id,
        kind=kind,
        storage_key=stored.key,
        content_type=content_type,
        sha256=stored.sha256,
        bytes=stored.size,
        duration=duration,
        width=width,
        height=height,
        fps=fps,
        video_codec=video_codec,
        audio_codec=audio_codec,
    )
    session.add(asset)
    await session.flush()
    return asset


async def url_for(settings: Settings, storage: Storage, asset: Asset | None) -> str | None:
    """A URL that works without headers: presigned on S3, signed and served by the API locally."""
    if asset is None:
        return None
    direct = await storage.presigned_url(asset.storage_key)
    if direct:
        return direct
    expires, signature = sign_media(settings, asset.id)
    return f"/api/files/{asset.id}?expires={expires}&signature={signature}"
