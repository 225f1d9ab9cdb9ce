"""Stitching and composition: copy what can be copied, re-encode only what must change.

The output's video track is built from runs of packets copied from the clips (whole GOPs, no
decoding) and short re-encoded pieces for the frames a transition or a burned-in caption
touches, widened to the GOP boundaries around them. Pieces come from the canonical encoder
(`encoder.add_canonical_video_stream`), so they share the clips' SPS/PPS and are themselves
joined by copy; this is checked, not assumed.

The audio track is always re-encoded, once, as one continuous AAC stream: each clip's audio is
decoded, cut to exactly its video length (dropping the AAC priming and padding that a packet
copy would keep at every boundary), crossfaded at transitions, mixed with the soundtrack and
encoded. Audio is about 1% of the bytes and cheap to encode; copying it cannot be exact
because AAC frames (1024 samples) do not line up with video frames.

Everything is streamed clip by clip, so memory does not grow with the length of the timeline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal, cast, get_args

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from videofoundry.core.errors import Cancelled, GenerationError, InvalidMedia
from videofoundry.media.captions import CaptionOverlay, Cue, write_webvtt, yuv_planes
from videofoundry.media.encoder import (
    AUDIO_LAYOUT,
    AUDIO_RATE,
    SILENT_HANDLER,
    AudioEncoder,
    CanonicalWriter,
    Pcm,
    add_canonical_audio_stream,
    pcm_frame,
    samples_at,
)
from videofoundry.media.format import OutputFormat
from videofoundry.media.probe import MediaInfo, VideoIndex, canonical_fingerprint, probe, scan
from videofoundry.media.x264_settings import EncoderSettings, reproduce

TransitionKind = Literal["crossfade", "fade_black", "wipe_left", "wipe_right"]
TRANSITION_KINDS: tuple[str, ...] = get_args(TransitionKind)

ProgressCallback = Callable[[float], Awaitable[None]]
SyncProgress = Callable[[float], None]

RENDER_COST = 30
"""How many copied frames one re-encoded frame is worth, for progress reporting."""
AUDIO_STEP = AUDIO_RATE // 2
"""Audio is mixed and encoded half a second at a time."""
AUDIO_STEP_COST = 20
"""Progress weight of encoding one audio step, in copied frames."""


class _Aborted(Exception):
    """The other thread of a composition failed; this one stops quietly."""


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
    frames = [info.frame_count for info in infos]
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
            )
        )
        start += frames[i] - overlaps[i]
    indexes = tuple(index for _, index in scans)
    return Timeline(fps, first.width, first.height, tuple(entries), start, infos, indexes)


def caption_cues(clips: Sequence[ClipSpec], timeline: Timeline) -> list[Cue]:
    cues = []
    for spec, entry in zip(clips, timeline.entries, strict=True):
        if spec.caption and spec.caption.strip():
            start, end = entry.cue_span(timeline.fps)
            cues.append(Cue(start, end, spec.caption.strip()))
    return cues


def _clean_cues(cues: Sequence[Cue], duration: float) -> list[Cue]:
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


# --- the video plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plain:
    clip: int
    start: int
    end: int


@dataclass(frozen=True)
class _Blend:
    clip: int
    """The outgoing clip; the incoming one is clip + 1."""
    kind: TransitionKind
    frames: int


_RenderStep = _Plain | _Blend


@dataclass
class _Copy:
    clip: int
    start: int
    end: int


@dataclass
class _Render:
    steps: list[_RenderStep]

    @property
    def frames(self) -> int:
        return sum(s.end - s.start if isinstance(s, _Plain) else s.frames for s in self.steps)


_Op = _Copy | _Render


def _plan_ops(clips: Sequence[ClipSpec], timeline: Timeline) -> list[_Op]:
    ops: list[_Op] = []

    def render(step: _RenderStep) -> None:
        if isinstance(step, _Plain) and step.end <= step.start:
            return
        if ops and isinstance(ops[-1], _Render):
            ops[-1].steps.append(step)
        else:
            ops.append(_Render([step]))

    for i, (spec, entry) in enumerate(zip(clips, timeline.entries, strict=True)):
        n, head, tail = entry.frames, entry.overlap_in, entry.overlap_out
        burn = bool(spec.burn_caption and spec.caption and spec.caption.strip())
        copy_start = copy_end = None
        if not burn:
            # Cut points: keyframes that start a closed GOP (all of them without B-frames).
            keys = timeline.indexes[i].cuts
            starts = [k for k in keys if k >= head]
            ends = [k for k in keys if k <= n - tail] if tail else [n]
            if starts and ends and starts[0] < ends[-1]:
                copy_start, copy_end = starts[0], ends[-1]
        if copy_start is None or copy_end is None:
            render(_Plain(i, head, n - tail))
        else:
            render(_Plain(i, head, copy_start))
            ops.append(_Copy(i, copy_start, copy_end))
            render(_Plain(i, copy_end, n - tail))
        if tail:
            assert entry.transition is not None
            render(_Blend(i, entry.transition.kind, tail))
    return ops


# --- decoding and blending -------------------------------------------------------------------


Yuv = npt.NDArray[np.uint8]


def _decode_range(path: Path, start: int, end: int, fps: int) -> Iterator[Yuv]:
    """Decoded yuv420p frames [start, end) of a canonical clip, from the keyframe before start."""
    with av.open(str(path), "r") as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        tb = vs.time_base
        assert tb is not None
        if start > 0:
            container.seek(int(Fraction(start, fps) / tb), stream=vs, backward=True)
        for frame in container.decode(vs):
            if frame.pts is None:
                continue
            index = round(frame.pts * tb * fps)
            if index < start:
                continue
            if index >= end:
                return
            yield np.asarray(frame.to_ndarray(), dtype=np.uint8)


def _alpha(j: int, frames: int) -> float:
    # Strictly between 0 and 1: the first and last transition frames already differ from the
    # clips on either side.
    return (j + 1) / (frames + 1)


def _mix(a: Yuv, b: Yuv, alpha: float) -> Yuv:
    """(1 - alpha) * a + alpha * b, rounded, in 8.8 fixed point: uint16 arithmetic is several
    times faster than float32 on full frames and exact to within one level."""
    w = round(alpha * 256)
    out = a.astype(np.uint16) * (256 - w)
    out += b.astype(np.uint16) * w
    out += 128
    out >>= 8
    return out.astype(np.uint8)


def blend_frames(
    kind: TransitionKind, a: Yuv, b: Yuv, alpha: float, width: int, height: int
) -> Yuv:
    """One transition frame between yuv420p arrays `a` (outgoing) and `b` (incoming)."""
    if kind == "crossfade":
        return _mix(a, b, alpha)
    if kind == "fade_black":
        black = np.empty_like(a)
        y, u, v = yuv_planes(black, width, height)
        y.fill(16)
        u.fill(128)
        v.fill(128)
        if alpha < 0.5:
            return _mix(a, black, 2 * alpha)
        return _mix(black, b, 2 * alpha - 1)
    # Wipes: the incoming clip covers a growing share of the width, from the right
    # (wipe_left, the edge moves left) or from the left (wipe_right). Even edge for chroma.
    edge = round(width * alpha / 2) * 2
    out = a.copy()
    for po, pb, scale in zip(
        yuv_planes(out, width, height), yuv_planes(b, width, height), (1, 2, 2), strict=True
    ):
        e = edge // scale
        w = po.shape[1]
        if kind == "wipe_left":
            po[:, w - e :] = pb[:, w - e :]
        else:
            po[:, :e] = pb[:, :e]
    return out


# --- audio -----------------------------------------------------------------------------------


def _decode_pcm(path: Path, who: str) -> Iterator[tuple[int | None, Pcm]]:
    """(start sample or None, samples) chunks of a file's first audio stream at 48 kHz stereo."""
    try:
        container = av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise InvalidMedia(f"{who}: not a readable media file ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise InvalidMedia(f"{who}: contains no audio stream")
        aus = container.streams.audio[0]
        ctx = aus.codec_context
        # Canonical audio is already fltp 48 kHz stereo: skip the resampler (a filter graph
        # per frame) and do timestamp arithmetic in integers, not Fractions.
        native = (ctx.format.name, ctx.sample_rate, ctx.channels) == ("fltp", AUDIO_RATE, 2)
        resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
        tb = aus.time_base
        num, den = (tb.numerator * AUDIO_RATE, tb.denominator) if tb else (0, 1)

        def start_of(frame: av.AudioFrame) -> int | None:
            if frame.pts is None or not num:
                return None
            return (frame.pts * num + den // 2) // den

        try:
            for frame in container.decode(aus):
                if native and frame.format.name == "fltp" and frame.sample_rate == AUDIO_RATE:
                    yield start_of(frame), np.asarray(frame.to_ndarray(), dtype=np.float32)
                    continue
                for out in resampler.resample(frame):
                    yield _pcm_start(out), np.asarray(out.to_ndarray(), dtype=np.float32)
            for out in resampler.resample(None):
                yield _pcm_start(out), np.asarray(out.to_ndarray(), dtype=np.float32)
        except av.FFmpegError as exc:
            raise InvalidMedia(f"{who}: the audio cannot be decoded ({exc})") from exc


def _pcm_start(frame: av.AudioFrame) -> int | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return round(frame.pts * frame.time_base * AUDIO_RATE)


def clip_pcm(path: Path, samples: int, who: str, info: MediaInfo | None = None) -> Pcm:
    """Exactly `samples` of a clip's audio from its start (silence where it has none)."""
    out = np.zeros((2, samples), dtype=np.float32)
    if info is not None and (not info.has_audio or info.audio_silent):
        return out
    pos = 0
    first: int | None = None
    try:
        for start, pcm in _decode_pcm(path, who):
            if start is not None:
                # Place by timestamp, relative to the first chunk, so a gap stays a gap.
                first = start if first is None else first
                pos = start - first
            if pos >= samples:
                break
            n = min(pcm.shape[1], samples - pos)
            if pos >= 0 and n > 0:
                out[:, pos : pos + n] = pcm[:, :n]
            pos += pcm.shape[1]
    except InvalidMedia:
        if info is None:
            # Without probe facts "no audio stream" is not an error for a clip: it is silent.
            with av.open(str(path), "r") as container:
                if not container.streams.audio:
                    return out
        raise
    return out


@lru_cache(maxsize=1)
def _silent_aac_frame() -> bytes:
    """One AAC frame of digital silence from the canonical encoder, in its steady state.

    Every such frame decodes to 1024 zero samples whatever comes before it, so a silent track
    of any length is that frame repeated: no encoding at all.
    """
    codec = av.CodecContext.create("aac", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = AUDIO_RATE
    codec.layout = AUDIO_LAYOUT
    codec.format = "fltp"
    codec.bit_rate = 128_000
    codec.time_base = Fraction(1, AUDIO_RATE)
    frame = pcm_frame(np.zeros((2, 8 * 1024), dtype=np.float32), 0)
    packets = [bytes(p) for p in codec.encode(frame)] + [bytes(p) for p in codec.encode(None)]
    return packets[len(packets) // 2]


class _SilentTrack:
    """Audio of a timeline whose clips are all generated silence: repeated silent frames."""

    def __init__(self, container: OutputContainer, stream: AudioStream, total: int) -> None:
        self.container = container
        self.stream = stream
        self.total = total
        self.done = 0
        self.payload = _silent_aac_frame()
        # The encoder's priming: the first frame starts 1024 samples early, as a real encode
        # would, and the muxer writes the edit list that hides it.
        self.pts = -1024

    def render_until(self, sample: int) -> None:
        sample = min(sample, self.total)
        while self.pts < sample:
            duration = min(1024, self.total - self.pts)
            packet = av.Packet(self.payload)
            packet.pts = packet.dts = self.pts
            packet.duration = duration
            packet.time_base = Fraction(1, AUDIO_RATE)
            packet.stream = self.stream
            self.container.mux(packet)
            self.pts += 1024
        self.done = sample

    def flush(self) -> None:
        self.render_until(self.total)


class _Soundtrack:
    """A looping or ending stream of soundtrack samples with volume and fades applied."""

    def __init__(self, path: Path, options: ComposeOptions, total: int) -> None:
        self.path = path
        self.options = options
        self.total = total
        self.position = 0
        self._buffer = np.zeros((2, 0), dtype=np.float32)
        self._source = self._samples()
        # Fail early and clearly: it must be decodable audio with at least one sample.
        first = next(self._source, None)
        if first is None:
            raise InvalidMedia("soundtrack: contains no audio samples")
        self._buffer = first

    def _samples(self) -> Iterator[Pcm]:
        while True:
            produced = False
            for _start, pcm in _decode_pcm(self.path, "soundtrack"):
                if pcm.shape[1]:
                    produced = True
                    yield pcm
            if not (produced and self.options.soundtrack_loop):
                return

    def read(self, n: int) -> Pcm:
        parts = [self._buffer]
        have = self._buffer.shape[1]
        while have < n:
            chunk = next(self._source, None)
            if chunk is None:
                parts.append(np.zeros((2, n - have), dtype=np.float32))
                have = n
                break
            parts.append(chunk)
            have += chunk.shape[1]
        joined = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        out, self._buffer = joined[:, :n], joined[:, n:]
        gain = np.full(n, self.options.soundtrack_volume, dtype=np.float32)
        idx = np.arange(self.position, self.position + n, dtype=np.float64)
        fade_in = self.options.fade_in * AUDIO_RATE
        fade_out = self.options.fade_out * AUDIO_RATE
        if fade_in > 0:
            gain *= np.clip(idx / fade_in, 0, 1).astype(np.float32)
        if fade_out > 0:
            gain *= np.clip((self.total - idx) / fade_out, 0, 1).astype(np.float32)
        self.position += n
        return out * gain


def _ramp(n: int, kind: TransitionKind | None, incoming: bool) -> npt.NDArray[np.float32]:
    x = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
    if kind == "fade_black":
        # Dip to silence with the picture: out during the first half, in during the second.
        g = np.clip(2 * x - 1, 0, 1) if incoming else np.clip(1 - 2 * x, 0, 1)
    else:
        g = x if incoming else 1 - x
    return g.astype(np.float32)


class _AudioTimeline:
    """Mixes clip audio (crossfaded over overlaps) and the soundtrack, encoding as it goes."""

    def __init__(
        self,
        clips: Sequence[ClipSpec],
        timeline: Timeline,
        encoder: AudioEncoder,
        soundtrack: _Soundtrack | None,
    ) -> None:
        self.clips = clips
        self.timeline = timeline
        self.encoder = encoder
        self.soundtrack = soundtrack
        self.total = samples_at(timeline.total_frames, timeline.fps)
        self._buf = np.zeros((2, 0), dtype=np.float32)
        self._buf_start = 0
        self._next = 0
        self.done = 0

    def _mix_next(self) -> None:
        i = self._next
        self._next += 1
        entry, fps = self.timeline.entries[i], self.timeline.fps
        s0 = samples_at(entry.start_frame, fps)
        s1 = samples_at(entry.start_frame + entry.frames, fps)
        info = self.timeline.infos[i] if self.timeline.infos else None
        pcm = clip_pcm(self.clips[i].path, s1 - s0, entry.label, info)
        if entry.overlap_in:
            prev = self.timeline.entries[i - 1].transition
            n = samples_at(entry.start_frame + entry.overlap_in, fps) - s0
            pcm[:, :n] *= _ramp(n, prev.kind if prev else None, incoming=True)
        if entry.overlap_out:
            n = s1 - samples_at(entry.start_frame + entry.frames - entry.overlap_out, fps)
            kind = entry.transition.kind if entry.transition else None
            pcm[:, pcm.shape[1] - n :] *= _ramp(n, kind, incoming=False)
        end = s1 - self._buf_start
        if end > self._buf.shape[1]:
            grow = np.zeros((2, end - self._buf.shape[1]), dtype=np.float32)
            self._buf = np.concatenate([self._buf, grow], axis=1)
        self._buf[:, s0 - self._buf_start : end] += pcm

    def flush(self) -> None:
        self.render_until(self.total)
        self.encoder.flush()

    def render_until(self, sample: int) -> None:
        sample = min(sample, self.total)
        if sample <= self.done:
            return
        fps = self.timeline.fps
        entries = self.timeline.entries
        while (
            self._next < len(entries) and samples_at(entries[self._next].start_frame, fps) < sample
        ):
            self._mix_next()
        a, b = self.done - self._buf_start, sample - self._buf_start
        if b > self._buf.shape[1]:
            grow = np.zeros((2, b - self._buf.shape[1]), dtype=np.float32)
            self._buf = np.concatenate([self._buf, grow], axis=1)
        chunk = self._buf[:, a:b]
        if self.soundtrack is not None:
            chunk = chunk + self.soundtrack.read(chunk.shape[1])
        self.encoder.write(np.clip(chunk, -1.0, 1.0))
        self._buf = self._buf[:, b:]
        self._buf_start = sample
        self.done = sample


# --- subtitles -------------------------------------------------------------------------------

_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    b"[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    b"OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
    b"Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, "
    b"Text\n"
)


def _add_subtitle_stream(container: OutputContainer) -> Stream:
    stream = container.add_stream("mov_text")
    stream.time_base = Fraction(1, 1000)
    ctx = stream.codec_context
    ctx.time_base = Fraction(1, 1000)
    ctx.subtitle_header = _ASS_HEADER
    return stream


def _subtitle_packet(stream: Stream, cue: Cue) -> av.Packet[Stream]:
    from av.subtitles.codeccontext import SubtitleCodecContext
    from av.subtitles.subtitle import SubtitleSet

    ctx = stream.codec_context
    assert isinstance(ctx, SubtitleCodecContext)
    start, end = round(cue.start * 1000), round(cue.end * 1000)
    text = cue.text.replace("\r", "").replace("\n", "\\N")
    sub = SubtitleSet.create(f"0,0,Default,,0,0,0,,{text}".encode(), 0, end - start, pts=0)
    packet = ctx.encode_subtitle(sub)
    packet.pts = packet.dts = start
    packet.duration = end - start
    packet.time_base = Fraction(1, 1000)
    packet.stream = stream
    return packet


# --- the composer ----------------------------------------------------------------------------


class _Composer:
    def __init__(
        self,
        clips: Sequence[ClipSpec],
        dst: Path,
        options: ComposeOptions,
        report: SyncProgress | None,
    ) -> None:
        self.clips = list(clips)
        self.dst = dst
        self.options = options
        self.report = report
        self.timeline = plan_timeline(self.clips)
        self.fps = self.timeline.fps
        self.fmt = OutputFormat(self.timeline.width, self.timeline.height, self.fps)
        self.ops = _plan_ops(self.clips, self.timeline)
        if options.cues is not None:
            self.cues = _clean_cues(options.cues, self.timeline.duration)
        else:
            self.cues = caption_cues(self.clips, self.timeline)
        self.overlays: dict[int, CaptionOverlay] = {
            i: CaptionOverlay(spec.caption or "", self.fmt.width, self.fmt.height)
            for i, spec in enumerate(self.clips)
            if spec.burn_caption and spec.caption and spec.caption.strip()
        }
        copy_frames = sum(op.end - op.start for op in self.ops if isinstance(op, _Copy))
        render_frames = sum(op.frames for op in self.ops if isinstance(op, _Render))
        silent = all(i.audio_silent or not i.has_audio for i in self.timeline.infos)
        self._silent = silent and options.soundtrack is None
        self._audio_steps = -(-samples_at(self.timeline.total_frames, self.fps) // AUDIO_STEP)
        audio_units = self._audio_steps * (1 if self._silent else AUDIO_STEP_COST)
        self._units_total = max(1, copy_frames + RENDER_COST * render_frames + audio_units)
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._units = 0
        self._last_report = -1.0
        self.rendered_frames = render_frames
        self.copied_frames = copy_frames
        self.settings = self._piece_settings() if render_frames else None

    def _piece_settings(self) -> EncoderSettings | None:
        """None (the canonical encoder) for canonical clips; otherwise the clips' own x264
        configuration, checked to reproduce their parameter sets."""
        fingerprint = self.timeline.infos[0].video_fingerprint
        if fingerprint == canonical_fingerprint(self.fmt):
            return None
        if self.options.encoder is not None:
            return self.options.encoder
        first = self.timeline.entries[0].label
        try:
            return reproduce(self.clips[0].path, self.fmt, fingerprint, source=first)
        except ValueError as exc:
            raise InvalidMedia(
                f"{first}: transitions need pieces encoded like the clips, and its H.264 "
                f"settings cannot be reproduced ({exc}); normalise the clips first"
            ) from exc

    def _progress(self, units: int) -> None:
        """Count work done; called from both threads, reported in order under the lock.

        Also the place where a cancel (the report callback raising) or a failure of the other
        thread stops this one.
        """
        if self._abort.is_set():
            raise _Aborted
        with self._lock:
            self._units += units
            fraction = min(1.0, self._units / self._units_total)
            if self.report is not None and fraction - self._last_report >= 0.01:
                self._last_report = fraction
                self.report(fraction * 0.99)

    def run(self) -> MediaInfo:
        soundtrack = None
        if self.options.soundtrack is not None:
            total = samples_at(self.timeline.total_frames, self.fps)
            soundtrack = _Soundtrack(self.options.soundtrack, self.options, total)
        tmp = self.dst.with_name(f".{self.dst.name}.{uuid.uuid4().hex[:8]}.partial")
        self.dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.TemporaryDirectory(prefix=".vf-compose-", dir=self.dst.parent) as work:
                pieces, audio = Path(work) / "pieces.mp4", Path(work) / "audio.m4a"
                self._encode(pieces, audio, soundtrack)
                self._mux(tmp, pieces, audio)
            info = probe(tmp, label="composed video")
            if self.options.webvtt is not None and self.cues:
                write_webvtt(self.cues, self.options.webvtt)
            os.replace(tmp, self.dst)
        finally:
            tmp.unlink(missing_ok=True)
        if self.report is not None:
            self.report(1.0)
        return info

    # Phase 1: everything that is encoded, the audio in a second thread (the encoders
    # release the GIL, so on two cores it costs almost nothing on top of the video).

    def _encode(self, pieces: Path, audio: Path, soundtrack: _Soundtrack | None) -> None:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vf-audio") as pool:
            audio_done = pool.submit(self._encode_audio, audio, soundtrack)
            try:
                self._render_pieces(pieces)
            except _Aborted:
                pass  # the audio thread failed: its error is raised just below
            except BaseException:
                self._abort.set()
                with contextlib.suppress(BaseException):
                    audio_done.result()
                raise
            audio_done.result()

    def _encode_audio(self, path: Path, soundtrack: _Soundtrack | None) -> None:
        try:
            self._write_audio(path, soundtrack)
        except _Aborted:
            return  # the video side failed and raises its own error
        except BaseException:
            self._abort.set()
            raise

    def _write_audio(self, path: Path, soundtrack: _Soundtrack | None) -> None:
        total = samples_at(self.timeline.total_frames, self.fps)
        with av.open(str(path), "w", format="mp4") as out:
            stream = add_canonical_audio_stream(out)
            audio: _AudioTimeline | _SilentTrack
            if self._silent:
                # Nothing to hear: ready-made silent frames, tagged so that a later stitch of
                # the result takes this path too.
                stream.metadata["handler_name"] = SILENT_HANDLER
                audio = _SilentTrack(out, stream, total)
            else:
                encoder = AudioEncoder(out, stream)
                audio = _AudioTimeline(self.clips, self.timeline, encoder, soundtrack)
            for k in range(1, self._audio_steps + 1):
                audio.render_until(k * AUDIO_STEP)
                self._progress(1 if self._silent else AUDIO_STEP_COST)
            audio.flush()

    def _render_pieces(self, path: Path) -> None:
        """All re-encoded frames, back to back in one file, one encoder session.

        Each piece starts with a forced keyframe (an IDR: the GOP is closed), so it decodes on
        its own wherever it is spliced; one session avoids an encoder start-up per transition
        and keeps x264's threads busy.
        """
        renders = [op for op in self.ops if isinstance(op, _Render)]
        if not renders:
            return
        with CanonicalWriter(
            path,
            self.fmt,
            audio="none",
            threads=self.options.threads,
            faststart=False,
            analysis="fast",
            settings=self.settings,
        ) as writer:
            for op in renders:
                first = writer.frames
                for step in op.steps:
                    for yuv in self._frames(step):
                        self._progress(RENDER_COST)
                        writer.write_frame(yuv, keyframe=writer.frames == first)
                if writer.frames - first != op.frames:
                    raise InvalidMedia(
                        f"a clip ended early while rendering a transition "
                        f"({writer.frames - first} of {op.frames} frames)"
                    )

    # Phase 2: a remux. Video packets from the clips and the pieces, audio packets from the
    # audio file, subtitles made on the way; interleaved every half second.

    def _mux(self, tmp: Path, pieces: Path, audio_path: Path) -> None:
        out = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        pieces_index = self._pieces_index(pieces)
        # Decode timestamps run this many frames behind presentation all along the output, so
        # that clips with B-frames keep a valid order wherever they are spliced (0 without).
        delay = max(
            [index.delay for index in self.timeline.indexes]
            + ([pieces_index.delay] if pieces_index else [])
        )
        try:
            with av.open(str(self.clips[0].path), "r") as template_src:
                vout = out.add_stream_from_template(template_src.streams.video[0])
            vout.time_base = Fraction(1, self.fps)
            audio_in = av.open(str(audio_path), "r")
            with audio_in:
                ain = audio_in.streams.audio[0]
                aout = out.add_stream_from_template(ain)
                aout.metadata.update({k: v for k, v in ain.metadata.items() if k == "handler_name"})
                audio_packets = (p for p in audio_in.demux(ain) if p.size)
                pending_audio: list[av.Packet[AudioStream]] = []
                subs = (
                    _add_subtitle_stream(out) if self.cues and self.options.captions_track else None
                )
                pending_cues = list(self.cues)

                def mux_audio_until(index: int) -> None:
                    # Audio up to the start of this picture, then the captions that begin.
                    limit = samples_at(index, self.fps)
                    while True:
                        if not pending_audio:
                            nxt = next(audio_packets, None)
                            if nxt is None:
                                break
                            pending_audio.append(nxt)
                        packet = pending_audio[0]
                        assert packet.pts is not None
                        if packet.pts >= limit:
                            break
                        packet.stream = aout
                        out.mux(pending_audio.pop(0))
                    while (
                        subs is not None
                        and pending_cues
                        and pending_cues[0].start * self.fps <= index
                    ):
                        out.mux(_subtitle_packet(subs, pending_cues.pop(0)))

                written = 0
                piece_start = 0
                source: Iterator[tuple[av.Packet[VideoStream], int]]
                for op in self.ops:
                    if isinstance(op, _Copy):
                        who = self.timeline.entries[op.clip].label
                        source = self._copied_packets(op, who)
                        count = op.end - op.start
                    else:
                        assert pieces_index is not None
                        who, count = "re-encoded piece", op.frames
                        if piece_start not in pieces_index.cuts:
                            raise GenerationError(f"{who}: does not start a closed GOP")
                        source = _indexed_packets(
                            pieces, pieces_index, piece_start, piece_start + count, who
                        )
                        piece_start += count
                    copied = 0
                    for packet, shown in source:
                        index = written + copied
                        if copied == 0 and not packet.is_keyframe:
                            raise GenerationError(f"{who}: does not start on a keyframe")
                        if index % max(1, self.fps // 2) == 0:
                            mux_audio_until(index)
                        packet.pts = written + shown
                        packet.dts = index - delay
                        packet.duration = 1
                        packet.time_base = Fraction(1, self.fps)
                        packet.stream = vout
                        out.mux(packet)
                        copied += 1
                    if copied != count:
                        raise InvalidMedia(f"{who}: expected {count} frames, found {copied}")
                    written += copied
                    if isinstance(op, _Copy):
                        self._progress(copied)
                mux_audio_until(1 << 62)
            out.close()
        except BaseException:
            # Keep the original error; the half-written file is deleted by the caller.
            with contextlib.suppress(Exception):
                out.close()
            raise

    def _pieces_index(self, pieces: Path) -> VideoIndex | None:
        """Where the re-encoded pieces' packets are; their parameter sets must be the clips'
        (joining streams with different headers gives a file that plays as garbage)."""
        if not any(isinstance(op, _Render) for op in self.ops):
            return None
        info, index = scan(pieces, label="re-encoded pieces")
        if info.video_fingerprint != self.timeline.infos[0].video_fingerprint:
            raise GenerationError(
                "a re-encoded transition does not share the clips' H.264 settings; "
                "the clips were probably made by another encoder build, normalise them"
            )
        if not index.offsets:  # pragma: no cover - our own MP4 always has byte positions
            raise GenerationError("re-encoded pieces: no packet positions")
        return index

    def _copied_packets(self, op: _Copy, who: str) -> Iterator[tuple[av.Packet[VideoStream], int]]:
        """Packets of frames [op.start, op.end) of a clip with their presentation index from
        op.start, read by byte range when the scan recorded where they are (no second demux of
        the clip), otherwise demuxed."""
        index = self.timeline.indexes[op.clip]
        path = self.clips[op.clip].path
        if index.offsets:
            return _indexed_packets(path, index, op.start, op.end, who)
        return self._packets(path, op.start, op.end, who)

    def _packets(
        self, path: Path, start: int, end: int, who: str
    ) -> Generator[tuple[av.Packet[VideoStream], int]]:
        """Demuxed video packets of frames [start, end) of a clip, in decode order.

        `start` and `end` are cut points (or the clip's end), so the packets between them in
        decode order are exactly the pictures between them in presentation order.
        """
        expected = self.timeline.infos[0].video_fingerprint
        try:
            container: InputContainer = av.open(str(path), "r")
        except av.FFmpegError as exc:
            raise InvalidMedia(f"{who}: not a readable media file ({exc})") from exc
        with container:
            vs = container.streams.video[0]
            if probe_fingerprint(vs) != expected:
                raise InvalidMedia(f"{who}: H.264 settings changed while composing")
            tb = vs.time_base
            assert tb is not None
            # Frame index from the timestamp in integers (Fraction arithmetic per packet
            # shows up in profiles of long timelines).
            num, den = tb.numerator * self.fps, tb.denominator
            if start > 0:
                container.seek((start * den) // num, stream=vs, backward=True)
            try:
                for packet in container.demux(vs):
                    if not packet.size or packet.pts is None:
                        continue
                    index = (packet.pts * num + den // 2) // den
                    if index < start:
                        continue
                    if index >= end:
                        break
                    yield packet, index - start
            except av.FFmpegError as exc:
                raise InvalidMedia(f"{who}: unreadable data ({exc})") from exc

    def _frames(self, step: _RenderStep) -> Iterator[Yuv]:
        fps, fmt = self.fps, self.fmt
        if isinstance(step, _Plain):
            overlay = self.overlays.get(step.clip)
            for yuv in _decode_range(self.clips[step.clip].path, step.start, step.end, fps):
                yield overlay.apply(yuv) if overlay else yuv
            return
        a_clip, b_clip = step.clip, step.clip + 1
        n_a = self.timeline.entries[a_clip].frames
        a_frames = _decode_range(self.clips[a_clip].path, n_a - step.frames, n_a, fps)
        b_frames = _decode_range(self.clips[b_clip].path, 0, step.frames, fps)
        oa, ob = self.overlays.get(a_clip), self.overlays.get(b_clip)
        for j, (a, b) in enumerate(zip(a_frames, b_frames, strict=True)):
            if oa:
                oa.apply(a)
            if ob:
                ob.apply(b)
            yield blend_frames(step.kind, a, b, _alpha(j, step.frames), fmt.width, fmt.height)


def _indexed_packets(
    path: Path, index: VideoIndex, start: int, end: int, who: str
) -> Iterator[tuple[av.Packet[VideoStream], int]]:
    """Packets at decode positions [start, end) read by byte range, each with its presentation
    index counted from `start` (both ends are cut points: the two orders cover the same
    pictures)."""
    keyframes = set(index.keyframes)
    try:
        with path.open("rb") as f:
            for k in range(start, end):
                f.seek(index.offsets[k])
                data = f.read(index.sizes[k])
                if len(data) != index.sizes[k]:
                    raise InvalidMedia(f"{who}: the file changed or was cut while composing")
                packet = cast("av.Packet[VideoStream]", av.Packet(data))
                shown = index.presentation(k)
                packet.is_keyframe = shown in keyframes
                yield packet, shown - start
    except OSError as exc:
        raise InvalidMedia(f"{who}: cannot be read ({exc.strerror})") from exc


def probe_fingerprint(stream: Stream) -> str:
    import hashlib

    return hashlib.sha256(stream.codec_context.extradata or b"").hexdigest()


def compose_sync(
    clips: Sequence[ClipSpec],
    dst: Path,
    options: ComposeOptions | None = None,
    progress: SyncProgress | None = None,
) -> MediaInfo:
    """Blocking `compose`; `progress` is called from the calling thread."""
    return _Composer(clips, dst, options or ComposeOptions(), progress).run()


def stitch_sync(
    clips: Sequence[Path], dst: Path, progress: SyncProgress | None = None
) -> MediaInfo:
    specs = [ClipSpec(path, label=f"clip {i + 1}") for i, path in enumerate(clips)]
    return compose_sync(specs, dst, ComposeOptions(captions_track=False), progress)


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


async def _in_thread(
    work: Callable[[SyncProgress], MediaInfo], progress: ProgressCallback | None
) -> MediaInfo:
    """Run `work` in a thread; its progress calls are awaited on this loop, in order."""
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()

    def report(fraction: float) -> None:
        if cancelled.is_set():
            raise Cancelled("composition cancelled")
        if progress is None:
            return
        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            _awaited(progress(fraction)), loop
        )
        try:
            # Waiting keeps events ordered and lets a callback stop the work by raising.
            future.result(timeout=60)
        except concurrent.futures.TimeoutError:
            future.cancel()

    try:
        return await asyncio.to_thread(work, report)
    except asyncio.CancelledError:
        cancelled.set()
        raise


async def compose(
    clips: Sequence[ClipSpec],
    dst: Path,
    options: ComposeOptions | None = None,
    progress: ProgressCallback | None = None,
) -> MediaInfo:
    """Compose clips into `dst` (atomically: a temp file renamed at the end).

    Runs in a worker thread; `progress(fraction)` is awaited on the caller's loop. Raises
    InvalidMedia naming the clip (its `label`) or "soundtrack" for unusable inputs.
    """
    opts = options or ComposeOptions()
    return await _in_thread(lambda report: compose_sync(clips, dst, opts, report), progress)


async def stitch(
    clips: Sequence[Path], dst: Path, progress: ProgressCallback | None = None
) -> MediaInfo:
    """Join canonical clips by stream copy (audio re-encoded once, exact at every boundary)."""
    return await _in_thread(lambda report: stitch_sync(clips, dst, report), progress)


__all__ = [
    "TRANSITION_KINDS",
    "ClipSpec",
    "ComposeOptions",
    "Timeline",
    "TimelineEntry",
    "Transition",
    "TransitionKind",
    "blend_frames",
    "caption_cues",
    "clip_pcm",
    "compose",
    "compose_sync",
    "plan_timeline",
    "stitch",
    "stitch_sync",
]
