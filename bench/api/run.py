"""API read load: the routes the web UI calls all the time, embedded and distributed.

    .venv/bin/python -m bench.api.run [--seconds 2] [--clients 1,20] [--sizes 1,20,200]
        [--only embedded|distributed] [--api-processes 2]

Starts each deployment as real processes (embedded: `videofoundry up` on SQLite, one process by
design; distributed: `videofoundry api --workers N` and the workers against PostgreSQL,
RabbitMQ, Redis and moto S3), makes projects of 1, 20
and 200 segments and renders them with a model that costs nothing, so every segment has a clip
and a poster to link. Then, per route and per number of concurrent clients (one keep-alive
connection each, a request as soon as the previous answer arrived; wrk when installed, else
httpx), it prints requests per second, p50 and p99 latency, the API processes' CPU time per
request, failed requests and dropped connections, and the SQL statements one request costs
(counted in-process on the same database with SQLAlchemy's `before_cursor_execute`). The `304`
rows send the ETag of the previous answer in If-None-Match, as a browser revalidating does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from tests.e2e.conftest import make_stack
from tests.moto import moto_server
from tests.support.stack import Stack

from bench.pipeline.run import SMALL, pct, procedural_clip
from bench.pipeline.zero import CLIP_ENV
from videofoundry.core.config import Settings
from videofoundry.main import create_app
from videofoundry.media.format import OutputFormat

SIZES = (1, 20, 200)


@dataclass
class Cell:
    rate: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    failed: int = 0
    dropped: int = 0
    wall: float = 0.0

    cpu_per_request: float = 0.0
    """CPU seconds the API process spent per answer: unlike the times, hardly affected by
    what else runs on the machine."""

    def figures(self) -> str:
        """req/s, p50 and p99 in ms, API CPU ms per request, and failures if any."""
        if not self.rate:
            return "- | - | - | -"
        text = (
            f"{self.rate:.0f} | {self.p50 * 1000:.1f} | {self.p99 * 1000:.1f}"
            f" | {self.cpu_per_request * 1000:.1f}"
        )
        if self.failed or self.dropped:
            text += f" ({self.failed} failed, {self.dropped} dropped)"
        return text


def _cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its live descendants (Linux /proc, all threads):
    `api --workers N` serves from N child processes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            used += _cpu_seconds(int(child))
    return used


async def _login(client: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"bench-{uuid.uuid4().hex[:8]}@example.com", "bench password"
    await client.post("/api/auth/register", json={"email": email, "password": password})
    r = await client.post("/api/auth/token", data={"username": email, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _rendered_project(client: httpx.AsyncClient, segments: int) -> tuple[str, str]:
    """A project of `segments` zero-cost segments, rendered; returns its id and the job's."""
    r = await client.post("/api/projects", json={"name": f"bench {segments}", **SMALL})
    project_id: str = r.json()["id"]
    for i in range(segments):
        body = {"prompt": f"shot {i}", "duration": 1, "model": "zero", "seed": i}
        (await client.post(f"/api/projects/{project_id}/segments", json=body)).raise_for_status()
    r = await client.post(f"/api/projects/{project_id}/render")
    r.raise_for_status()
    job_id: str = r.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = (await client.get(f"/api/render-jobs/{job_id}")).json()["status"]
        if status in ("completed", "failed", "cancelled"):
            if status != "completed":
                raise RuntimeError(f"the {segments}-segment render ended {status}")
            return project_id, job_id
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the {segments}-segment render did not finish in 300 s")


def routes(projects: dict[int, tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """(label, path, conditional) for each route measured."""
    largest = max(projects)
    project, job = projects[largest]
    measured = [
        ("GET /api/projects (list)", "/api/projects", False),
        ("GET /api/models", "/api/models", False),
    ]
    for n in sorted(projects):
        measured.append((f"project view, {n} seg", f"/api/projects/{projects[n][0]}", False))
    return [
        *measured,
        (f"project view, {largest} seg, 304", f"/api/projects/{project}", True),
        (f"job view, {largest} seg", f"/api/render-jobs/{job}", False),
        (f"job view, {largest} seg, 304", f"/api/render-jobs/{job}", True),
    ]


async def load(
    url: str, headers: dict[str, str], path: str, clients: int, seconds: float, conditional: bool
) -> Cell:
    """`clients` connections sending GETs back to back for `seconds`: with wrk when installed
    (a C load generator: it leaves the 2 cores to the server), else with httpx."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as c:
        first = await c.get(path)
        ask = (
            {**headers, "If-None-Match": first.headers.get("ETag", "")} if conditional else headers
        )
        want = 304 if conditional else 200
        if (await c.get(path, headers=ask)).status_code != want:
            raise RuntimeError(f"GET {path} does not answer {want}")
    if shutil.which("wrk"):
        return await _wrk(url + path, ask, clients, seconds)
    return await _httpx(url, ask, path, clients, seconds, want)


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


async def _wrk(url: str, headers: dict[str, str], clients: int, seconds: float) -> Cell:
    args = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "30s",
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(
        *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output = (await process.communicate())[0].decode()
    cell = Cell(wall=max(1, round(seconds)))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    quantiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE))
    if rate is None or len(quantiles) != 2:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    cell.rate = float(rate.group(1))
    cell.p50, cell.p99 = (_seconds(quantiles[q]) for q in ("50", "99"))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        cell.dropped = sum(int(n) for n in errors.groups())
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    cell.failed = int(failed.group(1)) if failed else 0
    return cell


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


async def _httpx(
    url: str, headers: dict[str, str], path: str, clients: int, seconds: float, want: int
) -> Cell:
    cell = Cell()
    latencies: list[float] = []

    async def one_client() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    r = await c.get(path)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
                    cell.dropped += 1
                    continue
                if r.status_code != want:
                    cell.failed += 1
                    continue
                latencies.append(time.perf_counter() - started)

    began = time.monotonic()
    deadline = began + seconds
    await asyncio.gather(*(one_client() for _ in range(clients)))
    cell.wall = time.monotonic() - began
    if latencies:
        cell.rate = len(latencies) / cell.wall
        cell.p50, cell.p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    return cell


_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


async def statements_per_request(
    stack: Stack, headers: dict[str, str], paths: list[tuple[str, bool]]
) -> list[int]:
    """SQL statements of one request to each path, counted by an in-process copy of the API on
    the deployment's own database (the second of two requests, so caches are as under load)."""
    env = {**stack.env, "DATA_DIR": str(stack.workdir / "data")}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        app = create_app(settings)
        counts = []
        async with app.router.lifespan_context(app):
            engine = app.state.runtime.engine.sync_engine
            seen: list[str] = []

            def on_statement(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
                if _counting.get():
                    seen.append(statement)

            event.listen(engine, "before_cursor_execute", on_statement)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for path, conditional in paths:
                    r = await client.get(path, headers=headers)
                    ask = {**headers, "If-None-Match": r.headers.get("ETag", "")}
                    seen.clear()
                    token = _counting.set(True)
                    await client.get(path, headers=ask if conditional else headers)
                    _counting.reset(token)
                    counts.append(len(seen))
            event.remove(engine, "before_cursor_execute", on_statement)
        return counts
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def measure(
    kind: str,
    s3_url: str,
    seconds: float,
    client_counts: list[int],
    sizes: tuple[int, ...],
    api_processes: int,
) -> tuple[list[str], dict[tuple[str, int], Cell], list[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        clip = await procedural_clip(OutputFormat(**SMALL), 1.0, Path(tmp))
        async with make_stack(kind, Path(tmp), s3_url) as stack:
            stack.env["EXTRA_ADAPTERS"] = "bench.pipeline.zero:ZeroCostAdapter"
            stack.env[CLIP_ENV] = str(clip)
            stack.env["LOG_LEVEL"] = "WARNING"
            stack.env["API_WORKERS"] = str(api_processes)
            stack.start()
            async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
                headers = await _login(client)
                client.headers.update(headers)
                projects = {n: await _rendered_project(client, n) for n in sizes}
            measured = routes(projects)
            server = stack.processes["up" if kind == "embedded" else "api"].pid
            cells: dict[tuple[str, int], Cell] = {}
            for label, path, conditional in measured:
                await load(stack.url, headers, path, 1, 0.3, conditional)  # warm up
                for clients in client_counts:
                    before = _cpu_seconds(server)
                    cell = await load(stack.url, headers, path, clients, seconds, conditional)
                    served = cell.rate * cell.wall
                    cell.cpu_per_request = (_cpu_seconds(server) - before) / served if served else 0
                    cells[(label, clients)] = cell
            counts = await statements_per_request(
                stack, headers, [(path, conditional) for _, path, conditional in measured]
            )
            return [label for label, _, _ in measured], cells, counts


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="per route and client count")
    parser.add_argument("--clients", default="1,20", help="concurrent clients, comma-separated")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="segments per project")
    parser.add_argument("--only", choices=["embedded", "distributed"])
    parser.add_argument(
        "--api-processes", type=int, default=2, help="of the distributed API (embedded: 1)"
    )
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    sizes = tuple(int(n) for n in args.sizes.split(","))
    kinds = [args.only] if args.only else ["embedded", "distributed"]
    processes = {"embedded": 1, "distributed": args.api_processes}
    results = {}
    with moto_server() as s3_url:
        for kind in kinds:
            results[kind] = await measure(
                kind, s3_url, args.seconds, client_counts, sizes, processes[kind]
            )
    print(f"\n{args.seconds:.0f} s per cell; SQL = statements of one request; CPU = the API")
    print("processes' CPU time per request (embedded: the whole `up` process, workers idle)")
    print(", ".join(f"{kind}: {processes[kind]} API process(es)" for kind in kinds))
    header = "| route | clients |"
    rule = "| --- | ---: |"
    for kind in kinds:
        header += f" {kind} ({processes[kind]} proc.): SQL | req/s | p50 ms | p99 ms | CPU ms |"
        rule += " ---: | ---: | ---: | ---: | ---: |"
    print(header)
    print(rule)
    labels = results[kinds[0]][0]
    for index, label in enumerate(labels):
        for clients in client_counts:
            line = f"| {label} | {clients} |"
            for kind in kinds:
                _, cells, counts = results[kind]
                line += f" {counts[index]} | {cells[(label, clients)].figures()} |"
            print(line)


if __name__ == "__main__":
    asyncio.run(main())
