"""Contract tests: StabilityAdapter (deprecated SVD) against the fake Stability API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.adapters.helpers import (
    FAST_RETRY,
    POLL,
    AdapterFactory,
    Recorder,
    SimulatedCrash,
    assert_secret_absent,
    decode,
    png,
    request,
)
from videofoundry.adapters.hosted import RetryPolicy
from videofoundry.adapters.runway import RunwayAdapter
from videofoundry.adapters.stability import StabilityAdapter
from videofoundry.core.config import Settings
from videofoundry.core.errors import PermanentError, PromptRejected, ProviderUnavailable
from videofoundry.media.format import OutputFormat
from videofoundry.testing.fakes import FakeServer

MakeAdapter = AdapterFactory[StabilityAdapter]
SVD = "stability/svd"


@pytest.fixture
async def make_adapter(stability_fake: FakeServer) -> AsyncIterator[MakeAdapter]:
    factory = AdapterFactory(
        StabilityAdapter, stability_fake, "STABILITY", {"STABILITY_ENABLE_DEPRECATED": True}
    )
    yield factory
    await factory.aclose()


def test_deprecated_and_disabled_unless_enabled() -> None:
    no_key = StabilityAdapter(Settings(STABILITY_API_KEY=""))
    assert no_key.availability() == "STABILITY_API_KEY is not set"
    disabled = StabilityAdapter(Settings(STABILITY_API_KEY="sk-x"))
    reason = disabled.availability()
    assert reason is not None
    assert "2025-07-24" in reason
    assert "STABILITY_ENABLE_DEPRECATED" in reason
    [model] = disabled.models()
    assert model.id == SVD
    assert model.deprecated is not None
    assert "2025-07-24" in model.deprecated
    assert model.params_schema["additionalProperties"] is False
    assert disabled.estimate_cost(model, 4, {}) == pytest.approx(0.23)
    enabled = StabilityAdapter(Settings(STABILITY_API_KEY="sk-x", STABILITY_ENABLE_DEPRECATED=True))
    assert enabled.availability() is None


async def test_disabled_adapter_refuses_to_generate(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    with pytest.raises(PermanentError, match="2025-07-24"):
        await make_adapter(STABILITY_ENABLE_DEPRECATED=False).generate(request(SVD), rec.context)
    assert stability_fake.requests == []


@pytest.mark.parametrize(
    ("output", "size", "core_aspect"),
    [
        (OutputFormat(1280, 720, 24), (1024, 576), "16:9"),
        (OutputFormat(720, 1280, 24), (576, 1024), "9:16"),
        (OutputFormat(1000, 1000, 24), (768, 768), "1:1"),
    ],
)
async def test_text_only_makes_a_still_then_a_clip(
    stability_fake: FakeServer,
    make_adapter: MakeAdapter,
    rec: Recorder,
    output: OutputFormat,
    size: tuple[int, int],
    core_aspect: str,
) -> None:
    result = await make_adapter().generate(
        request(SVD, output=output, negative_prompt="blurry", params={"motion_bucket_id": 90}),
        rec.context,
    )
    clip = decode(result.path)
    assert (clip.width, clip.height, clip.frames) == (size[0] // 8, size[1] // 8, 25)
    core, video = stability_fake.ledger
    assert core["endpoint"] == "/v2beta/stable-image/generate/core"
    assert core["body"]["aspect_ratio"] == core_aspect
    assert core["body"]["negative_prompt"] == "blurry"
    assert video["endpoint"] == "/v2beta/image-to-video"
    # The fake accepts only the three exact sizes: the still was resized and cropped.
    assert video["body"]["image"].startswith(f"<PNG {size[0]}x{size[1]},")
    assert video["body"]["motion_bucket_id"] == "90"
    assert rec.saved == [video["task_id"]]


async def test_init_image_skips_the_still(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    decode(
        (await make_adapter().generate(request(SVD, init_image=png(300, 100)), rec.context)).path
    )
    [video] = stability_fake.ledger
    assert video["body"]["image"].startswith("<PNG 1024x576,")


async def test_content_filtered_result_is_kept_with_a_warning(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    stability_fake.set_faults(task={"content_filtered": True})
    decode((await make_adapter().generate(request(SVD, init_image=png()), rec.context)).path)
    assert any("CONTENT_FILTERED" in m for m in rec.messages)


@pytest.mark.parametrize("on", ["create", "image"])
async def test_moderation_403_is_verbatim_and_not_retried(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder, on: str
) -> None:
    stability_fake.set_faults(http=[{"on": on, "status": 403, "times": 3}])
    with pytest.raises(PromptRejected) as caught:
        await make_adapter().generate(request(SVD), rec.context)
    assert "content_moderation: Your request was flagged" in caught.value.message
    assert len([q for q in stability_fake.requests if q["method"] == "POST"]) == (
        1 if on == "image" else 2
    )


async def test_discontinued_endpoint_is_a_clear_permanent_error(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    stability_fake.set_faults(discontinued=True)
    with pytest.raises(PermanentError, match="HTTP 404") as caught:
        await make_adapter().generate(request(SVD, init_image=png()), rec.context)
    assert "no longer available" in caught.value.message


async def test_rate_limit_429_backs_off_and_retries(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    # Stability documents no Retry-After: the client backs off (0.2 s base in this test).
    stability_fake.set_faults(http=[{"on": "create", "status": 429, "times": 2}])
    retry = RetryPolicy(attempts=4, base_delay=0.2, max_delay=1.0)
    adapter = make_adapter(retry=retry)
    decode((await adapter.generate(request(SVD, init_image=png()), rec.context)).path)
    posts = [q for q in stability_fake.requests if q["method"] == "POST"]
    assert [q["status"] for q in posts] == [429, 429, 200]
    assert posts[1]["time"] - posts[0]["time"] >= 0.2
    assert posts[2]["time"] - posts[1]["time"] >= 0.4  # exponential


async def test_500_on_poll_is_retried(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    stability_fake.set_faults(http=[{"on": "poll", "status": 500, "times": 2}])
    decode((await make_adapter().generate(request(SVD, init_image=png()), rec.context)).path)


async def test_polls_respect_the_provider_minimum(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    # The fake answers 429 to polls closer than 0.2 s; an adapter polling every 0.25 s never
    # sees one.
    stability_fake.set_faults(poll_min_interval=0.2, task={"running_seconds": 0.6})
    await make_adapter(poll_interval=0.25).generate(request(SVD, init_image=png()), rec.context)
    polls = [q for q in stability_fake.requests if q["path"].startswith("/v2beta/image-to-video/")]
    assert len(polls) >= 3
    assert all(q["status"] in (200, 202) for q in polls)


async def test_resume_after_crash_pays_once(
    stability_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    crashed = Recorder(tmp_path, crash_on_save=True)
    with pytest.raises(SimulatedCrash):
        await make_adapter().generate(request(SVD), crashed.context)
    result = await make_adapter().generate(
        request(SVD, provider_task_id=crashed.saved[0]), Recorder(tmp_path).context
    )
    decode(result.path)
    assert [e["endpoint"] for e in stability_fake.ledger] == [
        "/v2beta/stable-image/generate/core",
        "/v2beta/image-to-video",
    ]


async def test_expired_result_on_resume_starts_again(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    result = await make_adapter().generate(
        request(SVD, init_image=png(), provider_task_id="ab" * 32), rec.context
    )
    decode(result.path)
    assert stability_fake.creates == 1
    assert any("expired" in m for m in rec.messages)


async def test_truncated_result_is_fetched_again(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    stability_fake.set_faults(http=[{"on": "download", "truncate": True}])
    decode((await make_adapter().generate(request(SVD, init_image=png()), rec.context)).path)
    polls = [q for q in stability_fake.requests if q["path"].startswith("/v2beta/image-to-video/")]
    # The cut-short answer still started with 200; the second full one completed the job.
    assert [q["status"] for q in polls if q["status"] == 200] == [200, 200]


async def test_never_finishing_generation_times_out(
    stability_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    stability_fake.set_faults(task={"never_finish": True})
    with pytest.raises(ProviderUnavailable, match="did not finish"):
        await make_adapter(task_timeout=0.2).generate(request(SVD, init_image=png()), rec.context)


async def test_bad_key_never_leaks(make_adapter: MakeAdapter, rec: Recorder) -> None:
    wrong = "sk-" + "5" * 48
    with pytest.raises(PermanentError, match="HTTP 401") as caught:
        await make_adapter(key=wrong).generate(request(SVD, init_image=png()), rec.context)
    assert "unauthorized" in caught.value.message
    assert_secret_absent(caught.value, wrong)


async def test_still_endpoint_serves_as_runways_first_frame_step(
    stability_fake: FakeServer, runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    stability = make_adapter(
        STABILITY_ENABLE_DEPRECATED=False
    )  # the still endpoint is not the deprecated one
    runway = RunwayAdapter(
        Settings(RUNWAY_API_KEY=runway_fake.key, RUNWAY_BASE_URL=runway_fake.base_url),
        text_to_image=stability.text_to_image,
        poll_interval=POLL,
        retry=FAST_RETRY,
    )
    try:
        result = await runway.generate(request("runway/gen4_turbo"), rec.context)
    finally:
        await runway.aclose()
    decode(result.path)
    assert [e["endpoint"] for e in stability_fake.ledger] == ["/v2beta/stable-image/generate/core"]
    assert runway_fake.ledger[0]["body"]["promptImage"].startswith("data:image/png")
