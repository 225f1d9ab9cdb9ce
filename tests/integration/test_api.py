"""The REST API on SQLite and PostgreSQL: auth, CRUD, validation, isolation, pagination."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.app import register

pytestmark = pytest.mark.timeout(120)


async def make_project(client: httpx.AsyncClient, auth: dict[str, str], n: int = 0) -> dict:
    response = await client.post("/api/projects", json={"name": "Trailer"}, headers=auth)
    assert response.status_code == 201, response.text
    project = response.json()
    for i in range(n):
        r = await client.post(
            f"/api/projects/{project['id']}/segments",
            json={"prompt": f"shot {i}", "duration": 1 + i},
            headers=auth,
        )
        assert r.status_code == 201, r.text
    return project


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    email = f"Ada-{uuid.uuid4().hex[:6]}@Example.com"
    auth = await register(client, email)
    me = await client.get("/api/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["email"] == email.lower()
    assert "password" not in str(me.json())


async def test_duplicate_registration_is_409(client: httpx.AsyncClient) -> None:
    email = f"dup-{uuid.uuid4().hex[:6]}@example.com"
    await register(client, email)
    again = await client.post(
        "/api/auth/register", json={"email": email, "password": "another password"}
    )
    assert again.status_code == 409
    assert email in again.json()["detail"]


async def test_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    email = f"pw-{uuid.uuid4().hex[:6]}@example.com"
    await register(client, email)
    response = await client.post("/api/auth/token", data={"username": email, "password": "nope"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/projects"),
        ("POST", "/api/projects"),
        ("GET", "/api/me"),
        ("GET", "/api/models"),
        ("GET", "/api/render-jobs/x"),
    ],
)
async def test_routes_need_a_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={})
    assert response.status_code == 401
    bad = await client.request(method, path, json={}, headers={"Authorization": "Bearer junk"})
    assert bad.status_code == 401


async def test_api_tokens_work_and_can_be_revoked(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    created = await client.post("/api/tokens", json={"name": "ci script"}, headers=auth)
    assert created.status_code == 201
    token = created.json()["token"]
    script = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/projects", headers=script)).status_code == 200
    listed = (await client.get("/api/tokens", headers=auth)).json()
    assert [t["name"] for t in listed] == ["ci script"]
    assert "token" not in listed[0]
    deleted = await client.delete(f"/api/tokens/{created.json()['id']}", headers=auth)
    assert deleted.status_code == 204
    assert (await client.get("/api/projects", headers=script)).status_code == 401


async def test_project_crud_and_segments_in_order(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = await make_project(client, auth, n=3)
    assert project["width"] == 1280 and project["height"] == 720 and project["fps"] == 24
    detail = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
    assert [s["prompt"] for s in detail["segments"]] == ["shot 0", "shot 1", "shot 2"]
    assert [s["position"] for s in detail["segments"]] == [0, 1, 2]
    assert detail["segment_count"] == 3 and detail["total_duration"] == 6
    assert all(
        s["model"] == "procedural" and isinstance(s["seed"], int) for s in detail["segments"]
    )

    renamed = await client.put(
        f"/api/projects/{project['id']}", json={"name": "Final cut"}, headers=auth
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Final cut"

    middle = detail["segments"][1]["id"]
    assert (await client.delete(f"/api/segments/{middle}", headers=auth)).status_code == 204
    detail = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
    assert [s["prompt"] for s in detail["segments"]] == ["shot 0", "shot 2"]
    assert [s["position"] for s in detail["segments"]] == [0, 1]

    assert (await client.delete(f"/api/projects/{project['id']}", headers=auth)).status_code == 204
    gone = await client.get(f"/api/projects/{project['id']}", headers=auth)
    assert gone.status_code == 404


async def test_segment_update_changes_spec_hash_only_for_pixels(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = await make_project(client, auth, n=1)
    segment = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()["segments"][
        0
    ]
    captioned = await client.put(
        f"/api/segments/{segment['id']}", json={"caption": "hello"}, headers=auth
    )
    assert captioned.json()["spec_hash"] == segment["spec_hash"]
    edited = await client.put(
        f"/api/segments/{segment['id']}", json={"prompt": "a new shot"}, headers=auth
    )
    assert edited.status_code == 200
    assert edited.json()["prompt"] == "a new shot"
    assert edited.json()["spec_hash"] != segment["spec_hash"]


async def test_reorder(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = await make_project(client, auth, n=3)
    url = f"/api/projects/{project['id']}"
    ids = [s["id"] for s in (await client.get(url, headers=auth)).json()["segments"]]
    response = await client.put(
        f"{url}/segments/order", json={"segment_ids": ids[::-1]}, headers=auth
    )
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["segments"]] == ids[::-1]


@pytest.mark.parametrize("case", ["missing", "duplicated", "unknown", "foreign"])
async def test_bad_reorder_is_422_and_changes_nothing(client: httpx.AsyncClient, case: str) -> None:
    auth = await register(client)
    project = await make_project(client, auth, n=3)
    other = await register(client)
    foreign_project = await make_project(client, other, n=1)
    foreign_id = (await client.get(f"/api/projects/{foreign_project['id']}", headers=other)).json()[
        "segments"
    ][0]["id"]
    url = f"/api/projects/{project['id']}"
    ids = [s["id"] for s in (await client.get(url, headers=auth)).json()["segments"]]
    body = {
        "missing": ids[:2],
        "duplicated": [ids[0], ids[0], ids[1], ids[2]],
        "unknown": [*ids[:2], "nope"],
        "foreign": [*ids[:2], foreign_id],
    }[case]
    response = await client.put(f"{url}/segments/order", json={"segment_ids": body}, headers=auth)
    assert response.status_code == 422
    assert "segment_ids" in str(response.json()["detail"])
    after = [s["id"] for s in (await client.get(url, headers=auth)).json()["segments"]]
    assert after == ids


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "", "duration": 2}, "prompt"),
        ({"prompt": "x" * 2001, "duration": 2}, "prompt"),
        ({"prompt": "ok", "duration": 0}, "duration"),
        ({"prompt": "ok", "duration": 31}, "duration"),
        ({"prompt": "ok", "duration": "long"}, "duration"),
        ({"prompt": "ok", "duration": 2, "colour": "red"}, "colour"),
        ({"prompt": "ok", "duration": 2, "model": "nosuch/model"}, "model"),
        ({"prompt": "ok", "duration": 2, "params": {"speed": "fast"}}, "params"),
        ({"duration": 2}, "prompt"),
    ],
)
async def test_segment_validation_names_the_field(
    client: httpx.AsyncClient, body: dict, field: str
) -> None:
    auth = await register(client)
    project = await make_project(client, auth)
    response = await client.post(f"/api/projects/{project['id']}/segments", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert field in str(response.json()["detail"])
    detail = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
    assert detail["segments"] == []


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": "x" * 201}, {"name": "ok", "width": 641}, {"name": "ok", "extra": 1}],
)
async def test_project_validation(client: httpx.AsyncClient, body: dict) -> None:
    auth = await register(client)
    response = await client.post("/api/projects", json=body, headers=auth)
    assert response.status_code == 422


async def test_segment_cap(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = await make_project(client, auth)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    cap = runtime.settings.MAX_SEGMENTS_PER_PROJECT
    runtime.settings.MAX_SEGMENTS_PER_PROJECT = 2
    try:
        for _ in range(2):
            r = await client.post(
                f"/api/projects/{project['id']}/segments",
                json={"prompt": "p", "duration": 1},
                headers=auth,
            )
            assert r.status_code == 201
        third = await client.post(
            f"/api/projects/{project['id']}/segments",
            json={"prompt": "p", "duration": 1},
            headers=auth,
        )
        assert third.status_code == 422
        assert "maximum" in str(third.json()["detail"])
    finally:
        runtime.settings.MAX_SEGMENTS_PER_PROJECT = cap


async def test_other_users_objects_are_404_for_every_verb(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    intruder = await register(client)
    project = await make_project(client, owner, n=2)
    pid = project["id"]
    sid = (await client.get(f"/api/projects/{pid}", headers=owner)).json()["segments"][0]["id"]
    attempts = [
        ("GET", f"/api/projects/{pid}", None),
        ("PUT", f"/api/projects/{pid}", {"name": "mine now"}),
        ("DELETE", f"/api/projects/{pid}", None),
        ("POST", f"/api/projects/{pid}/segments", {"prompt": "x", "duration": 1}),
        ("PUT", f"/api/projects/{pid}/segments/order", {"segment_ids": [sid]}),
        ("POST", f"/api/projects/{pid}/render", None),
        ("POST", f"/api/projects/{pid}/render?dry_run=true", None),
        ("GET", f"/api/projects/{pid}/render-jobs", None),
        ("GET", f"/api/segments/{sid}", None),
        ("PUT", f"/api/segments/{sid}", {"prompt": "hijack"}),
        ("POST", f"/api/segments/{sid}/duplicate", None),
        ("DELETE", f"/api/segments/{sid}", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=intruder)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await client.get("/api/projects", headers=intruder)).json()
    assert listed["total"] == 0
    detail = (await client.get(f"/api/projects/{pid}", headers=owner)).json()
    assert detail["name"] == "Trailer" and len(detail["segments"]) == 2
    assert detail["segments"][0]["prompt"] == "shot 0"


async def test_pagination(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    for _ in range(5):
        await make_project(client, auth)
    page = (await client.get("/api/projects?limit=2&offset=1", headers=auth)).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert len(page["items"]) == 2
    everything = (await client.get("/api/projects?limit=100", headers=auth)).json()["items"]
    assert [p["id"] for p in page["items"]] == [p["id"] for p in everything[1:3]]
    assert (await client.get("/api/projects?limit=0", headers=auth)).status_code == 422


async def test_render_of_empty_project_is_422(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = await make_project(client, auth)
    response = await client.post(f"/api/projects/{project['id']}/render", headers=auth)
    assert response.status_code == 422
    assert "no segments" in str(response.json()["detail"])


async def test_models_catalogue_lists_procedural(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    models = {m["id"]: m for m in (await client.get("/api/models", headers=auth)).json()}
    assert models["procedural"]["available"] is True
    assert models["procedural"]["price_per_second"] == 0
    assert models["procedural"]["params_schema"]["type"] == "object"


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/api/projects/{project_id}/segments/order" in document["paths"]
    assert "/api/auth/token" in document["paths"]
