"""What `videofoundry compose` does once its options are parsed (see `cli`)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import typer

from videofoundry.media.captions import Cue, parse_webvtt
from videofoundry.media.composition import ClipSpec, ComposeOptions, Transition, compose_sync
from videofoundry.media.format import OutputFormat
from videofoundry.media.matching import plan_inputs
from videofoundry.media.normalize import Aspect, NormalizeJob, normalize_many
from videofoundry.media.probe import MediaInfo, probe


def _output_format(
    first: MediaInfo, width: int | None, height: int | None, fps: int | None
) -> OutputFormat:
    # Unless told otherwise, keep the first clip's geometry: when the clips are already
    # canonical nothing gets re-encoded.
    return OutputFormat(
        width=width or first.width,
        height=height or first.height,
        fps=fps or max(1, round(first.fps)),
    )


def transitions_of(values: list[str], clips: int) -> list[Transition | None]:
    parsed = [Transition.parse(v) for v in values]
    boundaries = max(0, clips - 1)
    if not parsed:
        return [None] * clips
    if len(parsed) == 1:
        return [parsed[0]] * boundaries + [None]
    if len(parsed) != boundaries:
        raise typer.BadParameter(
            f"give one --transition for all boundaries or exactly {boundaries}, not {len(parsed)}"
        )
    return [*parsed, None]


def run(
    paths: list[Path],
    output: Path,
    *,
    transitions: list[Transition | None],
    captions: list[str],
    burn: bool,
    vtt: Path | None,
    options: ComposeOptions,
    size: tuple[int | None, int | None, int | None],
    aspect: Aspect,
    quiet: bool,
) -> tuple[MediaInfo, int, int]:
    if len(captions) > len(paths):
        raise ValueError(f"{len(captions)} captions for {len(paths)} clips")
    labels = [f"clip {i + 1} ({p.name})" for i, p in enumerate(paths)]
    infos = [probe(p, label=label) for p, label in zip(paths, labels, strict=True)]
    fmt = _output_format(infos[0], *size)
    cues: tuple[Cue, ...] = ()
    if vtt is not None:
        try:
            cues = tuple(parse_webvtt(vtt.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ValueError(f"cannot read {vtt}: {exc.strerror}") from exc
        if not cues:
            raise ValueError(f"{vtt}: no cues found")
        options = replace(options, cues=cues)
    reencodes = any(transitions[:-1]) or (burn and any(c.strip() for c in captions))
    plan = plan_inputs(paths, infos, labels, fmt, reencodes=reencodes)
    if not quiet:
        for i, why in plan.normalise.items():
            typer.echo(f"{labels[i]}: {why}", err=True)
    with tempfile.TemporaryDirectory(prefix="vf-compose-cli-") as tmp:
        sources = list(paths)
        jobs = []
        for i in plan.normalise:
            sources[i] = Path(tmp) / f"clip-{i}.mp4"
            jobs.append(NormalizeJob(paths[i], sources[i], fmt, aspect, labels[i], plan.settings))
        normalize_many(jobs)
        specs = [
            ClipSpec(
                path,
                transition=transitions[i],
                caption=captions[i] if i < len(captions) else None,
                burn_caption=burn,
                label=labels[i],
            )
            for i, path in enumerate(sources)
        ]
        options = replace(options, encoder=plan.settings)
        result = _compose_with_bar(specs, output, options, quiet)
    normalised = len(jobs)
    n_cues = len(cues) or sum(1 for c in captions if c.strip())
    return result, normalised, n_cues


def _compose_with_bar(
    specs: list[ClipSpec], output: Path, options: ComposeOptions, quiet: bool
) -> MediaInfo:
    # The blocking engine, no event loop: asyncio (and the ssl module it loads) would only add
    # to the command's start-up.
    if quiet:
        return compose_sync(specs, output, options)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("composing", total=1.0)

        def progress(fraction: float) -> None:
            bar.update(task, completed=fraction)  # thread-safe: both engine threads report

        return compose_sync(specs, output, options, progress)
