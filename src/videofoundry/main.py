"""The FastAPI application: API routes, error mapping, and the built web UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response

from videofoundry import __version__
from videofoundry.api import (
    assets,
    auth,
    errors,
    files,
    health,
    models,
    preview,
    projects,
    render,
    segments,
    takes,
    webhooks,
)
from videofoundry.api.middleware import BodySizeLimit, CleanInput, SecurityHeaders
from videofoundry.api.rate_limits import RateLimiter
from videofoundry.core.config import Settings, get_settings, protect_data_dir, signing_key
from videofoundry.core.redact import install_log_redaction
from videofoundry.runtime import Runtime
from videofoundry.services import task_publisher, webhook_delivery

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"
RELAY_SECONDS = 1.0

# Extra background services the embedded `up` command runs beside the API (the workers).
Companion = Callable[[Runtime], Coroutine[Any, Any, None]]


async def relay_forever(runtime: Runtime) -> None:
    """Safety net for the outbox: publish anything a crashed request left behind."""
    while True:
        try:
            await task_publisher.relay(runtime.sessions, runtime.broker)
        except Exception:
            log.exception("outbox relay failed; retrying")
        await asyncio.sleep(RELAY_SECONDS)


def create_app(settings: Settings | None = None, companions: tuple[Companion, ...] = ()) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        signing_key(settings)  # development without SECRET_KEY: generate the data dir's key now
        protect_data_dir(settings)  # the embedded run's database and media: this user only
        install_log_redaction(settings)  # after uvicorn set up its loggers
        runtime = await Runtime.start(settings)
        app.state.runtime = runtime
        app.state.limiter = RateLimiter(settings)
        tasks = [asyncio.create_task(relay_forever(runtime))]
        tasks += [asyncio.create_task(c(runtime)) for c in companions]
        if settings.WEBHOOK_DELIVERY:
            tasks.append(asyncio.create_task(webhook_delivery.run_forever(runtime)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = FastAPI(
        title="Video Foundry",
        version=__version__,
        description="Timeline-aware AI video generation. Authenticate with a bearer token "
        "from POST /api/auth/token or an API token from POST /api/tokens.",
        lifespan=lifespan,
    )
    app.add_middleware(CleanInput)  # inside the size limit: buffers at most the limit
    upload_cap = max(assets.MAX_UPLOAD_BYTES.values()) + (1 << 20)  # + multipart framing
    app.add_middleware(
        BodySizeLimit,
        limit=settings.MAX_REQUEST_BYTES,
        routes={("POST", "/api/assets"): upload_cap},
    )
    app.add_middleware(SecurityHeaders)  # outermost: even a 413 carries the headers
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_methods=["*"],
            allow_headers=["*"],
        )

    errors.install(app)

    for module in (
        health,
        auth,
        projects,
        segments,
        takes,
        preview,
        render,
        models,
        assets,
        files,
        webhooks,
    ):
        app.include_router(module.router)

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    async def spa(path: str) -> Response:
        if path.startswith("api/"):
            return JSONResponse({"detail": f"no such endpoint: /{path}"}, status_code=404)
        index = WEB_DIR / "index.html"
        if not index.exists():
            return JSONResponse(
                {"detail": "the web UI is not built; run `make build-web` (API docs: /docs)"},
                status_code=404,
            )
        candidate = (WEB_DIR / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(WEB_DIR.resolve()):
            return FileResponse(candidate)
        return FileResponse(index)

    return app
