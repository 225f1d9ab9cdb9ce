"""Object storage for every video asset: local files or any S3 API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from videofoundry.core.config import Settings
    from videofoundry.storage.base import Storage


def make_storage(settings: Settings) -> Storage:
    """S3 when S3_BUCKET is set, else files under `settings.media_dir`.

    Await `ensure_bucket()` once at startup (`Runtime.start` does)."""
    if settings.S3_BUCKET:
        from videofoundry.storage.s3 import S3Storage

        return S3Storage(
            bucket=settings.S3_BUCKET,
            endpoint_url=settings.S3_ENDPOINT_URL or None,
            region=settings.AWS_REGION,
            access_key=settings.AWS_ACCESS_KEY_ID or None,
            secret_key=settings.AWS_SECRET_ACCESS_KEY or None,
        )
    from videofoundry.storage.local import LocalStorage

    return LocalStorage(settings.media_dir)
