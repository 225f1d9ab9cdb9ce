from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import api_client, make_settings, postgres_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on each database backend, with a fresh database for the module."""
    data_dir: Path = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        async with api_client(make_settings(data_dir)) as c:
            yield c
    else:
        async with (
            postgres_database() as url,
            api_client(make_settings(data_dir, DATABASE_URL=url)) as c,
        ):
            yield c
