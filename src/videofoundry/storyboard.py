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
    try:
        data: Any = yaml.safe_load(path.read_text())
        return Storyboard.model_validate(data)
    except yaml.YAMLError as exc:
        raise VideoFoundryError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise VideoFoundryError(f"{path}: {problems}") from exc


async def render_storyboard(settings: Settings, path: Path, output: Path) -> int:
    console = Console(stderr=True)
    logging.getLogger().setLevel(logging.WARNING)  # the progress bar is the output
    try:
        board = load(path)
    except VideoFoundryError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        return 2
    runtime = await Runtime.start(settings)
    workers = asyncio.create_task(run_workers(runtime, ("ai", "composition"), recover=True))
    try:
        job_id = await _start(runtime, board)
        status = await _follow(runtime, job_id, console)
        if status != "completed":
            return 1
        async with runtime.sessions() as session:
            job = await session.get_one(RenderJob, job_id)
            final = await session.get_one(Asset, job.final_asset_id)
            output.parent.mkdir(parents=True, exist_ok=True)
            await runtime.storage.get_file(final.storage_key, output)
        console.print(f"wrote {output} ({job.duration:.2f} s)")
        return 0
    except VideoFoundryError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        return 1
    finally:
        workers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await workers
        await runtime.close()


async def _start(runtime: Runtime, board: Storyboard) -> str:
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
        for segment in board.segments:
            await projects.add_segment(
                session,
                runtime.registry,
                user.id,
                project.id,
                segment,
                runtime.settings.MAX_SEGMENTS_PER_PROJECT,
            )
        events = job_events.Events()
        job = await orchestrator.start_render(session, runtime, user.id, project.id, events)
        await session.commit()
    await job_events.publish(runtime, events)
    await task_publisher.relay(runtime.sessions, runtime.broker)
    return job.id


async def _follow(runtime: Runtime, job_id: str, console: Console) -> str:
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
                    console.print(f"[red]{view.status}:[/red] {view.error}")
                return view.status
            await asyncio.sleep(0.2)
