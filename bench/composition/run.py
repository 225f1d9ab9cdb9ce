"""Composition benchmark: this engine vs MoviePy vs ffmpeg, side by side in one run.

    .venv/bin/python -m bench.composition.run [--no-moviepy] [--no-big] [--only SCENARIO]
        [--write-docs]

Prints a table (it is not a test). Every contender runs as a subprocess; its wall time includes
interpreter or binary start-up, and its peak memory is the largest sum of resident memory over
its whole process tree (MoviePy runs ffmpeg readers and a writer beside Python), sampled from
/proc every 50 ms. Output durations are checked by decoding: "audio s" is what a player hears.

Inputs (made once under bench/out/, procedural video):
  * 12 clips of 5 s, 1280x720, 24 fps, canonical, with a tone in each (the "audio" scenario);
  * the same clips with no audio stream (MoviePy's and ffmpeg's "no audio" inputs) and with
    the silent track our normalisation gives them (this engine's "no audio" input);
  * one 10 s 1920x1080 clip stitched 100 times (memory on a long timeline).

MoviePy needs its own venv (it pins an older Pillow): see bench/composition/requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
from bench.composition import foreign, startup

from videofoundry.adapters.procedural import Scene
from videofoundry.media import probe
from videofoundry.media.encoder import (
    AUDIO_RATE,
    SILENT_HANDLER,
    AudioEncoder,
    CanonicalWriter,
    add_canonical_audio_stream,
    samples_at,
    x264_params,
)
from videofoundry.media.format import OutputFormat

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OUT = ROOT / "bench" / "out" / "composition"
DOC = ROOT / "docs" / "composition.md"
FFMPEG = __import__("imageio_ffmpeg").get_ffmpeg_exe()
MOVIEPY_PY = ROOT / "bench" / ".venv" / "bin" / "python"
FMT = OutputFormat(1280, 720, 24)
CLIPS, SECONDS = 12, 5.0
PROMPTS = [
    "a lighthouse in a storm",
    "neon city at night",
    "a fox in the snow",
    "jellyfish in deep water",
    "desert dunes at noon",
    "autumn forest path",
    "a rocket launch",
    "rain on a window",
    "a field of sunflowers",
    "northern lights",
    "a busy market",
    "waves on black sand",
]


# --- inputs -----------------------------------------------------------------------------------


def _video_only(path: Path, prompt: str, seconds: float, fmt: OutputFormat) -> None:
    scene = Scene(prompt, 1, {}, seconds, fmt)
    with CanonicalWriter(path, fmt, audio="none", threads=0, analysis="fast") as video:
        for i in range(scene.frames):
            video.write_frame(scene.frame(i))


def _with_audio(src: Path, dst: Path, kind: str, hz: float = 440.0) -> None:
    """Copy `src`'s video and add a tone, a silent track, or nothing."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        frames = 0
        enc = None
        if kind != "none":
            stream = add_canonical_audio_stream(out)
            if kind == "silence":
                # What normalisation writes for a clip without audio.
                stream.metadata["handler_name"] = SILENT_HANDLER
            enc = AudioEncoder(out, stream)
        for packet in inp.demux(vin):
            if not packet.size:
                continue
            packet.stream = vout
            out.mux(packet)
            frames += 1
        if enc is not None:
            n = samples_at(frames, FMT.fps)
            if kind == "tone":
                t = np.arange(n, dtype=np.float32) / AUDIO_RATE
                tone = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
                enc.write(np.stack([tone, tone]))
            else:
                enc.write_silence(n)
            enc.flush()


def prepare(big: bool) -> dict[str, list[Path]]:
    sets: dict[str, list[Path]] = {"audio": [], "silent": [], "none": []}
    OUT.mkdir(parents=True, exist_ok=True)
    for i, prompt in enumerate(PROMPTS[:CLIPS]):
        raw = OUT / f"raw{i:02d}.mp4"
        if not raw.exists():
            print(f"making clip {i + 1}/{CLIPS} ...", file=sys.stderr)
            _video_only(raw, prompt, SECONDS, FMT)
        for kind, key in (("tone", "audio"), ("silence", "silent"), ("none", "none")):
            path = OUT / f"{key}{i:02d}.mp4"
            if not path.exists():
                _with_audio(raw, path, kind, hz=220 * 2 ** (i / 12))
            sets[key].append(path)
    if big:
        raw = OUT / "big-raw.mp4"
        path = OUT / "big.mp4"
        if not path.exists():
            print("making the 10 s 1080p clip ...", file=sys.stderr)
            _video_only(raw, "a long take", 10.0, OutputFormat(1920, 1080, 24))
            _with_audio(raw, path, "silence")
        sets["big"] = [path] * 100
    return sets


# --- measuring --------------------------------------------------------------------------------


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return total


@dataclass
class Result:
    scenario: str
    contender: str
    seconds: float
    work: float
    """In-process time where the contender reports it (Python start-up and imports excluded):
    what a long-running worker pays. Equal to `seconds` for ffmpeg."""
    cpu: float
    """User + system CPU seconds of the whole process tree: steadier than wall time on a
    machine shared with other work."""
    peak_mb: float
    video_s: float
    audio_s: float | None


def measure(scenario: str, contender: str, cmd: list[str], out: Path) -> Result:
    print(f"{scenario}: {contender}", file=sys.stderr)
    out.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = 0
    started = time.perf_counter()
    # Own process group: an interrupted run takes MoviePy's ffmpeg helpers down with it.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=startup.ENV,
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, 15)
        raise
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    inner = re.search(r"^inner ([0-9.]+)$", stdout, re.M)
    work = float(inner.group(1)) if inner else seconds
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{contender} failed ({proc.returncode}):\n{stdout}\n{stderr[-3000:]}")
    info = probe(out)
    audio = None
    if info.has_audio:
        with av.open(str(out)) as container:
            audio = sum(f.samples for f in container.decode(audio=0)) / AUDIO_RATE
    result = Result(scenario, contender, seconds, work, cpu, peak / 2**20, info.duration, audio)
    print(
        f"  {seconds:7.2f} s ({work:6.2f} s, cpu {cpu:6.2f} s)"
        f" {result.peak_mb:7.0f} MB"
        f"  video {info.duration:.3f}" + (f"  audio {audio:.3f}" if audio is not None else ""),
        file=sys.stderr,
    )
    return result


def concat_list(paths: list[Path]) -> Path:
    listing = OUT / f"concat-{len(paths)}-{paths[0].stem}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    return listing


def ffmpeg_xfade(paths: list[Path], out: Path, encoder: list[str] | None = None) -> list[str]:
    """The full re-encode: 11 chained xfade + acrossfade filters, our x264 settings unless
    `encoder` gives others."""
    d = 0.5
    inputs = [a for p in paths for a in ("-i", str(p))]
    parts, v, a = [], "[0:v]", "[0:a]"
    for k in range(1, len(paths)):
        offset = k * (SECONDS - d)
        parts.append(f"{v}[{k}:v]xfade=transition=fade:duration={d}:offset={offset}[v{k}]")
        parts.append(f"{a}[{k}:a]acrossfade=d={d}[a{k}]")
        v, a = f"[v{k}]", f"[a{k}]"
    return [
        FFMPEG, "-y", "-v", "error", *inputs, "-filter_complex", ";".join(parts),
        "-map", v, "-map", a, *(encoder or [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
            "-x264-params", x264_params(FMT), "-pix_fmt", "yuv420p"]),
        "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(out),
    ]  # fmt: skip


SCENARIOS = {
    "audio": "stitch 12 x 5 s, with audio",
    "noaudio": "stitch 12 x 5 s, clips without audio",
    "crossfade": "11 crossfades of 0.5 s, with audio",
    "big": "stitch 100 x 10 s 1080p",
    "foreign": "stitch 12 x 5 s from ffmpeg/x264 (B-frames, GOP 12)",
    "foreign_crossfade": "11 crossfades of 0.5 s over the ffmpeg/x264 clips",
}


def run(moviepy: bool, big: bool, only: set[str] | None = None) -> list[Result]:
    wanted = {SCENARIOS[k] for k in (only or SCENARIOS)}
    if not big:
        wanted.discard(SCENARIOS["big"])
    sets = prepare(SCENARIOS["big"] in wanted)
    py = sys.executable
    # The engine's and the command's bytecode, as an installed package has it (startup.ENV).
    modules = "import videofoundry.cli, videofoundry.media.cli_run"
    subprocess.run([py, "-c", modules], check=True, env=startup.ENV)
    engine = [py, str(HERE / "engine_job.py")]
    mp = [str(MOVIEPY_PY), str(HERE / "moviepy_job.py")]
    if moviepy and not MOVIEPY_PY.exists():
        print("MoviePy venv not found (see requirements.txt); skipping MoviePy", file=sys.stderr)
        moviepy = False
    results: list[Result] = []
    o = OUT

    def go(scenario: str, contender: str, cmd: list[str], out: Path) -> None:
        if scenario in wanted:
            results.append(measure(scenario, contender, cmd, out))

    audio, silent, none = sets["audio"], sets["silent"], sets["none"]
    if wanted & {SCENARIOS["foreign"], SCENARIOS["foreign_crossfade"]}:
        sets["foreign"] = foreign.prepare(FFMPEG, audio, OUT)
    ff = [FFMPEG, "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i"]
    fast = ["-movflags", "+faststart"]

    s = SCENARIOS["audio"]
    go(
        s,
        "this engine (video copy, audio re-encoded)",
        [*engine, "stitch", str(o / "e1.mp4"), *map(str, audio)],
        o / "e1.mp4",
    )
    go(
        s,
        "ffmpeg concat (video copy, audio re-encoded)",
        [
            *ff,
            str(concat_list(audio)),
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            *fast,
            str(o / "f1.mp4"),
        ],
        o / "f1.mp4",
    )
    go(
        s,
        "ffmpeg concat (all copied: audio drifts)",
        [*ff, str(concat_list(audio)), "-c", "copy", *fast, str(o / "f1c.mp4")],
        o / "f1c.mp4",
    )
    go(
        s,
        "videofoundry compose (the command, start-up included)",
        foreign.compose(o / "c1.mp4", audio),
        o / "c1.mp4",
    )
    if moviepy:
        go(
            s,
            "MoviePy concatenate + write_videofile",
            [*mp, "audio", str(o / "m1.mp4"), *map(str, audio)],
            o / "m1.mp4",
        )

    s = SCENARIOS["foreign"]
    if s in wanted:
        clips = sets["foreign"]
        go(
            s,
            "this engine: videofoundry compose",
            foreign.compose(o / "e5.mp4", clips),
            o / "e5.mp4",
        )
        concat = [*ff, str(concat_list(clips)), "-c:v", "copy", *foreign.AAC, *fast]
        go(
            s,
            "ffmpeg concat (video copy, audio re-encoded)",
            [*concat, str(o / "f5.mp4")],
            o / "f5.mp4",
        )

    s = SCENARIOS["foreign_crossfade"]
    if s in wanted:
        clips = sets["foreign"]
        fade = ["--transition", "crossfade:0.5"]
        go(
            s,
            "this engine: videofoundry compose --transition crossfade:0.5",
            foreign.compose(o / "e6.mp4", clips, *fade),
            o / "e6.mp4",
        )
        go(
            s,
            "ffmpeg xfade, full re-encode (the clips' x264 settings)",
            ffmpeg_xfade(clips, o / "f6.mp4", [*foreign.X264]),
            o / "f6.mp4",
        )

    s = SCENARIOS["noaudio"]
    go(
        s,
        "this engine (silent tracks from normalisation)",
        [*engine, "stitch", str(o / "e2.mp4"), *map(str, silent)],
        o / "e2.mp4",
    )
    go(
        s,
        "ffmpeg concat (video copy)",
        [*ff, str(concat_list(none)), "-c", "copy", *fast, str(o / "f2.mp4")],
        o / "f2.mp4",
    )
    if moviepy:
        go(
            s,
            "MoviePy concatenate + write_videofile",
            [*mp, "noaudio", str(o / "m2.mp4"), *map(str, none)],
            o / "m2.mp4",
        )

    s = SCENARIOS["crossfade"]
    go(
        s,
        "this engine (re-encodes the transition GOPs)",
        [*engine, "crossfade", str(o / "e3.mp4"), *map(str, audio)],
        o / "e3.mp4",
    )
    go(
        s,
        "ffmpeg xfade, full re-encode (same x264 settings)",
        ffmpeg_xfade(audio, o / "f3.mp4"),
        o / "f3.mp4",
    )
    if moviepy:
        go(
            s,
            "MoviePy CrossFadeIn + compose",
            [*mp, "crossfade", str(o / "m3.mp4"), *map(str, audio)],
            o / "m3.mp4",
        )

    if SCENARIOS["big"] in wanted:
        s = SCENARIOS["big"]
        go(
            s,
            "this engine",
            [*engine, "stitch", str(o / "e4.mp4"), *map(str, sets["big"])],
            o / "e4.mp4",
        )
        big_list = str(concat_list(sets["big"]))
        aac = ["-c:a", "aac", "-b:a", "128k"]
        go(
            s,
            "ffmpeg concat (video copy, audio re-encoded)",
            [*ff, big_list, "-c:v", "copy", *aac, *fast, str(o / "f4.mp4")],
            o / "f4.mp4",
        )
        (o / "e4.mp4").unlink(missing_ok=True)
        (o / "f4.mp4").unlink(missing_ok=True)
    return results


# --- reporting --------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | contender | wall time | in-process | CPU time |"
        " vs this engine (wall / in-process / CPU) | peak memory | video | audio decodes to |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    engine = {r.scenario: r for r in results if r.contender.startswith("this")}
    for r in results:
        e = engine[r.scenario]
        audio = f"{r.audio_s:.3f} s" if r.audio_s is not None else "no track"
        lines.append(
            f"| {r.scenario} | {r.contender} | {r.seconds:.2f} s | {r.work:.2f} s | "
            f"{r.cpu:.2f} s | {r.seconds / e.seconds:.1f}x / {r.work / e.work:.1f}x / "
            f"{r.cpu / e.cpu:.1f}x | "
            f"{r.peak_mb:.0f} MB | {r.video_s:.3f} s | {audio} |"
        )
    return "\n".join(lines)


def write_docs(text: str) -> None:
    if not DOC.exists():
        print(f"{DOC} not found; table not written", file=sys.stderr)
        return
    doc = DOC.read_text()
    block = f"<!-- bench:start -->\n{text}\n<!-- bench:end -->"
    new, n = re.subn(r"<!-- bench:start -->.*?<!-- bench:end -->", block, doc, flags=re.S)
    if n:
        DOC.write_text(new)
        print(f"table written to {DOC}", file=sys.stderr)


RESULTS = OUT / "results.json"


def machine_reference_seconds() -> float:
    """CPU seconds of the same fixed Python loop as bench/pipeline: the machine's speed today."""
    started = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.process_time() - started


def median_of(runs: list[Result]) -> Result:
    """One row per contender: the median of each figure over paired runs."""
    first = runs[0]
    return Result(
        first.scenario,
        first.contender,
        statistics.median(r.seconds for r in runs),
        statistics.median(r.work for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.peak_mb for r in runs),
        first.video_s,
        first.audio_s,
    )


def merge(fresh: list[Result]) -> list[Result]:
    """Fresh rows replace the same (scenario, contender) rows of earlier runs, which are kept
    otherwise: a slow MoviePy row need not be measured again to redo one scenario."""
    old: list[Result] = []
    if RESULTS.exists():
        old = [Result(**row) for row in json.loads(RESULTS.read_text())]
    done = {(r.scenario, r.contender) for r in fresh}
    merged = [r for r in old if (r.scenario, r.contender) not in done] + fresh
    order = list(SCENARIOS.values())
    merged.sort(key=lambda r: order.index(r.scenario) if r.scenario in order else len(order))
    RESULTS.write_text(json.dumps([asdict(r) for r in merged], indent=1))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-moviepy", action="store_true")
    parser.add_argument("--no-big", action="store_true", help="skip the 100 x 10 s 1080p run")
    parser.add_argument(
        "--only", action="append", choices=list(SCENARIOS), help="run only these scenarios"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOC.name}")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the scenarios N times, contenders alternating"
    )
    args = parser.parse_args()
    reference = [machine_reference_seconds()]
    rounds = [
        run(moviepy=not args.no_moviepy, big=not args.no_big, only=set(args.only or []))
        for _ in range(max(1, args.repeat))
    ]
    fresh = [median_of([r[i] for r in rounds]) for i in range(len(rounds[0]))]
    reference.append(machine_reference_seconds())
    results = merge(fresh)
    cpu = os.cpu_count()
    load = os.getloadavg()[0]
    text = table(results) + (
        f"\n\nMeasured on {cpu} cores shared with other work (load average {load:.1f} at the"
        f" end), {time.strftime('%Y-%m-%d')}"
        + (f"; medians of {args.repeat} paired runs" if args.repeat > 1 else "")
        + f"; machine reference loop {reference[0]:.2f} s before, {reference[1]:.2f} s after."
    )
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
