"""Asset rows, the URLs clients download them from, and the checks an upload passes."""

from __future__ import annotations

import functools
import time
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import av
from PIL import Image, UnidentifiedImageError
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from videofoundry.core.config import Settings, signing_key
from videofoundry.core.errors import InvalidInput
from videofoundry.core.security import sign_media_until
from videofoundry.database.base import new_id, utcnow
from videofoundry.models import Asset
from videofoundry.services import sql_lists
from videofoundry.storage.base import Storage, StoredObject

if TYPE_CHECKING:
    from videofoundry.media.probe import MediaInfo


async def by_key(session: AsyncSession, key: str) -> Asset | None:
    return await session.scalar(select(Asset).where(Asset.storage_key == key))


async def by_keys(session: AsyncSession, keys: list[str]) -> dict[str, Asset]:
    """The assets stored under any of `keys`, by key (absent keys are left out)."""
    found: dict[str, Asset] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        rows = await session.scalars(_BY_KEYS, {"keys": keys[start : start + 500]})
        found.update((asset.storage_key, asset) for asset in rows)
    return found


class Linked(Protocol):
    """What a link needs of an asset: a model instance, or a row of just these columns."""

    @property
    def id(self) -> str: ...
    @property
    def storage_key(self) -> str: ...


async def links_by_keys(session: AsyncSession, keys: list[str]) -> dict[str, Linked]:
    """`by_keys` for views that only link the assets: plain rows of their id and storage key
    (loading every column of hundreds of rows was most of a project view's cost, and even two
    columns through the ORM cost a few milliseconds)."""
    found: dict[str, Linked] = {}
    statement = _links_by_keys(sql_lists.dialect_of(session))
    for start in range(0, len(keys), 500):
        rows = await session.execute(statement, {"keys": keys[start : start + 500]})
        found.update((row.storage_key, row) for row in rows)
    return found


@functools.cache
def _links_by_keys(dialect: str) -> Any:
    keys = sql_lists.one_of(Asset.storage_key, "keys", dialect)
    return select(Asset.id, Asset.storage_key).where(keys)


# Built once with an expanding parameter: an IN list of literals costs a coercion per key (a
# project view looks up 400) and a new statement to compile for every length.
_BY_KEYS = select(Asset).where(Asset.storage_key.in_(bindparam("keys", expanding=True)))
LINK_COLUMNS = load_only(Asset.id, Asset.storage_key, raiseload=True)


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


LINK_PERIOD_SECONDS = 900
"""Links signed by the API are the same for every answer within a period (the browser keeps the
posters and clips it has), and views' validators change with it, so a client revalidating with
304 holds links at most this old, well within their lifetime."""
MEDIA_LINK_SECONDS = 6 * 3600
"""Lifetime of a link signed by the API, counted from the start of its period (S3 presigned
links last an hour)."""


async def url_for(settings: Settings, storage: Storage, asset: Linked | None) -> str | None:
    """A URL that works without headers: presigned on S3, signed and served by the API locally."""
    return (await urls_for(settings, storage, [asset]))[0]


async def urls_for(
    settings: Settings, storage: Storage, assets: Sequence[Linked | None]
) -> list[str | None]:
    """`url_for` of each asset, presigned in one call to the storage."""
    present = [asset for asset in assets if asset is not None]
    direct = await _presigned(storage, [asset.storage_key for asset in present])
    urls: dict[str, str] = {}
    key, expires = "", 0
    if not all(direct):
        key, now = signing_key(settings), int(time.time())
        expires = now // LINK_PERIOD_SECONDS * LINK_PERIOD_SECONDS + MEDIA_LINK_SECONDS
    for asset, url in zip(present, direct, strict=True):
        urls[asset.id] = url or _signed_link(settings, key, asset.id, expires)
    return [urls[asset.id] if asset is not None else None for asset in assets]


async def _presigned(storage: Storage, keys: list[str]) -> list[str | None]:
    """The storage's own links, kept for the period they were signed in (valid an hour, so
    45 minutes at least when handed out): presigning the 400 links of a 200-segment view on S3
    cost about 5 ms of CPU per answer, and the same links let the browser keep what it has."""
    period = int(time.time()) // LINK_PERIOD_SECONDS
    kept = _PRESIGNED.get(storage)
    if kept is None or kept[0] != period or len(kept[1]) > 100_000:
        kept = _PRESIGNED[storage] = (period, {})
    links = kept[1]
    missing = [key for key in dict.fromkeys(keys) if key not in links]
    if missing:
        links.update(zip(missing, await storage.presigned_urls(missing), strict=True))
    return [links[key] for key in keys]


_PRESIGNED: weakref.WeakKeyDictionary[Storage, tuple[int, dict[str, str | None]]] = (
    weakref.WeakKeyDictionary()
)


def _signed_link(settings: Settings, key: str, asset_id: str, expires: int) -> str:
    """The API's link to an asset, signed once per period and asset (an HMAC per link was a
    tenth of a 200-segment view)."""
    cached = (key, asset_id, expires)
    link = _SIGNED.get(cached)
    if link is None:
        if len(_SIGNED) >= 100_000:
            _SIGNED.clear()
        signature = sign_media_until(settings, asset_id, expires)
        link = _SIGNED[cached] = f"/api/files/{asset_id}?expires={expires}&signature={signature}"
    return link


_SIGNED: dict[tuple[str, str, int], str] = {}


# Uploads -----------------------------------------------------------------------------------

MAX_UPLOAD_BYTES = {"image": 16 << 20, "audio": 50 << 20}
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = 40_000_000
MAX_AUDIO_SECONDS = 3 * 3600
IMAGE_FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}


@dataclass(frozen=True)
class UploadFacts:
    extension: str
    content_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def inspect_upload(kind: str, path: Path) -> UploadFacts:
    """Accept an uploaded file only once it decodes completely within the caps; InvalidInput
    naming `file` otherwise. Blocking: run it in a thread."""
    return inspect_image(path) if kind == "image" else inspect_audio(path)


def inspect_image(path: Path) -> UploadFacts:
    refused = "file: not a readable image (use JPEG, PNG or WebP)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                fmt, (width, height) = image.format or "", image.size
                if fmt not in IMAGE_FORMATS:
                    raise InvalidInput(
                        f"file: {fmt or 'this'} images are not accepted; use JPEG, PNG or WebP",
                        "file",
                    )
                # The header is checked before any pixel is decoded: a small file may claim
                # a picture of gigabytes (a decompression bomb).
                if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
                    raise InvalidInput(
                        f"file: {width}x{height} is too large (at most {MAX_IMAGE_SIDE} px a "
                        f"side and {MAX_IMAGE_PIXELS // 1_000_000} megapixels)",
                        "file",
                    )
                image.load()  # every pixel: a truncated or corrupt file fails here
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(
            f"file: the image is too large (at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels)",
            "file",
        ) from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise InvalidInput(refused, "file") from exc
    extension, content_type = IMAGE_FORMATS[fmt]
    return UploadFacts(extension, content_type, width, height)


def inspect_audio(path: Path) -> UploadFacts:
    seconds = 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidInput("file: contains no audio stream", "file")
            stream = container.streams.audio[0]
            for frame in container.decode(stream):  # every sample: corrupt data fails here
                if frame.sample_rate:
                    seconds += frame.samples / frame.sample_rate
                if seconds > MAX_AUDIO_SECONDS:
                    raise InvalidInput(
                        f"file: the audio is longer than {MAX_AUDIO_SECONDS // 60} minutes",
                        "file",
                    )
    except InvalidInput:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("file: not a readable audio file", "file") from exc
    if seconds <= 0:
        raise InvalidInput("file: the audio has no length", "file")
    # Stored under a neutral extension: the container is whatever the user sent.
    return UploadFacts("audio", "application/octet-stream", duration=seconds)
