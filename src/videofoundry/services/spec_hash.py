"""Content addresses of clips and final videos (design.md section 3).

A clip's spec_hash covers everything that changes its pixels and nothing else, so moving,
renaming or captioning a segment keeps its clip, while any edit of the prompt, model, params,
duration, seed, init image or output format produces a new hash and a new generation.

A shot that continues from the previous one starts from that clip's last frame, so the previous
clip's spec_hash (its content address) is part of its spec: editing a shot changes the hashes of
the shots that continue from it, down the chain, and of no other.
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
    continues_from: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
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
    if continues_from is not None:
        # Only when set, so the hashes (and clips) of every other segment stay as they were.
        spec["continues_from"] = continues_from
    return spec


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def composition_hash(clip_hashes: list[str], settings: dict[str, Any]) -> str:
    """Key of a final video: its clips in order plus everything composition does to them."""
    return hashlib.sha256(
        canonical_json({"v": SPEC_VERSION, "clips": clip_hashes, "settings": settings})
    ).hexdigest()
