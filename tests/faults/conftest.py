"""Private services for the fault suite, started once per module and stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.faults.private import OutageProxy, PrivatePostgres, PrivateRabbit, PrivateRedis
from tests.moto import MOTO_CREDENTIALS, start_moto_server
from tests.support.stack import BIN, Stack, base_env


@dataclass
class Services:
    postgres: PrivatePostgres
    rabbit: PrivateRabbit
    redis: PrivateRedis
    s3: OutageProxy


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with contextlib.ExitStack() as stack:
        postgres = PrivatePostgres()
        stack.callback(postgres.close)
        postgres.start()
        rabbit = PrivateRabbit()
        stack.callback(rabbit.close)
        rabbit.start()
        redis = PrivateRedis()
        stack.callback(redis.close)
        redis.start()
        moto_url, stop_moto = start_moto_server()
        stack.callback(stop_moto)
        proxy = OutageProxy(int(moto_url.rsplit(":", 1)[1]))
        stack.callback(proxy.close)
        proxy.up()
        yield Services(postgres, rabbit, redis, proxy)


@contextlib.asynccontextmanager
async def private_stack(services: Services, workdir: Path, **urls: str) -> AsyncIterator[Stack]:
    """A distributed deployment (API, AI worker, composition worker) on the private services,
    with its own database, queue prefix and bucket. `urls` replaces service URLs (a proxy's):
    `postgres` (without the database name), `rabbit`, `redis`, `s3`."""
    name = f"vf_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(services.postgres.url + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    env = base_env(workdir)
    env.update(
        {
            "DATABASE_URL": f"{urls.get('postgres', services.postgres.url)}/{name}",
            "RABBITMQ_URL": urls.get("rabbit", services.rabbit.url),
            "QUEUE_PREFIX": f"{name}-",
            "REDIS_URL": urls.get("redis", services.redis.url),
            "S3_BUCKET": name.replace("_", "-"),
            "S3_ENDPOINT_URL": urls.get("s3", services.s3.url),
            **MOTO_CREDENTIALS,
        }
    )
    subprocess.run([str(BIN), "db", "upgrade"], env=env, check=True, capture_output=True)
    stack = Stack("distributed", workdir, env)
    try:
        yield stack
    finally:
        stack.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow fault scenarios run in CI (VF_REQUIRE_SERVICES=1) or with VF_SLOW=1."""
    if os.environ.get("VF_SLOW") == "1" or os.environ.get("VF_REQUIRE_SERVICES") == "1":
        return
    skip = pytest.mark.skip(reason="slow fault scenario: set VF_SLOW=1 to run it")
    here = Path(__file__).parent
    for item in items:
        if item.get_closest_marker("slow") and here in Path(str(item.fspath)).parents:
            item.add_marker(skip)
