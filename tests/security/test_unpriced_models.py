"""A paid model with no known price (a Replicate model outside the catalogue) cannot spend an
operator's credit: an account with a cap is refused, an uncapped one may use it."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import instance
from videofoundry.services import users

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery"
# Refused connections, never the internet, if a render does start.
REPLICATE = {"REPLICATE_API_TOKEN": "r8_test", "REPLICATE_BASE_URL": "http://127.0.0.1:9"}


async def signed_in(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    address = f"u-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": address, "password": PASSWORD}
    assert (await client.post("/api/auth/register", json=body)).status_code == 201
    token = await client.post("/api/auth/token", data={"username": address, "password": PASSWORD})
    return address, {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.parametrize(
    "model",
    [
        "replicate/someone/some-video-model",
        f"replicate/someone/other:{'a' * 64}",
        "replicate/" + "b" * 64,
    ],
)
async def test_a_capped_account_cannot_render_an_unpriced_model(tmp_path: Path, model: str) -> None:
    async with instance(tmp_path, DEFAULT_BUDGET_USD="100", **REPLICATE) as client:
        address, auth = await signed_in(client)
        pid = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()["id"]
        segment = {"prompt": "x", "duration": 5, "model": model, "seed": 1}
        created = await client.post(f"/api/projects/{pid}/segments", json=segment, headers=auth)
        assert created.status_code == 201, created.text

        refused = await client.post(f"/api/projects/{pid}/render", headers=auth)
        assert refused.status_code == 402, refused.text
        assert "no known price" in refused.json()["detail"]
        variations = await client.post(
            f"/api/segments/{created.json()['id']}/variations", json={"count": 1}, headers=auth
        )
        assert variations.status_code == 402, variations.text
        spent = (await client.get("/api/me", headers=auth)).json()["spent_usd"]
        assert float(spent) == 0

        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.sessions() as session:
            await users.set_budget(session, address, None)
        started = await client.post(f"/api/projects/{pid}/render", headers=auth)
        assert started.status_code == 202, started.text


async def test_a_catalogued_replicate_model_is_still_counted_against_the_cap(
    tmp_path: Path,
) -> None:
    async with instance(tmp_path, DEFAULT_BUDGET_USD="0.1", **REPLICATE) as client:
        _, auth = await signed_in(client)
        pid = (await client.post("/api/projects", json={"name": "p"}, headers=auth)).json()["id"]
        segment = {"prompt": "x", "duration": 6, "model": "replicate/minimax/video-01", "seed": 1}
        created = await client.post(f"/api/projects/{pid}/segments", json=segment, headers=auth)
        assert created.status_code == 201, created.text
        refused = await client.post(f"/api/projects/{pid}/render", headers=auth)
        assert refused.status_code == 402, refused.text
        assert "no known price" not in refused.json()["detail"]
