"""The composed audio track: each clip's audio cut to its video length, crossfaded at
transitions and mixed with the soundtrack, or ready-made silence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import OutputContainer

from videofoundry.core.errors import InvalidMedia
from videofoundry.media.encoder import (
    AUDIO_LAYOUT,
    AUDIO_RATE,
    AudioEncoder,
    Pcm,
    pcm_frame,
    samples_at,
)
from videofoundry.media.probe import MediaInfo
from videofoundry.media.timeline import ClipSpec, ComposeOptions, Timeline, TransitionKind


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


def clip_pcm(
    path: Path, samples: int, who: str, info: MediaInfo | None = None, skip: int = 0
) -> Pcm:
    """Exactly `samples` of a clip's audio from `skip` samples in (its in point), silence
    where it has none."""
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
            at = pos - skip
            if at >= samples:
                break
            lo, hi = max(0, -at) if skip else 0, min(pcm.shape[1], samples - at)
            if at + lo >= 0 and hi > lo:
                out[:, at + lo : at + hi] = pcm[:, lo:hi]
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


class SilentTrack:
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


class Soundtrack:
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


class AudioTimeline:
    """Mixes clip audio (crossfaded over overlaps) and the soundtrack, encoding as it goes."""

    def __init__(
        self,
        clips: Sequence[ClipSpec],
        timeline: Timeline,
        encoder: AudioEncoder,
        soundtrack: Soundtrack | None,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        """Samples [start, end) of the timeline (all of it by default). A part that does not
        start at 0 needs no soundtrack (a soundtrack is read from its beginning)."""
        assert start == 0 or soundtrack is None
        self.clips = clips
        self.timeline = timeline
        self.encoder = encoder
        self.soundtrack = soundtrack
        full = samples_at(timeline.total_frames, timeline.fps)
        self.total = full if end is None else min(end, full)
        self._buf = np.zeros((2, 0), dtype=np.float32)
        self._buf_start = start
        self._next = 0
        self.done = start
        fps = timeline.fps
        while self._next < len(timeline.entries):
            entry = timeline.entries[self._next]
            if samples_at(entry.start_frame + entry.frames, fps) > start:
                break
            self._next += 1  # ends before this part: never heard in it

    def _mix_next(self) -> None:
        i = self._next
        self._next += 1
        entry, fps = self.timeline.entries[i], self.timeline.fps
        s0 = samples_at(entry.start_frame, fps)
        s1 = samples_at(entry.start_frame + entry.frames, fps)
        info = self.timeline.infos[i] if self.timeline.infos else None
        skip = samples_at(entry.source_start, fps)
        pcm = clip_pcm(self.clips[i].path, s1 - s0, entry.label, info, skip)
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
        lo = max(0, self._buf_start - s0)  # a clip that began before this part's start
        self._buf[:, s0 + lo - self._buf_start : end] += pcm[:, lo:]

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
