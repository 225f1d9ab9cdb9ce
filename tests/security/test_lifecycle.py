"""Account lifecycle: signing out revokes login tokens, accounts can be deleted with their
files, and the embedded run's files are private."""

from __future__ import annotations

import io
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from PIL import Image

from tests.security.conftest import instance
from videofoundry.core.config import signing_key
from videofoundry.models import Project, RenderJob
from videofoundry.runtime import Runtime

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery"


async def account(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    return email, await sign_in(client, email)


async def sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    answer = await client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def status(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    return (await client.get("/api/me", headers=auth)).status_code


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "PNG")
    return out.getvalue()


async def test_signing_out_revokes_every_login_token(tmp_path: Path) -> None:
    async with instance(tmp_path) as client:
        email, laptop = await account(client)
        phone = await sign_in(client, email)
        created = await client.post("/api/tokens", json={"name": "ci"}, headers=laptop)
        script = {"Authorization": f"Bearer {created.json()['token']}"}
        settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
        user_id = (await client.get("/api/me", headers=laptop)).json()["id"]
        legacy = jwt.encode(  # issued before tokens named a generation
            {"sub": user_id, "iss": "videofoundry", "aud": "videofoundry-api", "exp": 2**40},
            signing_key(settings),
            algorithm="HS256",
        )
        assert await status(client, {"Authorization": f"Bearer {legacy}"}) == 200
        assert (await client.post("/api/auth/logout", headers=phone)).status_code == 204
        for revoked in (laptop, phone, {"Authorization": f"Bearer {legacy}"}):
            assert await status(client, revoked) == 401
        assert (await client.post("/api/auth/logout", headers=phone)).status_code == 401
        assert await status(client, script) == 200  # API tokens are revoked one by one
        fresh = await sign_in(client, email)
        assert await status(client, fresh) == 200


async def test_deleting_an_account_removes_its_data_and_files(tmp_path: Path) -> None:
    async with instance(tmp_path) as client:
        email, auth = await account(client)
        _, other = await account(client)
        project = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()
        upload = await client.post(
            "/api/assets",
            data={"kind": "image"},
            files={"file": ("a.png", png(), "image/png")},
            headers=auth,
        )
        asset = upload.json()
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        me = (await client.get("/api/me", headers=auth)).json()
        stored = list((runtime.settings.media_dir).rglob(f"*{asset['id']}*"))
        assert stored, "the upload is on disk"
        for body in ({"password": "wrong password"}, {"password": ""}, {}, {"pw": PASSWORD}):
            refused = await client.request("DELETE", "/api/me", json=body, headers=auth)
            assert refused.status_code == 422, refused.text
        segment = {"prompt": "sea", "duration": 1}
        await client.post(f"/api/projects/{project['id']}/segments", json=segment, headers=auth)
        job = (await client.post(f"/api/projects/{project['id']}/render", headers=auth)).json()
        busy = await client.request("DELETE", "/api/me", json={"password": PASSWORD}, headers=auth)
        assert busy.status_code == 409 and "cancel" in busy.text
        await client.post(f"/api/render-jobs/{job['id']}/cancel", headers=auth)
        gone = await client.request("DELETE", "/api/me", json={"password": PASSWORD}, headers=auth)
        assert gone.status_code == 204, gone.text
        assert await status(client, auth) == 401
        assert not any(path.exists() for path in stored)
        assert (await client.get(asset["url"])).status_code == 404  # its links stop working
        async with runtime.sessions() as session:  # the database cascaded the rest
            assert await session.get(Project, project["id"]) is None
            assert await session.get(RenderJob, job["id"]) is None
        again = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert again.status_code == 201 and again.json()["id"] != me["id"]
        assert await status(client, other) == 200  # nobody else affected


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_embedded_runs_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "media").mkdir(parents=True)
    loose = data / "media" / "left-open.bin"
    loose.write_bytes(b"x")
    loose.chmod(0o644)
    async with instance(data, ENVIRONMENT="development", SECRET_KEY="") as client:
        _, auth = await account(client)
        await client.post(
            "/api/assets",
            data={"kind": "image"},
            files={"file": ("a.png", png(), "image/png")},
            headers=auth,
        )
        files = [data / "videofoundry.db", data / "secret_key", loose]
        files += [p for p in (data / "media").rglob("*") if p.is_file()]
        assert len(files) > 3
        for path in files:
            assert mode(path) == 0o600, path
        for path in [p for p in (data / "media").rglob("*") if p.is_dir()]:
            assert mode(path) == 0o700, path


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_timestamps_always_carry_a_timezone(tmp_path: Path, database: str) -> None:
    async with instance(tmp_path, database) as client:
        _, auth = await account(client)
        shown = [(await client.get("/api/me", headers=auth)).json()["created_at"]]
        project = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()
        detail = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
        shown += [detail["created_at"], detail["updated_at"]]
        await client.post("/api/tokens", json={"name": "ci"}, headers=auth)
        shown += [t["created_at"] for t in (await client.get("/api/tokens", headers=auth)).json()]
        for text in shown:
            moment = datetime.fromisoformat(text)
            assert moment.utcoffset() == timedelta(0), text
            assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5), text
