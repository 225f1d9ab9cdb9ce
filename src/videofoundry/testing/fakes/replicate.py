"""Fake Replicate predictions API (`https://api.replicate.com`), per providers.md section 4.

Creates (`POST /v1/predictions` with a version id, `POST /v1/models/{owner}/{name}/predictions`,
`POST /v1/deployments/{owner}/{name}/predictions`) answer 201 with the prediction, holding the
request open under `Prefer: wait[=N]` until it finishes or N (scaled) seconds pass. The
prediction goes `starting -> processing` (tqdm-like lines appended to `logs`) `-> succeeded`
(output: URL of an MP4 the fake serves, 404 after `output_ttl`) or `failed` (`error`), and
`POST /v1/predictions/{id}/cancel` makes it `canceled`. `GET /v1/predictions` (list),
`GET /v1/models/{owner}/{name}` (with `latest_version`), `.../versions/{id}` (what the SDK's
`run("owner/name:version")` reads first) and `GET /v1/account` exist too. Every error, the
framework's own (unknown route, wrong method) included, is an RFC 7807 problem document.

Real-API references: https://replicate.com/docs/topics/predictions/create-a-prediction ,
GitHub replicate/replicate-python.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from videofoundry.testing.fakes._common import (
    SEGMENT_HEADER,
    TERMINAL,
    FakeConfig,
    FakeState,
    FakeTask,
    add_task_routes,
    apply_fault,
    bearer,
    build_app,
    iso,
    read_json,
)


@dataclass(frozen=True)
class FakeModel:
    version: str
    required: tuple[str, ...] = ("prompt",)
    output_list: bool = False
    """Some models answer a list of URLs instead of one URL."""


# Version ids here are made up for the fake; real ones come from the model's page.
DEFAULT_MODELS: dict[str, FakeModel] = {
    "minimax/video-01": FakeModel(
        "5aa835260ff7f40f4069c41185f72036accf99e29957bb4a3b3a911f3b6c1912"
    ),
    "fake/tiny-video": FakeModel("a" * 64, required=("prompt",), output_list=True),
}
THROTTLE_DETAIL = "Request was throttled. Your rate limit resets in ~30s."


def problem(status: int, detail: str, title: str | None = None) -> dict[str, Any]:
    titles = {
        401: "Unauthenticated",
        404: "Not found",
        422: "Input validation failed",
        429: "Too many requests",
    }
    return {
        "type": f"https://replicate.com/docs/reference/http#{status}",
        "title": title or titles.get(status, "Error"),
        "status": status,
        "detail": detail,
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    if status == 429:
        return {"detail": THROTTLE_DETAIL, "status": 429}
    return problem(status, message)


def answer_problems_for_framework_errors(app: FastAPI) -> None:
    """Unknown routes, wrong methods and unreadable bodies answer in Replicate's problem-details
    shape too, instead of the framework's `{"detail": ...}`."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404:
            detail = "The requested resource could not be found."
        return JSONResponse(problem(exc.status_code, detail), status_code=exc.status_code)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        lines = [
            f"- {'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        return JSONResponse(problem(422, "\n".join(lines)), status_code=422)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def model_json(owner: str, name: str, model: FakeModel) -> dict[str, Any]:
    """A model in the shape of `GET /v1/models/{owner}/{name}`."""
    return {
        "url": f"https://replicate.com/{owner}/{name}",
        "owner": owner,
        "name": name,
        "description": "A model of the fake Replicate API",
        "visibility": "public",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": 0,
        "cover_image_url": None,
        "default_example": None,
        "latest_version": version_json(model),
    }


def version_json(model: FakeModel) -> dict[str, Any]:
    """A version: its id, when it was pushed, and the OpenAPI schema of its inputs."""
    inputs = {name: {"type": "string", "title": name.title()} for name in model.required}
    return {
        "id": model.version,
        "created_at": "2025-01-01T00:00:00.000000Z",
        "cog_version": "0.9.0",
        "openapi_schema": {
            "openapi": "3.0.2",
            "components": {
                "schemas": {
                    "Input": {
                        "type": "object",
                        "required": list(model.required),
                        "properties": inputs,
                    },
                    "Output": {"type": "string", "format": "uri"},
                }
            },
        },
    }


def _prediction_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def _logs(progress: float, phase: str) -> str:
    lines = ["Using seed: 1234", "Loading pipeline..."]
    if phase in ("running", "succeeded", "failed"):
        steps = 25
        done = steps if phase == "succeeded" else int(progress * steps)
        for step in range(0, done + 1, 5):
            percent = int(step * 100 / steps)
            bar = "█" * (percent // 10) + " " * (10 - percent // 10)
            lines.append(f"{percent:3d}%|{bar}| {step}/{steps} [00:0{step // 5}<00:05, 4.8it/s]")
    return "\n".join(lines)


def prediction_json(
    state: FakeState, task: FakeTask, base_url: str, models: dict[str, FakeModel]
) -> dict[str, Any]:
    phase, progress = task.phase(state.clock())
    status = {
        "throttled": "starting",
        "pending": "starting",
        "running": "processing",
        "succeeded": "succeeded",
        "failed": "failed",
        "cancelled": "canceled",
    }[phase]
    base = base_url.rstrip("/")
    output: Any = None
    error: str | None = None
    if phase == "succeeded":
        url = state.media_url(base_url, task)
        model = models.get(task.model)
        output = [url] if model is not None and model.output_list else url
    elif phase == "failed":
        assert task.fault is not None
        error = task.fault.failure or "Prediction failed"
    started = task.started
    finished = task.finished_at()
    out: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "version": task.extra.get("version"),
        "input": task.request.get("input"),
        "logs": _logs(progress, phase),
        "output": output,
        "data_removed": False,
        "error": error,
        "status": status,
        "created_at": iso(task.created_wall),
        "started_at": (
            iso(task.created_wall + (started - task.created)) if started is not None else None
        ),
        "completed_at": (
            iso(task.created_wall + (finished - task.created))
            if finished is not None and phase in TERMINAL
            else None
        ),
        "urls": {
            "get": f"{base}/v1/predictions/{task.id}",
            "cancel": f"{base}/v1/predictions/{task.id}/cancel",
            "web": f"https://replicate.com/p/{task.id}",
        },
    }
    if phase == "succeeded":
        out["metrics"] = {"predict_time": task.running_seconds}
    if state.faults.extra_fields:
        out["future_field"] = {"x": 1}
    return out


def _wait_seconds(header: str | None) -> float | None:
    """`Prefer: wait` -> 60, `Prefer: wait=N` -> N (1..60); None without the preference."""
    if not header:
        return None
    for part in header.split(","):
        match = re.fullmatch(r"\s*wait(?:\s*=\s*(\d+))?\s*", part)
        if match is not None:
            value = int(match.group(1)) if match.group(1) else 60
            return float(min(60, max(1, value)))
    return None


def create_app(config: FakeConfig, models: dict[str, FakeModel] | None = None) -> FastAPI:
    state = FakeState("replicate", config)
    catalogue = dict(DEFAULT_MODELS if models is None else models)
    by_version = {m.version: name for name, m in catalogue.items()}
    app = build_app(state, title="Fake Replicate API", media_status_expired=404)
    answer_problems_for_framework_errors(app)

    def not_found() -> Response:
        return JSONResponse(
            problem(404, "The requested resource could not be found."), status_code=404
        )

    def auth(request: Request) -> str | Response:
        key = bearer(request, ("Bearer", "Token"))
        if key is None or key not in config.keys:
            return JSONResponse(
                problem(401, "You did not pass a valid authentication token"), status_code=401
            )
        return key

    async def create(request: Request, model_name: str | None, kind: str) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        faulted = await apply_fault(state, "create", request, error_body)
        if faulted is not None:
            return faulted
        body, bad = await read_json(request)
        if bad is not None or not isinstance(body, dict):
            return JSONResponse(problem(400, bad or "Body must be an object"), status_code=400)
        if model_name is None:
            version = body.get("version")
            if not isinstance(version, str):
                return JSONResponse(problem(422, "- version: version is required"), status_code=422)
            # Accepted forms: "<id>" and "owner/name:<id>".
            version_id = version.rsplit(":", 1)[-1]
            model_name = by_version.get(version_id)
            if model_name is None:
                return JSONResponse(
                    problem(422, f"- version: Invalid version or not permitted: {version}"),
                    status_code=422,
                )
        model = catalogue.get(model_name)
        if model is None:
            return JSONResponse(
                problem(404, "The requested resource could not be found."), status_code=404
            )
        payload = body.get("input")
        if not isinstance(payload, dict):
            return JSONResponse(problem(422, "- input: input is required"), status_code=422)
        missing = [name for name in model.required if name not in payload]
        if missing:
            return JSONResponse(
                problem(422, "\n".join(f"- input: {name} is required" for name in missing)),
                status_code=422,
            )
        seconds = payload.get("duration")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            seconds = 2.0  # the fake's default clip; real models decide their own length
        width = payload.get("width")
        height = payload.get("height")
        width = width if isinstance(width, int) and not isinstance(width, bool) else 1280
        height = height if isinstance(height, int) and not isinstance(height, bool) else 720
        task = state.add_task(
            key=key,
            model=model_name,
            seconds=float(min(seconds, 30.0)),
            width=max(16, min(width, 1920)),
            height=max(16, min(height, 1920)),
            request=body,
            endpoint=f"{kind} {request.url.path}",
            segment=request.headers.get(SEGMENT_HEADER),
            task_id=_prediction_id(),
        )
        task.extra["version"] = model.version
        wait = _wait_seconds(request.headers.get("prefer"))
        if wait is not None:
            deadline = asyncio.get_running_loop().time() + wait * config.wait_scale
            while (
                task.phase(state.clock())[0] not in TERMINAL
                and asyncio.get_running_loop().time() < deadline
            ):
                await asyncio.sleep(0.01)
                state.advance()
        base = str(request.base_url)
        data = prediction_json(state, task, base, catalogue)
        return JSONResponse(data, status_code=201, headers={"Location": data["urls"]["get"]})

    @app.post("/v1/predictions")
    async def create_by_version(request: Request) -> Response:
        return await create(request, None, "version")

    @app.post("/v1/models/{owner}/{name}/predictions")
    async def create_by_model(owner: str, name: str, request: Request) -> Response:
        return await create(request, f"{owner}/{name}", "model")

    @app.post("/v1/deployments/{owner}/{name}/predictions")
    async def create_by_deployment(owner: str, name: str, request: Request) -> Response:
        return await create(request, f"{owner}/{name}", "deployment")

    @app.get("/v1/predictions")
    async def list_predictions(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        state.advance()
        base = str(request.base_url)
        mine = [t for t in reversed(state.tasks.values()) if t.key == key]
        results = [prediction_json(state, t, base, catalogue) for t in mine]
        return JSONResponse({"previous": None, "next": None, "results": results})

    @app.get("/v1/models/{owner}/{name}")
    async def get_model(owner: str, name: str, request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        model = catalogue.get(f"{owner}/{name}")
        if model is None:
            return not_found()
        return JSONResponse(model_json(owner, name, model))

    @app.get("/v1/models/{owner}/{name}/versions/{version_id}")
    async def get_version(owner: str, name: str, version_id: str, request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        model = catalogue.get(f"{owner}/{name}")
        if model is None or model.version != version_id:
            return not_found()
        return JSONResponse(version_json(model))

    @app.get("/v1/account")
    async def account(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        return JSONResponse(
            {"type": "user", "username": "fake-user", "name": "Fake User", "github_url": None}
        )

    def cancel(task: FakeTask, request: Request) -> Response:
        if task.phase(state.clock())[0] not in TERMINAL:
            task.cancelled_at = state.clock()
        return JSONResponse(prediction_json(state, task, str(request.base_url), catalogue))

    add_task_routes(
        app,
        state,
        poll_path="/v1/predictions/{task_id}",
        cancel_route=("POST", "/v1/predictions/{task_id}/cancel"),
        auth=auth,
        error_body=error_body,
        not_found=not_found,
        show=lambda task, request: prediction_json(state, task, str(request.base_url), catalogue),
        cancel=cancel,
    )

    return app
