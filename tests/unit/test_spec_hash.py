from __future__ import annotations

from typing import Any

import pytest

from videofoundry.services.spec_hash import clip_spec, composition_hash, spec_hash

BASE: dict[str, Any] = {
    "model": "procedural",
    "prompt": "a lighthouse",
    "negative_prompt": None,
    "params": {"style": "waves", "speed": 1.0},
    "duration": 4.0,
    "seed": 7,
    "init_image_sha256": None,
    "width": 1280,
    "height": 720,
    "fps": 24,
    "aspect_mode": "fit",
}


def digest(**changes: Any) -> str:
    return spec_hash(clip_spec(**{**BASE, **changes}))


def test_same_spec_same_hash_regardless_of_key_order() -> None:
    reordered = {"speed": 1.0, "style": "waves"}
    assert digest() == digest(params=reordered)
    assert digest(duration=4) == digest(duration=4.0000001)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "runway/gen4_turbo"},
        {"prompt": "a lighthouse at night"},
        {"negative_prompt": "blur"},
        {"params": {"style": "orbs", "speed": 1.0}},
        {"duration": 5.0},
        {"seed": 8},
        {"init_image_sha256": "ab" * 32},
        {"width": 640},
        {"fps": 30},
        {"aspect_mode": "fill"},
    ],
)
def test_every_pixel_input_changes_the_hash(change: dict[str, Any]) -> None:
    assert digest(**change) != digest()


def test_empty_negative_prompt_equals_none() -> None:
    assert digest(negative_prompt="") == digest(negative_prompt=None)


def test_composition_hash_depends_on_order_and_settings() -> None:
    a, b = "a" * 64, "b" * 64
    assert composition_hash([a, b], {}) != composition_hash([b, a], {})
    assert composition_hash([a, b], {"fps": 24}) != composition_hash([a, b], {"fps": 30})
    assert composition_hash([a, b], {"fps": 24}) == composition_hash([a, b], {"fps": 24})


def test_a_continued_shot_hashes_the_clip_it_continues_from() -> None:
    first, second = "1" * 64, "2" * 64
    assert digest(continues_from=first) != digest()
    assert digest(continues_from=first) != digest(continues_from=second)
    assert digest(continues_from=first) == digest(continues_from=first)


def test_segments_that_do_not_continue_keep_their_hashes() -> None:
    # The hash before continuity existed: a stored clip must not be generated again.
    assert digest() == "b63385f8f4384e661d255628b9aaf08019d502900e90fbc06a98ed41e4e0f98a"
    assert digest(continues_from=None) == digest()
