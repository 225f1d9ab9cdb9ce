"""The fakes' and the catalogue's model lists against the SDKs' own literals.

Each SDK release lists the models its create calls accept. The fakes (and the adapters'
catalogues) must offer only models the SDK lists, with the SDK's ratios, durations and required
members; and the SDK's full list is pinned here, so upgrading an SDK shows what it added or
dropped (then decide whether the catalogue follows).
"""

from __future__ import annotations

import typing
from typing import Any

import lumaai.types.generation_create_params as luma_params
import pytest
import typing_extensions
from runwayml.types import image_to_video_create_params, text_to_video_create_params

from videofoundry.adapters import luma as luma_adapter
from videofoundry.adapters import runway as runway_adapter
from videofoundry.testing.fakes import luma as luma_fake
from videofoundry.testing.fakes import runway as runway_fake

# runwayml 5.24.0: every model of each create call (the catalogue offers a few of them).
RUNWAY_SDK_I2V = {
    "gemini_omni_flash", "gemini_omni_flash_1.1", "gen4.5", "gen4_turbo", "grok_imagine_1_5",
    "grok_imagine_1_5_lite", "h3_max", "hailuo3", "happyhorse_1_0", "kling2.5_turbo_pro",
    "kling3.0_4k", "kling3.0_pro", "kling3.0_standard", "klingO3_4k", "klingO3_pro",
    "klingO3_standard", "kling_4", "seedance2", "seedance2_5", "seedance2_fast", "seedance2_mini",
    "veo3.1", "veo3.1_fast", "wan3", "wan3_prime",
}  # fmt: skip
RUNWAY_SDK_T2V = RUNWAY_SDK_I2V - {"gen4_turbo"}


class Rule(typing.NamedTuple):
    ratios: frozenset[str]
    durations: frozenset[int] | None
    """None when the SDK types duration as any integer."""
    duration_required: bool
    prompt_required: bool


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type inside Required/Annotated, whether it was Required)."""
    required = False
    while True:
        origin = typing.get_origin(hint)
        if origin in (typing.Required, typing_extensions.Required):
            required, hint = True, typing.get_args(hint)[0]
        elif origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        else:
            return hint, required


def sdk_rules(params_union: Any) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for variant in typing.get_args(params_union):
        hints = typing.get_type_hints(variant, include_extras=True)
        (model,) = typing.get_args(_unwrap(hints["model"])[0])
        ratio = _unwrap(hints["ratio"])[0] if "ratio" in hints else None
        duration, duration_required = _unwrap(hints.get("duration", int))
        prompt_required = _unwrap(hints["prompt_text"])[1] if "prompt_text" in hints else False
        rules[model] = Rule(
            frozenset(typing.get_args(ratio)),
            frozenset(typing.get_args(duration)) or None,
            duration_required,
            prompt_required,
        )
    return rules


SDK_I2V = sdk_rules(image_to_video_create_params.ImageToVideoCreateParams)
SDK_T2V = sdk_rules(text_to_video_create_params.TextToVideoCreateParams)


def test_the_runway_sdk_lists_what_it_listed() -> None:
    assert set(SDK_I2V) == RUNWAY_SDK_I2V, "runwayml changed its image_to_video models"
    assert set(SDK_T2V) == RUNWAY_SDK_T2V, "runwayml changed its text_to_video models"
    assert not {"gen3a_turbo", "veo3"} & (set(SDK_I2V) | set(SDK_T2V))


@pytest.mark.parametrize("model", sorted(runway_fake.MODELS))
def test_each_runway_fake_model_follows_the_sdk(model: str) -> None:
    rule = runway_fake.MODELS[model]
    assert model in SDK_I2V, f"{model} is not an image_to_video model of the SDK"
    sdk = SDK_I2V[model]
    assert set(rule.i2v_ratios) == sdk.ratios
    if sdk.durations is not None:
        assert set(rule.durations) == sdk.durations
    assert rule.duration_required == sdk.duration_required
    assert rule.prompt_required_i2v == sdk.prompt_required
    if rule.t2v:
        assert model in SDK_T2V, f"{model} is not a text_to_video model of the SDK"
        assert set(rule.t2v_ratios) == SDK_T2V[model].ratios
        assert rule.duration_required == SDK_T2V[model].duration_required
    else:
        assert model not in SDK_T2V, f"the SDK offers {model} for text_to_video too"


def test_the_runway_catalogue_offers_only_what_the_fake_and_sdk_accept() -> None:
    catalogue = set(runway_adapter.MODELS)
    assert catalogue <= set(runway_fake.MODELS) <= set(SDK_I2V)
    for name, spec in runway_adapter.MODELS.items():
        assert set(spec.i2v_ratios) == SDK_I2V[name].ratios
        assert bool(spec.t2v_ratios) == (name in SDK_T2V)


def test_luma_models_follow_the_sdk() -> None:
    hints = typing.get_type_hints(luma_params.GenerationCreateParams, include_extras=True)
    sdk_models = set(typing.get_args(_unwrap(hints["model"])[0]))
    assert sdk_models == {"ray-2", "ray-flash-2"}, "lumaai changed its model list"
    assert set(luma_fake.MODELS) == sdk_models
    assert set(luma_adapter.MODELS) <= sdk_models
