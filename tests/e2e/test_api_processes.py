"""`videofoundry api --workers 2`: two processes serve one port; a progress WebSocket on either
receives the render's events, and /metrics on either counts the render the other started."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.e2e.conftest import make_stack
from tests.e2e.test_timeline_workflow import login, timeline
from tests.support.stack import Stack

pytestmark = pytest.mark.timeout(240)


def _api_processes(pid: int) -> list[int]:
    """The supervisor's children that serve (multiprocessing also starts a resource tracker)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def _serving_process(stack: Stack, connection: socket.socket, pids: list[int]) -> int:
    """Which of `pids` accepted the connection: the one holding the server side's socket."""
    client_port = connection.getsockname()[1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
            if (local, remote) == (stack.port, client_port):
                inodes.add(f"socket:[{fields[9]}]")
        for pid in pids:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
                except FileNotFoundError:
                    continue
        time.sleep(0.05)
    raise AssertionError(f"no API process accepted the connection from port {client_port}")


def _one_connection_each(stack: Stack, pids: list[int]) -> dict[int, socket.socket]:
    """An open connection to each API process (the kernel picks who accepts: retry until
    each has one)."""
    held: dict[int, socket.socket] = {}
    for _ in range(100):
        connection = socket.create_connection(("127.0.0.1", stack.port))
        pid = _serving_process(stack, connection, pids)
        if pid in held:
            connection.close()
        else:
            held[pid] = connection
        if len(held) == len(pids):
            return held
    raise AssertionError(f"connections reached only {list(held)} of {pids}")


async def _get(connection: socket.socket, path: str) -> str:
    reader, writer = await asyncio.open_connection(sock=connection)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n".encode())
    answer = (await reader.read()).decode()
    writer.close()
    return answer


async def test_two_api_processes_serve_progress_and_metrics(tmp_path: Path, s3_url: str) -> None:
    async with make_stack("distributed", tmp_path, s3_url) as stack:
        stack.env["API_WORKERS"] = "2"
        stack.start()
        pids = _api_processes(stack.processes["api"].pid)
        assert len(pids) == 2, pids
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            auth = await login(client)
            project = await timeline(client, [1.0, 1.0])
            sockets = _one_connection_each(stack, pids)
            ws_url = stack.url.replace("http", "ws")
            r = await client.post(f"/api/projects/{project['id']}/render")
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            path = f"/api/render-jobs/{job_id}/progress?token={auth['token']}"

            async def last_event(connection: socket.socket) -> dict[str, object]:
                async with websockets.connect(ws_url + path, sock=connection) as ws:
                    events = [json.loads(raw) async for raw in ws]
                event: dict[str, object] = events[-1]
                return event

            # The first connection each process accepted: both streams follow the job.
            ends = await asyncio.wait_for(
                asyncio.gather(*(last_event(c) for c in sockets.values())), 180
            )
            for end in ends:
                assert (end["type"], end["status"]) == ("job", "completed"), (ends, stack.logs())
            # The render was started through one process; each answers the total of both.
            for connection in _one_connection_each(stack, pids).values():
                answer = await _get(connection, "/metrics")
                assert 'videofoundry_renders_total{outcome="started"} 1.0' in answer, answer
