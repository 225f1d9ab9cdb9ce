"""A composition's inputs and their layout: transitions, clip specs, the timeline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from videofoundry.core.errors import InvalidMedia
from videofoundry.media.captions import Cue
from videofoundry.media.probe import MediaInfo, VideoIndex, scan
from videofoundry.media.x264_settings import EncoderSettings

TransitionKind = Literal["crossfade", "fade_black", "wipe_left", "wipe_right"]
TRANSITION_KINDS: tuple[str, ...] = get_args(TransitionKind)


@dataclass(frozen=True)
class Transition:
    """A transition from a clip into the next one; `duration` in seconds."""

    kind: TransitionKind
    duration: float

    def __post_init__(self) -> None:
        if self.kind not in TRANSITION_KINDS:
            raise ValueError(f"unknown transition {self.kind!r}; use one of {TRANSITION_KINDS}")
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise ValueError("a transition needs a positive duration")

    @classmethod
    def parse(cls, text: str) -> Transition:
        """`crossfade:0.5`, `fade_black:1`, `wipe_left` (0.5 s by default)."""
        kind, _, seconds = text.partition(":")
        if kind not in TRANSITION_KINDS:
            raise ValueError(f"unknown transition {kind!r}; use one of {TRANSITION_KINDS}")
        try:
            duration = float(seconds) if seconds else 0.5
        except ValueError as exc:
            raise ValueError(f"bad transition duration {seconds!r}") from exc
        return cls(cast(TransitionKind, kind), duration)  # kind checked above


@dataclass(frozen=True)
class ClipSpec:
    path: Path
    transition: Transition | None = None
    """Into the next clip; ignored on the last one."""
    caption: str | None = None
    burn_caption: bool = False
    """Draw the caption into the picture (re-encodes this clip) as well as the subtitle track."""
    label: str = ""
    """How errors name this clip, e.g. "segment 3"."""
    trim_start: float | None = None
    """In point: seconds into the clip where its part of the timeline begins (None: 0)."""
    trim_end: float | None = None
    """Out point: seconds into the clip where its part ends (None: the clip's end). Both are
    snapped to the nearest frame; the frames of a cut's GOP are re-encoded, the rest copied."""


@dataclass(frozen=True)
class ComposeOptions:
    soundtrack: Path | None = None
    soundtrack_volume: float = 0.5
    soundtrack_loop: bool = True
    """Loop a soundtrack shorter than the video; otherwise it just ends."""
    fade_in: float = 0.0
    """Seconds of soundtrack fade-in at the start."""
    fade_out: float = 0.0
    """Seconds of soundtrack fade-out at the end."""
    captions_track: bool = True
    """Write captions as a soft (mov_text) subtitle track."""
    webvtt: Path | None = None
    """Also write the captions as a WebVTT file here (skipped when there is no caption)."""
    cues: tuple[Cue, ...] | None = None
    """Timed captions that replace the per-clip ones (e.g. from a WebVTT file)."""
    threads: int = 0
    """Encoder threads for re-encoded pieces (0: automatic)."""
    encoder: EncoderSettings | None = None
    """How to encode pieces of clips that are not canonical; recovered from the first clip's
    x264 SEI when not given (see `x264_settings`)."""


@dataclass(frozen=True)
class TimelineEntry:
    label: str
    start_frame: int
    frames: int
    overlap_in: int
    """Frames shared with the previous clip (its transition into this one)."""
    overlap_out: int
    transition: Transition | None
    source_start: int = 0
    """The clip's frame shown first (its in point); `frames` are counted from there."""

    def cue_span(self, fps: int) -> tuple[float, float]:
        """Caption timing: mid incoming transition to mid outgoing one, so cues never overlap."""
        start = self.start_frame + self.overlap_in / 2
        end = self.start_frame + self.frames - self.overlap_out / 2
        return start / fps, end / fps


@dataclass(frozen=True)
class Timeline:
    fps: int
    width: int
    height: int
    entries: tuple[TimelineEntry, ...]
    total_frames: int
    infos: tuple[MediaInfo, ...] = field(repr=False, default=())
    indexes: tuple[VideoIndex, ...] = field(repr=False, default=())
    """Per clip, where its video packets and keyframes are."""

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps


def _label(spec: ClipSpec, index: int) -> str:
    return spec.label or f"clip {index + 1}"


def plan_timeline(clips: Sequence[ClipSpec]) -> Timeline:
    """Probe the clips and lay them out; the final duration is `Timeline.duration`.

    Raises InvalidMedia naming the clip when one is unusable or not in the same format as the
    first (same size, fps and H.264 parameter sets, whichever encoder made them).
    """
    if not clips:
        raise InvalidMedia("nothing to compose: no clips")
    scans = [scan(spec.path, label=_label(spec, i)) for i, spec in enumerate(clips)]
    infos = tuple(info for info, _ in scans)
    first = infos[0]
    fps = round(first.fps)
    for i, (spec, info) in enumerate(zip(clips, infos, strict=True)):
        who = _label(spec, i)
        if info.video_codec != "h264" or info.pix_fmt != "yuv420p":
            raise InvalidMedia(
                f"{who}: {info.video_codec}/{info.pix_fmt} is not the canonical H.264 yuv420p; "
                "normalise it first"
            )
        if (info.width, info.height) != (first.width, first.height) or abs(info.fps - fps) > 1e-6:
            raise InvalidMedia(
                f"{who}: {info.width}x{info.height} at {info.fps:g} fps does not match "
                f"{first.width}x{first.height} at {fps} fps; normalise it first"
            )
        if not info.constant_frame_rate:
            raise InvalidMedia(f"{who}: variable frame rate; normalise it first")
        if info.video_fingerprint != first.video_fingerprint:
            raise InvalidMedia(
                f"{who}: encoded with different H.264 settings than {_label(clips[0], 0)}, "
                "so it cannot be joined by copy; normalise it first"
            )
    spans = [
        _span(spec, info, fps, _label(spec, i))
        for i, (spec, info) in enumerate(zip(clips, infos, strict=True))
    ]
    frames = [end - begin for begin, end in spans]
    overlaps = [0] * len(clips)
    for i, spec in enumerate(clips[:-1]):
        if spec.transition is None:
            continue
        wanted = max(1, round(spec.transition.duration * fps))
        # A transition cannot eat into frames the previous transition already took, nor be
        # longer than the next clip.
        room = frames[i] - (overlaps[i - 1] if i else 0)
        overlaps[i] = max(0, min(wanted, room, frames[i + 1]))
    entries: list[TimelineEntry] = []
    start = 0
    for i, spec in enumerate(clips):
        overlap_in = overlaps[i - 1] if i else 0
        entries.append(
            TimelineEntry(
                label=_label(spec, i),
                start_frame=start,
                frames=frames[i],
                overlap_in=overlap_in,
                overlap_out=overlaps[i],
                transition=spec.transition if overlaps[i] else None,
                source_start=spans[i][0],
            )
        )
        start += frames[i] - overlaps[i]
    indexes = tuple(index for _, index in scans)
    return Timeline(fps, first.width, first.height, tuple(entries), start, infos, indexes)


def _span(spec: ClipSpec, info: MediaInfo, fps: int, who: str) -> tuple[int, int]:
    """Frames [in, out) of the clip that its trim keeps, snapped to the nearest frame."""
    whole = info.frame_count
    begin = round(spec.trim_start * fps) if spec.trim_start else 0
    end = whole if spec.trim_end is None else min(whole, round(spec.trim_end * fps))
    if not 0 <= begin < end:
        raise InvalidMedia(
            f"{who}: trimmed from {spec.trim_start or 0:g} s to "
            f"{spec.trim_end if spec.trim_end is not None else whole / fps:g} s of a "
            f"{whole / fps:g} s clip, which leaves no frame"
        )
    return begin, end


def caption_cues(clips: Sequence[ClipSpec], timeline: Timeline) -> list[Cue]:
    cues = []
    for spec, entry in zip(clips, timeline.entries, strict=True):
        if spec.caption and spec.caption.strip():
            start, end = entry.cue_span(timeline.fps)
            cues.append(Cue(start, end, spec.caption.strip()))
    return cues


def clean_cues(cues: Sequence[Cue], duration: float) -> list[Cue]:
    """Sorted, inside the video, non-empty and not overlapping (a subtitle track shows one
    sample at a time, so a cue ends where the next begins)."""
    ordered = sorted(
        (Cue(max(0.0, c.start), min(duration, c.end), c.text.strip()) for c in cues),
        key=lambda c: c.start,
    )
    out: list[Cue] = []
    for i, cue in enumerate(ordered):
        end = min(cue.end, ordered[i + 1].start) if i + 1 < len(ordered) else cue.end
        if cue.text and end - cue.start >= 0.001:
            out.append(Cue(cue.start, end, cue.text))
    return out
