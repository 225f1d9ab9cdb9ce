"""Fixtures for the adapter contract tests: one fake per provider for the whole session
(reset before each test), short timings, and a recording `GenerationContext`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.adapters.helpers import FAKE_TIMINGS, Recorder
from videofoundry.testing.fakes import FakeServer, run_fake


def _fake(provider: str) -> Iterator[FakeServer]:
    with run_fake(provider, **FAKE_TIMINGS) as fake:
        yield fake


@pytest.fixture(scope="session")
def _runway_server() -> Iterator[FakeServer]:
    yield from _fake("runway")


@pytest.fixture(scope="session")
def _luma_server() -> Iterator[FakeServer]:
    yield from _fake("luma")


@pytest.fixture(scope="session")
def _replicate_server() -> Iterator[FakeServer]:
    yield from _fake("replicate")


@pytest.fixture(scope="session")
def _stability_server() -> Iterator[FakeServer]:
    yield from _fake("stability")


def _fresh(server: FakeServer) -> FakeServer:
    """Forget the previous test: tasks, ledger, faults, clock offset and config tweaks."""
    server.reset()
    server.state.clock.offset = 0.0
    server.config.concurrency = FAKE_TIMINGS["concurrency"]
    server.config.wait_scale = FAKE_TIMINGS["wait_scale"]
    return server


@pytest.fixture
def runway_fake(_runway_server: FakeServer) -> FakeServer:
    return _fresh(_runway_server)


@pytest.fixture
def luma_fake(_luma_server: FakeServer) -> FakeServer:
    return _fresh(_luma_server)


@pytest.fixture
def replicate_fake(_replicate_server: FakeServer) -> FakeServer:
    return _fresh(_replicate_server)


@pytest.fixture
def stability_fake(_stability_server: FakeServer) -> FakeServer:
    return _fresh(_stability_server)


@pytest.fixture
def rec(tmp_path: Path) -> Recorder:
    """A recording `GenerationContext` in the test's own directory."""
    return Recorder(tmp_path)
