"""Contract tests: LumaAdapter against the fake Luma Dream Machine API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.adapters.helpers import (
    AdapterFactory,
    Recorder,
    SimulatedCrash,
    assert_secret_absent,
    decode,
    png,
    request,
)
from videofoundry.adapters.luma import LumaAdapter
from videofoundry.core.config import Settings
from videofoundry.core.errors import (
    Cancelled,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
)
from videofoundry.media.format import OutputFormat
from videofoundry.testing.fakes import FakeServer

MakeAdapter = AdapterFactory[LumaAdapter]


@pytest.fixture
async def make_adapter(luma_fake: FakeServer) -> AsyncIterator[MakeAdapter]:
    factory = AdapterFactory(LumaAdapter, luma_fake, "LUMA")
    yield factory
    await factory.aclose()


async def test_text_to_video_produces_a_decodable_clip(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    result = await make_adapter().generate(request("luma/ray-2", duration=4), rec.context)
    clip = decode(result.path)
    # 720p 16:9 at the fake's 1/8 scale; 5 s (the shortest Luma duration covering 4 s) at 24 fps.
    assert (clip.width, clip.height, clip.frames) == (160, 90, 120)
    [entry] = luma_fake.ledger
    assert entry["endpoint"] == "/dream-machine/v1/generations/video"
    assert entry["body"] == {
        "model": "ray-2",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": "5s",
        "loop": False,
        "prompt": "a lighthouse at dusk, waves",
    }
    assert rec.saved == [result.provider_task_id]
    assert "queued at Luma" in rec.messages


async def test_init_image_becomes_keyframe_frame0(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    await make_adapter().generate(
        request(
            "luma/ray-flash-2",
            init_image=png(),
            duration=9,
            output=OutputFormat(1080, 1920, 24),
            params={"resolution": "540p", "loop": True},
        ),
        rec.context,
    )
    body = luma_fake.ledger[0]["body"]
    assert body["keyframes"]["frame0"]["type"] == "image"
    assert body["keyframes"]["frame0"]["url"].startswith("data:image/png;base64,")
    assert (body["aspect_ratio"], body["resolution"], body["duration"], body["loop"]) == (
        "9:16",
        "540p",
        "9s",
        True,
    )


async def test_an_init_image_url_is_sent_instead_of_the_bytes(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    url = "https://media.example.com/uploads/abc.png?X-Amz-Signature=0"
    await make_adapter().generate(
        request("luma/ray-2", init_image=png(), init_image_url=url), rec.context
    )
    frame0 = luma_fake.ledger[0]["body"]["keyframes"]["frame0"]
    assert frame0 == {"type": "image", "url": url}


async def test_base_url_with_api_path_is_accepted(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    adapter = make_adapter(base_url=f"{luma_fake.base_url}/dream-machine/v1/")
    decode((await adapter.generate(request("luma/ray-2"), rec.context)).path)


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("Frame moderation failed", PromptRejected),
        ("Advanced prompt moderation failed", PromptRejected),
        ("Contains blacklisted words", PromptRejected),
        ("Failed to read user input frames", PromptRejected),
        ("Job failed: worker lost", PermanentError),
    ],
)
async def test_failure_reasons_surface_verbatim(
    luma_fake: FakeServer,
    make_adapter: MakeAdapter,
    rec: Recorder,
    reason: str,
    error: type[Exception],
) -> None:
    luma_fake.set_faults(task={"fail": True, "failure": reason})
    with pytest.raises(error) as caught:
        await make_adapter().generate(request("luma/ray-2"), rec.context)
    assert isinstance(caught.value, PromptRejected) == (error is PromptRejected)
    assert reason in str(caught.value)


async def test_validation_400_is_not_retried(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(
        http=[{"on": "create", "status": 400, "body": {"detail": "Prompt is required"}, "times": 3}]
    )
    with pytest.raises(PromptRejected, match="Prompt is required"):
        await make_adapter().generate(request("luma/ray-2"), rec.context)
    assert len([q for q in luma_fake.requests if q["method"] == "POST"]) == 1


async def test_short_prompt_is_refused_before_paying(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    with pytest.raises(PromptRejected, match="3 to 5000"):
        await make_adapter().generate(request("luma/ray-2", prompt="ok"), rec.context)
    assert luma_fake.requests == []


async def test_retry_after_is_respected(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after_ms": 400}])
    await make_adapter().generate(request("luma/ray-2"), rec.context)
    posts = [q for q in luma_fake.requests if q["method"] == "POST"]
    assert [q["status"] for q in posts] == [429, 201]
    assert posts[1]["time"] - posts[0]["time"] >= 0.4
    assert luma_fake.creates == 1


async def test_5xx_on_poll_is_retried(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(http=[{"on": "poll", "status": 502, "times": 2}])
    decode((await make_adapter().generate(request("luma/ray-2"), rec.context)).path)


async def test_malformed_json_on_poll_is_retried(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(http=[{"on": "poll", "malformed": True}], extra_fields=True)
    decode((await make_adapter().generate(request("luma/ray-2"), rec.context)).path)


async def test_cancel_deletes_the_generation(
    luma_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    luma_fake.set_faults(task={"never_finish": True})
    rec = Recorder(tmp_path, cancel_after_polls=2)
    with pytest.raises(Cancelled):
        await make_adapter().generate(request("luma/ray-2"), rec.context)
    deletes = [q for q in luma_fake.requests if q["method"] == "DELETE"]
    assert [(q["path"], q["status"]) for q in deletes] == [
        (f"/dream-machine/v1/generations/{rec.saved[0]}", 204)
    ]
    assert rec.saved[0] not in luma_fake.state.tasks


async def test_resume_after_crash_pays_once(
    luma_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    crashed = Recorder(tmp_path, crash_on_save=True)
    with pytest.raises(SimulatedCrash):
        await make_adapter().generate(request("luma/ray-2"), crashed.context)
    result = await make_adapter().generate(
        request("luma/ray-2", provider_task_id=crashed.saved[0]), Recorder(tmp_path).context
    )
    decode(result.path)
    assert luma_fake.creates == 1


async def test_never_finishing_generation_times_out(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(task={"never_finish": True})
    with pytest.raises(ProviderUnavailable, match="did not finish"):
        await make_adapter(task_timeout=0.2).generate(request("luma/ray-2"), rec.context)


async def test_expired_video_url_is_refreshed(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(http=[{"on": "download", "status": 403}])
    decode((await make_adapter().generate(request("luma/ray-2"), rec.context)).path)
    media = [q["status"] for q in luma_fake.requests if q["path"].startswith("/_fake/media/")]
    assert media == [403, 200]


async def test_truncated_download_is_fetched_again(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    luma_fake.set_faults(http=[{"on": "download", "truncate": True}])
    assert (
        decode((await make_adapter().generate(request("luma/ray-2"), rec.context)).path).frames
        == 120
    )


async def test_bad_key_and_echoed_key_never_leak(
    luma_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    wrong = "luma-" + "9" * 40
    with pytest.raises(PermanentError, match="HTTP 401") as caught:
        await make_adapter(key=wrong).generate(request("luma/ray-2"), rec.context)
    assert "Invalid API key is provided" in caught.value.message
    assert_secret_absent(caught.value, wrong)

    luma_fake.set_faults(http=[{"on": "create", "status": 422, "echo_key": True}])
    with pytest.raises(PromptRejected) as caught_echo:
        await make_adapter().generate(request("luma/ray-2"), rec.context)
    assert "[REDACTED]" in caught_echo.value.message
    assert_secret_absent(caught_echo.value, luma_fake.key)


def test_catalogue_and_availability() -> None:
    assert LumaAdapter(Settings(LUMA_API_KEY="")).availability() == "LUMA_API_KEY is not set"
    adapter = LumaAdapter(Settings(LUMA_API_KEY="k"))
    assert adapter.availability() is None
    models = {m.id: m for m in adapter.models()}
    assert set(models) == {"luma/ray-2", "luma/ray-flash-2"}
    ray = models["luma/ray-2"]
    assert ray.durations == (5.0, 9.0)
    assert (ray.text_to_video, ray.image_to_video) == (True, True)
    assert ray.max_prompt_length == 5000
    assert ray.params_schema["additionalProperties"] is False
    assert adapter.estimate_cost(ray, 5, {"resolution": "540p"}) == pytest.approx(0.40)
    assert adapter.estimate_cost(ray, 9, {"resolution": "720p"}) == pytest.approx(1.278)
