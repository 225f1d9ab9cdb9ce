"""The vendors' own SDKs, in strict response-validation mode, against the project's fakes.

The fakes and the adapters were written from the same protocol notes; the SDKs (pinned in the
`dev` extra) were not written here, so an answer they refuse is a fake that lies about the API.
Stainless clients (runwayml, lumaai) take `_strict_response_validation=True`: every answer is
checked against the vendor's response types instead of being accepted loosely. replicate-python
validates its resources with pydantic on every answer.

Tasks are steered through their states on the fake's own clock: a task fault holds a task in
each phase for 100 s, and the test moves the clock past it, so no test waits on real time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from videofoundry.testing.fakes import FakeServer, run_fake

TIMINGS = {"pending_seconds": 0.0, "running_seconds": 0.0, "video_scale": 0.125}
HOLD = 100.0
"""Seconds a steered task stays in each phase of the fake's clock."""


def _fake(provider: str) -> Iterator[FakeServer]:
    with run_fake(provider, **TIMINGS) as fake:
        yield fake


@pytest.fixture(scope="session")
def _runway() -> Iterator[FakeServer]:
    yield from _fake("runway")


@pytest.fixture(scope="session")
def _luma() -> Iterator[FakeServer]:
    yield from _fake("luma")


@pytest.fixture(scope="session")
def _replicate() -> Iterator[FakeServer]:
    yield from _fake("replicate")


def fresh(server: FakeServer) -> FakeServer:
    server.reset()
    server.state.clock.offset = 0.0
    server.config.concurrency = 2
    return server


@pytest.fixture
def runway_fake(_runway: FakeServer) -> FakeServer:
    return fresh(_runway)


@pytest.fixture
def luma_fake(_luma: FakeServer) -> FakeServer:
    return fresh(_luma)


@pytest.fixture
def replicate_fake(_replicate: FakeServer) -> FakeServer:
    return fresh(_replicate)


def steer(fake: FakeServer, **fault: object) -> None:
    """Hold the next tasks `HOLD` seconds pending and `HOLD` seconds running (plus `fault`)."""
    fake.set_faults(task={"pending_seconds": HOLD, "running_seconds": HOLD, **fault})
