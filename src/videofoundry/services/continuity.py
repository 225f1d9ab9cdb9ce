"""Shots that continue, and what a model needs to start a shot.

A segment with `continue_from_previous` starts from the last frame of the segment before it:
that frame is its init image, so it needs an image-to-video model, and the previous clip's
content address is part of its spec (`spec_hash.clip_spec(continues_from=...)`). Within one
render, such a segment waits until the previous clip exists (`SegmentRender.waits_for`); a
chain is generated in order while independent segments still run in parallel.

The same checks run when a segment is saved and when a render is planned (a reorder can move a
continued shot to the front; a model directory can change), always as a 422 naming the field.
"""

from __future__ import annotations

import io

from videofoundry.adapters.base import ModelInfo
from videofoundry.core.errors import InvalidInput, InvalidMedia


def check_inputs(
    model: ModelInfo,
    *,
    has_image: bool,
    continues: bool,
    is_first: bool,
    where: str = "",
) -> None:
    """Refuse a segment its model cannot start: the field to fix and what to do, in words.

    `where` prefixes the message when a whole timeline is checked ("segment 2: ")."""
    if continues:
        if is_first:
            raise InvalidInput(
                f"{where}continue_from_previous: the first segment has no previous shot to "
                "continue from; turn it off or move the segment after another",
                "continue_from_previous",
            )
        if not model.image_to_video:
            raise InvalidInput(
                f"{where}continue_from_previous: {model.id} makes video from text only and "
                "cannot start from the previous shot's last frame; choose an image-to-video "
                "model or turn continue_from_previous off",
                "continue_from_previous",
            )
        if has_image:
            raise InvalidInput(
                f"{where}continue_from_previous: a continued shot starts from the previous "
                "shot's last frame; remove init_image_asset_id or turn continue_from_previous off",
                "continue_from_previous",
            )
        return
    if not has_image and not model.text_to_video:
        raise InvalidInput(
            f"{where}init_image_asset_id: {model.id} makes video from an image only; upload "
            "one (POST /api/assets, kind=image) and set init_image_asset_id, or set "
            "continue_from_previous to start from the previous shot",
            "init_image_asset_id",
        )


def last_frame_png(video: bytes) -> bytes:
    """The last picture of an encoded clip, as PNG (the first frame of the shot after it)."""
    import av
    from PIL import Image

    last = None
    try:
        with av.open(io.BytesIO(video), mode="r") as container:
            for frame in container.decode(video=0):
                last = frame
    except (av.FFmpegError, ValueError) as exc:
        raise InvalidMedia(f"the previous clip could not be decoded ({exc})") from None
    if last is None:
        raise InvalidMedia("the previous clip has no frames")
    out = io.BytesIO()
    Image.fromarray(last.to_ndarray(format="rgb24")).save(out, format="PNG")
    return out.getvalue()
