"""Uploads (init images, soundtracks) and the project's contact sheet."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.core.errors import Conflict, InvalidInput, NotFound
from videofoundry.database.base import new_id
from videofoundry.models import Asset
from videofoundry.runtime import Runtime
from videofoundry.services import assets, contact_sheets
from videofoundry.services.projects import get_project
from videofoundry.storage import keys

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["assets"])

MAX_UPLOAD_BYTES = assets.MAX_UPLOAD_BYTES


class AssetPublic(BaseModel):
    id: str
    kind: str
    content_type: str
    bytes: int
    sha256: str
    duration: float | None
    width: int | None
    height: int | None
    url: str | None


@router.post("/assets", status_code=201, response_model=AssetPublic)
async def upload(
    kind: Annotated[
        Literal["image", "audio"], Form(description="image: init frame; audio: soundtrack")
    ],
    file: Annotated[UploadFile, File()],
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> AssetPublic:
    """Upload an init image (JPEG, PNG, WebP) or a soundtrack (any audio format)."""
    workdir = Path(tempfile.mkdtemp(prefix="vf-upload-"))
    try:
        path = workdir / "upload"
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES[kind]:
                    limit = MAX_UPLOAD_BYTES[kind] >> 20
                    raise InvalidInput(
                        f"file: larger than the {limit} MB allowed for {kind}", "file"
                    )
                out.write(chunk)
        if size == 0:
            raise InvalidInput("file: the upload is empty", "file")
        facts = await asyncio.to_thread(assets.inspect_upload, kind, path)
        asset_id = new_id()
        stored = await runtime.storage.put_file(
            keys.upload(user.id, asset_id, facts.extension), path, facts.content_type
        )
        measured = {"duration": facts.duration, "width": facts.width, "height": facts.height}
        asset = Asset(
            **assets.fields(user.id, kind, stored, facts.content_type, **measured)
            | {"id": asset_id}
        )
        session.add(asset)
        await session.commit()
        return await asset_public(runtime, asset)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def asset_public(runtime: Runtime, asset: Asset) -> AssetPublic:
    return AssetPublic(
        id=asset.id,
        kind=asset.kind,
        content_type=asset.content_type,
        bytes=asset.bytes,
        sha256=asset.sha256,
        duration=asset.duration,
        width=asset.width,
        height=asset.height,
        url=await assets.url_for(runtime.settings, runtime.storage, asset),
    )


@router.get("/assets/{asset_id}", response_model=AssetPublic)
async def get_asset(
    asset_id: str, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> AssetPublic:
    """An uploaded or generated file of the user's."""
    asset = await session.get(Asset, asset_id)
    if asset is None or asset.owner_id != user.id:
        raise NotFound(f"asset {asset_id} not found")
    return await asset_public(runtime, asset)


@router.get(
    "/projects/{project_id}/contact-sheet",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def contact_sheet(
    project_id: str, request: Request, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """A grid of frames, one row per generated segment, in timeline order. Made once per set
    of clips and stored; answers an `ETag` and 304 to a matching `If-None-Match`."""
    project = await get_project(session, user.id, project_id)
    sheet = await contact_sheets.sheet_of(session, user.id, project)
    cache = {"ETag": sheet.etag, "Cache-Control": "private, max-age=0, must-revalidate"}
    if sheet.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=cache)
    try:
        data = await contact_sheets.picture(
            runtime.sessions, runtime.storage, sheet, user.id, project_id
        )
    except Conflict:
        log.warning("contact sheet of project %s: a clip is damaged or gone", project_id)
        raise
    return Response(data, media_type="image/jpeg", headers=cache)
