"""The fakes' result files: real, tiny H.264 MP4s and still images, and a download cut short."""

from __future__ import annotations

import asyncio
import io
import logging
import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

if TYPE_CHECKING:
    from videofoundry.testing.fakes._common import FakeTask


@lru_cache(maxsize=32)
def make_mp4(width: int, height: int, frames: int, fps: int) -> bytes:
    """A real, tiny H.264 MP4: a moving bar over a colour ramp (low bitrate, ultrafast)."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "38", "tune": "zerolatency"}
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[..., 2] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
        for index in range(frames):
            image = base.copy()
            image[..., 0] = (index * 7) % 256
            x = (index * 4) % width
            image[:, x : x + max(2, width // 20), 1] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def task_video(task: FakeTask) -> bytes:
    frames = task.frames or max(1, math.ceil(task.seconds * task.fps))
    return make_mp4(task.width, task.height, frames, task.fps)


@lru_cache(maxsize=16)
def make_image(width: int, height: int, fmt: str = "PNG") -> bytes:
    from PIL import Image

    image = Image.new("RGB", (width, height), (90, 120, 200))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


class DeliberateDisconnect(Exception):
    """Raised mid-body to cut a download short; filtered out of uvicorn's error log."""


class _QuietDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DeliberateDisconnect) and not (
            isinstance(exc, BaseExceptionGroup)
            and any(isinstance(e, DeliberateDisconnect) for e in exc.exceptions)
        )


logging.getLogger("uvicorn.error").addFilter(_QuietDisconnects())


def truncated_response(content: bytes, media_type: str) -> Response:
    """Declares the full length, sends half, then breaks the connection."""
    from fastapi.responses import StreamingResponse

    async def body() -> Any:
        yield content[: len(content) // 2]
        await asyncio.sleep(0.01)
        raise DeliberateDisconnect("truncated on purpose")

    return StreamingResponse(
        body(), media_type=media_type, headers={"content-length": str(len(content))}
    )
