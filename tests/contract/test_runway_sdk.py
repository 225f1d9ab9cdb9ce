"""The Runway fake, driven by `runwayml` (strict) through every call the adapter makes."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import runwayml
from runwayml.types import task_retrieve_response as task_types

from tests.contract.conftest import HOLD, steer
from videofoundry.testing.fakes import FakeServer
from videofoundry.testing.fakes._common import make_image

DATA_URI = "data:image/png;base64," + base64.b64encode(make_image(64, 36)).decode()


@pytest.fixture
def client(runway_fake: FakeServer) -> Iterator[runwayml.RunwayML]:
    with runwayml.RunwayML(
        api_key=runway_fake.key,
        base_url=runway_fake.base_url,
        max_retries=0,
        _strict_response_validation=True,
    ) as sdk:
        yield sdk


def image_task(client: runwayml.RunwayML, **overrides: object) -> str:
    body: dict[str, object] = {
        "model": "gen4_turbo",
        "prompt_image": DATA_URI,
        "ratio": "1280:720",
        "duration": 5,
        "prompt_text": "a lighthouse at dusk",
        **overrides,
    }
    created = client.image_to_video.create(**body)  # type: ignore[arg-type]
    assert created.estimated_cost.credits == 25  # 5 s x 5 credits
    return created.id


def test_a_task_goes_pending_running_succeeded_with_its_costs(
    client: runwayml.RunwayML, runway_fake: FakeServer
) -> None:
    steer(runway_fake)
    task_id = image_task(client)
    pending = client.tasks.retrieve(task_id)
    assert isinstance(pending, task_types.Pending)
    assert pending.estimated_cost.credits == 25

    runway_fake.advance_clock(HOLD + HOLD / 2)
    running = client.tasks.retrieve(task_id)
    assert isinstance(running, task_types.Running)
    assert 0.4 <= running.progress <= 0.6
    assert running.estimated_cost.credits == 25

    runway_fake.advance_clock(HOLD)
    done = client.tasks.retrieve(task_id)
    assert isinstance(done, task_types.Succeeded)
    assert done.cost.credits == 25
    assert done.output and done.output[0].startswith(runway_fake.base_url)


def test_a_task_over_the_concurrency_limit_is_throttled(
    client: runwayml.RunwayML, runway_fake: FakeServer
) -> None:
    steer(runway_fake, throttled_seconds=HOLD)
    task = client.tasks.retrieve(image_task(client))
    assert isinstance(task, task_types.Throttled)
    assert task.estimated_cost.credits == 25


def test_text_to_video_needs_duration_on_gen4_5(
    client: runwayml.RunwayML, runway_fake: FakeServer
) -> None:
    created = client.text_to_video.create(
        model="gen4.5", prompt_text="a red kite over dunes", ratio="1280:720", duration=3
    )
    assert created.estimated_cost.credits == 36
    with pytest.raises(runwayml.BadRequestError) as caught:
        client.post(
            "/v1/text_to_video",
            body={"model": "gen4.5", "promptText": "a kite", "ratio": "1280:720"},
            cast_to=object,
        )
    assert caught.value.status_code == 400
    assert ["duration"] in [issue["path"] for issue in caught.value.body["issues"]]  # type: ignore[index]


@pytest.mark.parametrize(
    "code", ["SAFETY.INPUT.TEXT", "INTERNAL.BAD_OUTPUT.CODE01", "ASSET.INVALID", None]
)
def test_a_failed_task_carries_its_code_and_cost(
    client: runwayml.RunwayML, runway_fake: FakeServer, code: str | None
) -> None:
    runway_fake.set_faults(task={"fail": True, "failure": "It went wrong.", "failure_code": code})
    task = client.tasks.retrieve(image_task(client))
    assert isinstance(task, task_types.Failed)
    assert task.failure == "It went wrong."
    assert task.failure_code == code
    assert task.cost.credits == 0


def test_delete_cancels_a_running_task_and_removes_a_finished_one(
    client: runwayml.RunwayML, runway_fake: FakeServer
) -> None:
    steer(runway_fake)
    task_id = image_task(client)
    client.tasks.delete(task_id)
    cancelled = client.tasks.retrieve(task_id)
    assert isinstance(cancelled, task_types.Cancelled)
    assert cancelled.cost.credits == 0
    client.tasks.delete(task_id)  # a finished task is deleted
    with pytest.raises(runwayml.NotFoundError):
        client.tasks.retrieve(task_id)


def test_validation_errors_name_the_field(client: runwayml.RunwayML) -> None:
    with pytest.raises(runwayml.BadRequestError) as caught:
        image_task(client, ratio="1280:768")  # type: ignore[arg-type]
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"] == "Validation of body failed"
    assert body["issues"][0]["path"] == ["ratio"]


@pytest.mark.parametrize("model", ["gen3a_turbo", "veo3"])
def test_models_the_sdk_dropped_are_refused(client: runwayml.RunwayML, model: str) -> None:
    with pytest.raises(runwayml.BadRequestError):
        client.post(
            "/v1/image_to_video",
            body={"model": model, "promptImage": DATA_URI, "ratio": "1280:720", "duration": 8},
            cast_to=object,
        )


def test_a_bad_key_is_401(runway_fake: FakeServer) -> None:
    with (
        runwayml.RunwayML(
            api_key="key_" + "0" * 128,
            base_url=runway_fake.base_url,
            max_retries=0,
            _strict_response_validation=True,
        ) as sdk,
        pytest.raises(runwayml.AuthenticationError),
    ):
        sdk.tasks.retrieve("3f0c0e1a-aaaa-4bbb-8ccc-0123456789ab")


def test_a_daily_quota_is_429_with_a_hint(
    client: runwayml.RunwayML, runway_fake: FakeServer
) -> None:
    runway_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 30}])
    with pytest.raises(runwayml.RateLimitError) as caught:
        image_task(client)
    assert caught.value.response.headers["retry-after"] == "30"
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]
