"""A render mixing the offline model with Runway and Luma (their fakes, on loopback), through
the distributed stack: one paid create per hosted segment, and a final MP4 that plays."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import make_stack
from tests.e2e.test_timeline_workflow import download, login, render_and_wait
from tests.support.media_checks import facts
from videofoundry.testing.fakes._server import fake_ledger, run_fake

pytestmark = pytest.mark.timeout(240)


async def test_mixed_providers_render(tmp_path: Path, s3_url: str) -> None:
    with (
        run_fake("runway", running_seconds=0.3, video_scale=0.25) as runway,
        run_fake("luma", running_seconds=0.3, video_scale=0.25) as luma,
    ):
        async with make_stack("distributed", tmp_path, s3_url) as stack:
            stack.env.update(
                {
                    "EXTRA_ADAPTERS": "tests.support.fast_hosted:FastRunway,"
                    "tests.support.fast_hosted:FastLuma",
                    "RUNWAY_API_KEY": runway.key,
                    "RUNWAY_BASE_URL": runway.base_url,
                    "LUMA_API_KEY": luma.key,
                    "LUMA_BASE_URL": luma.base_url,
                }
            )
            stack.start()
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
                await login(client)
                models = {m["id"]: m for m in (await client.get("/api/models")).json()}
                assert models["runway/gen4.5"]["available"]
                assert models["luma/ray-2"]["available"]
                assert not models["replicate/minimax/video-01"]["available"]
                r = await client.post(
                    "/api/projects", json={"name": "mixed", "width": 640, "height": 360}
                )
                pid = r.json()["id"]
                for model, duration in (("procedural", 2), ("runway/gen4.5", 2), ("luma/ray-2", 5)):
                    r = await client.post(
                        f"/api/projects/{pid}/segments",
                        json={
                            "prompt": f"a harbour at dawn ({model})",
                            "model": model,
                            "duration": duration,
                        },
                    )
                    assert r.status_code == 201, r.text
                plan = (await client.post(f"/api/projects/{pid}/render?dry_run=true")).json()
                assert plan["total_estimated_cost"] > 0
                job = await render_and_wait(client, pid)
                assert job["status"] == "completed", (job, stack.logs())
                assert job["actual_cost"] > 0
                final = await download(client, job["video_url"], tmp_path / "mixed.mp4")
                info = facts(final)
                assert (info["width"], info["height"]) == (640, 360)
                assert abs(info["duration"] - 9) <= 1 / 24
                # Rendering again pays nobody.
                again = await render_and_wait(client, pid)
                assert again["status"] == "completed"
        assert fake_ledger(runway.base_url)["creates"] == 1
        assert fake_ledger(luma.base_url)["creates"] == 1
