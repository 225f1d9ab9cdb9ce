"""Segment positions stay unique and the segment cap holds under concurrent appends,
duplicates and deletions, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.security.conftest import instance
from tests.support.app import register
from videofoundry.models import Segment
from videofoundry.runtime import Runtime

pytestmark = pytest.mark.timeout(300)
CAP = 200


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_concurrent_appends_near_the_cap(tmp_path: Path, database: str) -> None:
    async with instance(tmp_path, database, MAX_SEGMENTS_PER_PROJECT=CAP) as client:
        auth = await register(client)
        pid = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()["id"]
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.sessions() as session:  # 190 segments, quickly
            session.add_all(
                Segment(
                    project_id=pid,
                    position=i,
                    prompt=f"s{i}",
                    duration=1,
                    seed=i,
                    spec_hash="",
                    model="procedural",
                    params={},
                )
                for i in range(CAP - 10)
            )
            await session.commit()
        url = f"/api/projects/{pid}/segments"
        answers = await asyncio.gather(
            *(
                client.post(url, json={"prompt": f"new {i}", "duration": 1}, headers=auth)
                for i in range(30)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes.count(201) == 10, codes
        assert all(code == 422 for code in codes if code != 201), codes
        async with runtime.sessions() as session:
            positions = list(
                await session.scalars(
                    select(Segment.position)
                    .where(Segment.project_id == pid)
                    .order_by(Segment.position)
                )
            )
        assert positions == list(range(CAP))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_concurrent_duplicates_and_deletions_keep_positions_dense(
    tmp_path: Path, database: str
) -> None:
    async with instance(tmp_path, database) as client:
        auth = await register(client)
        pid = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()["id"]
        ids = []
        for i in range(6):
            body = {"prompt": f"s{i}", "duration": 1}
            ids.append(
                (
                    await client.post(f"/api/projects/{pid}/segments", json=body, headers=auth)
                ).json()["id"]
            )
        work = [client.post(f"/api/segments/{i}/duplicate", headers=auth) for i in ids[:3]]
        work += [client.delete(f"/api/segments/{i}", headers=auth) for i in ids[3:]]
        work += [
            client.post(
                f"/api/projects/{pid}/segments", json={"prompt": "x", "duration": 1}, headers=auth
            )
            for _ in range(4)
        ]
        answers = await asyncio.gather(*work)
        assert all(a.status_code < 300 for a in answers), [a.text for a in answers]
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.sessions() as session:
            positions = list(
                await session.scalars(
                    select(Segment.position)
                    .where(Segment.project_id == pid)
                    .order_by(Segment.position)
                )
            )
            count = await session.scalar(
                select(func.count()).select_from(Segment).where(Segment.project_id == pid)
            )
        assert count == 6 + 3 - 3 + 4
        assert positions == list(range(count))
