"""`videofoundry render`: a YAML storyboard to an MP4, headless, on the embedded stack.

name: Tide pools
output: {width: 1280, height: 720, fps: 24}
transition: {kind: crossfade, duration: 0.5}   # optional project default
segments:
  - prompt: dawn over a quiet tide pool
    duration: 4
    model: procedural          # optional
    params: {style: waves}     # optional
    seed: 7                    # optional; fixed seeds make re-renders free
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from videofoundry.core.config import Settings
from videofoundry.core.errors import VideoFoundryError
from videofoundry.models import Asset, RenderJob, User
from videofoundry.runtime import Runtime
from videofoundry.schemas.project import ProjectCreate, SegmentCreate, Transition
from videofoundry.services import job_events, job_views, orchestrator, projects, task_publisher
from videofoundry.services.users import create_user
from videofoundry.workers.runner import run_workers

CLI_USER = "cli@videofoundry.local"


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = 1280
    height: int = 720
    fps: int = 24
    aspect_mode: Literal["fit", "fill"] = "fit"


class Storyboard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="Storyboard", min_length=1, max_length=200)
    output: _Output = _Output()
    transition: Transition | None = None
    segments: list[SegmentCreate] = Field(min_length=1)


def load(path: Path) -> Storyboard:
    """Read and check a storyboard; errors name the file and, where it applies, the segment."""
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise VideoFoundryError(f"{path}: not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise VideoFoundryError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        shape = "empty" if data is None else f"a {_YAML_SHAPES.get(type(data), 'single value')}"
        raise VideoFoundryError(
            f"{path}: a storyboard is a mapping with a `segments:` list (and optionally name, "
            f"output, transition), but this file is {shape}; see `videofoundry render --help`"
        )
    try:
        return Storyboard.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        listed = problems[0] if len(problems) == 1 else "\n  " + "\n  ".join(problems)
        raise VideoFoundryError(f"{path}: {listed}") from exc


_YAML_SHAPES = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
_NOT_A_MAPPING = {"model_type", "dict_type", "model_attributes_type"}


def _problem(error: Any) -> str:
    """One validation error in storyboard words: `segment 2: duration: ...`, no class names."""
    loc = list(error["loc"])
    where = []
    if len(loc) >= 2 and loc[0] == "segments" and isinstance(loc[1], int):
        where.append(f"segment {loc[1] + 1}")
        loc = loc[2:]
    if loc:
        where.append(".".join(str(part) for part in loc))
    message = "should be a mapping" if error["type"] in _NOT_A_MAPPING else error["msg"]
    return f"{': '.join(where) or 'storyboard'}: {message}"


async def render_storyboard(settings: Settings, path: Path, output: Path) -> int:
    console = Console(stderr=True)
    logging.getLogger().setLevel(logging.WARNING)  # the progress bar is the output

    def error(message: str) -> None:
        console.print("[red]error:[/red]", escape(message), soft_wrap=True)

    try:
        board = load(path)
    except VideoFoundryError as exc:
        error(exc.message)
        return 2
    runtime = await Runtime.start(settings)
    workers = asyncio.create_task(run_workers(runtime, ("ai", "composition"), recover=True))
    try:
        try:
            job_id = await _start(runtime, board, path)
        except VideoFoundryError as exc:
            error(exc.message)
            return 2
        status = await _follow(runtime, job_id, console, path)
        if status != "completed":
            return 1
        async with runtime.sessions() as session:
            job = await session.get_one(RenderJob, job_id)
            final = await session.get_one(Asset, job.final_asset_id)
            try:
                await runtime.storage.get_file(final.storage_key, output)
            except OSError as exc:
                error(f"cannot write {output}: {exc.strerror or exc}")
                return 1
        console.print(f"wrote {escape(str(output))} ({job.duration:.2f} s)")
        return 0
    except VideoFoundryError as exc:
        error(f"{path}: {exc.message}")
        return 1
    finally:
        workers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await workers
        await runtime.close()


def _check_models(runtime: Runtime, board: Storyboard, path: Path) -> None:
    """An unusable model is the blocker to report, before any detail of its segment."""
    for number, segment in enumerate(board.segments, 1):
        try:
            adapter, _model = runtime.registry.resolve(segment.model)
        except VideoFoundryError as exc:
            raise VideoFoundryError(f"{path}: segment {number}: {exc.message}") from exc
        reason = adapter.availability()
        if reason is not None:
            raise VideoFoundryError(
                f"{path}: segment {number}: model {segment.model} is not available: {reason}"
            )


async def _start(runtime: Runtime, board: Storyboard, path: Path) -> str:
    _check_models(runtime, board, path)
    async with runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.email == CLI_USER))
        if user is None:
            user = await create_user(session, CLI_USER, secrets.token_urlsafe(16))
        project = await projects.create_project(
            session,
            user.id,
            ProjectCreate(
                name=board.name,
                width=board.output.width,
                height=board.output.height,
                fps=board.output.fps,
                aspect_mode=board.output.aspect_mode,
                default_transition=board.transition,
            ),
        )
        for number, segment in enumerate(board.segments, 1):
            try:
                await projects.add_segment(
                    session,
                    runtime.registry,
                    user.id,
                    project.id,
                    segment,
                    runtime.settings.MAX_SEGMENTS_PER_PROJECT,
                )
            except VideoFoundryError as exc:
                raise VideoFoundryError(f"{path}: segment {number}: {exc.message}") from exc
        events = job_events.Events()
        try:
            job = await orchestrator.start_render(session, runtime, user.id, project.id, events)
        except VideoFoundryError as exc:
            raise VideoFoundryError(f"{path}: {exc.message}") from exc
        await session.commit()
    await job_events.publish(runtime, events)
    await task_publisher.relay(runtime.sessions, runtime.broker)
    return job.id


async def _follow(runtime: Runtime, job_id: str, console: Console, path: Path) -> str:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("rendering", total=1.0)
        while True:
            async with runtime.sessions() as session:
                job = await session.get_one(RenderJob, job_id)
                view = await job_views.job_view(session, runtime, job)
            done = sum(1 for s in view.segments if s.status == "completed")
            reused = sum(1 for s in view.segments if s.reused)
            bar.update(
                task,
                completed=view.progress,
                description=f"{view.status}: {done}/{len(view.segments)} clips ({reused} reused)",
            )
            if view.status in ("completed", "failed", "cancelled"):
                if view.error:
                    # The job's error names the segment ("segment 2 of 'Tide pools': ...").
                    console.print(
                        f"[red]{view.status}:[/red]",
                        escape(f"{path}: {view.error}"),
                        soft_wrap=True,
                    )
                return view.status
            await asyncio.sleep(0.2)
