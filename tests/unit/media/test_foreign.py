"""Clips from other encoders: copied when they share parameter sets, pieces encoded like them,
and the fallback to normalising when their settings cannot be reproduced."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer import Typer
from typer.testing import CliRunner

from tests.unit.media.media_helpers import (
    FMT,
    X264_BASELINE,
    X264_FILM,
    X264_MEDIUM,
    decode_audio,
    decode_frames,
    make_x264_clip,
    mean_abs,
    onsets,
    strip_sei,
    video_packets,
)
from videofoundry.core.errors import InvalidMedia
from videofoundry.media.cli import register
from videofoundry.media.composition import ClipSpec, Transition, blend_frames, compose_sync
from videofoundry.media.encoder import AUDIO_RATE, samples_at
from videofoundry.media.matching import plan_inputs
from videofoundry.media.probe import canonical_fingerprint, probe, scan
from videofoundry.media.x264_settings import encoded_fingerprint, reproduce

FRAMES = 36  # three GOPs of 12
BEEP = 0.4
T = 6  # a 0.25 s transition


@pytest.fixture(scope="module", params=["medium", "film", "baseline"])
def foreign(request: pytest.FixtureRequest, media_dir: Path) -> list[Path]:
    """Three clips from one x264 configuration that is not ours, a beep in each."""
    options = {"medium": X264_MEDIUM, "film": X264_FILM, "baseline": X264_BASELINE}
    return [
        make_x264_clip(
            media_dir / f"x264-{request.param}{i}.mp4",
            FRAMES,
            seed=10 + i,
            options=options[request.param],
            beep_at=BEEP,
        )
        for i in range(3)
    ]


def specs(clips: list[Path], seconds: float | None = None) -> list[ClipSpec]:
    transition = Transition("crossfade", seconds) if seconds else None
    return [ClipSpec(p, transition=transition, label=f"clip {i + 1}") for i, p in enumerate(clips)]


def test_foreign_clips_are_not_canonical_but_share_parameter_sets(foreign: list[Path]) -> None:
    fingerprints = {probe(p).video_fingerprint for p in foreign}
    assert len(fingerprints) == 1
    assert fingerprints != {canonical_fingerprint(FMT)}


def test_plain_stitch_copies_every_packet_and_keeps_audio_exact(
    foreign: list[Path], media_dir: Path
) -> None:
    out = media_dir / f"stitched-{foreign[0].stem}.mp4"
    compose_sync(specs(foreign), out)
    assert video_packets(out) == [p for clip in foreign for p in video_packets(clip)]
    frames = decode_frames(out)
    source = [f for clip in foreign for f in decode_frames(clip)]
    assert len(frames) == len(source) == 3 * FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(frames, source, strict=True))
    # The audio track lasts exactly as long as the video (the container trims the last AAC
    # frame's padding) ...
    assert probe(out).audio_duration == pytest.approx(3 * FRAMES / FMT.fps, abs=1 / AUDIO_RATE)
    pcm = decode_audio(out)
    # ... and each clip's beep is where it is in the clip, to the sample, counted from the
    # clip's first frame.
    found = [round(t * AUDIO_RATE) for t in onsets(pcm)]
    in_clip = [round(onsets(decode_audio(p))[0] * AUDIO_RATE) for p in foreign]
    assert found == [samples_at(i * FRAMES, FMT.fps) + in_clip[i] for i in range(3)]


def test_crossfade_reencodes_only_the_gops_it_touches(foreign: list[Path], media_dir: Path) -> None:
    out = media_dir / f"crossfaded-{foreign[0].stem}.mp4"
    compose_sync(specs(foreign, T / FMT.fps), out)
    info, index = scan(out)
    # The pieces joined the copied packets: one set of parameter sets, the clips' own.
    assert info.video_fingerprint == probe(foreign[0]).video_fingerprint
    assert info.frame_count == 3 * FRAMES - 2 * T
    frames = decode_frames(out)
    src = [decode_frames(p) for p in foreign]
    clip_starts = [0, FRAMES - T, 2 * (FRAMES - T)]
    # Copied GOPs are the source pictures bit for bit: the first clip up to its last GOP,
    # the middle clip from its second keyframe to its last, the last from its second on.
    for clip, (first, last) in enumerate([(0, 24), (12, 24), (12, FRAMES)]):
        for k in range(first, last):
            assert np.array_equal(frames[clip_starts[clip] + k], src[clip][k]), (clip, k)
    # Transition frames are blends of the two clips (within the encoder's error).
    for j in range(T):
        a, b = src[0][FRAMES - T + j], src[1][j]
        got = frames[FRAMES - T + j]
        alpha = (j + 1) / (T + 1)
        want = blend_frames("crossfade", a, b, alpha, FMT.width, FMT.height)
        assert mean_abs(got, want) < 3.0
        assert mean_abs(got, want) < min(mean_abs(got, a), mean_abs(got, b))
    # Audio still has exactly the video's length.
    assert info.audio_duration == pytest.approx(info.duration, abs=1 / AUDIO_RATE)
    assert index.cuts[0] == 0


def test_pieces_are_encoded_with_the_neighbours_parameter_sets(foreign: list[Path]) -> None:
    fingerprint = probe(foreign[0]).video_fingerprint
    settings = reproduce(foreign[0], FMT, fingerprint)
    assert encoded_fingerprint(settings, FMT) == fingerprint
    # The cheaper search used for pieces keeps the headers too (chroma offset compensated).
    assert settings.fast_params
    fast = replace(settings, x264_params=settings.fast_params, fast_params="")
    assert encoded_fingerprint(fast, FMT) == fingerprint


def test_clip_of_another_configuration_is_reencoded_with_the_groups_settings(
    media_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    group = [make_x264_clip(media_dir / f"x264-g{i}.mp4", FRAMES, i, X264_MEDIUM) for i in range(2)]
    odd = make_x264_clip(media_dir / "x264-odd.mp4", FRAMES, 7, X264_BASELINE)
    paths = [group[0], odd, group[1]]
    infos = [probe(p) for p in paths]
    labels = ["clip 1", "clip 2", "clip 3"]
    with caplog.at_level(logging.INFO, logger="videofoundry.media"):
        plan = plan_inputs(paths, infos, labels, FMT, reencodes=False)
    assert plan.settings is not None and plan.target == "clip 1"
    assert list(plan.normalise) == [1]
    assert "other H.264 parameter sets than clip 1" in plan.normalise[1]
    assert "clip 2" in caplog.text and "clip 1's x264 settings" in caplog.text

    runner = CliRunner()
    app = Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `compose` a subcommand
    out = media_dir / "x264-regrouped.mp4"
    result = runner.invoke(app, ["compose", *map(str, paths), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 clip(s) normalised first" in result.output
    # The two group clips are copied; the odd one was re-encoded to join them.
    packets = video_packets(out)
    assert packets[:FRAMES] == video_packets(group[0])
    assert packets[2 * FRAMES :] == video_packets(group[1])
    assert probe(out).video_fingerprint == infos[0].video_fingerprint


def test_without_recorded_settings_transitions_fall_back_to_normalising(
    media_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = [make_x264_clip(media_dir / f"x264-s{i}.mp4", FRAMES, i, X264_MEDIUM) for i in range(2)]
    bare = [strip_sei(p, media_dir / f"x264-bare{i}.mp4") for i, p in enumerate(made)]
    infos = [probe(p) for p in bare]
    assert infos[0].video_fingerprint == infos[1].video_fingerprint
    # Plain stitching needs no encoder: still a copy.
    out = media_dir / "x264-bare-stitched.mp4"
    compose_sync(specs(bare), out)
    assert video_packets(out) == video_packets(bare[0]) + video_packets(bare[1])
    # A transition needs pieces like the clips, which cannot be made: the engine says so ...
    with pytest.raises(InvalidMedia, match="cannot be reproduced"):
        compose_sync(specs(bare, 0.25), media_dir / "x264-never.mp4")
    # ... and the input plan normalises both clips to the canonical format, logging why.
    with caplog.at_level(logging.WARNING, logger="videofoundry.media"):
        plan = plan_inputs(bare, infos, ["clip 1", "clip 2"], FMT, reencodes=True)
    assert plan.settings is None and plan.target == "canonical"
    assert sorted(plan.normalise) == [0, 1]
    assert "no x264 settings recorded" in plan.normalise[0]
    assert caplog.text.count("cannot be reproduced") == 2
