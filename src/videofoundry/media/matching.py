"""Which input clips can be composed as they are, and which must be re-encoded first.

Stitching copies packets, so every clip in one output must carry the same H.264 parameter sets
(SPS/PPS); the encoder that made them does not matter. `plan_inputs` picks the parameter sets
most of the timeline already has and re-encodes only the clips that differ:

* the biggest group is canonical: the others are normalised to the canonical format;
* the biggest group is another x264 configuration and nothing has to be encoded in it (no
  transition, no burned caption, no clip outside the group): everything is copied;
* otherwise the group's own x264 settings are recovered from its SEI and checked
  (`x264_settings.reproduce`): transition pieces and the clips outside the group are encoded
  with them;
* when they cannot be recovered, every clip that is not canonical is normalised to the
  canonical format: the fallback, logged with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from videofoundry.media.encoder import PIX_FMT, VIDEO_CODEC
from videofoundry.media.format import OutputFormat
from videofoundry.media.probe import MediaInfo, canonical_fingerprint
from videofoundry.media.x264_settings import EncoderSettings, reproduce

log = logging.getLogger("videofoundry.media")


@dataclass(frozen=True)
class InputPlan:
    settings: EncoderSettings | None
    """Settings for everything encoded (pieces and normalised clips); None: canonical."""
    normalise: dict[int, str] = field(default_factory=dict)
    """Clip index -> why it is re-encoded before composing."""
    target: str = "canonical"
    """The parameter sets of the output: "canonical", or the clip whose sets are kept."""


def geometry_mismatch(info: MediaInfo, fmt: OutputFormat) -> str | None:
    """Why a clip cannot be copied into an output of `fmt` whatever its encoder, or None."""
    if info.video_codec != VIDEO_CODEC or info.pix_fmt != PIX_FMT:
        return f"{info.video_codec}/{info.pix_fmt}, not H.264 {PIX_FMT}"
    if (info.width, info.height) != (fmt.width, fmt.height) or abs(info.fps - fmt.fps) > 1e-6:
        return (
            f"{info.width}x{info.height} at {info.fps:g} fps, "
            f"not {fmt.width}x{fmt.height} at {fmt.fps} fps"
        )
    if not info.constant_frame_rate:
        return "variable frame rate"
    return None


def plan_inputs(
    paths: Sequence[Path],
    infos: Sequence[MediaInfo],
    labels: Sequence[str],
    fmt: OutputFormat,
    *,
    reencodes: bool,
) -> InputPlan:
    """Decide the output's parameter sets and which clips to re-encode (see the module doc).

    `reencodes`: the composition draws new frames (transitions or burned captions).
    """
    unfit = {i: why for i, info in enumerate(infos) if (why := geometry_mismatch(info, fmt))}
    if not reencodes and not unfit and len({info.video_fingerprint for info in infos}) == 1:
        return InputPlan(settings=None, target=labels[0])  # one set, nothing to encode: copy
    canonical = canonical_fingerprint(fmt)
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(infos):
        if i not in unfit:
            groups.setdefault(info.video_fingerprint, []).append(i)
    if not groups:
        return _canonical_plan(infos, labels, unfit, canonical, None)
    # The parameter sets most of the timeline (in frames) already has; ties go to the earliest.
    fingerprint, members = max(
        groups.items(), key=lambda kv: (sum(infos[i].frame_count for i in kv[1]), -kv[1][0])
    )
    if fingerprint == canonical:
        return _canonical_plan(infos, labels, unfit, canonical, None)
    leader = labels[members[0]]
    outsiders = [i for i in range(len(infos)) if i not in members]
    if not reencodes and not outsiders:
        return InputPlan(settings=None, target=leader)
    try:
        settings = reproduce(paths[members[0]], fmt, fingerprint, source=leader)
    except ValueError as exc:
        why = f"the H.264 settings of {leader} cannot be reproduced ({exc})"
        return _canonical_plan(infos, labels, unfit, canonical, why)
    normalise = {}
    for i in outsiders:
        why = unfit.get(i) or f"other H.264 parameter sets than {leader}"
        normalise[i] = f"{why}; re-encoded with {leader}'s x264 settings"
        log.info("%s: %s", labels[i], normalise[i])
    return InputPlan(settings=settings, normalise=normalise, target=leader)


def _canonical_plan(
    infos: Sequence[MediaInfo],
    labels: Sequence[str],
    unfit: dict[int, str],
    canonical: str,
    fallback: str | None,
) -> InputPlan:
    normalise = {}
    for i, info in enumerate(infos):
        if i in unfit:
            normalise[i] = f"{unfit[i]}; normalised to the canonical format"
        elif info.video_fingerprint != canonical:
            why = fallback or "other H.264 parameter sets than the canonical clips"
            normalise[i] = f"{why}; normalised to the canonical format"
    for i, why in normalise.items():
        (log.warning if fallback else log.info)("%s: %s", labels[i], why)
    return InputPlan(settings=None, normalise=normalise)
