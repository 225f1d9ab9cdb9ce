"""Trims: a segment's in and out points within its generated clip.

A trim is applied when composing (and in the preview playlist); it is not part of the clip's
spec, so changing it generates nothing. Points are snapped to frames by the composition, so a
trim must keep at least one frame.
"""

from __future__ import annotations

import math

from videofoundry.core.errors import InvalidInput

# JSON round trips add float noise; a point this close to the clip's end is its end.
_EPSILON = 1e-6


def span(duration: float, trim_start: float | None, trim_end: float | None) -> tuple[float, float]:
    """Seconds [in, out) of the clip the timeline shows."""
    return (trim_start or 0.0), (duration if trim_end is None else min(trim_end, duration))


def trimmed_length(duration: float, trim_start: float | None, trim_end: float | None) -> float:
    begin, end = span(duration, trim_start, trim_end)
    return max(0.0, end - begin)


def check(fps: int, duration: float, trim_start: float | None, trim_end: float | None) -> None:
    """422 naming the field when a trim is not inside the clip or leaves less than a frame."""
    for name, value in (("trim_start", trim_start), ("trim_end", trim_end)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise InvalidInput(f"{name} must be a number of seconds, 0 or more", name)
    if trim_start is not None and trim_start >= duration:
        raise InvalidInput(
            f"trim_start {trim_start:g} s is not inside the {duration:g} s clip", "trim_start"
        )
    if trim_end is not None and trim_end > duration + _EPSILON:
        raise InvalidInput(
            f"trim_end {trim_end:g} s is beyond the end of the {duration:g} s clip "
            "(change the trim with the duration)",
            "trim_end",
        )
    begin, end = span(duration, trim_start, trim_end)
    if round(end * fps) <= round(begin * fps):
        raise InvalidInput(
            f"trim_end {end:g} s must come after trim_start {begin:g} s by at least one frame "
            f"(1/{fps} s)",
            "trim_end" if trim_end is not None else "trim_start",
        )
