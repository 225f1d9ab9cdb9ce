"""Checks on real video files, decoded with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def facts(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "frames": frames,
            "fps": float(stream.average_rate),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "duration": frames / float(stream.average_rate),
        }


def frame_at(path: Path, index: int) -> np.ndarray:
    """Decoded RGB frame number `index` (counting from 0)."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise IndexError(f"{path} has no frame {index}")


def same_picture(a: np.ndarray, b: np.ndarray, tolerance: float = 2.0) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) <= tolerance
