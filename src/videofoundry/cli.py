"""The `videofoundry` command."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from videofoundry.cli_help import PlainGroup
from videofoundry.core.logging import configure
from videofoundry.media.cli import register as register_media_commands
from videofoundry.services.users_cli import register as register_user_commands

if TYPE_CHECKING:
    # Settings pull in pydantic-settings: loaded when a command needs them, so that `compose`
    # and every `--help` start quickly.
    from fastapi import FastAPI

    from videofoundry.core.config import Settings

# Help and usage errors as plain text (rich_markup_mode=None): typer's rich panels import rich,
# a tenth of a second on every `--help` and every mistyped option.
app = typer.Typer(
    cls=PlainGroup,
    help="Video Foundry: timeline-aware AI video generation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True, rich_markup_mode=None)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True, rich_markup_mode=None)
worker_app = typer.Typer(
    help="Run one worker kind (distributed deployment).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(worker_app, name="worker")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", metavar="DIR", help="Where the embedded run keeps its files."),
]
STORYBOARD_FORMAT = """\b
A storyboard is a YAML mapping; only `segments` is required:
  name: Tide pools
  output: {width: 1280, height: 720, fps: 24}  # aspect_mode: fit | fill
  transition: {kind: crossfade, duration: 0.5} # between segments
  segments:                                    # in timeline order
    - prompt: dawn over a quiet tide pool
      duration: 4                              # seconds
      model: procedural                        # see GET /api/models
      params: {style: waves}                   # the model's parameters
      seed: 7                                  # re-renders reuse the clip
      negative_prompt: fog                     # what to avoid
      caption: Low tide                        # burn_caption: true draws it
      transition: {kind: cut}                  # into the next segment
Example: examples/lighthouse.yaml."""
Host = Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")]
Port = Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")]


def _settings(data_dir: Path | None = None) -> Settings:
    from videofoundry.core.config import get_settings

    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's message names the setting and what to do
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if data_dir is not None:
        settings = settings.model_copy(update={"DATA_DIR": data_dir})
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    configure(settings.LOG_LEVEL, settings.LOG_JSON)
    return settings


def _migrate(settings: Settings) -> None:
    from videofoundry.database.migrate import upgrade

    upgrade(settings.database_url)


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket before anything is printed or started, so a busy port is the
    first and only thing the user hears about."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        typer.echo(
            f"cannot listen on {host}:{port}: {os.strerror(exc.errno) if exc.errno else exc}; "
            "another program may be using the port (choose one with --port)",
            err=True,
        )
        raise typer.Exit(2) from exc


def _serve(settings: Settings, listener: socket.socket, with_workers: bool) -> None:
    import uvicorn

    from videofoundry.main import create_app
    from videofoundry.runtime import Runtime
    from videofoundry.workers.runner import run_workers

    async def workers(runtime: Runtime) -> None:
        await run_workers(runtime, ("ai", "composition"), recover=True)

    application = _long_lived(create_app(settings, companions=(workers,) if with_workers else ()))
    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(application, host=host, port=port, log_level=settings.LOG_LEVEL.lower())
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    if not server.started:
        raise typer.Exit(3)  # the application failed to start; uvicorn has logged why


@app.command()
def up(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = None,
) -> None:
    """Embedded run: API, web UI and both worker kinds in one process."""
    import asyncio  # here, not at the top: it adds a tenth of a second to every command

    listener = _listen(host, port)
    settings = _settings(data_dir)
    _migrate(settings)
    email, password = asyncio.run(_demo_login(settings))
    typer.echo(
        f"\nVideo Foundry is starting at http://{host}:{port}\n"
        f"  log in as {email} with password {password}\n"
        f"  API docs: http://{host}:{port}/docs\n"
    )
    _serve(settings, listener, with_workers=True)


async def _demo_login(settings: Settings) -> tuple[str, str]:
    from videofoundry.database.engine import make_engine, make_sessionmaker
    from videofoundry.services.users import ensure_demo_login

    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return await ensure_demo_login(session, settings.DATA_DIR)
    finally:
        await engine.dispose()


@app.command()
def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Processes serving the port [default: API_WORKERS]"),
    ] = None,
) -> None:
    """The API gateway alone (distributed run; the workers run elsewhere)."""
    settings = _settings()
    processes = workers or settings.API_WORKERS
    if processes > 1 and not (settings.RABBITMQ_URL and settings.REDIS_URL):
        # Each process would keep its own queue, live status and rate-limit counters.
        typer.echo("more than one API process needs RABBITMQ_URL and REDIS_URL", err=True)
        raise typer.Exit(2)
    if settings.embedded:
        typer.echo(
            "warning: RABBITMQ_URL is not set, so tasks stay inside this process and no worker "
            "will see them; use `videofoundry up` for a single-process run",
            err=True,
        )
    listener = _listen(host, port)
    if processes > 1:
        _serve_processes(settings, listener, processes)
    else:
        _serve(settings, listener, with_workers=False)


def api_app() -> FastAPI:
    """The application of one of `videofoundry api --workers N`'s processes (uvicorn calls it
    in each; the settings come from the environment, as the parent's did)."""
    from videofoundry.main import create_app

    return _long_lived(create_app(_settings()))


def _long_lived(application: FastAPI) -> FastAPI:
    """The application of a serving process, with everything loaded so far (modules, models,
    routes: about 140,000 objects) moved out of the cyclic collector's reach: they live as long
    as the process, and every full collection walked them all, a pause of about 70 ms every
    second or two under load (seen in the p99 of bench/api)."""
    gc.collect()
    gc.freeze()
    return application


def _serve_processes(settings: Settings, listener: socket.socket, processes: int) -> None:
    """`processes` copies of the API accepting on one socket, under uvicorn's supervisor (it
    restarts a process that dies and passes SIGTERM on, so each finishes its requests)."""
    import shutil
    import tempfile

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    # Each process counts its own metrics in files here; /metrics adds them all up.
    metrics_dir = tempfile.mkdtemp(prefix="videofoundry-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    config = uvicorn.Config(
        "videofoundry.cli:api_app",
        factory=True,
        workers=processes,
        log_level=settings.LOG_LEVEL.lower(),
    )
    supervisor = Multiprocess(config, sockets=[listener])
    try:
        supervisor.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise typer.Exit(3)  # the application failed to start; uvicorn has logged why


def _run_worker(kind: str) -> None:
    import asyncio

    settings = _settings()
    if settings.embedded:
        typer.echo(
            "RABBITMQ_URL is not set: a separate worker needs the shared queue "
            "(for a single process, use `videofoundry up`)",
            err=True,
        )
        raise typer.Exit(2)

    async def main() -> None:
        from videofoundry.runtime import Runtime
        from videofoundry.workers.runner import run_workers

        if settings.METRICS_PORT:
            from prometheus_client import start_http_server

            start_http_server(settings.METRICS_PORT)
        runtime = await Runtime.start(settings)
        work = asyncio.create_task(run_workers(runtime, (kind,)))
        # SIGTERM (docker stop, Kubernetes) and SIGINT: stop taking tasks, finish the ones in
        # hand, then exit; anything unfinished is redelivered to another worker.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, work.cancel)
        try:
            await work
        except asyncio.CancelledError:
            pass
        finally:
            await runtime.close()

    asyncio.run(main())


@worker_app.command("ai")
def worker_ai() -> None:
    """Generate segment clips from the `segments.generate` queue."""
    _run_worker("ai")


@worker_app.command("composition")
def worker_composition() -> None:
    """Stitch finished jobs from the `compositions.compose` queue."""
    _run_worker("composition")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply every migration (safe to run repeatedly)."""
    settings = _settings(data_dir)
    _migrate(settings)
    typer.echo("database is up to date")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; `base` removes all.")],
    data_dir: DataDir = None,
) -> None:
    """Revert migrations down to REVISION."""
    from videofoundry.database.migrate import downgrade

    settings = _settings(data_dir)
    downgrade(settings.database_url, revision)


@app.command(epilog=STORYBOARD_FORMAT)
def render(
    storyboard: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            metavar="STORYBOARD",
            help="A storyboard YAML file (its format is below).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", metavar="FILE", dir_okay=False, help="Where to write the MP4."
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Render a storyboard file to an MP4 with the embedded stack, headless.

    Segments whose spec did not change since an earlier render of the same data directory are
    reused, not generated (nor paid for) again.
    """
    import asyncio

    from videofoundry.storyboard import render_storyboard

    settings = _settings(data_dir)
    _migrate(settings)
    code = asyncio.run(render_storyboard(settings, storyboard, output))
    raise typer.Exit(code)


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (the web UI's types are generated from it)."""
    from videofoundry.main import create_app

    sys.stdout.write(json.dumps(create_app(_settings()).openapi(), indent=2) + "\n")


register_media_commands(app)
register_user_commands(users_app)
