"""Run a fake provider with uvicorn on loopback, in a background thread or as `__main__`."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from videofoundry.testing.fakes._common import FakeConfig, FakeState, Faults

PROVIDERS = ("runway", "luma", "replicate", "stability")
"""Also spelled out in `__main__` (which avoids importing this module before parsing)."""

DEFAULT_KEYS = {
    # Shaped like the real keys (providers.md), obviously fake.
    "runway": "key_" + "0f" * 64,
    "luma": "luma-fake-" + "1e" * 24,
    "replicate": "r8_fake" + "2d" * 16,
    "stability": "sk-fake" + "3c" * 24,
}


def create_app(provider: str, config: FakeConfig) -> FastAPI:
    """The FastAPI app of one fake provider."""
    if provider == "runway":
        from videofoundry.testing.fakes import runway

        return runway.create_app(config)
    if provider == "luma":
        from videofoundry.testing.fakes import luma

        return luma.create_app(config)
    if provider == "replicate":
        from videofoundry.testing.fakes import replicate

        return replicate.create_app(config)
    if provider == "stability":
        from videofoundry.testing.fakes import stability

        return stability.create_app(config)
    raise ValueError(f"unknown fake provider {provider!r}; choose one of {', '.join(PROVIDERS)}")


class FakeServer:
    """One fake provider served by uvicorn on a loopback port.

    Parameters:
        provider: `runway`, `luma`, `replicate` or `stability`.
        host, port: where to listen; port 0 picks a free one.
        key: the API key the fake accepts (default: `DEFAULT_KEYS[provider]`).
        configure_logging: let uvicorn install its logging config (the CLI does; in-process
            tests leave the host's logging alone).
        **config: `FakeConfig` fields (timings, concurrency, output_ttl, video_scale, ...).

    The Python API works from any thread: `ledger`, `creates`, `requests`, `set_faults`,
    `reset`, `advance_clock`. Example::

        async with serve_fake("runway", running_seconds=0.2) as fake:
            settings = Settings(RUNWAY_API_KEY=fake.key, RUNWAY_BASE_URL=fake.base_url)
            ...
            assert fake.creates == 1
    """

    def __init__(
        self,
        provider: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        key: str | None = None,
        configure_logging: bool = False,
        **config: Any,
    ) -> None:
        self.provider = provider
        self.key = key or DEFAULT_KEYS[provider]
        keys = set(config.pop("keys", ())) | {self.key}
        self.config = FakeConfig(keys=keys, **config)
        self.app = create_app(provider, self.config)
        self.state: FakeState = self.app.state.fake
        self.host = host
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        # Listen at once: clients connecting before uvicorn's loop runs wait in the backlog
        # instead of being refused (the CLI prints its banner before serving).
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
                access_log=configure_logging,
                lifespan="off",
                ws="none",
                # h11 closes the connection when a body is cut short (truncated downloads).
                http="h11",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Root URL: what `*_BASE_URL` settings take (Luma's API lives under /dream-machine/v1)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FakeServer:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"fake-{self.provider}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake {self.provider} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def serve_forever(self) -> None:
        """Run in the calling thread (the CLI)."""
        self._server.run(sockets=[self._socket])

    # -- test API --------------------------------------------------------------------------

    @property
    def ledger(self) -> list[dict[str, Any]]:
        """Every paid create so far (copies)."""
        with self.state.lock:
            return [dict(entry) for entry in self.state.ledger]

    @property
    def creates(self) -> int:
        with self.state.lock:
            return len(self.state.ledger)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(entry) for entry in self.state.requests]

    def set_faults(self, faults: Faults | dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Replace the injected faults, e.g. `set_faults(http=[{"on": "create", "status": 429,
        "retry_after": 1}])` or `set_faults(task={"fail": True, "failure_code": "INTERNAL"})`."""
        if faults is None:
            faults = Faults.model_validate(kwargs)
        elif isinstance(faults, dict):
            faults = Faults.model_validate(faults)
        self.state.set_faults(faults)

    def reset(self) -> None:
        self.state.reset()

    def advance_clock(self, seconds: float) -> None:
        self.state.clock.advance(seconds)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def serve_fake(provider: str, **kwargs: Any) -> AsyncIterator[FakeServer]:
    """Start a fake in a background thread for the duration of the block (see `FakeServer`)."""
    import asyncio

    server = FakeServer(provider, **kwargs)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.contextmanager
def run_fake(provider: str, **kwargs: Any) -> Iterator[FakeServer]:
    """Synchronous variant of `serve_fake`."""
    with FakeServer(provider, **kwargs) as server:
        yield server


def fake_ledger(base_url: str) -> dict[str, Any]:
    """Read the ledger of a fake running elsewhere (e.g. started with `python -m ...`)."""
    response = httpx.get(f"{base_url.rstrip('/')}/_fake/ledger", timeout=5)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def new_key(provider: str) -> str:
    """A random key in the provider's shape, for a fake started from the CLI."""
    prefix = {"runway": "key_", "luma": "luma-", "replicate": "r8_", "stability": "sk-"}[provider]
    return prefix + secrets.token_hex(64 if provider == "runway" else 24)
