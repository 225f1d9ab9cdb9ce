"""Media facts read with PyAV (there is no ffprobe): `probe`, `keyframe_times`, `is_canonical`.

`probe` demuxes every packet (no decoding except one frame), which is cheap and is the only way
to notice a truncated file whose index still promises frames that are not there.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from av.stream import Stream

from videofoundry.core.errors import InvalidMedia
from videofoundry.media.encoder import (
    AUDIO_CHANNELS,
    AUDIO_CODEC,
    AUDIO_RATE,
    PIX_FMT,
    SILENT_HANDLER,
    VIDEO_CODEC,
    CanonicalWriter,
    gop_size,
)
from videofoundry.media.format import OutputFormat


@dataclass(frozen=True)
class MediaInfo:
    """What the product needs to know about a video file."""

    duration: float
    """Video duration in seconds (first frame start to last frame end)."""
    width: int
    height: int
    fps: float
    video_codec: str
    pix_fmt: str
    frame_count: int
    has_audio: bool
    audio_codec: str | None = None
    audio_duration: float | None = None
    """From the packet timestamps, encoder priming excluded."""
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    audio_silent: bool = False
    """The audio track is silence this product generated (tagged), so it needs no decoding."""
    subtitle_streams: int = 0
    keyframe_interval: int = 0
    """Largest distance in frames between consecutive keyframes (0 with a single keyframe)."""
    constant_frame_rate: bool = True
    video_fingerprint: str = ""
    """sha256 of the codec configuration (SPS/PPS). Equal fingerprints join by stream copy."""
    size_bytes: int = 0


def _label(path: Path, label: str | None) -> str:
    return label or path.name


def probe(path: Path, label: str | None = None) -> MediaInfo:
    """Facts of a video file; raises InvalidMedia (naming `label`, or the file name) if unusable."""
    return scan(path, label)[0]


@dataclass(frozen=True)
class VideoIndex:
    """Where a file's video packets are, in decode order, from the same pass as `probe`.

    With it a stitch copies packets by reading their bytes straight from the file, without
    opening and demuxing every clip a second time. `offsets` is empty when the container does
    not give byte positions.
    """

    keyframes: tuple[int, ...]
    """Indices of the keyframes (in presentation order, which is decode order without
    B-frames)."""
    offsets: tuple[int, ...] = ()
    sizes: tuple[int, ...] = ()
    in_order: bool = True
    """Presentation order equals decode order (no B-frames): the canonical case."""
    order: tuple[int, ...] = ()
    """With B-frames: the presentation index of each packet, in decode order (empty without)."""
    cuts: tuple[int, ...] = ()
    """Keyframes where the stream can be cut and joined by copy: every earlier picture is
    decoded before it and no later one (a closed GOP starts there). All keyframes without
    B-frames."""
    delay: int = 0
    """How many pictures decoding runs ahead of presentation (0 without B-frames)."""

    def presentation(self, position: int) -> int:
        """Presentation index of the packet at decode `position`."""
        return self.order[position] if self.order else position


_recent: OrderedDict[tuple[str, int, int, int], tuple[MediaInfo, VideoIndex]] = OrderedDict()
_recent_lock = threading.Lock()
RECENT_SCANS = 64


def scan(path: Path, label: str | None = None) -> tuple[MediaInfo, VideoIndex]:
    """`probe`, plus the video packet index (one pass).

    The last few results are remembered by file identity (inode, size, modification time), so
    a caller that probes clips before composing them does not read them twice.
    """
    try:
        st = path.stat()
        key: tuple[str, int, int, int] | None = (
            str(path),
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
        )
    except OSError:
        key = None  # scan_with_frame reports it
    if key is not None:
        with _recent_lock:
            if key in _recent:
                _recent.move_to_end(key)
                return _recent[key]
    info, index, _ = scan_with_frame(path, label)
    if key is not None:
        with _recent_lock:
            _recent[key] = (info, index)
            while len(_recent) > RECENT_SCANS:
                _recent.popitem(last=False)
    return info, index


def scan_with_frame(
    path: Path,
    label: str | None = None,
    frame_at: float | None = None,
    keyframe_until: float | None = None,
) -> tuple[MediaInfo, VideoIndex, av.VideoFrame | None]:
    """`scan`, plus the first picture at or after `frame_at` of the duration (0..1), decoded
    in the same pass: the packets of its group of pictures are kept while demuxing, so there
    is no second open and no seek. With `keyframe_until`, the first keyframe between the two
    shares is taken instead when there is one: it decodes alone, where the picture at
    `frame_at` needs its whole group decoded up to it."""
    who = _label(path, label)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidMedia(f"{who}: file not found or unreadable ({exc.strerror})") from exc
    if size == 0:
        raise InvalidMedia(f"{who}: the file is empty (zero length)")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidMedia(f"{who}: not a readable media file ({exc})") from exc
    with container:
        if not container.streams.video:
            raise InvalidMedia(f"{who}: contains no video stream")
        vs = container.streams.video[0]
        aus = container.streams.audio[0] if container.streams.audio else None
        subtitle_streams = len(container.streams.subtitles)
        declared_frames = vs.frames
        video: list[tuple[int, bool]] = []
        offsets: list[int] = []
        sizes: list[int] = []
        v_end = None
        first_packet: av.Packet[Stream] | None = None
        a_first: int | None = None
        a_end: int | None = None
        # Audio facts come from the track header when it has them: demuxing only the video
        # halves the packets to read (AAC frames outnumber video frames).
        audio_from_header = aus is not None and aus.duration is not None and aus.time_base
        streams = [vs] if aus is None or audio_from_header else [vs, aus]
        # The wanted picture's time, from the header's duration (exact enough for a poster).
        target = limit = None
        if frame_at is not None and vs.time_base is not None:
            header = vs.duration or 0
            target = (vs.start_time or 0) + int(header * min(max(frame_at, 0.0), 1.0))
            if keyframe_until is not None:
                limit = (vs.start_time or 0) + int(header * min(max(keyframe_until, 0.0), 1.0))
        keyframe: av.Packet[Stream] | None = None
        """The first keyframe from `target` to `limit`."""
        group: list[av.Packet[Stream]] = []
        """Video packets from the last keyframe at or before `target`, in decode order."""
        collecting, past, reordered = target is not None, 0, False
        try:
            for packet in container.demux(streams):
                if packet.size == 0 or packet.pts is None:
                    continue
                if packet.is_corrupt:
                    # A cut-off file ends in a partial packet that the demuxer flags.
                    at = float(packet.pts * packet.time_base)
                    raise InvalidMedia(f"{who}: truncated or corrupt data at {at:.2f} s")
                end = packet.pts + (packet.duration or 0)
                if packet.stream is vs:
                    if first_packet is None:
                        first_packet = packet
                    reordered = reordered or (bool(video) and packet.pts < video[-1][0])
                    if (
                        limit is not None
                        and keyframe is None
                        and packet.is_keyframe
                        and target is not None
                        and target <= packet.pts <= limit
                    ):
                        keyframe = packet
                    if collecting and target is not None:
                        if packet.is_keyframe and packet.pts <= target:
                            group = [packet]
                        elif packet.is_keyframe:
                            collecting = False
                        elif group:
                            group.append(packet)
                        if group and packet.pts >= target:
                            past += 1
                            # Without B-frames the first packet past the time is the picture;
                            # with them, a few more may still come before it in decode order.
                            collecting = collecting and past < (16 if reordered else 1)
                    video.append((packet.pts, packet.is_keyframe))
                    offsets.append(-1 if packet.pos is None else packet.pos)
                    sizes.append(packet.size)
                    v_end = end if v_end is None else max(v_end, end)
                else:
                    a_first = packet.pts if a_first is None else min(a_first, packet.pts)
                    a_end = end if a_end is None else max(a_end, end)
        except av.FFmpegError as exc:
            raise InvalidMedia(f"{who}: unreadable data ({exc})") from exc
        if not video or first_packet is None:
            raise InvalidMedia(f"{who}: the video stream has no frames")
        if declared_frames and len(video) < declared_frames:
            raise InvalidMedia(
                f"{who}: truncated file ({len(video)} of {declared_frames} frames present)"
            )
        # Demuxing proves the container is whole; decoding the first picture proves the codec
        # data is real.
        try:
            # One thread: starting a decoder thread pool costs more than these few pictures.
            vs.codec_context.thread_count = 1
            decoded: list[av.VideoFrame] = []
            for packet in [keyframe] if keyframe else group or [first_packet]:
                decoded.extend(vs.codec_context.decode(packet))
            decoded.extend(vs.codec_context.decode(None))
        except av.FFmpegError as exc:
            raise InvalidMedia(f"{who}: the video cannot be decoded ({exc})") from exc
        if not decoded:
            raise InvalidMedia(f"{who}: the video cannot be decoded (no picture)")
        frame = None
        if target is not None:
            decoded.sort(key=lambda f: f.pts if f.pts is not None else 0)
            frame = next((f for f in decoded if f.pts is not None and f.pts >= target), None)
            frame = frame or decoded[-1]
        tb = vs.time_base
        assert tb is not None
        in_order = all(a[0] < b[0] for a, b in itertools.pairwise(video))
        order, cuts, delay = _reordering(video, in_order)
        video.sort()
        keyframes = tuple(i for i, (_, key) in enumerate(video) if key)
        if in_order:
            cuts = keyframes
        start = video[0][0]
        assert v_end is not None
        duration = float((v_end - start) * tb)
        rate = vs.average_rate or vs.guessed_rate
        fps = float(rate) if rate else (len(video) / duration if duration > 0 else 0.0)
        deltas = np.diff(np.asarray([pts for pts, _ in video], dtype=np.int64))
        cfr = bool(deltas.size == 0 or deltas.min() == deltas.max())
        gaps = np.diff(np.asarray(keyframes, dtype=np.int64))
        audio_duration = None
        if aus is not None and audio_from_header:
            assert aus.duration is not None and aus.time_base is not None
            audio_duration = float(aus.duration * aus.time_base)
        elif aus is not None and a_end is not None and a_first is not None and aus.time_base:
            # Negative timestamps are the encoder's priming, which decoders drop.
            audio_duration = float((a_end - max(a_first, 0)) * aus.time_base)
        extradata = vs.codec_context.extradata or b""
        ctx = vs.codec_context
        info = MediaInfo(
            duration=duration,
            width=ctx.width,
            height=ctx.height,
            fps=fps,
            video_codec=ctx.name,
            pix_fmt=ctx.pix_fmt or "",
            frame_count=len(video),
            has_audio=aus is not None,
            audio_codec=aus.codec_context.name if aus is not None else None,
            audio_duration=audio_duration,
            audio_sample_rate=aus.codec_context.sample_rate if aus is not None else None,
            audio_channels=aus.codec_context.channels if aus is not None else None,
            audio_silent=aus is not None and aus.metadata.get("handler_name") == SILENT_HANDLER,
            subtitle_streams=subtitle_streams,
            keyframe_interval=int(gaps.max()) if gaps.size else 0,
            constant_frame_rate=cfr,
            video_fingerprint=hashlib.sha256(extradata).hexdigest(),
            size_bytes=size,
        )
        has_offsets = all(o >= 0 for o in offsets)
        index = VideoIndex(
            keyframes=keyframes,
            offsets=tuple(offsets) if has_offsets else (),
            sizes=tuple(sizes) if has_offsets else (),
            in_order=in_order,
            order=order,
            cuts=cuts,
            delay=delay,
        )
        return info, index, frame


def _reordering(
    video: list[tuple[int, bool]], in_order: bool
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(presentation index per decode position, cut points, decode delay) of a stream whose
    packets are `video` = (pts, keyframe) in decode order."""
    if in_order:
        return (), (), 0
    pts = np.asarray([p for p, _ in video], dtype=np.int64)
    order = np.empty(len(video), dtype=np.int64)
    order[np.argsort(pts, kind="stable")] = np.arange(len(video))
    positions = np.arange(len(video))
    delay = int(max(0, (positions - order).max()))
    # A keyframe shown at k and decoded at k, after exactly the pictures 0..k-1: a closed GOP.
    seen = np.maximum.accumulate(order)
    cuts = tuple(
        int(k)
        for k in positions
        if video[k][1] and order[k] == k and (k == 0 or seen[k - 1] == k - 1)
    )
    return tuple(int(i) for i in order), cuts, delay


def keyframe_times(path: Path) -> list[float]:
    """Presentation times (s) of the video keyframes, from the packets (no decoding)."""
    with av.open(str(path), "r") as container:
        vs = container.streams.video[0]
        tb = vs.time_base
        assert tb is not None
        return sorted(
            float(p.pts * tb)
            for p in container.demux(vs)
            if p.size and p.pts is not None and p.is_keyframe
        )


@lru_cache(maxsize=16)
def canonical_fingerprint(fmt: OutputFormat) -> str:
    """The SPS/PPS fingerprint our encoder produces for `fmt` (learned by encoding one frame)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vf-fp-") as tmp:
        path = Path(tmp) / "fp.mp4"
        with CanonicalWriter(path, fmt, audio="none", faststart=False, threads=1) as writer:
            writer.write_frame(np.zeros((fmt.height * 3 // 2, fmt.width), dtype=np.uint8))
        with av.open(str(path), "r") as container:
            return hashlib.sha256(
                container.streams.video[0].codec_context.extradata or b""
            ).hexdigest()


def is_canonical(info: MediaInfo, fmt: OutputFormat) -> bool:
    """True when a file can be stitched by copy with other canonical clips of `fmt` as is."""
    return (
        info.video_codec == VIDEO_CODEC
        and info.pix_fmt == PIX_FMT
        and (info.width, info.height) == (fmt.width, fmt.height)
        and abs(info.fps - fmt.fps) < 1e-6
        and info.constant_frame_rate
        and info.keyframe_interval in (0, gop_size(fmt.fps))
        and info.has_audio
        and info.audio_codec == AUDIO_CODEC
        and info.audio_sample_rate == AUDIO_RATE
        and info.audio_channels == AUDIO_CHANNELS
        and info.video_fingerprint == canonical_fingerprint(fmt)
    )
