"""Trim rules: inside the clip, at least one frame, null meaning the clip's own ends."""

from __future__ import annotations

import math

import pytest

from videofoundry.core.errors import InvalidInput
from videofoundry.services import trims


def test_untrimmed_and_trimmed_lengths() -> None:
    assert trims.span(4.0, None, None) == (0.0, 4.0)
    assert trims.trimmed_length(4.0, 0.5, None) == 3.5
    assert trims.trimmed_length(4.0, None, 1.5) == 1.5
    assert trims.trimmed_length(4.0, 1.0, 3.0) == 2.0


@pytest.mark.parametrize(
    ("start", "end"),
    [(None, None), (0.0, 4.0), (None, 4.0 + 1e-9), (3.95, None), (1.0, 1.0 + 1 / 24)],
)
def test_accepted(start: float | None, end: float | None) -> None:
    trims.check(24, 4.0, start, end)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (-0.1, None, "trim_start"),
        (math.nan, None, "trim_start"),
        (None, math.inf, "trim_end"),
        (4.0, None, "trim_start"),
        (None, 4.1, "trim_end"),
        (2.0, 2.0, "trim_end"),
        (2.0, 1.0, "trim_end"),
        (2.0, 2.01, "trim_end"),  # less than a frame at 24 fps
        (3.99, None, "trim_start"),  # the last 10 ms round to no frame
    ],
)
def test_refused_naming_the_field(start: float | None, end: float | None, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        trims.check(24, 4.0, start, end)
    assert refused.value.field == field
