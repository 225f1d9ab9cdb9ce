"""The Luma fake, driven by `lumaai` (strict) through every call the adapter makes."""

from __future__ import annotations

from collections.abc import Iterator

import lumaai
import pytest

from tests.contract.conftest import HOLD, steer
from videofoundry.testing.fakes import FakeServer

API = "/dream-machine/v1"


@pytest.fixture
def client(luma_fake: FakeServer) -> Iterator[lumaai.LumaAI]:
    with lumaai.LumaAI(
        auth_token=luma_fake.key,
        base_url=luma_fake.base_url + API,
        max_retries=0,
        _strict_response_validation=True,
    ) as sdk:
        yield sdk


def create(client: lumaai.LumaAI) -> str:
    generation = client.generations.create(
        model="ray-2",
        prompt="a lighthouse at dusk",
        aspect_ratio="16:9",
        resolution="720p",
        duration="5s",
        loop=False,
        keyframes={"frame0": {"type": "image", "url": "https://example.com/first.png"}},
    )
    assert generation.id is not None
    return generation.id


def test_a_generation_goes_queued_dreaming_completed(
    client: lumaai.LumaAI, luma_fake: FakeServer
) -> None:
    steer(luma_fake)
    generation_id = create(client)
    assert client.generations.get(generation_id).state == "queued"
    assert client.generations.list().generations[0].state == "queued"
    luma_fake.advance_clock(HOLD + 1)
    assert client.generations.get(generation_id).state == "dreaming"
    luma_fake.advance_clock(HOLD)
    done = client.generations.get(generation_id)
    assert done.state == "completed"
    assert done.assets is not None and done.assets.video is not None
    assert done.assets.video.startswith(luma_fake.base_url)


def test_a_failed_generation_carries_its_reason(
    client: lumaai.LumaAI, luma_fake: FakeServer
) -> None:
    luma_fake.set_faults(task={"fail": True, "failure": "Prompt failed moderation"})
    failed = client.generations.get(create(client))
    assert failed.state == "failed"
    assert failed.failure_reason == "Prompt failed moderation"


def test_delete_removes_the_generation(client: lumaai.LumaAI, luma_fake: FakeServer) -> None:
    steer(luma_fake)
    generation_id = create(client)
    client.generations.delete(generation_id)
    with pytest.raises(lumaai.NotFoundError):
        client.generations.get(generation_id)


def test_the_list_parses(client: lumaai.LumaAI) -> None:
    generation_id = create(client)
    listed = client.generations.list(limit=10)
    assert [g.id for g in listed.generations] == [generation_id]


def test_validation_errors_are_400_with_detail(client: lumaai.LumaAI) -> None:
    with pytest.raises(lumaai.BadRequestError) as caught:
        client.generations.create(model="ray-2", prompt="ab")
    assert caught.value.body == {"detail": "Prompt is too short, minimum length is 3"}


def test_ray_1_6_is_refused_like_any_model_the_sdk_lacks(client: lumaai.LumaAI) -> None:
    with pytest.raises(lumaai.BadRequestError):
        client.post(
            "/generations/video",
            body={"model": "ray-1-6", "prompt": "a lighthouse"},
            cast_to=object,
        )


def test_a_bad_key_is_401(luma_fake: FakeServer) -> None:
    with (
        lumaai.LumaAI(
            auth_token="luma-wrong", base_url=luma_fake.base_url + API, max_retries=0
        ) as sdk,
        pytest.raises(lumaai.AuthenticationError),
    ):
        sdk.generations.get("00000000-0000-0000-0000-000000000000")


def test_rate_limits_are_429(client: lumaai.LumaAI, luma_fake: FakeServer) -> None:
    luma_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 5}])
    with pytest.raises(lumaai.RateLimitError) as caught:
        create(client)
    assert caught.value.response.headers["retry-after"] == "5"
