from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text

from videofoundry.api.deps import RuntimeDep
from videofoundry.queue.base import SEGMENTS
from videofoundry.runtime import Runtime

router = APIRouter(tags=["health"])

# A dependency that does not answer within this is reported unavailable: a probe must answer
# quickly even while a client library is stuck reconnecting.
CHECK_SECONDS = 2.0
# Any key: an existence check on it proves the store answers.
_PROBE_KEY = "readyz-probe"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(probe: Awaitable[Any]) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_SECONDS)
    except Exception as exc:
        return f"unavailable ({type(exc).__name__})"
    return "ok"


async def _database(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@router.get("/readyz", response_model=None)
async def readyz(runtime: RuntimeDep) -> dict[str, Any] | JSONResponse:
    """Each dependency's state. 503 when the database is unreachable (nothing works without
    it); `degraded` with 200 when only the broker, status bus or object store is: renders are
    still accepted (the outbox holds their tasks) and status is read from the database."""
    database, broker, status, storage = await asyncio.gather(
        _check(_database(runtime)),
        _check(runtime.broker.depth(SEGMENTS)),
        _check(runtime.status.get_snapshot(_PROBE_KEY)),
        _check(runtime.storage.exists(_PROBE_KEY)),
    )
    checks = {"database": database, "broker": broker, "status": status, "storage": storage}
    if database != "ok":
        return JSONResponse(
            {"status": "unavailable", "reason": database, "checks": checks}, status_code=503
        )
    overall = "ready" if all(v == "ok" for v in checks.values()) else "degraded"
    return {"status": overall, "checks": checks}


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics of this process, or of all the API's processes when it runs several
    (each writes its figures under PROMETHEUS_MULTIPROC_DIR: any one of them adds them up)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
