"""CPU per request of the project view over HTTP, 1 against 200 segments, in one process.

    .venv/bin/python -m bench.api.view_cpu [--seconds 3] [--rounds 3]

Renders projects of 1 and 200 segments with the zero-cost model through `videofoundry up` on
a fresh data directory, stops it, then serves that directory from this process with uvicorn
(the API alone: no workers' loops in the figure) and loads each view with wrk over one
keep-alive connection. Prints requests per second, p50 and this process's CPU time per
request (getrusage), and the ratio of the two views, each round. Needs wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from tests.services import free_port
from tests.support.stack import Stack, base_env

from bench.api.run import _login, _rendered_project
from bench.pipeline.run import SMALL, procedural_clip
from bench.pipeline.zero import CLIP_ENV
from videofoundry.core.config import Settings
from videofoundry.main import create_app
from videofoundry.media.format import OutputFormat


async def _prepare(workdir: Path) -> tuple[dict[str, str], str, dict[int, str]]:
    """The environment of a rendered data directory, the bearer header and the project ids."""
    clip = await procedural_clip(OutputFormat(**SMALL), 1.0, workdir)
    stack = Stack("embedded", workdir, base_env(workdir))
    stack.env.update(
        {
            "EXTRA_ADAPTERS": "bench.pipeline.zero:ZeroCostAdapter",
            CLIP_ENV: str(clip),
            "LOG_LEVEL": "WARNING",
        }
    )
    stack.start()
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
            headers = await _login(client)
            client.headers.update(headers)
            projects = {n: (await _rendered_project(client, n))[0] for n in (1, 200)}
    finally:
        stack.stop()
    return {**stack.env, "DATA_DIR": str(workdir / "data")}, headers["Authorization"], projects


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _figure(pattern: str, wrk_output: str) -> str:
    found = re.search(pattern, wrk_output)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{wrk_output}")
    return found.group(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3, help="per view and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env, auth, projects = asyncio.run(_prepare(Path(tmp)))
        os.environ.update(env)
        port = free_port()
        app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))

        def wrk(path: str, seconds: int) -> str:
            url = f"http://127.0.0.1:{port}{path}"
            command = [
                "wrk",
                "-t1",
                "-c1",
                f"-d{seconds}s",
                "--latency",
                "-H",
                f"Authorization: {auth}",
            ]
            return subprocess.run([*command, url], capture_output=True, text=True).stdout

        def drive() -> None:
            while not server.started:
                time.sleep(0.1)
            try:
                for round_ in range(1, args.rounds + 1):
                    cpu = {}
                    for n, project in projects.items():
                        wrk(f"/api/projects/{project}", 1)  # warm up
                        before = _cpu()
                        out = wrk(f"/api/projects/{project}", args.seconds)
                        served = int(_figure(r"(\d+) requests in", out))
                        cpu[n] = (_cpu() - before) / served * 1000
                        rate = _figure(r"Requests/sec:\s+(\S+)", out)
                        p50 = _figure(r"50%\s+(\S+)", out)
                        print(
                            f"round {round_}, {n} seg: {rate} req/s, p50 {p50}, CPU {cpu[n]:.2f} ms"
                        )
                    print(f"round {round_}: 200 seg / 1 seg = {cpu[200] / cpu[1]:.2f}x")
            finally:
                server.should_exit = True

        threading.Thread(target=drive, daemon=True).start()
        server.run()


if __name__ == "__main__":
    main()
