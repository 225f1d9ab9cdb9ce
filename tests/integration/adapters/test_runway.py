"""Contract tests: RunwayAdapter against the fake Runway API."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.integration.adapters.helpers import (
    FAST_RETRY,
    POLL,
    AdapterFactory,
    Recorder,
    SimulatedCrash,
    assert_secret_absent,
    decode,
    gaps,
    png,
    request,
    request_times,
)
from videofoundry.adapters.registry import Registry
from videofoundry.adapters.runway import RunwayAdapter, TextToImage
from videofoundry.core.config import Settings
from videofoundry.core.errors import (
    Cancelled,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
    RetryableError,
    TaskFailed,
)
from videofoundry.media.format import OutputFormat
from videofoundry.testing.fakes import FakeServer

MakeAdapter = AdapterFactory[RunwayAdapter]


@pytest.fixture
async def make_adapter(runway_fake: FakeServer) -> AsyncIterator[MakeAdapter]:
    factory = AdapterFactory(RunwayAdapter, runway_fake, "RUNWAY")
    yield factory
    await factory.aclose()


# -- success paths ---------------------------------------------------------------------------


async def test_image_to_video_produces_a_decodable_clip(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    adapter = make_adapter()
    result = await adapter.generate(
        request("runway/gen4_turbo", init_image=png(), seed=2**32 + 5), rec.context
    )

    clip = decode(result.path)
    # 1280:720 served at the fake's 1/8 scale, 5 s at 24 fps.
    assert (clip.width, clip.height, clip.frames) == (160, 90, 120)
    assert result.provider_task_id == rec.saved[0]
    [entry] = runway_fake.ledger
    assert entry["endpoint"] == "/v1/image_to_video"
    assert entry["segment"] == "sr-1"
    body = entry["body"]
    assert body["model"] == "gen4_turbo"
    assert body["ratio"] == "1280:720"
    assert body["duration"] == 5
    assert body["seed"] == 5  # reduced into Runway's 0..4294967295
    assert body["promptText"] == "a lighthouse at dusk, waves"
    assert body["promptImage"].startswith("data:image/png;base64,")
    assert rec.events[-1] == (1.0, None)


async def test_task_id_is_saved_before_the_first_poll(
    runway_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    polls_at_save: list[int] = []

    class Checking(Recorder):
        async def save_task_id(self, task_id: str) -> None:
            polls_at_save.append(len(request_times(runway_fake.requests, "GET", "/v1/tasks/")))
            await super().save_task_id(task_id)

    rec = Checking(tmp_path)
    await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert polls_at_save == [0]
    assert len(request_times(runway_fake.requests, "GET", "/v1/tasks/")) >= 1


async def test_text_only_segment_on_gen45_uses_text_to_video(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    result = await make_adapter().generate(
        request("runway/gen4.5", duration=3.2, output=OutputFormat(720, 1280, 24)), rec.context
    )
    assert decode(result.path).height == 160  # 720:1280 at 1/8
    [entry] = runway_fake.ledger
    assert entry["endpoint"] == "/v1/text_to_video"
    assert entry["body"]["ratio"] == "720:1280"
    assert entry["body"]["duration"] == 4  # the allowed value covering 3.2 s
    assert "promptImage" not in entry["body"]


@pytest.mark.parametrize(
    ("model", "output", "duration", "ratio", "seconds"),
    [
        ("runway/gen4_turbo", OutputFormat(1080, 1080, 24), 2.0, "960:960", 2),
        ("runway/gen4_turbo", OutputFormat(1920, 816, 24), 10.0, "1584:672", 10),
        ("runway/gen4_turbo", OutputFormat(1280, 720, 24), 12.0, "1280:720", 10),
        ("runway/gen4.5", OutputFormat(720, 1280, 24), 4.5, "720:1280", 5),
        ("runway/veo3.1", OutputFormat(1280, 720, 24), 5.0, "1280:720", 6),
        ("runway/veo3.1_fast", OutputFormat(1080, 1920, 24), 8.0, "720:1280", 8),
    ],
)
async def test_ratio_and_duration_follow_the_model_rules(
    runway_fake: FakeServer,
    make_adapter: MakeAdapter,
    rec: Recorder,
    model: str,
    output: OutputFormat,
    duration: float,
    ratio: str,
    seconds: int,
) -> None:
    # The fake validates per model as providers.md says: a wrong value would be a 400.
    await make_adapter().generate(
        request(model, init_image=png(), output=output, duration=duration), rec.context
    )
    [entry] = runway_fake.ledger
    assert (entry["body"]["ratio"], entry["body"]["duration"]) == (ratio, seconds)


async def test_params_reach_the_request(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    await make_adapter().generate(
        request(
            "runway/gen4_turbo",
            init_image=png(),
            params={"ratio": "832:1104", "public_figure_threshold": "low"},
        ),
        rec.context,
    )
    body = runway_fake.ledger[0]["body"]
    assert body["ratio"] == "832:1104"
    assert body["contentModeration"] == {"publicFigureThreshold": "low"}


async def test_unknown_param_is_refused_before_paying(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    with pytest.raises(PromptRejected, match=r"params: Additional properties.*'watermark'"):
        await make_adapter().generate(
            request("runway/gen4_turbo", init_image=png(), params={"watermark": True}),
            rec.context,
        )
    assert runway_fake.creates == 0


async def test_text_only_on_image_model_without_hook_is_refused_clearly(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    with pytest.raises(PromptRejected) as caught:
        await make_adapter().generate(request("runway/gen4_turbo"), rec.context)
    assert "attach an init image" in caught.value.message
    assert "runway/gen4.5" in caught.value.message
    assert runway_fake.creates == 0


async def test_text_only_on_image_model_uses_the_text_to_image_hook(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    calls: list[tuple[str, int, int, int]] = []

    async def first_frame(prompt: str, width: int, height: int, seed: int) -> bytes:
        calls.append((prompt, width, height, seed))
        return png(width // 10, height // 10)

    hook: TextToImage = first_frame
    adapter = make_adapter(text_to_image=hook)
    assert all(m.text_to_video for m in adapter.models())
    result = await adapter.generate(request("runway/gen4_turbo", seed=11), rec.context)
    decode(result.path)
    assert calls == [("a lighthouse at dusk, waves", 1280, 720, 11)]
    assert runway_fake.ledger[0]["body"]["promptImage"].startswith("data:image/png")
    assert "making the first frame from the prompt" in rec.messages


async def test_first_frame_from_stability_by_setting(
    runway_fake: FakeServer, stability_fake: FakeServer, rec: Recorder
) -> None:
    settings = Settings(
        RUNWAY_API_KEY=runway_fake.key,
        RUNWAY_BASE_URL=runway_fake.base_url,
        STABILITY_API_KEY=stability_fake.key,
        STABILITY_BASE_URL=stability_fake.base_url,
        RUNWAY_FIRST_FRAME="stability",
    )
    adapter = RunwayAdapter(settings, poll_interval=POLL, retry=FAST_RETRY)
    try:
        result = await adapter.generate(request("runway/gen4_turbo", seed=5), rec.context)
    finally:
        await adapter.aclose()
    decode(result.path)
    assert runway_fake.ledger[0]["body"]["promptImage"].startswith("data:image/")
    assert any("stable-image" in r["path"] for r in stability_fake.requests)


# -- provider states -------------------------------------------------------------------------


async def test_throttled_is_reported_as_waiting_for_capacity(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(task={"throttled_seconds": 0.2})
    await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert "waiting for provider capacity" in rec.messages
    fractions = [f for f, _ in rec.events]
    assert fractions == sorted(fractions)


async def test_concurrency_limit_queues_locally_instead_of_flooding(
    runway_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    adapter = make_adapter(max_concurrent_tasks=1)
    registry = Registry(Settings())  # holds the per-adapter slots the worker's tasks share
    recorders = [Recorder(tmp_path / str(i)) for i in range(3)]
    for r in recorders:
        r.workdir.mkdir()
    await asyncio.gather(
        *(
            registry.generate(
                adapter,
                request("runway/gen4_turbo", init_image=png(), segment=f"s{i}"),
                r.context,
            )
            for i, r in enumerate(recorders)
        )
    )
    # Each create waits for the previous clip's download: never two tasks at once.
    sequence = [
        "create" if q["method"] == "POST" else "download"
        for q in runway_fake.requests
        if q["method"] == "POST" or q["path"].startswith("/_fake/media/")
    ]
    assert sequence == ["create", "download"] * 3
    assert sum("waiting for a free runway slot" in r.messages for r in recorders) == 2


async def test_over_provider_concurrency_tasks_wait_throttled(
    runway_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    runway_fake.config.concurrency = 1
    runway_fake.set_faults(task={"running_seconds": 0.5})  # long enough to overlap surely
    adapter = make_adapter(max_concurrent_tasks=3)
    recorders = [Recorder(tmp_path / str(i)) for i in range(2)]
    for r in recorders:
        r.workdir.mkdir()
    await asyncio.gather(
        *(
            adapter.generate(request("runway/gen4_turbo", init_image=png()), r.context)
            for r in recorders
        )
    )
    assert runway_fake.creates == 2
    assert any("waiting for provider capacity" in r.messages for r in recorders)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("SAFETY.INPUT.TEXT", PromptRejected),
        ("SAFETY.OUTPUT.VIDEO", PromptRejected),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", PromptRejected),
        ("ASSET.INVALID", PromptRejected),
        ("INTERNAL", TaskFailed),
        ("THIRD_PARTY.UNAVAILABLE", TaskFailed),
        ("INPUT_PREPROCESSING.INTERNAL", TaskFailed),
        ("INTERNAL.BAD_OUTPUT.CODE01", PermanentError),
        ("SOMETHING.NEW", PermanentError),
        (None, PermanentError),
    ],
)
async def test_failure_codes_map_by_family(
    runway_fake: FakeServer,
    make_adapter: MakeAdapter,
    rec: Recorder,
    code: str | None,
    error: type[Exception],
) -> None:
    text = "We could not generate this: the prompt mentions a public figure."
    runway_fake.set_faults(task={"fail": True, "failure_code": code, "failure": text})
    with pytest.raises(error) as caught:
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    # Exact class family: a retryable failure must not be permanent and vice versa.
    assert isinstance(caught.value, RetryableError) == (error is TaskFailed)
    assert isinstance(caught.value, PromptRejected) == (error is PromptRejected)
    assert text in str(caught.value)  # the provider's reason, verbatim
    if code:
        assert code in str(caught.value)
    assert runway_fake.creates == 1


async def test_moderation_failure_is_not_retried_by_resume(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(
        task={"fail": True, "failure_code": "SAFETY.INPUT.IMAGE", "failure": "x"}
    )
    adapter = make_adapter()
    with pytest.raises(PromptRejected):
        await adapter.generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    with pytest.raises(PromptRejected):
        await adapter.generate(
            request("runway/gen4_turbo", init_image=png(), provider_task_id=rec.saved[0]),
            rec.context,
        )
    assert runway_fake.creates == 1


async def test_retryable_failure_starts_a_new_task_on_the_next_attempt(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(task={"fail": True, "failure_code": "INTERNAL", "times": 1})
    adapter = make_adapter()
    with pytest.raises(TaskFailed):
        await adapter.generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    result = await adapter.generate(
        request("runway/gen4_turbo", init_image=png(), provider_task_id=rec.saved[0]),
        rec.context,
    )
    decode(result.path)
    assert runway_fake.creates == 2
    assert rec.saved[1] != rec.saved[0]


# -- crash, resume, cancel ---------------------------------------------------------------------


async def test_resume_after_crash_between_create_and_poll_pays_once(
    runway_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    crashed = Recorder(tmp_path, crash_on_save=True)
    with pytest.raises(SimulatedCrash):
        await make_adapter().generate(
            request("runway/gen4_turbo", init_image=png()), crashed.context
        )
    assert request_times(runway_fake.requests, "GET", "/v1/tasks/") == []

    # A new worker (new adapter instance) resumes the stored id.
    restarted = Recorder(tmp_path)
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png(), provider_task_id=crashed.saved[0]),
        restarted.context,
    )
    decode(result.path)
    assert runway_fake.creates == 1
    assert restarted.saved == []
    assert result.provider_task_id == crashed.saved[0]


async def test_resume_of_a_deleted_task_starts_again(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    result = await make_adapter().generate(
        request(
            "runway/gen4_turbo",
            init_image=png(),
            provider_task_id="00000000-0000-4000-8000-000000000000",
        ),
        rec.context,
    )
    decode(result.path)
    assert runway_fake.creates == 1
    assert any("no longer exists" in m for m in rec.messages)


async def test_cancel_while_polling_deletes_the_task(
    runway_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    runway_fake.set_faults(task={"never_finish": True})
    rec = Recorder(tmp_path, cancel_after_polls=2)
    with pytest.raises(Cancelled):
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    task_id = rec.saved[0]
    deletes = [q for q in runway_fake.requests if q["method"] == "DELETE"]
    assert [q["path"] for q in deletes] == [f"/v1/tasks/{task_id}"]
    assert deletes[0]["status"] == 204
    assert runway_fake.state.tasks[task_id].phase(runway_fake.state.clock())[0] == "cancelled"


async def test_cancel_hook_forwards_delete(
    runway_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    runway_fake.set_faults(task={"never_finish": True})
    adapter = make_adapter(task_timeout=0.2)
    rec = Recorder(tmp_path)
    with pytest.raises(ProviderUnavailable, match="did not finish"):
        await adapter.generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    await adapter.cancel(rec.saved[0])
    # A task cancelled at the provider ends the next attempt with Cancelled, not a new create.
    with pytest.raises(Cancelled):
        await adapter.generate(
            request("runway/gen4_turbo", init_image=png(), provider_task_id=rec.saved[0]),
            rec.context,
        )
    assert runway_fake.creates == 1


async def test_never_finishing_task_times_out_and_keeps_the_id(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(task={"never_finish": True})
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await make_adapter(task_timeout=0.3).generate(
            request("runway/gen4_turbo", init_image=png()), rec.context
        )
    assert time.monotonic() - started < 5.0
    assert "retry resumes it" in caught.value.message
    assert len(rec.saved) == 1


# -- HTTP faults -------------------------------------------------------------------------------


async def test_retry_after_is_respected_on_create(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 1, "times": 1}])
    await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    posts = [q for q in runway_fake.requests if q["method"] == "POST"]
    assert [q["status"] for q in posts] == [429, 200]
    assert posts[1]["time"] - posts[0]["time"] >= 1.0
    assert runway_fake.creates == 1


async def test_retry_after_ms_is_respected(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "poll", "status": 503, "retry_after_ms": 300, "times": 2}])
    await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    polls = [q for q in runway_fake.requests if q["path"].startswith("/v1/tasks/")]
    assert [q["status"] for q in polls[:3]] == [503, 503, 200]
    assert all(gap >= 0.3 for gap in gaps([q["time"] for q in polls[:3]]))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_runs_are_retried(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder, status: int
) -> None:
    runway_fake.set_faults(
        http=[
            {"on": "create", "status": status, "times": 2},
            {"on": "poll", "status": status, "times": 2},
        ]
    )
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png()), rec.context
    )
    decode(result.path)
    assert runway_fake.creates == 1
    statuses = [q["status"] for q in runway_fake.requests if q["method"] == "POST"]
    assert statuses == [status, status, 200]


async def test_exhausted_retries_become_provider_unavailable(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "create", "status": 503, "retry_after": 0, "times": 10}])
    with pytest.raises(ProviderUnavailable) as caught:
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert "after 4 attempts" in caught.value.message
    assert caught.value.retry_after == 0
    assert len([q for q in runway_fake.requests if q["method"] == "POST"]) == FAST_RETRY.attempts
    assert runway_fake.creates == 0


async def test_daily_quota_429_is_handed_back_with_its_hint(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 3600, "times": 5}])
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert time.monotonic() - started < 3.0  # not slept in-process (the hint is 1 h)
    assert caught.value.retry_after == 3600
    assert len([q for q in runway_fake.requests if q["method"] == "POST"]) == 1


async def test_out_of_credits_400_is_not_retried_and_names_the_reason(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    reason = "You do not have enough credits to run this task."
    runway_fake.set_faults(
        http=[{"on": "create", "status": 400, "body": {"error": reason}, "times": 3}]
    )
    with pytest.raises(PromptRejected) as caught:
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert reason in caught.value.message
    assert len([q for q in runway_fake.requests if q["method"] == "POST"]) == 1


async def test_validation_400_names_the_field(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    body = {
        "error": "Validation of body failed",
        "issues": [
            {
                "code": "invalid_value",
                "path": ["ratio"],
                "message": 'Invalid option: expected one of "1280:720"|"720:1280"',
            }
        ],
        "docUrl": "https://docs.dev.runwayml.com/api",
    }
    runway_fake.set_faults(http=[{"on": "create", "status": 400, "body": body}])
    with pytest.raises(PromptRejected) as caught:
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert "Validation of body failed" in caught.value.message
    assert 'ratio: Invalid option: expected one of "1280:720"|"720:1280"' in caught.value.message


async def test_oversized_init_image_is_reencoded_under_the_data_uri_limit(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    # Noise does not compress: this PNG is ~6.8 MB, over Runway's 5 MiB data-URI limit, which
    # the fake enforces with a 400. The adapter re-encodes it instead of paying for a refusal.
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (1500, 1500, 3), dtype=np.uint8))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    assert len(out.getvalue()) > 5 * 1024 * 1024
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=out.getvalue()), rec.context
    )
    decode(result.path)
    assert runway_fake.ledger[0]["body"]["promptImage"].startswith("data:image/jpeg;base64,")


async def test_malformed_json_on_poll_is_retried(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "poll", "malformed": True, "times": 2}])
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png()), rec.context
    )
    decode(result.path)


async def test_malformed_json_on_create_is_a_clear_error(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "create", "malformed": True}])
    with pytest.raises(ProviderUnavailable, match="malformed JSON"):
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert rec.saved == []


async def test_unknown_extra_fields_are_ignored(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(extra_fields=True)
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png()), rec.context
    )
    decode(result.path)


async def test_reported_cost_and_estimate_are_recorded(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png(), duration=4), rec.context
    )
    assert result.cost == pytest.approx(0.20)  # `cost`: 4 s x 5 credits x $0.01
    assert result.estimated_cost == pytest.approx(0.20)  # `estimatedCost` of the running task


async def test_cost_is_read_from_the_answer_not_the_catalogue(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(extra_fields=True)
    # gen4.5 bills 12 credits/s: a 3 s clip reports 36 credits, $0.36.
    result = await make_adapter().generate(
        request("runway/gen4.5", prompt="a red kite over dunes", duration=3), rec.context
    )
    assert result.cost == pytest.approx(0.36)


# -- downloads -------------------------------------------------------------------------------


async def test_expired_output_url_is_refreshed_once(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "download", "status": 403, "times": 1}])
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png()), rec.context
    )
    decode(result.path)
    media = [q for q in runway_fake.requests if q["path"].startswith("/_fake/media/")]
    assert [q["status"] for q in media] == [403, 200]
    assert media[0]["path"] != media[1]["path"]  # a freshly signed URL


async def test_output_url_expired_for_good_fails_after_one_refresh(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(output_ttl=0)
    with pytest.raises(ProviderUnavailable, match="expired"):
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    media = [q for q in runway_fake.requests if q["path"].startswith("/_fake/media/")]
    assert [q["status"] for q in media] == [403, 403]


async def test_truncated_download_is_fetched_again(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "download", "truncate": True, "times": 1}])
    result = await make_adapter().generate(
        request("runway/gen4_turbo", init_image=png()), rec.context
    )
    assert decode(result.path).frames == 120
    media = [q for q in runway_fake.requests if q["path"].startswith("/_fake/media/")]
    assert len(media) == 2


async def test_always_truncated_download_gives_up(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "download", "truncate": True, "times": 10}])
    with pytest.raises(ProviderUnavailable, match="download"):
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert not any(rec.workdir.iterdir())  # no partial file left behind


async def test_download_over_the_cap_is_refused(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    from videofoundry.core.errors import InvalidMedia

    adapter = make_adapter()
    adapter.max_download_bytes = 1000
    with pytest.raises(InvalidMedia, match="cap"):
        await adapter.generate(request("runway/gen4_turbo", init_image=png()), rec.context)


async def test_result_urls_never_get_the_key(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    media = [q for q in runway_fake.requests if q["path"].startswith("/_fake/media/")]
    api = [q for q in runway_fake.requests if q["path"].startswith("/v1/")]
    assert media
    assert not any(q["auth"] for q in media)
    assert api
    assert all(q["auth"] for q in api)


async def test_polls_are_spaced_by_the_interval(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(task={"running_seconds": 0.8})
    await make_adapter(poll_interval=0.2).generate(
        request("runway/gen4_turbo", init_image=png()), rec.context
    )
    times = request_times(runway_fake.requests, "GET", "/v1/tasks/")
    assert len(times) >= 3
    assert min(gaps(times)) >= 0.2


# -- secrets ---------------------------------------------------------------------------------


async def test_bad_key_is_a_permanent_error_without_the_key(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    wrong = "key_" + "ab" * 64
    with pytest.raises(PermanentError) as caught:
        await make_adapter(key=wrong).generate(
            request("runway/gen4_turbo", init_image=png()), rec.context
        )
    assert "HTTP 401" in caught.value.message
    assert_secret_absent(caught.value, wrong)


@pytest.mark.parametrize(
    "fault",
    [
        {"on": "create", "status": 400, "echo_key": True},
        {"on": "create", "status": 503, "echo_key": True, "times": 10},
        {"on": "poll", "status": 429, "echo_key": True, "times": 10},
        {"on": "create", "malformed": True},
    ],
)
async def test_key_never_appears_in_errors(
    runway_fake: FakeServer,
    make_adapter: MakeAdapter,
    rec: Recorder,
    fault: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    runway_fake.set_faults(http=[fault])
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any error; the key is the point
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert_secret_absent(caught.value, runway_fake.key)
    for _, message in rec.events:
        assert runway_fake.key not in (message or "")
    assert caplog.records  # the retries were logged...
    assert runway_fake.key not in caplog.text  # ...without the key


async def test_echoed_key_is_redacted_but_reason_kept(
    runway_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    runway_fake.set_faults(http=[{"on": "create", "status": 400, "echo_key": True}])
    with pytest.raises(PromptRejected) as caught:
        await make_adapter().generate(request("runway/gen4_turbo", init_image=png()), rec.context)
    assert "Bad request (credential: Bearer [REDACTED])" in caught.value.message


# -- catalogue -------------------------------------------------------------------------------


def test_availability_and_catalogue() -> None:
    assert RunwayAdapter(Settings(RUNWAY_API_KEY="")).availability() == "RUNWAY_API_KEY is not set"
    adapter = RunwayAdapter(Settings(RUNWAY_API_KEY="key_x"))
    assert adapter.availability() is None
    models = {m.id: m for m in adapter.models()}
    assert set(models) == {
        "runway/gen4_turbo",
        "runway/gen4.5",
        "runway/veo3.1",
        "runway/veo3.1_fast",
    }
    turbo = models["runway/gen4_turbo"]
    assert (turbo.text_to_video, turbo.image_to_video) == (False, True)
    assert (turbo.min_duration, turbo.max_duration, turbo.durations) == (2.0, 10.0, None)
    assert turbo.price_per_second == 0.05
    assert turbo.max_prompt_length == 1000
    assert turbo.params_schema["additionalProperties"] is False
    assert models["runway/gen4.5"].text_to_video is True
    assert models["runway/gen4.5"].price_per_second == 0.12
    assert models["runway/veo3.1"].durations == (4.0, 6.0, 8.0)
    assert adapter.estimate_cost(turbo, 5, {}) == 0.25
    assert adapter.estimate_cost(turbo, 4.2, {}) == 0.25  # billed for the 5 s generated
    veo = models["runway/veo3.1"]
    assert adapter.estimate_cost(veo, 8, {"audio": False}) < adapter.estimate_cost(veo, 8, {})


async def test_generate_without_key_is_permanent(rec: Recorder) -> None:
    adapter = RunwayAdapter(Settings(RUNWAY_API_KEY=""))
    with pytest.raises(PermanentError, match="RUNWAY_API_KEY is not set"):
        await adapter.generate(request("runway/gen4_turbo", init_image=png()), rec.context)
