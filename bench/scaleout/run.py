"""Scale-out: AI worker throughput against a provider with fixed latency and a per-key cap, and
the time from the last segment to the final video.

    .venv/bin/python -m bench.scaleout.run [--segments 40] [--workers 1,2,4] [--latency 2]
        [--cap 10] [--concurrency 4] [--provider-slots N] [--share N] [--compose 12,100]
        [--provider replicate|runway] [--poll S] [--only throughput|composition] [--repeat N]
        [--trace]

Everything runs distributed, as in production: API, AI worker processes and a composition
worker against PostgreSQL, RabbitMQ, Redis and moto S3 (tests/e2e's stack).

Throughput: `--segments` segments of a hosted model against its fake on loopback, which holds
every task `--latency` seconds and runs at most `--cap` tasks per key at once (the rest wait).
Replicate by default: its create waits for the result (`Prefer: wait`), so the latency is
exact; `--provider runway` polls every `--poll` seconds instead (bench/scaleout/provider.py).
Each worker takes `--concurrency` segments at once (AI_WORKER_CONCURRENCY) and runs
`--provider-slots` provider tasks at once (PROVIDER_CONCURRENCY, by default the same); the
per-user share is workers x concurrency unless `--share` is given. Each worker count renders
twice on one stack: cold (processes fresh from start-up) and warm. Prints segments/s from the
render request to the last segment's completion against the ideal
min(workers x provider slots, cap) / latency, the AI workers' CPU per segment, and the segments
queue while the render runs as KEDA would read it: ready messages (its AMQP protocol) and
dispatched segments not yet done (ready plus unacknowledged, its HTTP protocol), with the
replicas each reading asks for (ready / 5, the old target; all / concurrency, the new one).

Composition: a render of N 5 s 1280x720 24 fps segments of a zero-cost model (each a copy of one
procedural clip made before the clock starts); prints the time from the last segment's
`finished_at` to the job's `finished_at` (both stamped by the server), and the same as the
client saw it on the progress WebSocket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg  # type: ignore[import-untyped]
import httpx
import websockets
from tests.e2e.conftest import make_stack
from tests.moto import moto_server
from tests.services import RABBITMQ_URL
from tests.support.stack import Stack

from bench.pipeline.run import _login, machine_reference_seconds, procedural_clip
from bench.pipeline.zero import CLIP_ENV
from bench.scaleout.provider import POLL_ENV
from videofoundry.media.format import OutputFormat
from videofoundry.queue.base import SEGMENTS
from videofoundry.testing.fakes._server import fake_ledger, run_fake

THROUGHPUT_FORMAT = {"width": 320, "height": 180, "fps": 12}
COMPOSE_FORMAT = {"width": 1280, "height": 720, "fps": 24}
KEDA_TARGET_NOW = 5
MODELS = {"replicate": "replicate/minimax/video-01", "runway": "runway/gen4.5"}
ADAPTERS = {"replicate": "CannedReplicate", "runway": "CannedRunway"}
KEY_SETTINGS = {"replicate": "REPLICATE_API_TOKEN", "runway": "RUNWAY_API_KEY"}
CLIP_SECONDS = {"replicate": 6, "runway": 2}  # minimax makes 6 s; Runway takes 2-10
# The stacks of tests/e2e use 4 s leases so crash tests hand work on quickly; under this
# machine's load such short leases expire while a worker is busy and segments run twice.
FAKE_URL_ENV = "VF_BENCH_FAKE_URL"
PRODUCTION_LEASES = {
    "LEASE_SECONDS": "60",
    "HEARTBEAT_SECONDS": "10",
}  # deploy/kubernetes/keda.yaml before this benchmark: ready messages / 5


@dataclass
class QueueSamples:
    ready: list[int] = field(default_factory=list)
    in_queue: list[int] = field(default_factory=list)
    """Ready plus delivered and not yet acknowledged: dispatched segments not yet done."""


async def _project(
    client: httpx.AsyncClient, fmt: dict[str, int], segments: list[dict[str, Any]]
) -> str:
    r = await client.post("/api/projects", json={"name": "scale-out", **fmt})
    r.raise_for_status()
    project_id: str = r.json()["id"]
    for segment in segments:
        r = await client.post(f"/api/projects/{project_id}/segments", json=segment)
        r.raise_for_status()
    return project_id


async def _wait_consumers(stack: Stack, workers: int, timeout: float = 90) -> None:
    """Until every AI worker consumes the segments queue, so none joins late and the run
    measures steady workers, not start-up."""
    name = stack.env["QUEUE_PREFIX"] + SEGMENTS
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection, asyncio.timeout(timeout):
        while True:
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
                queue = await channel.declare_queue(name, passive=True)
                if (queue.declaration_result.consumer_count or 0) >= workers:
                    return
            await asyncio.sleep(0.2)


async def _sample_queue(stack: Stack, database_url: str, job_id: str, out: QueueSamples) -> None:
    """Every 0.25 s: the ready messages (AMQP passive declare, as KEDA's amqp protocol reads
    them) and the dispatched segments not yet finished (what ready + unacked counts)."""
    name = stack.env["QUEUE_PREFIX"] + SEGMENTS
    connection = await aio_pika.connect(RABBITMQ_URL)
    database = await asyncpg.connect(database_url)
    try:
        async with connection:
            channel = await connection.channel()
            while True:
                queue = await channel.declare_queue(name, passive=True)
                out.ready.append(queue.declaration_result.message_count or 0)
                out.in_queue.append(
                    await database.fetchval(
                        "SELECT count(*) FROM segment_render WHERE job_id = $1"
                        " AND dispatched_at IS NOT NULL AND finished_at IS NULL",
                        job_id,
                    )
                )
                await asyncio.sleep(0.25)
    finally:
        await database.close()


async def _follow(stack: Stack, token: str, job_id: str) -> dict[str, float]:
    """Client-side arrival times of the last segment's completion and of the job's end."""
    url = stack.url.replace("http", "ws", 1) + f"/api/render-jobs/{job_id}/progress"
    seen: dict[str, float] = {}
    async with websockets.connect(f"{url}?token={token}") as ws:
        async for raw in ws:
            event = json.loads(raw)
            if event.get("type") == "segment" and event.get("status") == "completed":
                seen["last_segment"] = time.time()
            if event.get("type") == "job" and event.get("status") in ("completed", "failed"):
                seen["job_" + event["status"]] = time.time()
    return seen


async def _times(database_url: str, job_id: str) -> dict[str, datetime]:
    database = await asyncpg.connect(database_url)
    try:
        row = await database.fetchrow(
            "SELECT j.created_at, j.finished_at, j.status,"
            " (SELECT max(finished_at) FROM segment_render WHERE job_id = j.id) AS last_segment,"
            " (SELECT count(*) FROM segment_render WHERE job_id = j.id"
            "  AND status = 'completed') AS completed"
            " FROM render_job j WHERE j.id = $1",
            job_id,
        )
    finally:
        await database.close()
    return dict(row)


async def _trace(database_url: str, job_id: str, started: float, fake_url: str) -> None:
    """Per segment, seconds after the render request: dispatched, claimed, provider task
    created, finished (the gaps are the orchestration's own time)."""
    created = {e["segment"]: e["time"] for e in fake_ledger(fake_url)["entries"]}
    database = await asyncpg.connect(database_url)
    try:
        rows = await database.fetch(
            "SELECT id, position, dispatched_at, started_at, finished_at FROM segment_render"
            " WHERE job_id = $1 ORDER BY finished_at",
            job_id,
        )
    finally:
        await database.close()
    for row in rows:
        stamps = [row["dispatched_at"], row["started_at"], None, row["finished_at"]]
        values = [s.timestamp() - started if s else float("nan") for s in stamps]
        values[2] = created.get(row["id"], float("nan")) - started
        print(f"  segment {row['position']:>3}: " + " ".join(f"{v:7.3f}" for v in values))


def _provider_slots(args: argparse.Namespace) -> int:
    """Provider tasks one worker runs at once (PROVIDER_CONCURRENCY)."""
    return int(args.provider_slots or args.concurrency)


def _workers_cpu(stack: Stack) -> float:
    """CPU seconds used so far by this stack's AI worker processes (Linux /proc)."""
    used = 0.0
    for name, process in stack.processes.items():
        if name.startswith("ai"):
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


async def _measured_render(
    stack: Stack, client: httpx.AsyncClient, token: str, args: argparse.Namespace, tag: str
) -> dict[str, Any]:
    """One render of `--segments` new segments on a running stack, with its figures."""
    provider = args.provider
    segments = [
        {
            "prompt": f"a harbour at dawn, shot {i} ({tag})",
            "model": MODELS[provider],
            "duration": CLIP_SECONDS[provider],
            "seed": i,
        }
        for i in range(args.segments)
    ]
    project_id = await _project(client, THROUGHPUT_FORMAT, segments)
    cpu_before = _workers_cpu(stack)
    started = time.time()
    r = await client.post(f"/api/projects/{project_id}/render")
    r.raise_for_status()
    job_id = r.json()["id"]
    samples = QueueSamples()
    sampler = asyncio.create_task(_sample_queue(stack, stack.env["DATABASE_URL"], job_id, samples))
    try:
        await _follow(stack, token, job_id)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    cpu = _workers_cpu(stack) - cpu_before
    times = await _times(stack.env["DATABASE_URL"], job_id)
    if times["status"] != "completed" or times["completed"] != args.segments:
        raise RuntimeError(f"the render ended {times['status']}: {times}\n{stack.logs()}")
    if args.trace:
        print(f" {tag} render:")
        await _trace(stack.env["DATABASE_URL"], job_id, started, stack.env[FAKE_URL_ENV])
    busy = [n for n in samples.in_queue if n]
    ready = samples.ready[: len(busy)] or [0]
    return {
        "throughput": args.segments / (times["last_segment"].timestamp() - started),
        "ready_mean": statistics.mean(ready),
        "ready_max": max(samples.ready, default=0),
        "in_queue_mean": statistics.mean(busy or [0]),
        "worker_cpu_ms": cpu / args.segments * 1000,
        "keda_amqp": math.ceil(statistics.mean(ready) / KEDA_TARGET_NOW),
        "keda_total": math.ceil(statistics.mean(busy or [0]) / args.concurrency),
    }


async def throughput(
    workers: int, args: argparse.Namespace, s3_url: str, clip: Path
) -> dict[str, dict[str, Any]]:
    """A cold render (processes fresh from start-up) then a warm one on the same stack."""
    share = args.share or workers * args.concurrency
    provider = args.provider
    with (
        tempfile.TemporaryDirectory(prefix="vf-scale-") as tmp,
        run_fake(
            provider,
            pending_seconds=0.0,
            running_seconds=args.latency,
            concurrency=args.cap,
            video_scale=0.125,
        ) as fake,
    ):
        async with make_stack("distributed", Path(tmp), s3_url) as stack:
            stack.env.update(
                {
                    **PRODUCTION_LEASES,
                    "EXTRA_ADAPTERS": f"bench.scaleout.provider:{ADAPTERS[provider]}",
                    KEY_SETTINGS[provider]: fake.key,
                    FAKE_URL_ENV: fake.base_url,
                    f"{provider.upper()}_BASE_URL": fake.base_url,
                    CLIP_ENV: str(clip),
                    POLL_ENV: str(args.poll),
                    "AI_WORKER_CONCURRENCY": str(args.concurrency),
                    "PROVIDER_CONCURRENCY": json.dumps({provider: _provider_slots(args)}),
                    "SEGMENTS_IN_FLIGHT_PER_USER": str(share),
                    "LOG_LEVEL": "WARNING",
                }
            )
            stack.start()
            for extra in range(1, workers):
                stack.spawn(f"ai{extra}", "worker", "ai")
            await _wait_consumers(stack, workers)
            async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
                token = await _login(client)
                runs = {
                    tag: await _measured_render(stack, client, token, args, tag)
                    for tag in ("cold", "warm")
                }
            if args.trace:
                for log in Path(tmp).glob("*.log"):
                    shutil.copy(log, Path(tempfile.gettempdir()) / f"vf-scale-{log.name}")
        if fake_ledger(fake.base_url)["creates"] != 2 * args.segments:
            raise RuntimeError("the provider was not called once per segment")
    slots = min(workers * _provider_slots(args), args.cap)
    for run in runs.values():
        run.update(slots=slots, share=share, ideal=slots / args.latency)
        run["ratio"] = run["throughput"] / run["ideal"]
    return runs


async def composition(segments: int, s3_url: str, clip: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vf-scale-") as tmp:
        async with make_stack("distributed", Path(tmp), s3_url) as stack:
            stack.env.update(
                {
                    **PRODUCTION_LEASES,
                    "EXTRA_ADAPTERS": "bench.pipeline.zero:ZeroCostAdapter",
                    CLIP_ENV: str(clip),
                    "SEGMENTS_IN_FLIGHT_PER_USER": "16",
                    "LOG_LEVEL": "WARNING",
                }
            )
            stack.start()
            async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
                token = await _login(client)
                body = [
                    {"prompt": f"shot {i}", "duration": 5, "model": "zero", "seed": i}
                    for i in range(segments)
                ]
                project_id = await _project(client, COMPOSE_FORMAT, body)
                r = await client.post(f"/api/projects/{project_id}/render")
                r.raise_for_status()
                job_id = r.json()["id"]
                seen = await _follow(stack, token, job_id)
                times = await _times(stack.env["DATABASE_URL"], job_id)
    if times["status"] != "completed":
        raise RuntimeError(f"the render ended {times['status']}\n{stack.logs()}")
    return {
        "server_s": (times["finished_at"] - times["last_segment"]).total_seconds(),
        "client_s": seen["job_completed"] - seen["last_segment"],
    }


def _summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--workers", default="1,2,4", help="AI worker processes, comma-separated")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per provider task")
    parser.add_argument("--cap", type=int, default=10, help="provider tasks per key at once")
    parser.add_argument("--concurrency", type=int, default=4, help="segments per worker")
    parser.add_argument(
        "--provider-slots",
        type=int,
        help="PROVIDER_CONCURRENCY per worker (default: --concurrency); fewer than --concurrency "
        "lets a worker hold claimed segments ready for the next free provider slot",
    )
    parser.add_argument("--share", type=int, help="SEGMENTS_IN_FLIGHT_PER_USER (default: slots)")
    parser.add_argument("--compose", default="12,100", help="segment counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (median, range)")
    parser.add_argument("--provider", choices=("replicate", "runway"), default="replicate")
    parser.add_argument("--poll", type=float, default=0.1, help="Runway: seconds between polls")
    parser.add_argument("--only", choices=("throughput", "composition"))
    parser.add_argument("--trace", action="store_true", help="per-segment timings")
    args = parser.parse_args()
    reference = [machine_reference_seconds()]
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="vf-scale-clips-") as tmp, moto_server() as s3_url:
        small = await procedural_clip(
            OutputFormat(**THROUGHPUT_FORMAT), CLIP_SECONDS[args.provider], Path(tmp)
        )
        (Path(tmp) / "small.mp4").write_bytes(small.read_bytes())
        small = Path(tmp) / "small.mp4"
        if args.only != "composition":
            print(
                f"throughput: {args.segments} segments, provider latency {args.latency} s, cap "
                f"{args.cap} per key; per worker {args.concurrency} segments, "
                f"{_provider_slots(args)} provider tasks",
                flush=True,
            )
            print(
                f"{'workers':>7} {'run':>4} {'slots':>5} {'share':>5} {'segments/s':>16}"
                f" {'ideal':>6} {'ratio':>16} {'ready mean/max':>14} {'dispatched':>10}"
                f" {'KEDA amqp/5':>11} {'KEDA all/c':>10} {'worker CPU ms/seg':>17}",
                flush=True,
            )
            for workers in (int(w) for w in args.workers.split(",")):
                repeats = [
                    await throughput(workers, args, s3_url, small) for _ in range(args.repeat)
                ]
                for tag in ("cold", "warm"):
                    runs = [r[tag] for r in repeats]
                    first = runs[0]
                    print(
                        f"{workers:>7} {tag:>4} {first['slots']:>5} {first['share']:>5}"
                        f" {_summary([r['throughput'] for r in runs]):>16} {first['ideal']:>6.2f}"
                        f" {_summary([r['ratio'] for r in runs]):>16}"
                        f" {first['ready_mean']:>7.1f}/{first['ready_max']:<6}"
                        f" {first['in_queue_mean']:>10.1f} {first['keda_amqp']:>11}"
                        f" {first['keda_total']:>10} {first['worker_cpu_ms']:>17.0f}",
                        flush=True,
                    )
                load.append(os.getloadavg()[0])
        if args.only != "throughput":
            big = await procedural_clip(OutputFormat(**COMPOSE_FORMAT), 5.0, Path(tmp))
            print("\ncomposition after the last segment (5 s 1280x720 24 fps clips):", flush=True)
            for count in (int(c) for c in args.compose.split(",")):
                runs = [await composition(count, s3_url, big) for _ in range(args.repeat)]
                print(
                    f"{count:>4} segments: {_summary([r['server_s'] for r in runs])} s"
                    f" (server stamps), {_summary([r['client_s'] for r in runs])} s"
                    " (client, progress WebSocket)",
                    flush=True,
                )
                load.append(os.getloadavg()[0])
    reference.append(machine_reference_seconds())
    print(
        "\nmachine reference (5M-step Python loop, before and after): "
        + ", ".join(f"{s:.2f}" for s in reference)
        + " s of CPU; 1-minute load average during the runs: "
        + ", ".join(f"{value:.1f}" for value in load)
        + f" on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    asyncio.run(main())
