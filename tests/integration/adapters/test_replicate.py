"""Contract tests: ReplicateAdapter against the fake Replicate API."""

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
    request_times,
)
from videofoundry.adapters.replicate import (
    ReplicateAdapter,
    output_url,
    progress_of,
)
from videofoundry.core.config import Settings
from videofoundry.core.errors import (
    Cancelled,
    PermanentError,
    PromptRejected,
    ProviderUnavailable,
)
from videofoundry.testing.fakes import FakeServer
from videofoundry.testing.fakes.replicate import DEFAULT_MODELS

MakeAdapter = AdapterFactory[ReplicateAdapter]
MINIMAX = "replicate/minimax/video-01"
TINY = "replicate/fake/tiny-video"


@pytest.fixture
async def make_adapter(replicate_fake: FakeServer) -> AsyncIterator[MakeAdapter]:
    factory = AdapterFactory(ReplicateAdapter, replicate_fake, "REPLICATE", prefer_wait=1)
    yield factory
    await factory.aclose()


async def test_official_model_with_prefer_wait_and_polling(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    # Prefer: wait=1 holds the create ~0.02 s (fake scale), so the answer is unfinished and
    # the adapter polls the rest.
    replicate_fake.set_faults(task={"running_seconds": 0.5})
    result = await make_adapter().generate(
        request(MINIMAX, init_image=png(), params={"prompt_optimizer": False}), rec.context
    )
    clip = decode(result.path)
    assert (clip.width, clip.height) == (160, 90)
    [entry] = replicate_fake.ledger
    assert entry["endpoint"] == "model /v1/models/minimax/video-01/predictions"
    assert entry["body"]["input"]["prompt"] == "a lighthouse at dusk, waves"
    assert entry["body"]["input"]["prompt_optimizer"] is False
    assert entry["body"]["input"]["first_frame_image"].startswith("data:image/png;base64,")
    assert request_times(replicate_fake.requests, "GET", "/v1/predictions/")
    assert rec.saved == [result.provider_task_id]
    assert any(0 < fraction < 1 for fraction, _ in rec.events)  # progress from the logs


async def test_prefer_wait_can_answer_a_finished_prediction(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.config.wait_scale = 1.0
    try:
        result = await make_adapter(prefer_wait=5).generate(request(TINY), rec.context)
    finally:
        replicate_fake.config.wait_scale = 0.02
    decode(result.path)
    assert request_times(replicate_fake.requests, "GET", "/v1/predictions/") == []


async def test_version_id_and_owner_name_version_forms(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    version = DEFAULT_MODELS["fake/tiny-video"].version
    adapter = make_adapter()
    decode((await adapter.generate(request(f"replicate/{version}"), rec.context)).path)
    decode(
        (await adapter.generate(request(f"replicate/fake/tiny-video:{version}"), rec.context)).path
    )
    assert [e["endpoint"] for e in replicate_fake.ledger] == ["version /v1/predictions"] * 2
    assert all(e["body"]["version"] == version for e in replicate_fake.ledger)


async def test_uncatalogued_model_passes_params_through(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    await make_adapter().generate(
        request(TINY, params={"num_frames": 33, "guidance": 4.5}, init_image=png()), rec.context
    )
    model_input = replicate_fake.ledger[0]["body"]["input"]
    assert model_input["num_frames"] == 33
    assert model_input["guidance"] == 4.5
    assert model_input["image"].startswith("data:image/png")


async def test_catalogued_model_params_are_validated_before_paying(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    with pytest.raises(PromptRejected, match="params"):
        await make_adapter().generate(request(MINIMAX, params={"bogus": 1}), rec.context)
    assert replicate_fake.requests == []


async def test_unknown_model_is_a_permanent_error(make_adapter: MakeAdapter, rec: Recorder) -> None:
    with pytest.raises(PermanentError, match="could not be found"):
        await make_adapter().generate(request("replicate/nobody/nothing"), rec.context)


async def test_input_validation_422_is_verbatim_and_not_retried(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    with pytest.raises(PromptRejected, match="- input: prompt is required"):
        await make_adapter().generate(request(TINY, prompt="  "), rec.context)
    assert len([q for q in replicate_fake.requests if q["method"] == "POST"]) == 1


async def test_throttled_create_waits_for_retry_after(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 1}])
    await make_adapter().generate(request(TINY), rec.context)
    posts = [q for q in replicate_fake.requests if q["method"] == "POST"]
    assert [q["status"] for q in posts] == [429, 201]
    assert posts[1]["time"] - posts[0]["time"] >= 1.0
    assert replicate_fake.creates == 1


async def test_503_on_poll_is_retried(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.set_faults(http=[{"on": "poll", "status": 503, "times": 2}])
    decode((await make_adapter().generate(request(TINY), rec.context)).path)


@pytest.mark.parametrize(
    ("error_text", "error"),
    [
        ("NSFW content detected. Try running it again, or try a different prompt.", PromptRejected),
        ("CUDA out of memory", PermanentError),
    ],
)
async def test_failed_prediction_surfaces_error_verbatim(
    replicate_fake: FakeServer,
    make_adapter: MakeAdapter,
    rec: Recorder,
    error_text: str,
    error: type[Exception],
) -> None:
    replicate_fake.set_faults(task={"fail": True, "failure": error_text})
    with pytest.raises(error) as caught:
        await make_adapter().generate(request(TINY), rec.context)
    assert isinstance(caught.value, PromptRejected) == (error is PromptRejected)
    assert error_text in caught.value.message


async def test_cancel_is_forwarded(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    replicate_fake.set_faults(task={"never_finish": True})
    rec = Recorder(tmp_path, cancel_after_polls=2)
    with pytest.raises(Cancelled):
        await make_adapter().generate(request(TINY), rec.context)
    cancels = [q for q in replicate_fake.requests if q["path"].endswith("/cancel")]
    assert [(q["path"], q["status"]) for q in cancels] == [
        (f"/v1/predictions/{rec.saved[0]}/cancel", 200)
    ]
    task = replicate_fake.state.tasks[rec.saved[0]]
    assert task.phase(replicate_fake.state.clock())[0] == "cancelled"


async def test_prediction_canceled_elsewhere_is_cancelled_here(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    replicate_fake.set_faults(task={"never_finish": True})
    adapter = make_adapter(task_timeout=0.15)
    rec = Recorder(tmp_path)
    with pytest.raises(ProviderUnavailable, match="did not finish"):
        await adapter.generate(request(TINY), rec.context)
    await adapter.cancel(rec.saved[0])
    with pytest.raises(Cancelled):
        await adapter.generate(request(TINY, provider_task_id=rec.saved[0]), rec.context)
    assert replicate_fake.creates == 1


async def test_resume_after_crash_pays_once(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    crashed = Recorder(tmp_path, crash_on_save=True)
    with pytest.raises(SimulatedCrash):
        await make_adapter().generate(request(TINY), crashed.context)
    result = await make_adapter().generate(
        request(TINY, provider_task_id=crashed.saved[0]), Recorder(tmp_path).context
    )
    decode(result.path)
    assert replicate_fake.creates == 1


async def test_expired_output_fails_clearly(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.set_faults(output_ttl=0)
    with pytest.raises(ProviderUnavailable, match="expired"):
        await make_adapter().generate(request(TINY), rec.context)
    media = [q["status"] for q in replicate_fake.requests if q["path"].startswith("/_fake/")]
    assert media == [404, 404]


async def test_truncated_download_is_fetched_again(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.set_faults(http=[{"on": "download", "truncate": True}])
    decode((await make_adapter().generate(request(TINY), rec.context)).path)


async def test_malformed_create_answer_is_clear(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.set_faults(http=[{"on": "create", "malformed": True}])
    with pytest.raises(ProviderUnavailable, match="malformed JSON"):
        await make_adapter().generate(request(TINY), rec.context)


async def test_bad_token_never_leaks(make_adapter: MakeAdapter, rec: Recorder) -> None:
    wrong = "r8_" + "7" * 40
    with pytest.raises(PermanentError, match="HTTP 401") as caught:
        await make_adapter(key=wrong).generate(request(TINY), rec.context)
    assert_secret_absent(caught.value, wrong)


async def test_echoed_token_is_redacted(
    replicate_fake: FakeServer, make_adapter: MakeAdapter, rec: Recorder
) -> None:
    replicate_fake.set_faults(http=[{"on": "poll", "status": 429, "echo_key": True, "times": 9}])
    with pytest.raises(ProviderUnavailable) as caught:
        await make_adapter().generate(request(TINY), rec.context)
    assert_secret_absent(caught.value, replicate_fake.key)


def test_output_and_progress_parsing() -> None:
    assert output_url("https://x/a.mp4") == "https://x/a.mp4"
    assert output_url([None, "https://x/b.mp4"]) == "https://x/b.mp4"
    assert output_url({"video": "https://x/c.mp4", "n": 1}) == "https://x/c.mp4"
    assert output_url({"n": 1}) is None
    assert output_url(42) is None
    logs = "Loading\n 20%|██        | 5/25\n 40%|████      | 10/25"
    assert progress_of(logs) == 0.4
    assert progress_of("no bars") is None


def test_catalogue_and_availability() -> None:
    missing = ReplicateAdapter(Settings(REPLICATE_API_TOKEN=""))
    assert missing.availability() == "REPLICATE_API_TOKEN is not set"
    adapter = ReplicateAdapter(Settings(REPLICATE_API_TOKEN="r8_x"))
    [model] = adapter.models()
    assert model.id == MINIMAX
    assert model.params_schema["additionalProperties"] is False
    assert model.image_to_video is True
    assert adapter.estimate_cost(model, 6, {}) == 0.50
