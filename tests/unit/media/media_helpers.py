"""Real media made on the fly for the media tests: tiny, canonical, recognisable."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from videofoundry.media.encoder import AUDIO_RATE, CanonicalWriter, samples_at
from videofoundry.media.format import OutputFormat

FMT = OutputFormat(width=160, height=96, fps=24)
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.05


def rgb_pattern(i: int, seed: int, fmt: OutputFormat = FMT) -> npt.NDArray[np.uint8]:
    """A frame that differs per clip (colour) and per frame (a moving block)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, size=3)
    img = np.empty((fmt.height, fmt.width, 3), dtype=np.uint8)
    ramp = np.linspace(0, 40, fmt.width, dtype=np.float32)
    for c in range(3):
        img[..., c] = np.clip(base[c] + ramp, 0, 255).astype(np.uint8)
    x = (i * 6) % (fmt.width - 16)
    img[20:36, x : x + 16] = 255 - base
    return img


def beep(samples: int) -> npt.NDArray[np.float32]:
    t = np.arange(samples, dtype=np.float32) / AUDIO_RATE
    tone = 0.5 * np.sin(2 * np.pi * BEEP_HZ * t).astype(np.float32)
    return np.stack([tone, tone])


def make_clip(
    path: Path,
    frames: int,
    seed: int,
    *,
    beep_at: float | None = None,
    fmt: OutputFormat = FMT,
    audio: bool = True,
) -> Path:
    """A canonical clip; with `beep_at`, a short 1 kHz tone starts that many seconds in."""
    with CanonicalWriter(path, fmt, audio="pcm" if audio else "silence", threads=1) as writer:
        for i in range(frames):
            writer.write_frame(rgb_pattern(i, seed, fmt))
        if audio:
            pcm = np.zeros((2, samples_at(frames, fmt.fps)), dtype=np.float32)
            if beep_at is not None:
                start = round(beep_at * AUDIO_RATE)
                n = round(BEEP_SECONDS * AUDIO_RATE)
                pcm[:, start : start + n] = beep(n)[:, : max(0, pcm.shape[1] - start)]
            writer.write_audio(pcm)
    return path


def decode_frames(path: Path) -> list[npt.NDArray[np.uint8]]:
    with av.open(str(path)) as container:
        return [f.to_ndarray() for f in container.decode(video=0)]


def decode_audio(path: Path) -> npt.NDArray[np.float32]:
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
    return np.concatenate(chunks, axis=1).astype(np.float32)


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        return [bytes(p) for p in container.demux(vs) if p.size]


def onsets(pcm: npt.NDArray[np.float32], threshold: float = 0.2) -> list[float]:
    """Seconds where the signal first rises above `threshold` after at least 0.1 s of quiet."""
    loud = np.flatnonzero(np.abs(pcm[0]) > threshold)
    out: list[float] = []
    last = -(10**9)
    for i in loud:
        if i - last > AUDIO_RATE // 10:
            out.append(i / AUDIO_RATE)
        last = i
    return out


def mean_abs(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


X264_MEDIUM = {"g": "12", "crf": "23"}
"""What an ordinary ffmpeg/x264 writes (preset medium: B-frames, CABAC, psy-rd), GOP 12."""
X264_FILM = {"g": "12", "crf": "28", "preset": "fast", "tune": "film"}
"""Another configuration with B-frames: psy-trellis, deblocking offsets, another CRF."""
X264_BASELINE = {"g": "12", "crf": "30", "preset": "ultrafast"}
"""No B-frames, no CABAC, no deblocking: baseline profile."""


def make_x264_clip(
    path: Path,
    frames: int,
    seed: int,
    options: dict[str, str],
    *,
    beep_at: float | None = None,
    fmt: OutputFormat = FMT,
) -> Path:
    """A clip as another program would make it: libx264 with `options` (not our encoder
    configuration), 48 kHz AAC with a beep `beep_at` seconds in."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fmt.fps)
        video.width, video.height, video.pix_fmt = fmt.width, fmt.height, "yuv420p"
        video.options = options
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(rgb_pattern(i, seed, fmt), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        pcm = np.zeros((2, samples_at(frames, fmt.fps)), dtype=np.float32)
        if beep_at is not None:
            start = round(beep_at * AUDIO_RATE)
            n = round(BEEP_SECONDS * AUDIO_RATE)
            pcm[:, start : start + n] = beep(n)[:, : max(0, pcm.shape[1] - start)]
        for at in range(0, pcm.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, at : at + 1024]), format="fltp", layout="stereo"
            )
            chunk.sample_rate = AUDIO_RATE
            chunk.pts = at
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
    return path


def strip_sei(src: Path, dst: Path) -> Path:
    """Remux `src` without its SEI NAL units: the same pictures and parameter sets, but no
    record of the encoder's settings (as from an encoder that writes none)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for packet in inp.demux(vin):
            if not packet.size:
                continue
            data, kept, at = bytes(packet), bytearray(), 0
            while at < len(data):  # 4-byte length-prefixed NAL units (avcC)
                n = int.from_bytes(data[at : at + 4], "big")
                if data[at + 4] & 0x1F != 6:
                    kept += data[at : at + 4 + n]
                at += 4 + n
            copy = av.Packet(bytes(kept))
            copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
            copy.is_keyframe = packet.is_keyframe
            copy.stream = vout
            out.mux(copy)
    return dst
