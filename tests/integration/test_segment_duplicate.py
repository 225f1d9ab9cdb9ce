"""Duplicating a segment copies every column of the original but its identity and place."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from tests.support.app import register
from videofoundry.models import Segment

pytestmark = pytest.mark.timeout(120)

# What a copy gets afresh. Written out here, not imported, so the test checks the service.
FRESH = {"id", "position", "version", "created_at", "updated_at"}
# Derived from the copied columns (and, for a shot continuing the one before, from that shot,
# which for the copy is the original).
DERIVED = {"spec_hash"}


def _png() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (64, 36), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _row(client: httpx.AsyncClient, segment_id: str) -> dict[str, Any]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        segment = await session.scalar(select(Segment).where(Segment.id == segment_id))
        assert segment is not None
        return {c.key: getattr(segment, c.key) for c in Segment.__table__.columns}


_SAMPLES: dict[type, Any] = {bool: True, int: 7, float: 2.5, str: "sample", dict: {"k": "v"}}


async def _fill_empty_columns(client: httpx.AsyncClient, segment_id: str) -> None:
    """Give every column the API left empty a value in the database, so a column added to
    `Segment` later is checked without this test knowing about it."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session, session.begin():
        segment = await session.get_one(Segment, segment_id)
        for column in Segment.__table__.columns:
            value = getattr(segment, column.key)
            if column.key in FRESH | DERIVED or value not in (None, False, "", {}):
                continue
            assert not column.foreign_keys, f"set {column.key} in the test's request body"
            setattr(segment, column.key, _SAMPLES[column.type.python_type])


async def test_duplicate_carries_every_column(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    project = (await client.post("/api/projects", json={"name": "Dup"}, headers=auth)).json()
    image = await client.post(
        "/api/assets", data={"kind": "image"}, files={"file": ("i.png", _png())}, headers=auth
    )
    assert image.status_code == 201, image.text
    body = {
        "prompt": "a lighthouse at dusk",
        "model": "procedural",
        "duration": 2.5,
        "params": {"style": "orbs", "speed": 1.5},
        "seed": 1234,
        "negative_prompt": "blurry",
        "caption": "The end",
        "burn_caption": True,
        "transition": {"kind": "crossfade", "duration": 0.75},
        "init_image_asset_id": image.json()["id"],
    }
    base = f"/api/projects/{project['id']}/segments"
    first = await client.post(base, json={"prompt": "opening", "duration": 1}, headers=auth)
    original = await client.post(base, json=body, headers=auth)
    last = await client.post(base, json={"prompt": "closing", "duration": 1}, headers=auth)
    assert original.status_code == 201, original.text
    await _fill_empty_columns(client, original.json()["id"])

    response = await client.post(f"/api/segments/{original.json()['id']}/duplicate", headers=auth)
    assert response.status_code == 201, response.text

    source = await _row(client, original.json()["id"])
    copy = await _row(client, response.json()["id"])
    for key in set(source) - FRESH - DERIVED:
        assert source[key] not in (None, False, "", {}), f"the original leaves {key} empty"
        assert copy[key] == source[key], f"the duplicate lost {key}"
    assert copy["id"] != source["id"]
    assert copy["version"] == 1

    timeline = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
    assert [s["id"] for s in timeline["segments"]] == [
        first.json()["id"],
        original.json()["id"],
        response.json()["id"],
        last.json()["id"],
    ]
    assert [s["position"] for s in timeline["segments"]] == [0, 1, 2, 3]
