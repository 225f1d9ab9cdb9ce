"""Pipeline overhead: a 100-segment render with a zero-cost model, embedded and distributed.

    .venv/bin/python -m bench.pipeline.run [--segments 100] [--concurrency N] [--repeat N]
        [--ai-workers N] [--only embedded|distributed] [--trace]

Prints, per deployment: orchestration overhead per segment (generation phase wall time / N,
since the model itself costs nothing), event latency from commit to WebSocket delivery (p50,
p99), total wall time, and the CPU time each process of the stack (and each service) spent per
segment; and, side by side, how late a client polling GET every second learns of the same
events. Also times the procedural model on a 5 s 1280x720 24 fps clip on one core, and a
6-segment procedural render with one, two and four segments in flight, and a fixed Python loop as
a reference of the machine's speed that day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from tests.e2e.conftest import make_stack
from tests.moto import moto_server

from bench.pipeline.zero import CLIP_ENV
from videofoundry.adapters.base import (
    GenerationContext,
    GenerationRequest,
)
from videofoundry.adapters.procedural import ProceduralAdapter
from videofoundry.core.config import Settings
from videofoundry.media.format import OutputFormat

SMALL = {"width": 320, "height": 180, "fps": 12}


_GROUPS = (
    ("videofoundry up", "vf up"),
    ("videofoundry api", "vf api"),
    ("worker ai", "vf ai worker"),
    ("worker composition", "vf composition"),
    ("moto.server", "moto s3"),
    ("bench.pipeline", "bench client"),
    ("postgres", "postgresql"),
    ("beam.smp", "rabbitmq"),
    ("redis-server", "redis"),
)
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[str, float]:
    """CPU seconds used so far by the processes of the stack and its services (Linux /proc)."""
    used: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for needle, group in _GROUPS:
            if needle in cmdline:
                used[group] = used.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
                break
    return used


def _summary(values: list[float]) -> str:
    """The value of one run, or the median and range of several."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _login(client: httpx.AsyncClient) -> str:
    email, password = f"bench-{uuid.uuid4().hex[:8]}@example.com", "bench password"
    await client.post("/api/auth/register", json={"email": email, "password": password})
    r = await client.post("/api/auth/token", data={"username": email, "password": password})
    token: str = r.json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return token


async def _poll(client: httpx.AsyncClient, job_id: str, seen: dict[str, float]) -> None:
    """The obvious alternative to push: GET the job every second."""
    while True:
        job = (await client.get(f"/api/render-jobs/{job_id}")).json()
        now = time.time()
        for s in job["segments"]:
            if s["status"] == "completed":
                seen.setdefault(s["segment_id"], now)
        if job["status"] in ("completed", "failed"):
            return
        await asyncio.sleep(1.0)


async def measure(
    kind: str,
    segments: int,
    s3_url: str,
    concurrency: int,
    trace: bool = False,
    ai_workers: int = 1,
) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = await procedural_clip(OutputFormat(**SMALL), 1.0, Path(tmp))
        async with make_stack(kind, Path(tmp), s3_url) as stack:
            stack.env["EXTRA_ADAPTERS"] = "bench.pipeline.zero:ZeroCostAdapter"
            stack.env[CLIP_ENV] = str(clip)
            stack.env["LOG_LEVEL"] = "WARNING"
            stack.env["AI_WORKER_CONCURRENCY"] = str(concurrency)
            # One user renders: let them use every worker slot (the fair share's advice).
            workers = ai_workers if kind == "distributed" else 1
            stack.env["SEGMENTS_IN_FLIGHT_PER_USER"] = str(concurrency * workers)
            stack.start()
            for extra in range(1, ai_workers if kind == "distributed" else 1):
                stack.spawn(f"ai{extra}", "worker", "ai")
            async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
                token = await _login(client)
                r = await client.post("/api/projects", json={"name": "bench", **SMALL})
                pid = r.json()["id"]
                for i in range(segments):
                    r = await client.post(
                        f"/api/projects/{pid}/segments",
                        json={"prompt": f"shot {i}", "duration": 1, "model": "zero", "seed": i},
                    )
                    r.raise_for_status()  # e.g. past MAX_SEGMENTS_PER_PROJECT
                cpu_before = cpu_by_process()
                started = time.time()
                r = await client.post(f"/api/projects/{pid}/render")
                job_id = r.json()["id"]
                ws_url = stack.url.replace("http", "ws") + f"/api/render-jobs/{job_id}/progress"
                latencies: list[float] = []
                pushed: dict[str, float] = {}
                composing_at = None
                cpu_after: dict[str, float] = {}
                polled: dict[str, float] = {}
                poller = asyncio.create_task(_poll(client, job_id, polled))
                async with websockets.connect(f"{ws_url}?token={token}") as ws:
                    async for raw in ws:
                        event = json.loads(raw)
                        now = time.time()
                        if trace:
                            fields = (event.get(k) for k in ("type", "status", "position", "seq"))
                            print(f"{now - started:8.3f}", *fields, file=sys.stderr)
                        if "at" in event and not event.get("tick"):
                            at = datetime.fromisoformat(event["at"])
                            if at.tzinfo is None:
                                at = at.replace(tzinfo=UTC)
                            latencies.append((now - at.timestamp()) * 1000)
                        if event.get("type") == "segment" and event.get("status") == "completed":
                            pushed.setdefault(event["segment_id"], now)
                        # The first one: composition's progress ticks repeat the status.
                        if event.get("type") == "job" and event.get("status") == "composing":
                            if composing_at is None:
                                composing_at = now
                                cpu_after = cpu_by_process()
                finished = time.time()
                await poller
                lag = [polled[k] - pushed[k] for k in pushed if k in polled]
    if composing_at is None:
        # The client connected after the job had moved on (the snapshot covered it): this run
        # measured nothing. Seen when the machine stalls the bench client for seconds.
        return None
    generation = composing_at - started
    cpu = {
        f"cpu ms/segment: {group}": (cpu_after.get(group, 0.0) - cpu_before.get(group, 0.0))
        / segments
        * 1000
        for _, group in _GROUPS
    }
    return {
        "deployment": kind,
        "segments": segments,
        "overhead_ms_per_segment": generation / segments * 1000,
        "ws_p50_ms": pct(latencies, 0.5),
        "ws_p99_ms": pct(latencies, 0.99),
        "poll_extra_delay_mean_ms": statistics.mean(lag) * 1000 if lag else float("nan"),
        "compose_s": finished - composing_at,
        "wall_s": finished - started,
        **cpu,
    }


def machine_reference_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop: the speed of this machine today, so figures of
    different days can be compared (the same kind of machine has measured twice as slow)."""
    started = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.process_time() - started


async def procedural_clip(output: OutputFormat, duration: float, workdir: Path) -> Path:
    """One clip of the offline model, made in this process."""

    async def progress(_f: float, _m: str | None) -> None:
        return None

    async def no(*_a: object) -> bool:
        return False

    request = GenerationRequest(
        segment_render_id="bench",
        spec_hash="bench",
        model="procedural",
        prompt="a lighthouse in a storm",
        duration=duration,
        seed=1,
        output=output,
    )
    context = GenerationContext(workdir, progress, no, no)  # type: ignore[arg-type]
    adapter = ProceduralAdapter.__new__(ProceduralAdapter)
    return (await adapter.generate(request, context)).path


async def procedural_clip_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cores)})  # the target is for one core
        try:
            started = time.perf_counter()
            await procedural_clip(OutputFormat(1280, 720, 24), 5.0, Path(tmp))
            return time.perf_counter() - started
        finally:
            os.sched_setaffinity(0, cores)


async def procedural_render_seconds(concurrency: int, segments: int = 6) -> float:
    """Wall time of an embedded render of `segments` 5 s 1280x720 procedural segments."""
    with tempfile.TemporaryDirectory() as tmp:
        async with make_stack("embedded", Path(tmp), None) as stack:
            stack.env["AI_WORKER_CONCURRENCY"] = str(concurrency)
            stack.env["LOG_LEVEL"] = "WARNING"
            stack.start()
            async with httpx.AsyncClient(base_url=stack.url, timeout=120) as client:
                await _login(client)
                body = {"name": "lighthouse", "width": 1280, "height": 720, "fps": 24}
                pid = (await client.post("/api/projects", json=body)).json()["id"]
                for i in range(segments):
                    segment = {"prompt": f"a lighthouse, shot {i}", "duration": 5, "seed": i}
                    r = await client.post(f"/api/projects/{pid}/segments", json=segment)
                    r.raise_for_status()
                started = time.time()
                job_id = (await client.post(f"/api/projects/{pid}/render")).json()["id"]
                while True:
                    job = (await client.get(f"/api/render-jobs/{job_id}")).json()
                    if job["status"] in ("completed", "failed", "cancelled"):
                        break
                    await asyncio.sleep(0.05)
                if job["status"] != "completed":
                    raise RuntimeError(f"the procedural render ended {job['status']}")
                return time.time() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Settings.model_fields["AI_WORKER_CONCURRENCY"].default,
        help="AI_WORKER_CONCURRENCY (segments in flight; default: the product's)",
    )
    parser.add_argument(
        "--ai-workers", type=int, default=1, help="AI worker processes (distributed run)"
    )
    parser.add_argument("--trace", action="store_true", help="print every event as it arrives")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per deployment, interleaved (median, range)"
    )
    parser.add_argument(
        "--only", choices=["embedded", "distributed"], help="measure one deployment only"
    )
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["embedded", "distributed"]
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    reference = [machine_reference_seconds()]
    with moto_server() as s3_url:
        for _ in range(args.repeat):
            for kind in kinds:  # interleaved, so a drift of the machine hits both alike
                for _attempt in range(3):
                    run = await measure(
                        kind, args.segments, s3_url, args.concurrency, args.trace, args.ai_workers
                    )
                    if run is not None:
                        runs[kind].append(run)
                        break
                    print(f"{kind}: run discarded, the client missed the events", file=sys.stderr)
    reference.append(machine_reference_seconds())
    print(
        "machine reference (5M-step Python loop, before and after): "
        + ", ".join(f"{seconds:.2f}" for seconds in reference)
        + " s of CPU"
    )
    print(f"AI_WORKER_CONCURRENCY={args.concurrency}, {args.repeat} run(s) each")
    print(f"{'':<34}" + "".join(f"{kind:>20}" for kind in kinds))
    for key in runs[kinds[0]][0]:
        values = {kind: [run[key] for run in runs[kind]] for kind in kinds}
        if key == "deployment" or not any(any(v) for v in values.values()):
            continue
        print(f"{key:<34}" + "".join(f"{_summary(values[kind]):>20}" for kind in kinds))
    seconds = await procedural_clip_seconds()
    print(f"\nprocedural 5 s 1280x720 24 fps clip on one core: {seconds:.2f} s")
    for concurrency in (1, 2, 4):
        seconds = await procedural_render_seconds(concurrency)
        print(f"embedded render of 6 such segments, {concurrency} in flight: {seconds:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
