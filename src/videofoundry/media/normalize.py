"""Turn whatever a provider returned into the canonical format (see `encoder`)."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import av
import numpy as np
from av.filter import Graph
from av.stream import Stream

from videofoundry.core.errors import InvalidMedia
from videofoundry.media.encoder import (
    AUDIO_LAYOUT,
    AUDIO_RATE,
    PIX_FMT,
    AudioMode,
    CanonicalWriter,
    Pcm,
)
from videofoundry.media.format import OutputFormat
from videofoundry.media.probe import MediaInfo, is_canonical, probe
from videofoundry.media.x264_settings import EncoderSettings

if TYPE_CHECKING:
    import asyncio

Aspect = Literal["fit", "fill"]


UNSPECIFIED = 2
"""libavutil's AVCOL_SPC_UNSPECIFIED."""


def _scale_filter(fmt: OutputFormat, aspect: Aspect, source_matrix: str | None = None) -> str:
    w, h = fmt.width, fmt.height
    # Colour conversion to BT.709 limited range happens here, so every canonical file carries
    # pixels that match the VUI the encoder writes. Naming the source's matrix when it is
    # already BT.709 also keeps swscale on its fast path (a matrix change costs about three
    # times the scaling itself).
    colour = "out_color_matrix=bt709:out_range=tv"
    if source_matrix is not None:
        colour = f"in_color_matrix={source_matrix}:{colour}"
    if aspect == "fill":
        return (
            f"scale={w}:{h}:force_original_aspect_ratio=increase:{colour},"
            f"crop={w}:{h},setsar=1,format={PIX_FMT}"
        )
    return (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:{colour},"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:black,setsar=1,format={PIX_FMT}"
    )


def _source_matrix(stream: av.video.stream.VideoStream) -> str | None:
    """The matrix to read the source with when it does not say: BT.709 from 720 lines up, as
    players assume for HD (swscale would assume BT.601 and shift every colour); otherwise
    None, which lets the filter read the frames' own tag."""
    ctx = stream.codec_context
    if int(ctx.colorspace) == UNSPECIFIED and ctx.height >= 720:
        return "bt709"
    return None


def _frame_time(frame: av.VideoFrame, index: int, fallback_rate: float) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    return index / fallback_rate


def normalize(
    src: Path,
    dst: Path,
    fmt: OutputFormat,
    aspect: Aspect = "fit",
    *,
    label: str | None = None,
    threads: int = 0,
    settings: EncoderSettings | None = None,
) -> MediaInfo:
    """Re-encode `src` into the canonical format at `dst` and return the result's facts.

    With `settings`, the video is encoded like another x264 stream instead (see
    `x264_settings`), so that it joins clips of that stream by copy.

    The frame count is the source's video duration times the project fps, rounded; frames are
    resampled by sample-and-hold (variable frame rate in, constant out). Audio is resampled to
    48 kHz stereo, aligned to the first video frame and cut or padded with silence to exactly
    the video's length. A file that is already canonical is copied as is.
    """
    who = label or src.name
    info = probe(src, label=who)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        if settings is None and is_canonical(info, fmt):
            shutil.copyfile(src, tmp)
        else:
            _transcode(src, tmp, fmt, aspect, info, who, threads, settings)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return probe(dst, label=who)


def _transcode(
    src: Path,
    dst: Path,
    fmt: OutputFormat,
    aspect: Aspect,
    info: MediaInfo,
    who: str,
    threads: int,
    settings: EncoderSettings | None = None,
) -> None:
    target = max(1, round(info.duration * fmt.fps))
    try:
        container = av.open(str(src), "r")
    except av.FFmpegError as exc:  # pragma: no cover - probe opened it a moment ago
        raise InvalidMedia(f"{who}: not a readable media file ({exc})") from exc
    # A source without audio gets a tagged silent track (see encoder.SILENT_HANDLER).
    audio_mode: AudioMode = "pcm" if info.has_audio else "silence"
    writer = CanonicalWriter(dst, fmt, audio=audio_mode, threads=threads, settings=settings)
    with container, writer:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        aus = container.streams.audio[0] if container.streams.audio else None
        graph = Graph()
        nodes = [graph.add_buffer(template=vs)]
        for part in _scale_filter(fmt, aspect, _source_matrix(vs)).split(","):
            name, _, args = part.partition("=")
            nodes.append(graph.add(name, args))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)

        t0: float | None = None
        audio_offset: int | None = None
        early_audio: list[av.AudioFrame] = []
        held: av.VideoFrame | None = None
        decoded = 0

        def emit_until(t: float | None) -> None:
            # Sample and hold: output slot k shows the newest source frame that started at or
            # before the middle of slot k. `t` is the next source frame's start (None at end).
            assert held is not None
            assert t0 is not None
            while writer.frames < target and (
                t is None or (writer.frames + 0.5) / fmt.fps < t - t0
            ):
                writer.write_frame(held)

        def filtered(frame: av.VideoFrame) -> Iterator[av.VideoFrame]:
            graph.vpush(frame)
            while True:
                try:
                    yield graph.vpull()
                except (av.BlockingIOError, av.EOFError):
                    return

        def add_audio(frames: list[av.AudioFrame]) -> None:
            nonlocal audio_offset
            if t0 is None:
                # Audio often comes first in the file; it is placed once the picture's start
                # time is known.
                early_audio.extend(frames)
                return
            for af in frames:
                pcm: Pcm = af.to_ndarray().astype(np.float32, copy=False)
                if audio_offset is None:
                    # Align the audio to the first video frame: pad if it starts later, drop
                    # the part before the picture if it starts earlier.
                    start = t0
                    if af.pts is not None and af.time_base is not None:
                        start = float(af.pts * af.time_base)
                    audio_offset = round((start - t0) * AUDIO_RATE)
                    if audio_offset > 0:
                        writer.write_audio(np.zeros((2, audio_offset), dtype=np.float32))
                    elif audio_offset < 0:
                        pcm = pcm[:, -audio_offset:]
                writer.write_audio(pcm)

        try:
            streams = [vs] if aus is None else [vs, aus]
            for packet in container.demux(streams):
                if packet.stream is vs:
                    for frame in packet.decode():
                        assert isinstance(frame, av.VideoFrame)
                        t = _frame_time(frame, decoded, info.fps or fmt.fps)
                        decoded += 1
                        for out in filtered(frame):
                            if t0 is None:
                                t0 = t
                                add_audio(early_audio)
                            if held is not None:
                                emit_until(t)
                            held = out
                else:
                    add_audio(_decode_audio(packet, resampler))
            if aus is not None:
                add_audio(resampler.resample(None))
        except av.FFmpegError as exc:
            raise InvalidMedia(f"{who}: cannot be decoded ({exc})") from exc
        if held is None:
            raise InvalidMedia(f"{who}: no decodable video frame")
        emit_until(None)


def _decode_audio(packet: av.Packet[Stream], resampler: av.AudioResampler) -> list[av.AudioFrame]:
    out: list[av.AudioFrame] = []
    for frame in packet.decode():
        assert isinstance(frame, av.AudioFrame)
        out.extend(resampler.resample(frame))
    return out


# --- many at once ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalizeJob:
    src: Path
    dst: Path
    fmt: OutputFormat
    aspect: Aspect = "fit"
    label: str | None = None
    settings: EncoderSettings | None = None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def normalize_many(jobs: Sequence[NormalizeJob], workers: int | None = None) -> list[MediaInfo]:
    """Normalise several clips at once, one per core, and return their facts in order.

    Decoding, scaling and x264 run outside the GIL, so threads use the cores; each clip is
    streamed, so memory grows with `workers` (at most the core count), not with the number of
    clips. Each encoder gets its share of the cores.
    """
    if not jobs:
        return []
    cores = _cores()
    workers = max(1, min(workers or cores, len(jobs)))
    threads = max(1, cores // workers)
    if workers == 1:
        return [_run_job(job, threads) for job in jobs]
    with ThreadPoolExecutor(workers, thread_name_prefix="vf-normalize") as pool:
        return list(pool.map(lambda job: _run_job(job, threads), jobs))


def _run_job(job: NormalizeJob, threads: int) -> MediaInfo:
    return normalize(
        job.src,
        job.dst,
        job.fmt,
        job.aspect,
        label=job.label,
        threads=threads,
        settings=job.settings,
    )


_slots_lock = threading.Lock()
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def normalize_async(job: NormalizeJob) -> MediaInfo:
    """`normalize` in a thread, at most one per core at a time in this process whatever the
    number of callers (e.g. an AI worker with several segments in flight), so memory and CPU
    stay bounded; the ones over the limit wait their turn."""
    import asyncio

    loop = asyncio.get_running_loop()
    with _slots_lock:
        slots = _slots.setdefault(loop, asyncio.Semaphore(_cores()))
    async with slots:
        return await asyncio.to_thread(_run_job, job, 1 if _cores() > 1 else 0)
