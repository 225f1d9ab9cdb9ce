"""Stored media that is truncated, overwritten (same size, other bytes), zeroed or deleted is
never trusted: the plan says why, the render generates exactly the damaged clip again (counted
by the adapter's ledger) or composes the final again, and the new final plays. SQLite and
PostgreSQL on local storage, SQLite on S3 (moto)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.integration.test_render import SMALL, _tone, _workers, finished, project_with
from tests.moto import MOTO_CREDENTIALS, moto_server
from tests.support.app import api_client, make_settings, postgres_database, register
from tests.support.counting import read_ledger
from tests.support.media_checks import facts
from videofoundry.models import Asset, RenderJob
from videofoundry.runtime import Runtime
from videofoundry.services import integrity
from videofoundry.storage import keys
from videofoundry.storage.base import Storage

pytestmark = pytest.mark.timeout(300)
DAMAGES = ["truncated", "overwritten", "zeroed", "deleted"]
SAME_SIZE = ("overwritten", "zeroed")
"""Damage a size check cannot see: composition's hash finds it."""


@contextmanager
def _ledger() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vf-ledger-") as tmp:
        path = Path(tmp) / "ledger.jsonl"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("VF_TEST_LEDGER", str(path))
            yield path


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "s3"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    data_dir: Path = tmp_path_factory.mktemp(f"integrity-{request.param}")
    extra: dict[str, Any] = {"EXTRA_ADAPTERS": "tests.support.counting:CountingProcedural"}
    async with AsyncExitStack() as stack:
        ledger = stack.enter_context(_ledger())
        if request.param == "postgresql":
            extra["DATABASE_URL"] = await stack.enter_async_context(postgres_database())
        if request.param == "s3":
            endpoint = stack.enter_context(moto_server())
            extra |= {"S3_BUCKET": "vftest-integrity", "S3_ENDPOINT_URL": endpoint}
            extra |= MOTO_CREDENTIALS
        settings = make_settings(data_dir, **extra)
        client = await stack.enter_async_context(api_client(settings, companions=(_workers,)))
        yield client, ledger


def _runtime(client: httpx.AsyncClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined, no-any-return]


async def damage(storage: Storage, key: str, how: str, workdir: Path) -> None:
    """Damage a stored object behind the application's back, on either backend."""
    if how == "deleted":
        await storage.delete(key)
        return
    path = workdir / "object"
    await storage.get_file(key, path)
    data = path.read_bytes()
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "overwritten":
        data = bytes(b ^ 0x5A for b in data)
    else:
        data = bytes(len(data))
    path.write_bytes(data)
    await storage.put_file(key, path, "video/mp4")


async def download(client: httpx.AsyncClient, url: str, path: Path) -> Path:
    if url.startswith("/"):
        answer = await client.get(url)
    else:
        async with httpx.AsyncClient() as outside:
            answer = await outside.get(url)
    assert answer.status_code == 200, answer.text
    path.write_bytes(answer.content)
    return path


async def render(client: httpx.AsyncClient, auth: dict[str, str], pid: str) -> dict[str, Any]:
    r = await client.post(f"/api/projects/{pid}/render", headers=auth)
    assert r.status_code in (200, 201, 202), r.text
    return await finished(client, r.json()["id"], auth)


async def plan(client: httpx.AsyncClient, auth: dict[str, str], pid: str) -> dict[str, Any]:
    r = await client.post(f"/api/projects/{pid}/render?dry_run=true", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def asset_at(client: httpx.AsyncClient, key: str) -> Asset:
    async with _runtime(client).sessions() as session:
        asset = await session.scalar(select(Asset).where(Asset.storage_key == key))
    assert asset is not None, key
    return asset


async def final_of(client: httpx.AsyncClient, job: dict[str, Any]) -> Asset:
    async with _runtime(client).sessions() as session:
        row = await session.get_one(RenderJob, job["id"])
        return await session.get_one(Asset, row.final_asset_id)


async def plays(client: httpx.AsyncClient, job: dict[str, Any], path: Path) -> None:
    """The job's final is what its row records and decodes to the whole timeline."""
    assert job["status"] == "completed", job
    video = await download(client, job["video_url"], path)
    assert integrity.file_problem(video, await final_of(client, job)) is None
    assert facts(video)["frames"] == 3 * SMALL["fps"]


@pytest.mark.parametrize("how", DAMAGES)
async def test_a_damaged_clip_is_generated_again(
    stack: tuple[httpx.AsyncClient, Path], how: str, tmp_path: Path
) -> None:
    client, ledger = stack
    auth = await register(client)
    me = (await client.get("/api/me", headers=auth)).json()["id"]
    shots = [{"prompt": f"{how} clip {i}", "duration": 1, "seed": i} for i in range(3)]
    pid = await project_with(client, auth, shots)
    await plays(client, await render(client, auth, pid), tmp_path / "first.mp4")
    segments = (await client.get(f"/api/projects/{pid}", headers=auth)).json()["segments"]
    damaged_hash = segments[1]["spec_hash"]
    key = keys.clip(me, damaged_hash)
    before = await asset_at(client, key)
    storage = _runtime(client).storage
    await damage(storage, key, how, tmp_path)
    # A caption changes the final video only, so the next render composes and reads every clip.
    r = await client.put(f"/api/segments/{segments[0]['id']}", json={"caption": how}, headers=auth)
    assert r.status_code == 200, r.text
    generations = len(read_ledger(ledger))

    if how in SAME_SIZE:
        # The size matches: the plan cannot tell; composition hashes it and fails, naming it.
        assert [s["action"] for s in (await plan(client, auth, pid))["segments"]] == ["reuse"] * 3
        failed = await render(client, auth, pid)
        assert failed["status"] == "failed", failed
        assert "segment 2" in failed["error"] and "damaged" in failed["error"], failed["error"]
        assert len(read_ledger(ledger)) == generations

    planned = await plan(client, auth, pid)
    assert [s["action"] for s in planned["segments"]] == ["reuse", "generate", "reuse"]
    reason = planned["segments"][1]["reason"]
    expected = {
        "truncated": f"stored clip is damaged (size {before.bytes // 2} of {before.bytes} bytes)",
        "deleted": "stored clip is missing",
    }.get(how, f"stored clip is damaged ({integrity.HASH_DIFFERS})")
    assert reason == expected
    assert [s["reason"] for s in planned["segments"]][::2] == [None, None]
    assert planned["total_estimated_cost"] == planned["segments"][1]["estimated_cost"]

    job = await render(client, auth, pid)
    await plays(client, job, tmp_path / "again.mp4")
    made = [entry["spec_hash"] for entry in read_ledger(ledger)[generations:]]
    assert made == [damaged_hash]  # exactly the damaged clip, once
    after = await asset_at(client, key)
    assert after.id == before.id and after.damaged is None
    assert await integrity.problem(storage, after, full=True) is None
    planned = await plan(client, auth, pid)
    assert [s["action"] for s in planned["segments"]] == ["reuse"] * 3


@pytest.mark.parametrize("how", DAMAGES)
async def test_a_damaged_final_is_composed_again(
    stack: tuple[httpx.AsyncClient, Path], how: str, tmp_path: Path
) -> None:
    client, ledger = stack
    auth = await register(client)
    shots = [{"prompt": f"{how} final {i}", "duration": 1, "seed": i} for i in range(3)]
    pid = await project_with(client, auth, shots)
    first = await render(client, auth, pid)
    await plays(client, first, tmp_path / "first.mp4")
    final = await final_of(client, first)
    storage = _runtime(client).storage
    await damage(storage, final.storage_key, how, tmp_path)
    generations = len(read_ledger(ledger))

    planned = await plan(client, auth, pid)
    assert planned["compose"] is True
    assert [s["action"] for s in planned["segments"]] == ["reuse"] * 3
    expected = {
        "truncated": f"stored final is damaged (size {final.bytes // 2} of {final.bytes} bytes)",
        "deleted": "stored final is missing",
    }.get(how, f"stored final is damaged ({integrity.HASH_DIFFERS})")
    assert planned["compose_reason"] == expected

    job = await render(client, auth, pid)
    await plays(client, job, tmp_path / "again.mp4")
    assert len(read_ledger(ledger)) == generations  # composed from the stored clips, no cost
    again = await final_of(client, job)
    assert again.id == final.id and again.damaged is None  # the same row, of the new file
    assert await integrity.problem(storage, again, full=True) is None
    assert (await plan(client, auth, pid))["compose"] is False


async def test_a_damaged_soundtrack_fails_the_composition_saying_so(
    stack: tuple[httpx.AsyncClient, Path], tmp_path: Path
) -> None:
    client, _ = stack
    auth = await register(client)
    audio = await client.post(
        "/api/assets",
        data={"kind": "audio"},
        files={"file": ("t.wav", _tone(tmp_path / "t.wav"))},
        headers=auth,
    )
    assert audio.status_code == 201, audio.text
    async with _runtime(client).sessions() as session:
        upload = await session.get_one(Asset, audio.json()["id"])
    await damage(_runtime(client).storage, upload.storage_key, "zeroed", tmp_path)
    r = await client.post(
        "/api/projects",
        json={"name": "music", **SMALL, "soundtrack_asset_id": upload.id},
        headers=auth,
    )
    pid = r.json()["id"]
    shot = {"prompt": "soundtrack shot", "duration": 1, "seed": 1}
    await client.post(f"/api/projects/{pid}/segments", json=shot, headers=auth)
    job = await render(client, auth, pid)
    assert job["status"] == "failed", job
    assert f"soundtrack is damaged ({integrity.HASH_DIFFERS})" in job["error"], job["error"]
