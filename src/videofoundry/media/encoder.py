"""The canonical format, and the one encoder configuration that produces it.

Every H.264 stream the product writes (normalised clips, procedural clips, re-encoded transition
windows, burned-in captions) goes through `add_canonical_video_stream`. That is what makes
stitching a stream copy: x264 with identical settings at the same size and frame rate emits
byte-identical SPS/PPS (the `avcC` extradata), so packets from any of those files can follow each
other in one MP4 track. `stitchable=1` keeps x264 from tuning the headers to the content.

The GOP is short, fixed and closed (an IDR every half second, no scene-cut keyframes) and has no
B-frames, so:

* every keyframe starts an independent run of frames: a transition only has to re-encode the GOPs
  it touches, and the copied GOPs around it stay valid;
* decode order equals presentation order (dts == pts), so joining files is a plain renumbering of
  timestamps with no reorder delay or edit list to reconcile.

Audio policy: every canonical file has exactly one AAC-LC 48 kHz stereo track whose length is the
video's length (silence when the source had none). Stitching then never has to special-case a
clip without audio, and the audio timeline is always the video timeline.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.frame import PictureType
from av.video.stream import VideoStream

from videofoundry.media.format import OutputFormat
from videofoundry.media.x264_settings import EncoderSettings

VIDEO_CODEC = "h264"
PIX_FMT = "yuv420p"
X264_PRESET = "veryfast"
"""Fast enough to make a 5 s 720p procedural clip in well under 2 s on one core; quality per bit
is close to `medium` for the smooth content AI models return."""
X264_CRF = "20"
AUDIO_CODEC = "aac"
AUDIO_RATE = 48_000
AUDIO_CHANNELS = 2
AUDIO_LAYOUT = "stereo"
AUDIO_BITRATE = 128_000

SILENT_HANDLER = "VideoFoundry silence"
"""Handler name of an audio track that is generated silence: stitching then skips decoding it
and, when every clip is silent, copies ready-made silent AAC frames instead of encoding."""

Pcm = npt.NDArray[np.float32]
"""Audio as float32 samples shaped (channels=2, samples), nominally in -1..1."""


def gop_size(fps: int) -> int:
    """Frames between keyframes: half a second, at least one."""
    return max(1, round(fps / 2))


def samples_at(frame: int, fps: int) -> int:
    """Audio sample index where video frame `frame` starts.

    Integer arithmetic so that consecutive segments tile the audio timeline exactly, even when
    48000 is not a multiple of the frame rate.
    """
    return frame * AUDIO_RATE // fps


def x264_params(fmt: OutputFormat) -> str:
    g = gop_size(fmt.fps)
    return ":".join(
        [
            f"keyint={g}",
            f"min-keyint={g}",
            "scenecut=0",
            "open-gop=0",
            "bframes=0",
            "stitchable=1",
            # Explicit colour description: otherwise x264 copies whatever the input frames say
            # into the VUI and two sources would produce different SPS.
            "colorprim=bt709",
            "transfer=bt709",
            "colormatrix=bt709",
        ]
    )


Analysis = Literal["standard", "fast"]

FAST_ANALYSIS = ":subme=1:me=dia:partitions=none"
"""A cheaper motion and partition search, about twice as fast for nearly the same size: used
for short re-encoded transition windows and synthetic (procedural) clips, not for normalising
whole clips. Like the CRF, it changes encoder decisions, not headers (`stitchable=1` pins the
PPS initial QP): the SPS/PPS stay identical, so such files still join by copy (verified at run
time through `MediaInfo.video_fingerprint`)."""


def add_canonical_video_stream(
    container: OutputContainer,
    fmt: OutputFormat,
    threads: int = 0,
    analysis: Analysis = "standard",
    crf: str = X264_CRF,
) -> VideoStream:
    """Add the one H.264 configuration of the product.

    `threads` and `analysis` do not change the headers; one thread makes the output bytes
    independent of the machine's core count.
    """
    stream = _add_h264_stream(container, fmt, threads)
    stream.options = {
        "preset": X264_PRESET,
        "crf": crf,
        "profile": "high",
        "x264-params": x264_params(fmt) + (FAST_ANALYSIS if analysis == "fast" else ""),
    }
    return stream


def _add_h264_stream(container: OutputContainer, fmt: OutputFormat, threads: int) -> VideoStream:
    stream = container.add_stream("libx264", rate=fmt.fps)
    stream.width = fmt.width
    stream.height = fmt.height
    stream.pix_fmt = PIX_FMT
    stream.time_base = Fraction(1, fmt.fps)
    stream.codec_context.thread_count = threads
    return stream


def add_matching_video_stream(
    container: OutputContainer,
    fmt: OutputFormat,
    settings: EncoderSettings,
    threads: int = 0,
    analysis: Analysis = "standard",
) -> VideoStream:
    """An H.264 stream configured like another encoder's (see `x264_settings`); with
    analysis="fast", its cheaper search when one was verified to give the same headers."""
    stream = _add_h264_stream(container, fmt, threads)
    ctx = stream.codec_context
    ctx.color_primaries = settings.color_primaries
    ctx.color_trc = settings.color_trc
    ctx.colorspace = settings.colorspace
    ctx.color_range = settings.color_range
    if settings.sample_aspect_ratio is not None:
        ctx.sample_aspect_ratio = settings.sample_aspect_ratio
    # A forced keyframe must be an IDR even with open GOPs: a piece decodes on its own.
    params = settings.fast_params if analysis == "fast" and settings.fast_params else None
    options: dict[str, object] = {
        "x264-params": params or settings.x264_params,
        "forced-idr": "1",
    }
    if settings.profile:
        options["profile"] = settings.profile
    stream.options = options
    return stream


def add_canonical_audio_stream(container: OutputContainer) -> AudioStream:
    stream = container.add_stream("aac", rate=AUDIO_RATE, layout=AUDIO_LAYOUT)
    stream.bit_rate = AUDIO_BITRATE
    stream.time_base = Fraction(1, AUDIO_RATE)
    return stream


def pcm_frame(pcm: Pcm, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm), format="fltp", layout="stereo")
    frame.sample_rate = AUDIO_RATE
    frame.pts = pts
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame


def rgb_to_frame(rgb: npt.NDArray[np.uint8]) -> av.VideoFrame:
    """An RGB image (H, W, 3) as a canonical yuv420p frame (BT.709, limited range)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format=PIX_FMT, dst_colorspace="itu709", dst_color_range="MPEG")


def yuv_to_frame(yuv: npt.NDArray[np.uint8]) -> av.VideoFrame:
    """A yuv420p image laid out as PyAV does, shape (H * 3 // 2, W)."""
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(yuv), format=PIX_FMT)


class AudioEncoder:
    """Feeds PCM of any chunk size to one AAC encoder and muxes its packets."""

    def __init__(self, container: OutputContainer, stream: AudioStream) -> None:
        self._container = container
        self._stream = stream
        self.samples = 0

    def write(self, pcm: Pcm) -> None:
        if pcm.shape[1] == 0:
            return
        frame = pcm_frame(pcm.astype(np.float32, copy=False), self.samples)
        self.samples += pcm.shape[1]
        self._container.mux(self._stream.encode(frame))

    def write_silence(self, samples: int) -> None:
        # Chunked so that a long silence never allocates one huge buffer.
        while samples > 0:
            n = min(samples, AUDIO_RATE)
            self.write(np.zeros((AUDIO_CHANNELS, n), dtype=np.float32))
            samples -= n

    def flush(self) -> None:
        self._container.mux(self._stream.encode(None))


AudioMode = Literal["silence", "pcm", "none"]


class CanonicalWriter:
    """Writes one canonical MP4: frames in, exact-length audio guaranteed.

    Parameters:
        settings: encode like another x264 stream instead of the canonical configuration
            (`crf` then does not apply; analysis="fast" uses its verified faster search).
        audio: "silence" writes a silent track paced with the video; "pcm" takes the caller's
            samples through `write_audio` (padded with silence or cut to the video length on
            close); "none" writes video only (used for re-encoded pieces that are spliced into
            another file's video track).

    On an exception inside a `with` block the partial file is deleted.
    """

    def __init__(
        self,
        dst: Path,
        fmt: OutputFormat,
        *,
        audio: AudioMode = "silence",
        threads: int = 0,
        faststart: bool = True,
        analysis: Analysis = "standard",
        crf: str = X264_CRF,
        settings: EncoderSettings | None = None,
    ) -> None:
        self.dst = dst
        self.fmt = fmt
        self.frames = 0
        self._mode = audio
        options = {"movflags": "+faststart"} if faststart else {}
        self._container = av.open(str(dst), "w", format="mp4", options=options)
        if settings is None:
            self._video = add_canonical_video_stream(self._container, fmt, threads, analysis, crf)
        else:
            self._video = add_matching_video_stream(
                self._container, fmt, settings, threads, analysis
            )
        self._audio: AudioEncoder | None = None
        if audio != "none":
            stream = add_canonical_audio_stream(self._container)
            if audio == "silence":
                stream.metadata["handler_name"] = SILENT_HANDLER
            self._audio = AudioEncoder(self._container, stream)
        self._pending: list[Pcm] = []
        self._pending_samples = 0
        self._closed = False

    def write_frame(
        self, frame: av.VideoFrame | npt.NDArray[np.uint8], *, keyframe: bool = False
    ) -> None:
        """Append one frame: a VideoFrame, an RGB array (H, W, 3) or a yuv420p array.

        `keyframe` forces an IDR here (the GOP cadence restarts from it).
        """
        if isinstance(frame, np.ndarray):
            frame = rgb_to_frame(frame) if frame.ndim == 3 else yuv_to_frame(frame)
        if (frame.width, frame.height) != (self.fmt.width, self.fmt.height):
            raise ValueError(
                f"frame is {frame.width}x{frame.height}, "
                f"expected {self.fmt.width}x{self.fmt.height}"
            )
        if frame.format.name != PIX_FMT:
            frame = frame.reformat(format=PIX_FMT)
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fmt.fps)
        # A decoded source frame keeps its picture type, and x264 obeys a forced "I": that
        # would put keyframes off the half-second grid.
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        self._container.mux(self._video.encode(frame))
        self.frames += 1
        self._pump_audio(final=False)

    def write_audio(self, pcm: Pcm) -> None:
        """Append samples (2, n) at 48 kHz; only valid with audio="pcm"."""
        if self._mode != "pcm":
            raise ValueError("write_audio needs audio='pcm'")
        if pcm.shape[1]:
            self._pending.append(pcm.astype(np.float32, copy=False))
            self._pending_samples += pcm.shape[1]
        self._pump_audio(final=False)

    def _pump_audio(self, final: bool) -> None:
        """Encode audio up to the end of the last video frame, so the file stays interleaved."""
        if self._audio is None:
            return
        target = samples_at(self.frames, self.fmt.fps)
        need = target - self._audio.samples
        if need <= 0:
            return
        if self._mode == "silence":
            self._audio.write_silence(need)
            return
        take = min(need, self._pending_samples)
        if take > 0:
            joined = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else None
            buf = joined if joined is not None else self._pending[0]
            self._audio.write(buf[:, :take])
            rest = buf[:, take:]
            self._pending = [rest] if rest.shape[1] else []
            self._pending_samples = rest.shape[1]
        if final and need > take:
            self._audio.write_silence(need - take)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.frames == 0:
            self._container.close()
            raise ValueError("a video needs at least one frame")
        self._pump_audio(final=True)
        self._container.mux(self._video.encode(None))
        if self._audio is not None:
            self._audio.flush()
        self._container.close()

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except (av.FFmpegError, OSError, ValueError):
                pass
        self.dst.unlink(missing_ok=True)

    def __enter__(self) -> CanonicalWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
