"""Deleting a project removes the media nothing else uses and its links stop working; the
contact sheet is stored once per set of clips. SQLite and PostgreSQL, local storage."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.integration.test_render import SMALL, _workers, finished
from tests.moto import MOTO_CREDENTIALS, moto_server
from tests.support.app import api_client, make_settings, postgres_database, register
from videofoundry.models import Asset
from videofoundry.runtime import Runtime
from videofoundry.storage import keys

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir: Path = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    if request.param == "sqlite":
        async with api_client(make_settings(data_dir), companions=(_workers,)) as c:
            yield c
    else:
        async with (
            postgres_database() as url,
            api_client(make_settings(data_dir, DATABASE_URL=url), companions=(_workers,)) as c,
        ):
            yield c


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined, no-any-return]


async def rendered(
    client: httpx.AsyncClient, auth: dict[str, str], shots: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(project detail, completed job) of a new project with these segments."""
    pid = (await client.post("/api/projects", json={"name": "p", **SMALL}, headers=auth)).json()
    for shot in shots:
        r = await client.post(f"/api/projects/{pid['id']}/segments", json=shot, headers=auth)
        assert r.status_code == 201, r.text
    job = (await client.post(f"/api/projects/{pid['id']}/render", headers=auth)).json()
    job = await finished(client, job["id"], auth)
    assert job["status"] == "completed", job
    detail = (await client.get(f"/api/projects/{pid['id']}", headers=auth)).json()
    return detail, job


async def status_of(client: httpx.AsyncClient, url: str) -> int:
    return (await client.get(url)).status_code


def shot(name: str, seed: int) -> dict[str, Any]:
    return {"prompt": name, "duration": 1, "seed": seed}


async def test_deleting_a_project_removes_what_only_it_used(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    me = (await client.get("/api/me", headers=auth)).json()["id"]
    shared, own = shot("shared shot", 1), shot("own shot", 2)
    doomed, doomed_job = await rendered(client, auth, [shared, own])
    kept, kept_job = await rendered(client, auth, [shared, shot("other shot", 3)])
    shared_seg, own_seg = doomed["segments"]
    assert shared_seg["spec_hash"] == kept["segments"][0]["spec_hash"]
    sheet = await client.get(f"/api/projects/{doomed['id']}/contact-sheet", headers=auth)
    assert sheet.status_code == 200
    storage = runtime_of(client).storage
    final_id = httpx.URL(doomed_job["video_url"]).path.rsplit("/", 1)[-1]
    async with runtime_of(client).sessions() as session:
        final_key = (await session.get_one(Asset, final_id)).storage_key
    sheet_key = keys.contact_sheet(me, sheet_digest(doomed, me))
    own_files = [
        keys.clip(me, own_seg["spec_hash"]),
        keys.clip_poster(me, own_seg["spec_hash"]),
        final_key,
        final_key.replace(".mp4", ".jpg"),
        sheet_key,
    ]
    for key in own_files:
        assert await storage.exists(key), key
    links = {
        "final": doomed_job["video_url"],
        "own clip": own_seg["clip_url"],
        "shared clip": shared_seg["clip_url"],
        "other final": kept_job["video_url"],
    }
    for name, url in links.items():
        assert await status_of(client, url) == 200, name

    r = await client.delete(f"/api/projects/{doomed['id']}", headers=auth)
    assert r.status_code == 204, r.text

    assert await status_of(client, links["final"]) == 404
    assert await status_of(client, links["own clip"]) == 404
    assert await status_of(client, links["shared clip"]) == 200
    assert await status_of(client, links["other final"]) == 200
    for key in own_files:
        assert not await storage.exists(key), key
    assert await storage.exists(keys.clip(me, shared_seg["spec_hash"]))
    async with runtime_of(client).sessions() as session:
        left = set(await session.scalars(select(Asset.storage_key).where(Asset.owner_id == me)))
    assert not any(own_seg["spec_hash"] in key for key in left), left
    assert sheet_key not in left
    assert keys.clip(me, shared_seg["spec_hash"]) in left
    # The other project renders again from what is left, at no cost and without generating.
    again = (await client.post(f"/api/projects/{kept['id']}/render", headers=auth)).json()
    again = await finished(client, again["id"], auth)
    assert again["status"] == "completed" and all(s["reused"] for s in again["segments"])


async def test_a_project_cannot_be_deleted_while_it_renders(tmp_path: Path) -> None:
    # No workers here: the render stays in flight until it is cancelled.
    async with api_client(make_settings(tmp_path)) as client:
        auth = await register(client)
        body = {"name": "p", **SMALL}
        project = (await client.post("/api/projects", json=body, headers=auth)).json()
        shot_body = {"prompt": "slow", "duration": 1, "seed": 9}
        await client.post(f"/api/projects/{project['id']}/segments", json=shot_body, headers=auth)
        job = (await client.post(f"/api/projects/{project['id']}/render", headers=auth)).json()
        r = await client.delete(f"/api/projects/{project['id']}", headers=auth)
        assert r.status_code == 409 and "cancel it first" in r.json()["detail"], r.text
        assert (await client.get(f"/api/projects/{project['id']}", headers=auth)).status_code == 200
        await client.post(f"/api/render-jobs/{job['id']}/cancel", headers=auth)
        r = await client.delete(f"/api/projects/{project['id']}", headers=auth)
        assert r.status_code == 204, r.text
        assert (await client.get(f"/api/projects/{project['id']}", headers=auth)).status_code == 404


async def test_contact_sheet_is_stored_once_per_set_of_clips(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    me = (await client.get("/api/me", headers=auth)).json()["id"]
    project, _ = await rendered(client, auth, [shot("sheet a", 4), shot("sheet b", 5)])
    url = f"/api/projects/{project['id']}/contact-sheet"
    first = await client.get(url, headers=auth)
    assert first.status_code == 200 and first.content[:2] == b"\xff\xd8"
    storage = runtime_of(client).storage
    digest = sheet_digest(project, me)
    assert digest.startswith(first.headers["etag"].strip('"'))
    path = storage.path_for(keys.contact_sheet(me, digest))
    assert path is not None and path.read_bytes() == first.content
    async with runtime_of(client).sessions() as session:
        row = await session.scalar(
            select(Asset).where(Asset.storage_key == keys.contact_sheet(me, digest))
        )
    assert row is not None and row.owner_id == me and row.bytes == len(first.content)
    # Served from storage: a marked copy comes back as it is, not rebuilt.
    path.write_bytes(first.content + b"stored")
    second = await client.get(url, headers=auth)
    assert second.status_code == 200 and second.content == first.content + b"stored"
    assert second.headers["etag"] == first.headers["etag"]
    # An edit changes the clips, so the sheet's name: a new one is made.
    segment = project["segments"][1]
    r = await client.put(f"/api/segments/{segment['id']}", json={"seed": 6}, headers=auth)
    assert r.status_code == 200, r.text
    job = (await client.post(f"/api/projects/{project['id']}/render", headers=auth)).json()
    assert (await finished(client, job["id"], auth))["status"] == "completed"
    third = await client.get(url, headers=auth)
    assert third.status_code == 200 and third.headers["etag"] != first.headers["etag"]
    assert not third.content.endswith(b"stored")


def sheet_digest(project: dict[str, Any], owner: str) -> str:
    """The name of a sheet: its clips' keys, in timeline order."""
    joined = "".join(keys.clip(owner, s["spec_hash"]) for s in project["segments"])
    return hashlib.sha256(joined.encode()).hexdigest()


async def fetch_status(client: httpx.AsyncClient, url: str) -> int:
    """A link's answer: the API's own (/api/files) or an object store's presigned URL."""
    if url.startswith("/"):
        return (await client.get(url)).status_code
    async with httpx.AsyncClient() as outside:
        return (await outside.get(url)).status_code


async def test_on_s3_the_sheet_is_stored_and_deletion_removes_objects(tmp_path: Path) -> None:
    with moto_server() as endpoint:
        settings = make_settings(
            tmp_path, S3_BUCKET="vftest-lifecycle", S3_ENDPOINT_URL=endpoint, **MOTO_CREDENTIALS
        )
        async with api_client(settings, companions=(_workers,)) as client:
            auth = await register(client)
            me = (await client.get("/api/me", headers=auth)).json()["id"]
            project, job = await rendered(client, auth, [shot("s3 a", 7), shot("s3 b", 8)])
            storage = runtime_of(client).storage
            url = f"/api/projects/{project['id']}/contact-sheet"
            first = await client.get(url, headers=auth)
            assert first.status_code == 200, first.text
            sheet_key = keys.contact_sheet(me, sheet_digest(project, me))
            assert await storage.exists(sheet_key)
            marked = tmp_path / "marked.jpg"
            marked.write_bytes(first.content + b"stored")
            await storage.put_file(sheet_key, marked, "image/jpeg")
            assert (await client.get(url, headers=auth)).content == marked.read_bytes()
            clip_keys = [keys.clip(me, s["spec_hash"]) for s in project["segments"]]
            links = [job["video_url"], *(s["clip_url"] for s in project["segments"])]
            for link in links:
                assert await fetch_status(client, link) == 200, link

            r = await client.delete(f"/api/projects/{project['id']}", headers=auth)
            assert r.status_code == 204, r.text
            for key in [*clip_keys, sheet_key]:
                assert not await storage.exists(key), key
            for link in links:
                assert await fetch_status(client, link) == 404, link
