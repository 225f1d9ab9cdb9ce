"""Poster frames and contact sheets (JPEG), for the web UI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from PIL import Image

from videofoundry.core.errors import InvalidMedia
from videofoundry.media.probe import MediaInfo, probe, scan_with_frame

JPEG_QUALITY = 85


def _frames_at(
    path: Path, times: Sequence[float], who: str, width: int | None = None
) -> list[Image.Image]:
    """The first frame at or after each time (s), in order; decodes from the keyframe before.
    Pictures wider than `width` are scaled down to it."""
    images: list[Image.Image] = []
    try:
        with av.open(str(path), "r") as container:
            vs = container.streams.video[0]
            if len(times) == 1:
                # One picture: a decoder thread pool would cost more than it saves.
                vs.codec_context.thread_count = 1
            tb = vs.time_base
            assert tb is not None
            for t in times:
                container.seek(int(Fraction(t).limit_denominator(10**6) / tb), stream=vs)
                chosen = None
                for frame in container.decode(vs):
                    chosen = frame
                    if frame.pts is not None and float(frame.pts * tb) >= t - 1e-6:
                        break
                if chosen is None:
                    raise InvalidMedia(f"{who}: no frame at {t:.2f} s")
                images.append(_rgb(chosen, width))
    except av.FFmpegError as exc:
        raise InvalidMedia(f"{who}: cannot be decoded ({exc})") from exc
    return images


def _rgb(frame: av.VideoFrame, width: int | None = None) -> Image.Image:
    """The picture as RGB, scaled down to `width` in the same pass as the conversion."""
    if width and width < frame.width:
        height = max(2, round(frame.height * width / frame.width))
        pixels = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    else:
        pixels = frame.to_ndarray(format="rgb24")
    return Image.fromarray(pixels, mode="RGB")


def _save_jpeg(image: Image.Image, dst: Path) -> Path:
    # Write then rename: a reader never sees half a JPEG.
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        image.convert("RGB").save(tmp, format="JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


POSTER_AT = 1 / 3
"""Where posters are cut, as a share of the duration: past fades and titles."""
POSTER_KEYFRAME_UNTIL = 2 / 3
"""A keyframe from POSTER_AT up to this share is the poster instead: one picture to decode,
where the picture at POSTER_AT may need a whole group of pictures decoded up to it."""


def poster(src: Path, dst_jpg: Path, at: float | None = None, width: int | None = None) -> Path:
    """A JPEG of the frame at `at` seconds (default: the poster of `probe_with_poster`)."""
    if at is None:
        probe_with_poster(src, dst_jpg, width)
        return dst_jpg
    info = probe(src)
    t = min(max(0.0, at), max(0.0, info.duration - 1 / max(info.fps, 1)))
    return _save_jpeg(_frames_at(src, [t], src.name, width)[0], dst_jpg)


def probe_with_poster(src: Path, dst_jpg: Path, width: int | None = None) -> MediaInfo:
    """`probe` the file and cut its poster (a third in, or the first keyframe after that up to
    two thirds in) in the same pass: one open, no seek."""
    info, _, frame = scan_with_frame(src, frame_at=POSTER_AT, keyframe_until=POSTER_KEYFRAME_UNTIL)
    assert frame is not None  # scan_with_frame raises when nothing decodes
    _save_jpeg(_rgb(frame, width), dst_jpg)
    return info


def contact_sheet(
    rows: Sequence[Sequence[Path]] | Sequence[Path],
    dst_jpg: Path,
    *,
    columns: int = 6,
    thumb_width: int = 160,
    gap: int = 4,
) -> Path:
    """A grid of frames saved as JPEG.

    `rows` as a list of clips: one row per clip (segment), `columns` frames evenly spread over
    it. As a list of lists: one row per inner list, one poster frame per clip in it.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    grid: list[list[Image.Image]] = []
    for i, row in enumerate(rows):
        if isinstance(row, Path):
            info = probe(row, label=f"row {i + 1}")
            step = info.duration / columns
            grid.append(_frames_at(row, [step * (k + 0.5) for k in range(columns)], row.name))
        else:
            cells: list[Image.Image] = []
            clips = cast(Sequence[Path], row)
            for clip in clips:
                info = probe(clip)
                cells.extend(_frames_at(clip, [info.duration / 3], clip.name))
            grid.append(cells)
    sample = next(img for row in grid for img in row)
    thumb_height = max(1, round(sample.height * thumb_width / sample.width))
    width = max(len(r) for r in grid) * (thumb_width + gap) + gap
    height = len(grid) * (thumb_height + gap) + gap
    sheet = Image.new("RGB", (width, height), (16, 16, 16))
    for r, row_images in enumerate(grid):
        for c, img in enumerate(row_images):
            thumb = img.resize((thumb_width, thumb_height), Image.Resampling.BILINEAR)
            sheet.paste(thumb, (gap + c * (thumb_width + gap), gap + r * (thumb_height + gap)))
    return _save_jpeg(sheet, dst_jpg)
