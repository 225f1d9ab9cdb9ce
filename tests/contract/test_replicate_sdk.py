"""The Replicate fake, driven by `replicate` (the official client) through every call the adapter
makes and those the SDK makes around them (`run` reads the version first; models, predictions
list, account). replicate-python has no strict switch: each answer is parsed into its pydantic
resources, which refuse missing required members and wrong types; errors must be RFC 7807
problem documents for `ReplicateError` to carry their title and detail."""

from __future__ import annotations

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.contract.conftest import HOLD, steer
from videofoundry.testing.fakes import FakeServer
from videofoundry.testing.fakes.replicate import DEFAULT_MODELS

MODEL = "minimax/video-01"
VERSION = DEFAULT_MODELS[MODEL].version


@pytest.fixture
def client(replicate_fake: FakeServer) -> replicate.Client:
    return replicate.Client(api_token=replicate_fake.key, base_url=replicate_fake.base_url)


def test_a_prediction_goes_starting_processing_succeeded(
    client: replicate.Client, replicate_fake: FakeServer
) -> None:
    steer(replicate_fake)
    created = client.models.predictions.create(
        model=MODEL, input={"prompt": "a lighthouse at dusk"}, wait=1
    )
    assert created.status == "starting"
    assert created.version == VERSION
    replicate_fake.advance_clock(HOLD + HOLD / 2)
    running = client.predictions.get(created.id)
    assert running.status == "processing"
    progress = running.progress
    assert progress is not None and 0.3 <= progress.percentage <= 0.7
    replicate_fake.advance_clock(HOLD)
    done = client.predictions.get(created.id)
    assert done.status == "succeeded"
    assert isinstance(done.output, str) and done.output.startswith(replicate_fake.base_url)
    assert done.metrics is not None


def test_a_prediction_by_version_and_the_run_helper(client: replicate.Client) -> None:
    created = client.predictions.create(version=VERSION, input={"prompt": "a kite"})
    assert created.version == VERSION
    # run("owner/name:version") creates by version, then reads the version's schema.
    output = client.run(f"{MODEL}:{VERSION}", input={"prompt": "a kite"}, use_file_output=False)
    assert isinstance(output, str) and output.endswith(".mp4")


def test_models_versions_list_and_account_parse(client: replicate.Client) -> None:
    model = client.models.get(MODEL)
    assert (model.owner, model.name) == tuple(MODEL.split("/"))
    assert model.latest_version is not None and model.latest_version.id == VERSION
    version = model.versions.get(VERSION)
    assert version.openapi_schema["components"]["schemas"]["Input"]["required"] == ["prompt"]
    created = client.models.predictions.create(model=MODEL, input={"prompt": "a kite"})
    assert [p.id for p in client.predictions.list().results] == [created.id]
    account = client.accounts.current()
    assert account.type == "user" and account.username


def test_a_failed_prediction_carries_its_error(
    client: replicate.Client, replicate_fake: FakeServer
) -> None:
    replicate_fake.set_faults(task={"fail": True, "failure": "NSFW content detected"})
    created = client.models.predictions.create(model=MODEL, input={"prompt": "a kite"})
    failed = client.predictions.get(created.id)
    assert (failed.status, failed.error) == ("failed", "NSFW content detected")


def test_cancel_makes_it_canceled(client: replicate.Client, replicate_fake: FakeServer) -> None:
    steer(replicate_fake)
    created = client.models.predictions.create(model=MODEL, input={"prompt": "a kite"})
    assert client.predictions.cancel(created.id).status == "canceled"
    assert client.predictions.get(created.id).status == "canceled"


@pytest.mark.parametrize(
    ("call", "status", "title"),
    [
        (lambda c: c.models.predictions.create(model=MODEL, input={}), 422, "Input validation"),
        (lambda c: c.predictions.get("nosuchprediction"), 404, "Not found"),
        (lambda c: c.models.get("nobody/nothing"), 404, "Not found"),
        (lambda c: c.models.get(MODEL).versions.get("0" * 64), 404, "Not found"),
    ],
)
def test_errors_are_problem_details(
    client: replicate.Client, call: object, status: int, title: str
) -> None:
    with pytest.raises(ReplicateError) as caught:
        call(client)  # type: ignore[operator]
    assert caught.value.status == status
    assert caught.value.title is not None and caught.value.title.startswith(title)
    assert caught.value.detail


def test_framework_errors_are_problem_details_too(replicate_fake: FakeServer) -> None:
    headers = {"Authorization": f"Bearer {replicate_fake.key}"}
    with httpx.Client(base_url=replicate_fake.base_url, headers=headers) as raw:
        for answer in (raw.get("/v1/no/such/route"), raw.put("/v1/predictions/x/cancel")):
            body = answer.json()
            assert {"type", "title", "status", "detail"} <= set(body), body
            assert body["status"] == answer.status_code


def test_a_bad_token_is_401(replicate_fake: FakeServer) -> None:
    sdk = replicate.Client(api_token="r8_wrong", base_url=replicate_fake.base_url)
    with pytest.raises(ReplicateError) as caught:
        sdk.predictions.get("abc")
    assert caught.value.status == 401
    assert caught.value.title == "Unauthenticated"


def test_throttled_creates_are_429(client: replicate.Client, replicate_fake: FakeServer) -> None:
    replicate_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 30}])
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create(model=MODEL, input={"prompt": "a kite"})
    assert caught.value.status == 429
    assert caught.value.detail and "throttled" in caught.value.detail
