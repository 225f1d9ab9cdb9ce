"""The progressive preview playlist: HTTP only, the work is in services/preview.py."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.services import preview

router = APIRouter(prefix="/api", tags=["preview"])


@router.get(
    "/projects/{project_id}/preview.m3u8",
    response_class=Response,
    responses={200: {"content": {preview.CONTENT_TYPE: {}}, "description": "HLS playlist"}},
)
async def preview_playlist(
    project_id: str, request: Request, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """An HLS media playlist of the timeline from the segments' own clips, in order, up to the
    first segment without a clip; `#EXT-X-ENDLIST` once every segment has one. Its segment
    links are signed and need no header. Transitions show as cuts."""
    text = await preview.playlist(session, runtime, user.id, project_id, str(request.base_url))
    # It grows while a render runs, and its links are signed for a few hours: never cache it.
    return Response(text, media_type=preview.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
