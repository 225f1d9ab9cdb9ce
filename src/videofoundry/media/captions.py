"""Captions: burned-in overlays (drawn once, blended into YUV frames) and WebVTT files."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def webvtt(cues: Iterable[Cue]) -> str:
    blocks = ["WEBVTT", ""]
    for i, cue in enumerate(cues, start=1):
        # A blank line ends a cue in WebVTT, and "-->" would start a timing line.
        text = re.sub(r"\n\s*\n", "\n", cue.text.strip()).replace("-->", "->")
        blocks += [str(i), f"{_ts(cue.start)} --> {_ts(cue.end)}", text, ""]
    return "\n".join(blocks)


def write_webvtt(cues: Iterable[Cue], path: Path) -> Path:
    path.write_text(webvtt(cues), encoding="utf-8")
    return path


_TIME = r"(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})"


def _seconds(m: re.Match[str], offset: int) -> float:
    h, mi, s, ms = (m.group(offset + i) for i in range(4))
    return int(h or 0) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1000


def parse_webvtt(text: str) -> list[Cue]:
    """Cues of a WebVTT (or SRT) file; styling and cue settings are ignored."""
    cues: list[Cue] = []
    pattern = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
    for block in re.split(r"\r?\n\s*\r?\n", text.replace("\ufeff", "")):
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            m = pattern.match(line)
            if m:
                body = "\n".join(lines[i + 1 :]).strip()
                if body:
                    cues.append(Cue(_seconds(m, 1), _seconds(m, 5), body))
                break
    return cues


def yuv_planes(
    yuv: npt.NDArray[np.uint8], width: int, height: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Views of the Y, U and V planes of a contiguous yuv420p array (H * 3 // 2, W)."""
    flat = yuv.reshape(-1)
    n, c = width * height, (width // 2) * (height // 2)
    return (
        flat[:n].reshape(height, width),
        flat[n : n + c].reshape(height // 2, width // 2),
        flat[n + c : n + 2 * c].reshape(height // 2, width // 2),
    )


def _rgb_to_yuv(rgb: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """BT.709 limited range, the colour space the canonical encoder declares."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (0.2126 * r + 0.7152 * g + 0.0722 * b) * (219 / 255)
    u = 128 + (-0.1146 * r - 0.3854 * g + 0.5 * b) * (224 / 255)
    v = 128 + (0.5 * r - 0.4542 * g - 0.0458 * b) * (224 / 255)
    return np.stack([y, u, v], axis=-1).astype(np.float32)


class CaptionOverlay:
    """A text caption drawn once with Pillow, then alpha-blended into yuv420p frames.

    Drawing text per frame would dominate the cost of a short clip; blending a precomputed
    band is a few numpy operations on a strip of the frame.
    """

    def __init__(self, text: str, width: int, height: int, *, position: str = "bottom") -> None:
        from PIL import Image, ImageDraw, ImageFont  # only burned captions need Pillow

        self.width, self.height = width, height
        size = max(10, height // 20)
        font = ImageFont.load_default(size=size)
        chars = max(10, int(width * 0.85 / (size * 0.55)))
        lines = textwrap.wrap(" ".join(text.split()), chars, max_lines=3, placeholder=" …")
        body = "\n".join(lines) or " "
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        bbox = probe.multiline_textbbox((0, 0), body, font=font, spacing=4)
        left, top, right, bottom = (
            math.floor(bbox[0]),
            math.floor(bbox[1]),
            math.ceil(bbox[2]),
            math.ceil(bbox[3]),
        )
        pad = max(4, size // 2)
        box_w = min(width, right - left + 2 * pad)
        box_h = min(height, bottom - top + 2 * pad)
        # Even offsets and sizes keep the band aligned with the 2x2 chroma grid.
        box_w += box_w % 2
        box_h += box_h % 2
        x0 = ((width - box_w) // 2) & ~1
        margin = max(2, height // 24) & ~1
        y0 = (height - box_h - margin) & ~1 if position == "bottom" else margin
        y0 = max(0, y0)
        box_w, box_h = min(box_w, width - x0), min(box_h, height - y0)
        img = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 150))
        draw = ImageDraw.Draw(img)
        draw.multiline_text(
            (pad - left, pad - top),
            body,
            font=font,
            fill=(255, 255, 255, 255),
            spacing=4,
            align="center",
        )
        rgba = np.asarray(img, dtype=np.float32)
        yuv = _rgb_to_yuv(rgba[..., :3])
        alpha = rgba[..., 3] / 255.0
        self.x0, self.y0, self.w, self.h = x0, y0, box_w, box_h
        self._y = yuv[..., 0]
        self._a = alpha
        # Chroma at half resolution: average the 2x2 block (alpha-weighted colour).
        a4 = alpha[::2, ::2] + alpha[1::2, ::2] + alpha[::2, 1::2] + alpha[1::2, 1::2]
        self._ac = a4 / 4
        weight = np.where(a4 > 0, a4, 1)
        self._u = self._pool(yuv[..., 1] * alpha) / weight
        self._v = self._pool(yuv[..., 2] * alpha) / weight

    @staticmethod
    def _pool(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return x[::2, ::2] + x[1::2, ::2] + x[::2, 1::2] + x[1::2, 1::2]

    def apply(self, yuv: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Blend into a yuv420p array shaped (H * 3 // 2, W), in place; returns it."""
        self._blend(*yuv_planes(yuv, self.width, self.height))
        return yuv

    def apply_frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Blend into a yuv420p VideoFrame's own planes, in place (no copy); returns it."""
        if frame.format.name != "yuv420p" or (frame.width, frame.height) != (
            self.width,
            self.height,
        ):
            raise ValueError("caption overlay needs a yuv420p frame of its size")
        views = []
        for plane in frame.planes:
            rows = np.frombuffer(memoryview(plane), dtype=np.uint8)
            views.append(rows.reshape(plane.height, plane.line_size)[:, : plane.width])
        self._blend(views[0], views[1], views[2])
        return frame

    def _blend(
        self, ys: npt.NDArray[np.uint8], us: npt.NDArray[np.uint8], vs: npt.NDArray[np.uint8]
    ) -> None:
        x0, y0, bw, bh = self.x0, self.y0, self.w, self.h
        region = ys[y0 : y0 + bh, x0 : x0 + bw]
        region[...] = (region * (1 - self._a) + self._y * self._a + 0.5).astype(np.uint8)
        cy, cx, ch, cw = y0 // 2, x0 // 2, bh // 2, bw // 2
        for plane, value in ((us, self._u), (vs, self._v)):
            r = plane[cy : cy + ch, cx : cx + cw]
            r[...] = (r * (1 - self._ac) + value * self._ac + 0.5).astype(np.uint8)
