"""Media engine: probing, normalisation to the canonical format, stitching and composition.

No system ffmpeg is needed: everything runs on PyAV (FFmpeg libraries with libx264).

Names are imported on first use (PEP 562): PyAV and NumPy take a good part of a second to load,
which commands that never touch media (or only their `--help`) should not pay for.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videofoundry.media.captions import (
        CaptionOverlay,
        Cue,
        parse_webvtt,
        webvtt,
        write_webvtt,
    )
    from videofoundry.media.composition import (
        TRANSITION_KINDS,
        ClipSpec,
        ComposeOptions,
        Timeline,
        TimelineEntry,
        Transition,
        TransitionKind,
        caption_cues,
        compose,
        compose_sync,
        plan_timeline,
        stitch,
        stitch_sync,
    )
    from videofoundry.media.encoder import AUDIO_RATE, CanonicalWriter, gop_size, samples_at
    from videofoundry.media.normalize import (
        Aspect,
        NormalizeJob,
        normalize,
        normalize_async,
        normalize_many,
    )
    from videofoundry.media.probe import MediaInfo, is_canonical, keyframe_times, probe
    from videofoundry.media.thumbnails import contact_sheet, poster, probe_with_poster

_WHERE = {
    "captions": ("CaptionOverlay", "Cue", "parse_webvtt", "webvtt", "write_webvtt"),
    "composition": (
        "TRANSITION_KINDS",
        "ClipSpec",
        "ComposeOptions",
        "Timeline",
        "TimelineEntry",
        "Transition",
        "TransitionKind",
        "caption_cues",
        "compose",
        "compose_sync",
        "plan_timeline",
        "stitch",
        "stitch_sync",
    ),
    "encoder": ("AUDIO_RATE", "CanonicalWriter", "gop_size", "samples_at"),
    "normalize": ("Aspect", "NormalizeJob", "normalize", "normalize_async", "normalize_many"),
    "probe": ("MediaInfo", "is_canonical", "keyframe_times", "probe"),
    "thumbnails": ("contact_sheet", "poster", "probe_with_poster"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "AUDIO_RATE",
    "TRANSITION_KINDS",
    "Aspect",
    "CanonicalWriter",
    "CaptionOverlay",
    "ClipSpec",
    "ComposeOptions",
    "Cue",
    "MediaInfo",
    "NormalizeJob",
    "Timeline",
    "TimelineEntry",
    "Transition",
    "TransitionKind",
    "caption_cues",
    "compose",
    "compose_sync",
    "contact_sheet",
    "gop_size",
    "is_canonical",
    "keyframe_times",
    "normalize",
    "normalize_async",
    "normalize_many",
    "parse_webvtt",
    "plan_timeline",
    "poster",
    "probe",
    "probe_with_poster",
    "samples_at",
    "stitch",
    "stitch_sync",
    "webvtt",
    "write_webvtt",
]


class _Package(types.ModuleType):
    """Keeps `media.probe` and `media.normalize` the functions, as the eager imports did: the
    import system would otherwise replace them with the submodules of the same name as soon
    as those are loaded (`from videofoundry.media.probe import ...` is unaffected)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _MODULE_OF:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
