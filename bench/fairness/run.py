"""Fair scheduling: how long a one-segment render takes alone, and beside another user's large
render with and without the per-user share of the queue.

    .venv/bin/python -m bench.fairness.run [--large 16] [--delay 0.5] [--slots 2]
        [--only embedded|distributed] [--repeat N]

Each scenario runs on a fresh stack of real processes (as tests/e2e does); the model is the
procedural one with `--delay` seconds added to each generation, standing for a model's time.
"Beside" starts the large render first, then the small one at once. Prints the small render's
latency (request to completed) per scenario, the median over `--repeat` runs, and the large
render's time for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import httpx
from tests.e2e.conftest import make_stack
from tests.e2e.test_timeline_workflow import login, timeline, wait_job
from tests.moto import moto_server


async def _render(client: httpx.AsyncClient, project_id: str) -> str:
    r = await client.post(f"/api/projects/{project_id}/render")
    r.raise_for_status()
    job_id: str = r.json()["id"]
    return job_id


async def _timed(client: httpx.AsyncClient, job_id: str, started: float) -> float:
    job = await wait_job(client, job_id, timeout=600)
    if job["status"] != "completed":
        raise RuntimeError(f"render {job_id} ended {job['status']}: {job.get('error')}")
    return time.perf_counter() - started


async def scenario(
    kind: str, s3_url: str | None, args: argparse.Namespace, large: int, share: int
) -> tuple[float, float | None]:
    """(small render latency, large render time or None) on a fresh stack."""
    with tempfile.TemporaryDirectory(prefix="vf-fair-") as tmp:
        async with make_stack(kind, Path(tmp), s3_url) as stack:
            stack.env.update(
                {
                    "VF_TEST_GENERATE_DELAY": str(args.delay),
                    "AI_WORKER_CONCURRENCY": str(args.slots),
                    "SEGMENTS_IN_FLIGHT_PER_USER": str(share),
                    "LOG_LEVEL": "WARNING",
                }
            )
            stack.start()
            async with (
                httpx.AsyncClient(base_url=stack.url, timeout=60) as big,
                httpx.AsyncClient(base_url=stack.url, timeout=60) as small,
            ):
                await login(big)
                await login(small)
                small_project = await timeline(small, [1.0])
                large_project = await timeline(big, [1.0] * large) if large else None
                large_task = None
                if large_project is not None:
                    started_large = time.perf_counter()
                    large_job = await _render(big, large_project["id"])
                    large_task = asyncio.create_task(_timed(big, large_job, started_large))
                started = time.perf_counter()
                small_job = await _render(small, small_project["id"])
                latency = await _timed(small, small_job, started)
                large_time = await large_task if large_task else None
    return latency, large_time


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=16, help="segments of the large render")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per generation")
    parser.add_argument("--slots", type=int, default=2, help="AI worker slots (concurrency)")
    parser.add_argument("--only", choices=("embedded", "distributed"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["embedded", "distributed"]
    scenarios = [
        ("alone", 0, args.slots),
        ("beside the large render, fair share", args.large, args.slots),
        ("beside the large render, no share", args.large, args.large),
    ]
    print(
        f"small render: 1 segment; large render: {args.large} segments of another user; "
        f"{args.delay} s per generation, {args.slots} worker slots, share {args.slots}"
    )
    for kind in kinds:
        context: AbstractContextManager[str | None] = (
            moto_server() if kind == "distributed" else nullcontext(None)
        )
        with context as s3_url:
            for name, large, share in scenarios:
                runs = [
                    await scenario(kind, s3_url, args, large, share) for _ in range(args.repeat)
                ]
                latency = statistics.median(r[0] for r in runs)
                line = f"{kind:12} {name:38} small render {latency:6.2f} s"
                large_times = [r[1] for r in runs if r[1] is not None]
                if large_times:
                    line += f"   (large render {statistics.median(large_times):6.2f} s)"
                print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
