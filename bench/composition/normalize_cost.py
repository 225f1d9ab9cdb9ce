"""What normalising a typical provider clip costs, step by step.

    .venv/bin/python -m bench.composition.normalize_cost [--clips 4]

Makes 5 s clips as hosted providers return them (H.264 from ffmpeg/x264, 1920x1080 and
1280x768, 24 fps, AAC), then measures in this process, in CPU seconds (steadier than wall time
on a shared machine): decoding alone, decoding plus scaling, and the whole `normalize` to
1280x720 canonical with one encoder thread; then `normalize_many` on several clips with every
core against the same clips one after another.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from av.filter import Graph

from videofoundry.media.format import OutputFormat
from videofoundry.media.normalize import (
    NormalizeJob,
    _scale_filter,
    _source_matrix,
    normalize,
    normalize_many,
)

FFMPEG = __import__("imageio_ffmpeg").get_ffmpeg_exe()
FMT = OutputFormat(1280, 720, 24)
SIZES = ["1920x1080", "1280x768"]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make(size: str, dst: Path, hz: int) -> Path:
    if not dst.exists():
        picture = f"testsrc2=size={size}:rate=24:duration=5"
        tone = f"sine=frequency={hz}:sample_rate=48000:duration=5"
        subprocess.run(
            [FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", tone,
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(dst)],
            check=True,
        )  # fmt: skip
    return dst


def decode_and_scale(src: Path, scale: bool) -> float:
    started = cpu()
    with av.open(str(src)) as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        graph = None
        if scale:
            graph = Graph()
            nodes = [graph.add_buffer(template=vs)]
            for part in _scale_filter(FMT, "fit", _source_matrix(vs)).split(","):
                name, _, options = part.partition("=")
                nodes.append(graph.add(name, options))
            nodes.append(graph.add("buffersink"))
            graph.link_nodes(*nodes).configure()
        for frame in container.decode(vs):
            if graph is not None:
                graph.vpush(frame)
                graph.vpull()
    return cpu() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    args = parser.parse_args()
    out = Path(__file__).resolve().parents[2] / "bench" / "out" / "normalize"
    out.mkdir(parents=True, exist_ok=True)
    print("| 5 s clip | decode | decode + scale | normalize (1 thread) | wall |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            src = make(size, out / f"provider-{size}.mp4", 440)
            decode = decode_and_scale(src, scale=False)
            scaled = decode_and_scale(src, scale=True)
            started, wall = cpu(), time.perf_counter()
            normalize(src, Path(tmp) / "n.mp4", FMT, threads=1)
            total, wall = cpu() - started, time.perf_counter() - wall
            print(f"| {size} | {decode:.2f} s | {scaled:.2f} s | {total:.2f} s | {wall:.2f} s |")
        sources = [
            make(SIZES[i % 2], out / f"provider-{SIZES[i % 2]}.mp4", 440) for i in range(args.clips)
        ]
        jobs = [NormalizeJob(s, Path(tmp) / f"m{i}.mp4", FMT) for i, s in enumerate(sources)]
        started = time.perf_counter()
        normalize_many(jobs, workers=1)
        one = time.perf_counter() - started
        started = time.perf_counter()
        normalize_many(jobs)
        many = time.perf_counter() - started
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n{args.clips} clips: {one:.2f} s one after another, {many:.2f} s with normalize_many "
        f"on {cores} cores ({one / many:.2f}x); load average {os.getloadavg()[0]:.1f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
