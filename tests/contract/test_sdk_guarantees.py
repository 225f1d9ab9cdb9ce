"""Evidence for the decision in docs/providers.md ("Official SDKs"): what the vendors' clients
do with the guarantees the adapters give. Each test pins one behaviour of the pinned SDK; if an
SDK release changes it, the test fails and the decision is worth revisiting."""

from __future__ import annotations

import base64

import httpx
import lumaai
import replicate
import runwayml

from videofoundry.testing.fakes import FakeServer
from videofoundry.testing.fakes._common import make_image
from videofoundry.testing.fakes.replicate import DEFAULT_MODELS

DATA_URI = "data:image/png;base64," + base64.b64encode(make_image(64, 36)).decode()


def posts(fake: FakeServer, path: str) -> int:
    return sum(1 for r in fake.requests if r["method"] == "POST" and r["path"] == path)


def test_runway_sdk_resends_a_paid_create_after_a_read_timeout(runway_fake: FakeServer) -> None:
    # The server got the create and is slow to answer: a second create may pay twice.
    runway_fake.set_faults(http=[{"on": "create", "status": 503, "delay": 1.0, "times": 2}])
    with runwayml.RunwayML(
        api_key=runway_fake.key,
        base_url=runway_fake.base_url,
        timeout=httpx.Timeout(0.3),
        max_retries=1,
    ) as sdk:
        try:
            sdk.image_to_video.create(
                model="gen4_turbo", prompt_image=DATA_URI, ratio="1280:720", duration=5
            )
        except runwayml.APITimeoutError:
            pass
    assert posts(runway_fake, "/v1/image_to_video") == 2


def test_luma_sdk_resends_a_paid_create_after_a_read_timeout(luma_fake: FakeServer) -> None:
    luma_fake.set_faults(http=[{"on": "create", "status": 503, "delay": 1.0, "times": 2}])
    with lumaai.LumaAI(
        auth_token=luma_fake.key,
        base_url=luma_fake.base_url + "/dream-machine/v1",
        timeout=httpx.Timeout(0.3),
        max_retries=1,
    ) as sdk:
        try:
            sdk.generations.create(model="ray-2", prompt="a lighthouse at dusk")
        except lumaai.APITimeoutError:
            pass
    assert posts(luma_fake, "/dream-machine/v1/generations/video") == 2


def test_replicate_sdk_sends_the_token_to_the_result_host(replicate_fake: FakeServer) -> None:
    client = replicate.Client(api_token=replicate_fake.key, base_url=replicate_fake.base_url)
    url = client.run("minimax/video-01", input={"prompt": "a kite"}, use_file_output=False)
    # `run` wraps every https output in a FileOutput; the fake serves http, so wrap it the same.
    output = replicate.helpers.FileOutput(url, client)
    assert output.read()[4:8] == b"ftyp"  # the clip, fetched through the API client
    media = [r for r in replicate_fake.requests if r["path"].startswith("/_fake/media/")]
    assert media and all(r["auth"] for r in media)


def test_replicate_sdk_retries_reads_under_its_own_policy(replicate_fake: FakeServer) -> None:
    # A second retry layer under the adapter's (the client always wraps its transport).
    client = replicate.Client(api_token=replicate_fake.key, base_url=replicate_fake.base_url)
    model = next(iter(DEFAULT_MODELS))
    created = client.models.predictions.create(model=model, input={"prompt": "a kite"})
    replicate_fake.set_faults(http=[{"on": "poll", "status": 503, "times": 2}])
    assert client.predictions.get(created.id).id == created.id
    polls = [r for r in replicate_fake.requests if r["path"] == f"/v1/predictions/{created.id}"]
    assert [r["status"] for r in polls] == [503, 503, 200]
