"""Fair scheduling across users, in both deployments: while one user renders a large project,
another user's one-segment render is not queued behind it.

Order is read from the adapter's own ledger (one line per finished generation, in the order they
finished), so the assertions are about behaviour, not timings. The control run with a share
larger than the render shows what the test would see without fair scheduling."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import make_stack
from tests.e2e.test_timeline_workflow import login, spec_hashes, timeline, wait_job
from tests.support.counting import read_ledger

pytestmark = pytest.mark.timeout(300)

LARGE = 12
WORKER_SLOTS = 2


@pytest.mark.parametrize("kind", ["embedded", "distributed"])
@pytest.mark.parametrize(
    ("share", "fair"), [(WORKER_SLOTS, True), (LARGE, False)], ids=["fair", "no-share"]
)
async def test_small_render_is_not_held_back_by_a_large_one(
    kind: str, share: int, fair: bool, tmp_path: Path, s3_url: str
) -> None:
    async with make_stack(kind, tmp_path, s3_url) as stack:
        stack.env.update(
            {
                # Generations long enough that the large render is still going when the small
                # one is queued, whatever the load of the machine.
                "VF_TEST_GENERATE_DELAY": "0.4",
                "AI_WORKER_CONCURRENCY": str(WORKER_SLOTS),
                "SEGMENTS_IN_FLIGHT_PER_USER": str(share),
            }
        )
        stack.start()
        async with (
            httpx.AsyncClient(base_url=stack.url, timeout=30) as big,
            httpx.AsyncClient(base_url=stack.url, timeout=30) as small,
        ):
            await login(big)
            await login(small)
            large_project = await timeline(big, [1.0] * LARGE)
            small_project = await timeline(small, [1.0])
            r = await big.post(f"/api/projects/{large_project['id']}/render")
            assert r.status_code == 202, r.text
            large_id = r.json()["id"]
            r = await small.post(f"/api/projects/{small_project['id']}/render")
            assert r.status_code == 202, r.text
            small_job = await wait_job(small, r.json()["id"])
            large_then = (await big.get(f"/api/render-jobs/{large_id}")).json()
            large_job = await wait_job(big, large_id, timeout=200)
            assert small_job["status"] == "completed", stack.logs()
            assert large_job["status"] == "completed", stack.logs()
            (small_hash,) = await spec_hashes(small, small_project["id"])
            large_hashes = await spec_hashes(big, large_project["id"])

    finished = [entry["spec_hash"] for entry in read_ledger(stack.ledger)]
    assert sorted(finished) == sorted([small_hash, *large_hashes]), finished
    large_before_small = finished.index(small_hash)
    if fair:
        # Queued behind the large render's share only: it starts in the first free slot.
        assert large_before_small <= 2 * WORKER_SLOTS, finished
        assert large_then["status"] == "generating", large_then
    else:
        # Without a share, every large segment was queued first.
        assert large_before_small >= LARGE - WORKER_SLOTS, finished
