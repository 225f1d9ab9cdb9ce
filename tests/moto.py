"""A moto S3 server in a subprocess, on a free loopback port, for tests that need S3.

    url, stop = start_moto_server()      # or: with moto_server() as url: ...
    ...
    stop()

Its own process, so the code under test talks real HTTP to it through boto3 or presigned URLs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from tests.services import free_port

MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def start_moto_server(timeout: float = 30.0) -> tuple[str, Callable[[], None]]:
    """Start `python -m moto.server`; return its URL and a function that stops it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A file, not a pipe: moto logs every request to stderr and a full pipe would block it.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, **MOTO_CREDENTIALS},
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")
            stop()
            raise RuntimeError(f"moto server exited with {process.returncode}: {error[-2000:]}")
        try:
            # moto's own health endpoint; any answer means it is serving.
            httpx.get(f"{url}/moto-api/", timeout=1.0)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                stop()
                message = f"moto server did not answer on {url} within {timeout}s"
                raise RuntimeError(message) from None
            time.sleep(0.1)
    return url, stop


@contextmanager
def moto_server() -> Iterator[str]:
    url, stop = start_moto_server()
    try:
        yield url
    finally:
        stop()
