"""Object keys. Only ids and hashes go into keys, so user text can never pick a path."""

from __future__ import annotations

import re

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _part(value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"unsafe key part: {value!r}")
    return value


def clip(owner_id: str, spec_hash: str) -> str:
    """A generated clip, stored once per owner per spec (content addressing)."""
    return f"clips/{_part(owner_id)}/{_part(spec_hash)}.mp4"


def clip_poster(owner_id: str, spec_hash: str) -> str:
    return f"clips/{_part(owner_id)}/{_part(spec_hash)}.jpg"


def clip_last_frame(owner_id: str, spec_hash: str) -> str:
    """A clip's last frame as PNG: the image of the shot that continues from it."""
    return f"clips/{_part(owner_id)}/{_part(spec_hash)}-last.png"


def final(owner_id: str, composition_hash: str) -> str:
    """A composed video, keyed by its ordered clips and composition settings."""
    return f"finals/{_part(owner_id)}/{_part(composition_hash)}.mp4"


def final_poster(owner_id: str, composition_hash: str) -> str:
    return f"finals/{_part(owner_id)}/{_part(composition_hash)}.jpg"


def final_captions(owner_id: str, composition_hash: str) -> str:
    return f"finals/{_part(owner_id)}/{_part(composition_hash)}.vtt"


def contact_sheet(owner_id: str, digest: str) -> str:
    """A project's contact sheet, keyed by the clips it shows (the same clips, the same sheet)."""
    return f"sheets/{_part(owner_id)}/{_part(digest)}.jpg"


def upload(owner_id: str, asset_id: str, extension: str) -> str:
    """A user upload (init image, soundtrack); the extension comes from a fixed list."""
    return f"uploads/{_part(owner_id)}/{_part(asset_id)}.{_part(extension)}"
