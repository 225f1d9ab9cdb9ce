"""Media engine: probing, normalisation to the canonical format, stitching and composition.

No system ffmpeg is needed: everything runs on PyAV (FFmpeg libraries with libx264).
"""

from videofoundry.media.captions import CaptionOverlay, Cue, parse_webvtt, webvtt, write_webvtt
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
from videofoundry.media.encoder import (
    AUDIO_RATE,
    CanonicalWriter,
    gop_size,
    samples_at,
)
from videofoundry.media.normalize import Aspect, normalize
from videofoundry.media.probe import MediaInfo, is_canonical, keyframe_times, probe
from videofoundry.media.thumbnails import contact_sheet, poster, probe_with_poster

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
