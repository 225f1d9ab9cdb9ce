from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from videofoundry.api.deps import RuntimeDep, SessionDep
from videofoundry.core.security import verify_media
from videofoundry.models import Asset

router = APIRouter(prefix="/api", tags=["files"])


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
    path = runtime.storage.path_for(asset.storage_key)
    if path is not None:
        # Local files: Starlette's FileResponse answers Range requests itself.
        return FileResponse(path, media_type=asset.content_type)
    return StreamingResponse(
        runtime.storage.iter_range(asset.storage_key),
        media_type=asset.content_type,
        headers={"Content-Length": str(asset.bytes), "Accept-Ranges": "none"},
    )
