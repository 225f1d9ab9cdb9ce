"""What hosted adapters send: init images as data URIs, and the provider's nearest duration and
aspect ratio to what a segment asks for."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable

from videofoundry.core.errors import PromptRejected

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff_image(data: bytes) -> str | None:
    """MIME type of a PNG, JPEG or WebP image from its magic bytes."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_data_uri(data: bytes, *, max_encoded_bytes: int = 5 * 1024 * 1024) -> str:
    """A `data:image/...;base64,` URI of an init image, re-encoded when needed.

    PNG/JPEG/WebP pass through when small enough (Runway: data URIs under 5 MiB encoded, no
    GIF); anything else Pillow can read becomes PNG, and an oversized image becomes a JPEG,
    shrunk until it fits.
    """
    mime = sniff_image(data)
    if mime is not None and _encoded_len(data, mime) < max_encoded_bytes:
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    from PIL import Image, UnidentifiedImageError

    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PromptRejected(f"the init image is not a readable image ({exc})") from None
    image: Image.Image = opened.convert("RGB") if opened.mode not in ("RGB", "L") else opened
    if mime is None:
        out = io.BytesIO()
        image.save(out, format="PNG")
        if _encoded_len(out.getvalue(), "image/png") < max_encoded_bytes:
            return f"data:image/png;base64,{base64.b64encode(out.getvalue()).decode('ascii')}"
    quality = 90
    while True:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        encoded = out.getvalue()
        if _encoded_len(encoded, "image/jpeg") < max_encoded_bytes:
            return f"data:image/jpeg;base64,{base64.b64encode(encoded).decode('ascii')}"
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))
        quality = max(70, quality - 5)


def _encoded_len(data: bytes, mime: str) -> int:
    return len(f"data:{mime};base64,") + 4 * math.ceil(len(data) / 3)


def pick_duration(allowed: Iterable[int], requested: float) -> int:
    """The shortest allowed duration covering `requested` (the worker trims), else the longest."""
    choices = sorted(allowed)
    for value in choices:
        if value >= requested - 1e-6:
            return value
    return choices[-1]


def nearest_ratio(width: int, height: int, choices: Iterable[str], sep: str = ":") -> str:
    """The `W:H` choice whose aspect is closest (in log space) to width/height."""
    target = math.log(width / height)

    def distance(choice: str) -> float:
        w, h = choice.split(sep)
        return abs(math.log(float(w) / float(h)) - target)

    return min(choices, key=distance)
