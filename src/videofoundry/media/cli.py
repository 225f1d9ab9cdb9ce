"""`videofoundry compose`: the composition engine as a standalone command.

The main CLI calls `register(app)`; this module owns only the command's options. Everything
else is imported when the command runs (`cli_run`), so the CLI starts without loading PyAV
and NumPy.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `compose` command to the main CLI."""

    @app.command("compose")
    def compose_command(
        clips: Annotated[
            list[Path],
            typer.Argument(help="Clips in timeline order.", show_default=False, metavar="CLIP"),
        ],
        output: Annotated[
            Path, typer.Option("-o", "--output", help="The MP4 to write.", metavar="FILE")
        ],
        transition: Annotated[
            list[str] | None,
            typer.Option(
                "--transition",
                metavar="KIND[:S]",
                help="crossfade, fade_black, wipe_left or wipe_right, for S seconds (0.5). "
                "Once for every boundary, or once per boundary in order.",
            ),
        ] = None,
        soundtrack: Annotated[
            Path | None,
            typer.Option(help="Audio mixed under the clips' audio.", metavar="FILE"),
        ] = None,
        soundtrack_volume: Annotated[
            float, typer.Option(min=0.0, max=4.0, metavar="GAIN", help="0 to 4.")
        ] = 0.5,
        no_loop: Annotated[
            bool, typer.Option("--no-loop", help="Play a short soundtrack once.")
        ] = False,
        fade_in: Annotated[
            float, typer.Option(help="Soundtrack fade-in.", min=0, metavar="SECONDS")
        ] = 0.0,
        fade_out: Annotated[
            float, typer.Option(help="Soundtrack fade-out.", min=0, metavar="SECONDS")
        ] = 0.0,
        captions: Annotated[
            Path | None,
            typer.Option(
                "--captions",
                metavar="FILE",
                help="WebVTT (or SRT) cues to embed as a subtitle track; a copy is written "
                "beside the output as OUT.vtt.",
            ),
        ] = None,
        caption: Annotated[
            list[str] | None,
            typer.Option("--caption", metavar="TEXT", help="Caption per clip, in order (repeat)."),
        ] = None,
        burn_captions: Annotated[
            bool,
            typer.Option("--burn-captions", help="Also draw --caption texts into the picture."),
        ] = False,
        width: Annotated[int | None, typer.Option(min=16, max=7680, metavar="PX")] = None,
        height: Annotated[int | None, typer.Option(min=16, max=4320, metavar="PX")] = None,
        fps: Annotated[int | None, typer.Option(min=1, max=120, metavar="N")] = None,
        aspect: Annotated[
            str,
            typer.Option(
                metavar="fit|fill", help="Letterbox (fit) or crop (fill) when normalising."
            ),
        ] = "fit",
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """Stitch clips into one MP4, copying video wherever possible."""
        if aspect not in ("fit", "fill"):
            raise typer.BadParameter("--aspect must be fit or fill")
        if (width or height) and (width or 2) % 2 + (height or 2) % 2:
            raise typer.BadParameter("--width and --height must be even")
        # NumPy starts a pool of OpenBLAS threads on import (80 ms of CPU here); the engine
        # does no linear algebra.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from videofoundry.core.errors import VideoFoundryError
        from videofoundry.media.cli_run import run, transitions_of
        from videofoundry.media.composition import ComposeOptions

        started = time.perf_counter()
        try:
            result, normalised, cues = run(
                clips,
                output,
                transitions=transitions_of(transition or [], len(clips)),
                captions=caption or [],
                burn=burn_captions,
                vtt=captions,
                options=ComposeOptions(
                    soundtrack=soundtrack,
                    soundtrack_volume=soundtrack_volume,
                    soundtrack_loop=not no_loop,
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
