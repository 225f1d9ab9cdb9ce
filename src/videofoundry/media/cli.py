"""`videofoundry compose`: the composition engine as a standalone command.

The main CLI calls `register(app)`; this module owns only the command.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from videofoundry.core.errors import VideoFoundryError
from videofoundry.media.captions import Cue, parse_webvtt
from videofoundry.media.composition import ClipSpec, ComposeOptions, Transition, compose
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


def _transitions(values: list[str], clips: int) -> list[Transition | None]:
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


def register(app: typer.Typer) -> None:
    """Add the `compose` command to the main CLI."""

    @app.command("compose")
    def compose_command(
        clips: Annotated[
            list[Path], typer.Argument(help="Clips in timeline order.", show_default=False)
        ],
        output: Annotated[Path, typer.Option("-o", "--output", help="The MP4 to write.")],
        transition: Annotated[
            list[str] | None,
            typer.Option(
                "--transition",
                help="KIND[:SECONDS] (crossfade, fade_black, wipe_left, wipe_right). Once for "
                "every boundary, or once per boundary in order.",
            ),
        ] = None,
        soundtrack: Annotated[
            Path | None, typer.Option(help="Audio mixed under the clips' audio.")
        ] = None,
        soundtrack_volume: Annotated[float, typer.Option(min=0.0, max=4.0)] = 0.5,
        loop: Annotated[bool, typer.Option(help="Loop a short soundtrack.")] = True,
        fade_in: Annotated[float, typer.Option(help="Soundtrack fade-in (s).", min=0)] = 0.0,
        fade_out: Annotated[float, typer.Option(help="Soundtrack fade-out (s).", min=0)] = 0.0,
        captions: Annotated[
            Path | None,
            typer.Option(
                "--captions",
                help="WebVTT (or SRT) cues to embed as a subtitle track; a copy is written "
                "beside the output as OUT.vtt.",
            ),
        ] = None,
        caption: Annotated[
            list[str] | None,
            typer.Option("--caption", help="Caption per clip, in order (repeat the option)."),
        ] = None,
        burn_captions: Annotated[
            bool, typer.Option(help="Also draw --caption texts into the picture.")
        ] = False,
        width: Annotated[int | None, typer.Option(min=16, max=7680)] = None,
        height: Annotated[int | None, typer.Option(min=16, max=4320)] = None,
        fps: Annotated[int | None, typer.Option(min=1, max=120)] = None,
        aspect: Annotated[
            str, typer.Option(help="fit (letterbox) or fill (crop) when normalising.")
        ] = "fit",
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """Stitch clips into one MP4, copying video wherever possible."""
        if aspect not in ("fit", "fill"):
            raise typer.BadParameter("--aspect must be fit or fill")
        if (width or height) and (width or 2) % 2 + (height or 2) % 2:
            raise typer.BadParameter("--width and --height must be even")
        started = time.perf_counter()
        try:
            result, normalised, cues = _run(
                clips,
                output,
                transitions=_transitions(transition or [], len(clips)),
                captions=caption or [],
                burn=burn_captions,
                vtt=captions,
                options=ComposeOptions(
                    soundtrack=soundtrack,
                    soundtrack_volume=soundtrack_volume,
                    soundtrack_loop=loop,
                    fade_in=fade_in,
                    fade_out=fade_out,
                    webvtt=output.with_suffix(".vtt"),
                ),
                size=(width, height, fps),
                aspect="fill" if aspect == "fill" else "fit",
                quiet=quiet,
            )
        except (VideoFoundryError, ValueError) as exc:
            typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
            raise typer.Exit(1) from exc
        if not quiet:
            took = time.perf_counter() - started
            typer.echo(
                f"{output}: {result.duration:.3f} s, {result.width}x{result.height} "
                f"@ {result.fps:g} fps, {result.size_bytes / 1e6:.1f} MB in {took:.2f} s"
                + (f" ({normalised} clip(s) normalised first)" if normalised else "")
                + (f", {cues} caption(s), {output.with_suffix('.vtt')}" if cues else "")
            )


def _run(
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
        result = asyncio.run(_compose_with_bar(specs, output, options, quiet))
    normalised = len(jobs)
    n_cues = len(cues) or sum(1 for c in captions if c.strip())
    return result, normalised, n_cues


async def _compose_with_bar(
    specs: list[ClipSpec], output: Path, options: ComposeOptions, quiet: bool
) -> MediaInfo:
    if quiet:
        return await compose(specs, output, options)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("composing", total=1.0)

        async def progress(fraction: float) -> None:
            bar.update(task, completed=fraction)

        return await compose(specs, output, options, progress)
