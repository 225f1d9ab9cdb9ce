"""Where tests find the real services, and what they do when one is missing.

A test that needs PostgreSQL, RabbitMQ or Redis calls `require(...)`: it skips with the reason
when the service is unreachable, unless VF_REQUIRE_SERVICES=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES = ("127.0.0.1", 5432)
RABBITMQ = ("127.0.0.1", 5672)
REDIS = ("127.0.0.1", 6379)

POSTGRES_ADMIN_URL = os.environ.get("VF_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
RABBITMQ_URL = os.environ.get("VF_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("VF_TEST_REDIS", "redis://127.0.0.1:6379/0")


def reachable(address: tuple[str, int], timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, address: tuple[str, int]) -> None:
    if reachable(address):
        return
    message = f"{name} is not reachable on {address[0]}:{address[1]}"
    if os.environ.get("VF_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and VF_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message} (set VF_REQUIRE_SERVICES=1 to make this a failure)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
