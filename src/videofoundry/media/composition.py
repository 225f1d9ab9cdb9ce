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
The inputs and their layout are in `timeline`, the audio mix in `audio_mix`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from videofoundry.core.errors import Cancelled, GenerationError, InvalidMedia
from videofoundry.media.audio_mix import (
    AudioTimeline,
    SilentTrack,
    Soundtrack,
    clip_pcm,
)
from videofoundry.media.captions import CaptionOverlay, Cue, write_webvtt, yuv_planes
from videofoundry.media.encoder import (
    AUDIO_RATE,
    SILENT_HANDLER,
    AudioEncoder,
    CanonicalWriter,
    add_canonical_audio_stream,
    samples_at,
)
from videofoundry.media.format import OutputFormat
from videofoundry.media.probe import MediaInfo, VideoIndex, canonical_fingerprint, probe, scan
from videofoundry.media.timeline import (
    TRANSITION_KINDS,
    ClipSpec,
    ComposeOptions,
    Timeline,
    TimelineEntry,
    Transition,
    TransitionKind,
    caption_cues,
    clean_cues,
    plan_timeline,
)
from videofoundry.media.x264_settings import EncoderSettings, reproduce

ProgressCallback = Callable[[float], Awaitable[None]]
SyncProgress = Callable[[float], None]

RENDER_COST = 30
"""How many copied frames one re-encoded frame is worth, for progress reporting."""
AUDIO_STEP = AUDIO_RATE // 2
"""Audio is mixed and encoded half a second at a time."""
AUDIO_STEP_COST = 20
"""Progress weight of encoding one audio step, in copied frames."""
AAC_FRAME = 1024
AUDIO_PART_MIN_SAMPLES = 10 * AUDIO_RATE
"""The audio is encoded in parts at once, one per core, none shorter than this (from 20 s of
timeline on with two cores)."""
AUDIO_OVERLAP = 4 * AAC_FRAME
"""Audio each part's encoder sees beyond the seam."""


class _Aborted(Exception):
    """The other thread of a composition failed; this one stops quietly."""


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
        # Frame numbers of the clip itself: a trimmed clip is shown from its in point.
        begin, end = entry.source_start, entry.source_start + entry.frames
        first, last = begin + entry.overlap_in, end - entry.overlap_out
        burn = bool(spec.burn_caption and spec.caption and spec.caption.strip())
        copy_start = copy_end = None
        if not burn:
            # Cut points: keyframes that start a closed GOP (all of them without B-frames).
            keys = timeline.indexes[i].cuts
            starts = [k for k in keys if k >= first]
            whole = timeline.infos[i].frame_count
            # Copying can run to the clip's own end; an out point or a transition before it
            # ends the copy at a cut point and the frames after it are re-encoded.
            ends = [whole] if last == whole else [k for k in keys if k <= last]
            if starts and ends and starts[0] < ends[-1]:
                copy_start, copy_end = starts[0], ends[-1]
        if copy_start is None or copy_end is None:
            render(_Plain(i, first, last))
        else:
            render(_Plain(i, first, copy_start))
            ops.append(_Copy(i, copy_start, copy_end))
            render(_Plain(i, copy_end, last))
        tail = entry.overlap_out
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
            self.cues = clean_cues(options.cues, self.timeline.duration)
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
        self.audio_parts: list[_AudioPart] = []
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
            soundtrack = Soundtrack(self.options.soundtrack, self.options, total)
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

    def _encode(self, pieces: Path, audio: Path, soundtrack: Soundtrack | None) -> None:
        parts = self._audio_parts(audio, soundtrack)
        with concurrent.futures.ThreadPoolExecutor(
            len(parts), thread_name_prefix="vf-audio"
        ) as pool:
            done = [pool.submit(self._encode_audio, part, soundtrack) for part in parts]
            try:
                self._render_pieces(pieces)
            except _Aborted:
                pass  # an audio thread failed: its error is raised just below
            except BaseException:
                self._abort.set()
                for future in done:
                    with contextlib.suppress(BaseException):
                        future.result()
                raise
            for future in done:
                future.result()
        self.audio_parts = parts

    def _audio_parts(self, path: Path, soundtrack: Soundtrack | None) -> list[_AudioPart]:
        """One part, or one per core encoded at once for a long timeline: AAC encoding is most
        of a plain stitch's work and one encoder uses one core.

        The parts meet at AAC frame boundaries. Each encoder also sees audio beyond its seams
        (a part runs on into the next and starts early in the previous) and only its own side's
        packets are kept, so the two frames either side of a seam are both encoded from the
        real signal and their overlapping windows reconstruct it as a single encode would.
        """
        total = samples_at(self.timeline.total_frames, self.fps)
        count = min(_cores(), total // AUDIO_PART_MIN_SAMPLES)
        if self._silent or soundtrack is not None or count < 2:
            return [_AudioPart(path, 0, total, 0, total)]
        seams = [0] + [total * k // count // AAC_FRAME * AAC_FRAME for k in range(1, count)]
        seams.append(total)
        return [
            _AudioPart(
                path if k == 0 else path.with_name(f"audio-{k + 1}.m4a"),
                max(0, seams[k] - AUDIO_OVERLAP),
                min(total, seams[k + 1] + AUDIO_OVERLAP),
                seams[k],
                seams[k + 1],
            )
            for k in range(count)
        ]

    def _encode_audio(self, part: _AudioPart, soundtrack: Soundtrack | None) -> None:
        try:
            self._write_audio(part, soundtrack)
        except _Aborted:
            return  # the video side failed and raises its own error
        except BaseException:
            self._abort.set()
            raise

    def _write_audio(self, part: _AudioPart, soundtrack: Soundtrack | None) -> None:
        total = samples_at(self.timeline.total_frames, self.fps)
        path = part.path
        with av.open(str(path), "w", format="mp4") as out:
            stream = add_canonical_audio_stream(out)
            audio: AudioTimeline | SilentTrack
            if self._silent:
                # Nothing to hear: ready-made silent frames, tagged so that a later stitch of
                # the result takes this path too.
                stream.metadata["handler_name"] = SILENT_HANDLER
                audio = SilentTrack(out, stream, total)
            else:
                encoder = AudioEncoder(out, stream)
                audio = AudioTimeline(
                    self.clips, self.timeline, encoder, soundtrack, part.encode_from, part.encode_to
                )
            for at in range(part.encode_from + AUDIO_STEP, part.encode_to + AUDIO_STEP, AUDIO_STEP):
                audio.render_until(at)
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
            with audio_in, contextlib.ExitStack() as parts:
                ain = audio_in.streams.audio[0]
                aout = out.add_stream_from_template(ain)
                aout.metadata.update({k: v for k, v in ain.metadata.items() if k == "handler_name"})
                audio_packets = _spliced_audio(audio_in, self.audio_parts, parts)
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
        a_entry, b_entry = self.timeline.entries[a_clip], self.timeline.entries[b_clip]
        a_end = a_entry.source_start + a_entry.frames
        b_start = b_entry.source_start
        a_frames = _decode_range(self.clips[a_clip].path, a_end - step.frames, a_end, fps)
        b_frames = _decode_range(self.clips[b_clip].path, b_start, b_start + step.frames, fps)
        oa, ob = self.overlays.get(a_clip), self.overlays.get(b_clip)
        for j, (a, b) in enumerate(zip(a_frames, b_frames, strict=True)):
            if oa:
                oa.apply(a)
            if ob:
                ob.apply(b)
            yield blend_frames(step.kind, a, b, _alpha(j, step.frames), fmt.width, fmt.height)


@dataclass(frozen=True)
class _AudioPart:
    """Audio samples [encode_from, encode_to) encoded into `path`, of which the packets that
    start in [keep_from, keep_to) go into the output."""

    path: Path
    encode_from: int
    encode_to: int
    keep_from: int
    keep_to: int


def _cores() -> int:
    """Cores this process may use. The parts of the audio run on all of them whatever the load,
    as x264's threads do: on a busy machine that costs only the overlaps (eight AAC frames a
    seam), and the 1-minute load average lags too far behind to tell a free core from a busy
    one (a benchmark's previous contender, a finished test still count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _spliced_audio(
    first: InputContainer, parts: Sequence[_AudioPart], stack: contextlib.ExitStack
) -> Iterator[av.Packet[AudioStream]]:
    """The audio packets of every part in timeline order, each part's own side of the seams.

    Packet k of a part starts at encode_from - AAC_FRAME + k * AAC_FRAME (the encoder's
    priming comes first), counted rather than read from timestamps.
    """
    for i, part in enumerate(parts):
        container = first if i == 0 else stack.enter_context(av.open(str(part.path), "r"))
        stream = container.streams.audio[0]
        at = part.encode_from - AAC_FRAME
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if part.keep_from <= at < part.keep_to or (at < 0 and part.keep_from == 0):
                packet.pts = packet.dts = at
                packet.time_base = Fraction(1, AUDIO_RATE)
                yield packet
            at += AAC_FRAME


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
    import asyncio  # here: the blocking API and the command never load it (nor ssl with it)

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
