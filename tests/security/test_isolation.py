"""The isolation matrix, generated from the app's own route table: every route that needs a
signed-in user, called by another user with the first user's ids, answers 404, and changes
nothing. A new route is covered without editing this test; a new kind of id fails it until
`seed` knows how to make one."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from hypothesis import HealthCheck, Phase, find, settings
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.integration.test_render import _workers
from tests.security.test_fuzz import _serve
from tests.support.app import make_settings
from videofoundry.api.deps import get_current_user
from videofoundry.database.migrate import upgrade
from videofoundry.main import create_app
from videofoundry.services import webhooks

pytestmark = pytest.mark.timeout(300)
PASSWORD = "correct horse battery"


def needs_user(dependant: Dependant) -> bool:
    return any(d.call is get_current_user or needs_user(d) for d in dependant.dependencies)


def login(client: httpx.Client) -> dict[str, str]:
    email = f"iso-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    answer = client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def seed(client: httpx.Client, auth: dict[str, str]) -> dict[str, str]:
    """One of every kind of object a route takes an id of, owned by `auth`'s user."""
    project = client.post("/api/projects", json={"name": "mine"}, headers=auth).json()
    segment = client.post(
        f"/api/projects/{project['id']}/segments",
        json={"prompt": "a lighthouse", "duration": 1},
        headers=auth,
    ).json()
    job = client.post(f"/api/projects/{project['id']}/render", headers=auth).json()
    rendered(client, auth, job["id"])
    takes = client.get(f"/api/segments/{segment['id']}/takes", headers=auth).json()
    image = io.BytesIO()
    Image.new("RGB", (32, 32)).save(image, "PNG")
    asset = client.post(
        "/api/assets",
        data={"kind": "image"},
        files={"file": ("a.png", image.getvalue(), "image/png")},
        headers=auth,
    ).json()
    token = client.post("/api/tokens", json={"name": "mine"}, headers=auth).json()
    hook = client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": [webhooks.EVENT_TYPES[0]]},
        headers=auth,
    ).json()
    return {
        "project_id": project["id"],
        "segment_id": segment["id"],
        "job_id": job["id"],
        "take_id": takes[0]["id"],
        "asset_id": asset["id"],
        "token_id": token["id"],
        "webhook_id": hook["id"],
    }


def rendered(client: httpx.Client, auth: dict[str, str], job_id: str) -> None:
    """Until the job completes: its progress WebSocket closes after the job's last event."""
    url = str(client.base_url).replace("http://", "ws://") + f"/api/render-jobs/{job_id}/progress"
    with connect(f"{url}?token={auth['Authorization'].split()[1]}") as ws:
        try:
            while ws.recv(timeout=120):
                pass
        except ConnectionClosed:
            pass
    job = client.get(f"/api/render-jobs/{job_id}", headers=auth).json()
    assert job["status"] == "completed", job


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    settings_ = make_settings(
        tmp_path_factory.mktemp("isolation"),
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1:9",
        WEBHOOK_DELIVERY=False,
    )
    upgrade(settings_.database_url)
    # With workers, so the seeded render completes and its segment has a take.
    app = create_app(settings_, companions=(_workers,))
    base_url, uvicorn_server, thread = _serve(app)
    try:
        yield base_url, app
    finally:
        uvicorn_server.should_exit = uvicorn_server.force_exit = True
        thread.join(timeout=30)


def routes_needing_a_user(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route with a path parameter that needs a signed-in user,
    read from the application's route table (included routers flattened)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and "{" in context.path_format:
            if needs_user(context.dependant):
                found += [(method, context.path_format) for method in sorted(context.methods)]
    return found


def websocket_paths(app: Any) -> list[str]:
    return [
        context.path_format
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIWebSocketRoute)
    ]


def test_every_route_answers_404_for_another_users_ids(server: tuple[str, Any]) -> None:
    base_url, app = server
    schema = schemathesis.openapi.from_dict(app.openapi())
    routes = routes_needing_a_user(app)
    assert len(routes) >= 15, routes  # the table was read, not an empty list
    with httpx.Client(base_url=base_url, timeout=30) as client:
        owner = login(client)
        ids = seed(client, owner)
        intruder = login(client)
        for method, path in routes:
            operation = schema[path][method]
            names = {p.name for p in operation.path_parameters}
            # A new kind of id fails here until seed() makes a real object of the owner.
            assert names <= ids.keys(), f"{method} {path}: seed() makes no {names - ids.keys()}"
            given = {n: ids[n] for n in names}
            strategy = operation.as_strategy(path_parameters=given)
            # A request the schema allows: valid, so only ownership can refuse it.
            case = find(
                strategy,
                lambda _: True,
                settings=settings(
                    database=None,
                    phases=[Phase.generate],  # the first valid request; no shrinking
                    suppress_health_check=list(HealthCheck),
                ),
            )
            answer = case.call(base_url=base_url, headers=intruder, timeout=30)
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code} {answer.text}"
        # Nothing the intruder sent changed the owner's objects.
        for path in (
            f"/api/projects/{ids['project_id']}",
            f"/api/segments/{ids['segment_id']}",
            f"/api/render-jobs/{ids['job_id']}",
            f"/api/assets/{ids['asset_id']}",
        ):
            assert client.get(path, headers=owner).status_code == 200, path
        takes = client.get(f"/api/segments/{ids['segment_id']}/takes", headers=owner).json()
        assert [t["id"] for t in takes] == [ids["take_id"]]
        tokens = client.get("/api/tokens", headers=owner).json()
        assert [t["id"] for t in tokens] == [ids["token_id"]]
        hooks = client.get("/api/webhooks", headers=owner).json()
        assert [h["id"] for h in hooks] == [ids["webhook_id"]]


def test_websocket_routes_refuse_another_users_ids(server: tuple[str, Any]) -> None:
    base_url, app = server
    sockets = websocket_paths(app)
    assert sockets, "no WebSocket route found"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        owner = login(client)
        ids = seed(client, owner)
        intruder = login(client)
    ws_base = base_url.replace("http://", "ws://")
    for path in sockets:
        url = ws_base + path.format(**ids)
        token = owner["Authorization"].split()[1]
        with connect(f"{url}?token={token}") as mine:
            assert mine.recv(timeout=30)  # the owner gets the snapshot
        token = intruder["Authorization"].split()[1]
        with pytest.raises(ConnectionClosed) as closed, connect(f"{url}?token={token}") as ws:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, path
