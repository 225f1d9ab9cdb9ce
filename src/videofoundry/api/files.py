from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from videofoundry.api.deps import RuntimeDep, SessionDep
from videofoundry.core.security import verify_media
from videofoundry.models import Asset

router = APIRouter(prefix="/api", tags=["files"])
INLINE_TYPES = {
    "video/mp4": "mp4",
    "video/mp2t": "ts",  # the preview playlist's segments
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
}


@router.get("/files/{asset_id}", response_model=None)
async def download(
    asset_id: str,
    expires: int,
    signature: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """A stored video or image, by signed URL (range requests supported)."""
    if not verify_media(runtime.settings, asset_id, expires, signature):
        raise HTTPException(status_code=403, detail="this link is invalid or has expired")
    asset = await session.get(Asset, asset_id)
    if asset is None:
        raise HTTPException(status_code=404, detail="file not found")
    media_type, headers = served_as(asset)
    path = runtime.storage.path_for(asset.storage_key)
    if path is not None:
        if not path.is_file():
            raise HTTPException(status_code=404, detail="file not found")
        # Local files: Starlette's FileResponse answers Range requests itself.
        return FileResponse(path, media_type=media_type, headers=headers)
    return StreamingResponse(
        runtime.storage.iter_range(asset.storage_key),
        media_type=media_type,
        headers={**headers, "Content-Length": str(asset.bytes), "Accept-Ranges": "none"},
    )


def served_as(asset: Asset) -> tuple[str, dict[str, str]]:
    """Content type and headers of a served file. Only the media types the product makes or
    checked on upload display inline; anything else downloads. Whatever bytes follow a valid
    header (a PNG with HTML appended), the sandbox policy keeps a browser from running them."""
    headers = {"Content-Security-Policy": "default-src 'none'; sandbox"}
    if asset.content_type in INLINE_TYPES:
        extension = INLINE_TYPES[asset.content_type]
        headers["Content-Disposition"] = f'inline; filename="{asset.id}.{extension}"'
        return asset.content_type, headers
    headers["Content-Disposition"] = f'attachment; filename="{asset.id}"'
    return "application/octet-stream", headers
