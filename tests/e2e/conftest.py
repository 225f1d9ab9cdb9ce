from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest

from tests.moto import MOTO_CREDENTIALS, moto_server
from tests.services import RABBITMQ, RABBITMQ_URL, REDIS, REDIS_URL, require
from tests.support.app import postgres_database
from tests.support.stack import BIN, Stack, base_env


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@contextlib.asynccontextmanager
async def make_stack(kind: str, workdir: Path, s3_url: str | None) -> AsyncIterator[Stack]:
    env = base_env(workdir)
    if kind == "embedded":
        stack = Stack(kind, workdir, env)
        try:
            yield stack
        finally:
            stack.stop()
        return
    require("RabbitMQ", RABBITMQ)
    require("Redis", REDIS)
    assert s3_url is not None
    async with postgres_database() as database_url:
        env.update(
            {
                "DATABASE_URL": database_url,
                "RABBITMQ_URL": RABBITMQ_URL,
                "QUEUE_PREFIX": f"test-{workdir.name}-",
                "REDIS_URL": REDIS_URL,
                "S3_BUCKET": f"vf-{workdir.name.lower().replace('_', '-')}"[:60],
                "S3_ENDPOINT_URL": s3_url,
                **MOTO_CREDENTIALS,
            }
        )
        stack = Stack(kind, workdir, env)
        subprocess.run([str(BIN), "db", "upgrade"], env=env, check=True, capture_output=True)
        try:
            yield stack
        finally:
            stack.stop()
            await _delete_queues(env["QUEUE_PREFIX"])


async def _delete_queues(prefix: str) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        for name in ("segments.generate", "compositions.compose"):
            for queue in (f"{prefix}{name}", f"{prefix}{name}.dead"):
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
                    channel = await connection.channel()
        with contextlib.suppress(Exception):
            await channel.exchange_delete(f"{prefix}videofoundry.dlx")


@pytest.fixture(scope="module", params=["embedded", "distributed"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, s3_url: str
) -> AsyncIterator[Stack]:
    """One running deployment shared by a module's tests (each test uses its own user)."""
    async with make_stack(request.param, tmp_path_factory.mktemp(request.param), s3_url) as s:
        s.start()
        yield s
