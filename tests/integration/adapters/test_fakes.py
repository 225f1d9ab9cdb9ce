"""The fakes themselves: protocol details from providers.md, checked with raw HTTP.

These keep the fakes honest independently of the adapters (an adapter and a fake sharing one
misreading would otherwise pass their contract tests together).
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.integration.adapters.helpers import png
from tests.services import free_port
from videofoundry.testing.fakes import FakeServer, serve_fake

DATA_URI = "data:image/png;base64," + base64.b64encode(png()).decode()


def runway_headers(fake: FakeServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.key}", "X-Runway-Version": "2024-11-06"}


def wait_for(
    client: httpx.Client, url: str, headers: dict[str, str], key: str, values: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        data: dict[str, Any] = client.get(url, headers=headers).json()
        if data[key] in values or time.monotonic() > deadline:
            return data
        time.sleep(0.02)


# -- Runway ----------------------------------------------------------------------------------


def test_runway_auth_and_version_header(runway_fake: FakeServer) -> None:
    with httpx.Client(base_url=runway_fake.base_url) as client:
        assert client.get("/v1/tasks/x").status_code == 401
        assert "error" in client.get("/v1/tasks/x").json()
        missing = client.get("/v1/tasks/x", headers={"Authorization": f"Bearer {runway_fake.key}"})
        assert missing.status_code == 400
        assert "X-Runway-Version" in missing.json()["error"]
        assert client.get("/v1/tasks/x", headers=runway_headers(runway_fake)).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/image_to_video",
            {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:768"},
            "ratio",
        ),
        (
            "/v1/image_to_video",
            {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:720", "duration": 11},
            "duration",
        ),
        (
            "/v1/image_to_video",
            {"model": "gen4.5", "promptImage": DATA_URI, "ratio": "1280:720", "duration": 5},
            "promptText",
        ),
        ("/v1/image_to_video", {"model": "gen4_turbo", "ratio": "1280:720"}, "promptImage"),
        (
            "/v1/image_to_video",
            {"model": "gen4_turbo", "promptImage": "http://1.2.3.4/a.png", "ratio": "1280:720"},
            "promptImage",
        ),
        (
            "/v1/image_to_video",
            {
                "model": "gen4_turbo",
                "promptImage": DATA_URI,
                "ratio": "1280:720",
                "promptText": "x" * 1001,
            },
            "promptText",
        ),
        (
            "/v1/image_to_video",
            {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:720", "seed": 2**32},
            "seed",
        ),
        (
            "/v1/text_to_video",
            {"model": "gen4_turbo", "promptText": "a cat", "ratio": "1280:720"},
            "model",
        ),
        (
            "/v1/text_to_video",
            {"model": "gen4.5", "promptText": "a cat", "ratio": "960:960", "duration": 5},
            "ratio",
        ),
        (
            "/v1/text_to_video",
            {"model": "veo3.1", "promptText": "a cat", "ratio": "1280:720", "duration": 5},
            "duration",
        ),
    ],
)
def test_runway_validation_answers_in_the_documented_shape(
    runway_fake: FakeServer, path: str, body: dict[str, Any], field: str
) -> None:
    with httpx.Client(base_url=runway_fake.base_url) as client:
        answer = client.post(path, json=body, headers=runway_headers(runway_fake))
    assert answer.status_code == 400
    data = answer.json()
    assert data["error"] == "Validation of body failed"
    assert data["docUrl"].startswith("https://docs.dev.runwayml.com")
    assert field in [issue["path"][0] for issue in data["issues"]]
    assert runway_fake.creates == 0


def test_runway_emoji_prompt_counts_utf16_units(runway_fake: FakeServer) -> None:
    body = {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:720"}
    with httpx.Client(base_url=runway_fake.base_url) as client:
        # 500 emoji = 1000 UTF-16 units: allowed; 501 = 1002: refused.
        ok = client.post(
            "/v1/image_to_video",
            json={**body, "promptText": "🎬" * 500},
            headers=runway_headers(runway_fake),
        )
        bad = client.post(
            "/v1/image_to_video",
            json={**body, "promptText": "🎬" * 501},
            headers=runway_headers(runway_fake),
        )
    assert ok.status_code == 200
    assert bad.status_code == 400


def test_runway_state_machine_throttling_and_delete(runway_fake: FakeServer) -> None:
    runway_fake.config.concurrency = 1
    # Slow enough that the promoted second task is still active when it is inspected.
    runway_fake.set_faults(task={"running_seconds": 0.6})
    body = {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:720", "duration": 2}
    headers = runway_headers(runway_fake)
    with httpx.Client(base_url=runway_fake.base_url) as client:
        first = client.post("/v1/image_to_video", json=body, headers=headers).json()["id"]
        second = client.post("/v1/image_to_video", json=body, headers=headers).json()["id"]
        assert client.get(f"/v1/tasks/{second}", headers=headers).json()["status"] == "THROTTLED"
        running = wait_for(client, f"/v1/tasks/{first}", headers, "status", {"RUNNING"})
        assert 0 <= running["progress"] <= 1
        done = wait_for(client, f"/v1/tasks/{first}", headers, "status", {"SUCCEEDED"})
        assert done["output"][0].startswith(runway_fake.base_url)
        assert done["createdAt"].endswith("Z")
        # The first finished: the second is promoted (FIFO) and can be cancelled.
        assert client.get(f"/v1/tasks/{second}", headers=headers).json()["status"] in (
            "PENDING",
            "RUNNING",
        )
        assert client.delete(f"/v1/tasks/{second}", headers=headers).status_code == 204
        assert client.get(f"/v1/tasks/{second}", headers=headers).json()["status"] == "CANCELLED"
        # DELETE of a finished task removes it.
        assert client.delete(f"/v1/tasks/{first}", headers=headers).status_code == 204
        assert client.get(f"/v1/tasks/{first}", headers=headers).status_code == 404
    assert [e["task_id"] for e in runway_fake.ledger] == [first, second]


def test_runway_output_urls_expire(runway_fake: FakeServer) -> None:
    body = {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:720", "duration": 2}
    headers = runway_headers(runway_fake)
    runway_fake.set_faults(output_ttl=30)
    with httpx.Client(base_url=runway_fake.base_url) as client:
        task_id = client.post("/v1/image_to_video", json=body, headers=headers).json()["id"]
        url = wait_for(client, f"/v1/tasks/{task_id}", headers, "status", {"SUCCEEDED"})["output"][
            0
        ]
        video = client.get(url)
        assert video.status_code == 200
        assert video.headers["content-type"] == "video/mp4"
        runway_fake.advance_clock(31)
        assert client.get(url).status_code == 403
        fresh = client.get(f"/v1/tasks/{task_id}", headers=headers).json()["output"][0]
        assert client.get(fresh).status_code == 200


def test_control_api_over_http(runway_fake: FakeServer) -> None:
    with httpx.Client(base_url=runway_fake.base_url) as client:
        faults = {"http": [{"on": "create", "status": 429, "retry_after": 2}]}
        assert client.post("/_fake/faults", json=faults).status_code == 200
        body = {"model": "gen4_turbo", "promptImage": DATA_URI, "ratio": "1280:720"}
        throttled = client.post(
            "/v1/image_to_video", json=body, headers=runway_headers(runway_fake)
        )
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "2"
        assert (
            client.post(
                "/v1/image_to_video", json=body, headers=runway_headers(runway_fake)
            ).status_code
            == 200
        )
        ledger = client.get("/_fake/ledger").json()
        assert ledger["creates"] == 1
        assert ledger["entries"][0]["body"]["promptImage"].startswith("data:image/png;base64,")
        assert client.post("/_fake/reset").status_code == 200
        assert client.get("/_fake/ledger").json() == {"creates": 0, "entries": []}


# -- Luma ------------------------------------------------------------------------------------


def test_luma_generation_lifecycle(luma_fake: FakeServer) -> None:
    headers = {"Authorization": f"Bearer {luma_fake.key}"}
    with httpx.Client(base_url=f"{luma_fake.base_url}/dream-machine/v1") as client:
        assert client.get("/credits").status_code == 401
        assert client.get("/credits").json() == {"detail": "Invalid API key is provided"}
        refused = client.post("/generations/video", json={"model": "ray-2"}, headers=headers)
        assert (refused.status_code, refused.json()) == (400, {"detail": "Prompt is required"})
        created = client.post(
            "/generations/video", json={"model": "ray-2", "prompt": "a cat"}, headers=headers
        )
        assert created.status_code == 201
        assert created.json()["state"] == "queued"
        gen_id = created.json()["id"]
        done = wait_for(client, f"/generations/{gen_id}", headers, "state", {"completed"})
        assert done["assets"]["video"].startswith(luma_fake.base_url)
        listing = client.get("/generations", headers=headers).json()
        assert listing["count"] == 1
        assert client.delete(f"/generations/{gen_id}", headers=headers).status_code == 204
        assert client.get(f"/generations/{gen_id}", headers=headers).status_code == 404


# -- Replicate -------------------------------------------------------------------------------


def test_replicate_prefer_wait_and_problem_details(replicate_fake: FakeServer) -> None:
    replicate_fake.config.wait_scale = 1.0
    headers = {"Authorization": f"Bearer {replicate_fake.key}"}
    try:
        with httpx.Client(base_url=replicate_fake.base_url, timeout=10) as client:
            unauth = client.get("/v1/predictions/x")
            assert unauth.status_code == 401
            assert {"type", "title", "status", "detail"} <= set(unauth.json())
            invalid = client.post(
                "/v1/models/fake/tiny-video/predictions", json={"input": {}}, headers=headers
            )
            assert invalid.status_code == 422
            waited = client.post(
                "/v1/models/fake/tiny-video/predictions",
                json={"input": {"prompt": "a cat"}},
                headers={**headers, "Prefer": "wait=5"},
            )
            assert waited.status_code == 201
            assert waited.json()["status"] == "succeeded"
            assert waited.headers["location"] == waited.json()["urls"]["get"]
            quick = client.post(
                "/v1/models/fake/tiny-video/predictions",
                json={"input": {"prompt": "a dog"}},
                headers={**headers, "Prefer": "wait=1"},
            )
            assert quick.json()["status"] in ("starting", "processing", "succeeded")
            canceled = client.post(f"/v1/predictions/{quick.json()['id']}/cancel", headers=headers)
            assert canceled.json()["status"] in ("canceled", "succeeded")
    finally:
        replicate_fake.config.wait_scale = 0.02


# -- Stability -------------------------------------------------------------------------------


def test_stability_rules(stability_fake: FakeServer) -> None:
    headers = {"Authorization": f"Bearer {stability_fake.key}"}
    with httpx.Client(base_url=stability_fake.base_url) as client:
        wrong = client.post(
            "/v2beta/image-to-video",
            files={"image": ("a.png", png(1000, 560), "image/png")},
            headers=headers,
        )
        assert wrong.status_code == 400
        assert wrong.json()["name"] == "bad_request"
        assert "1024x576" in wrong.json()["errors"][0]
        core = client.post(
            "/v2beta/stable-image/generate/core",
            files={"prompt": (None, b"a cat"), "aspect_ratio": (None, b"16:9")},
            headers={**headers, "Accept": "image/*"},
        )
        assert core.status_code == 200
        assert core.headers["finish-reason"] == "SUCCESS"
        width, height = Image.open(io.BytesIO(core.content)).size
        assert 1.3e6 < width * height < 1.7e6
        assert abs(width / height - 16 / 9) < 0.05
        created = client.post(
            "/v2beta/image-to-video",
            files={"image": ("a.png", png(768, 768), "image/png")},
            headers=headers,
        )
        gen_id = created.json()["id"]
        assert len(gen_id) == 64
        result_path = f"/v2beta/image-to-video/result/{gen_id}"
        assert client.get(result_path, headers=headers).status_code == 202
        other = {"Authorization": "Bearer sk-other"}
        assert client.get(result_path, headers=other).status_code == 401
        deadline = time.monotonic() + 5
        while (
            answer := client.get(result_path, headers={**headers, "Accept": "application/json"})
        ).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert answer.headers["content-type"].startswith("application/json; type=video/mp4")
        assert answer.json()["finish_reason"] == "SUCCESS"
        assert base64.b64decode(answer.json()["video"])[4:8] == b"ftyp"


# -- serving ---------------------------------------------------------------------------------


async def test_serve_fake_context_manager() -> None:
    async with serve_fake("luma", key="luma-test-key-123456") as fake:
        async with httpx.AsyncClient() as client:
            answer = await client.get(
                f"{fake.base_url}/dream-machine/v1/credits",
                headers={"Authorization": "Bearer luma-test-key-123456"},
            )
        assert answer.json() == {"credit_balance": 100_000}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.base_url}/_fake/ledger", timeout=1)


def test_cli_serves_a_fake_on_loopback() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "videofoundry.testing.fakes",
            "runway",
            "--port",
            str(port),
            "--key",
            "key_cli",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v1/organization",
            headers={"Authorization": "Bearer key_cli", "X-Runway-Version": "2024-11-06"},
            timeout=5,
        )
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_cli_refuses_a_public_host() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "videofoundry.testing.fakes", "runway", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "non-loopback" in done.stderr
