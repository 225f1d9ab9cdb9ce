"""Content addresses of clips and final videos (design.md section 3).

A clip's spec_hash covers everything that changes its pixels and nothing else, so moving,
renaming or captioning a segment keeps its clip, while any edit of the prompt, model, params,
duration, seed, init image or output format produces a new hash and a new generation.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump to invalidate every cached clip when generation semantics change.
SPEC_VERSION = 1


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def clip_spec(
    *,
    model: str,
    prompt: str,
    negative_prompt: str | None,
    params: dict[str, Any],
    duration: float,
    seed: int,
    init_image_sha256: str | None,
    width: int,
    height: int,
    fps: int,
    aspect_mode: str,
) -> dict[str, Any]:
    return {
        "v": SPEC_VERSION,
        "model": model,
        "prompt": prompt,
        "negative_prompt": negative_prompt or None,
        "params": params,
        # 1 ms resolution: float noise from JSON round trips must not change the hash.
        "duration": round(float(duration), 3),
        "seed": int(seed),
        "init_image_sha256": init_image_sha256,
        "output": {"width": width, "height": height, "fps": fps, "aspect_mode": aspect_mode},
    }


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def composition_hash(clip_hashes: list[str], settings: dict[str, Any]) -> str:
    """Key of a final video: its clips in order plus everything composition does to them."""
    return hashlib.sha256(
        canonical_json({"v": SPEC_VERSION, "clips": clip_hashes, "settings": settings})
    ).hexdigest()
