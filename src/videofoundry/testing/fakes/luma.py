"""Fake Luma Dream Machine API (`https://api.lumalabs.ai/dream-machine/v1`), per providers.md
section 3.

`POST /generations/video` (and the pre-2025 `POST /generations`) answers 201 with a Generation
in state `queued`; it moves to `dreaming` then `completed` (with `assets.video` served by the
fake) or `failed` (with `failure_reason`). `GET /generations/{id}`, `GET /generations`,
`DELETE /generations/{id}` (204) and `GET /credits` exist. Errors are `{"detail": ...}`.
Callbacks are not sent (the adapter polls).

Real-API references: https://docs.lumalabs.ai/docs/errors , GitHub lumalabs/lumaai-api
(`openapi.yaml`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from videofoundry.testing.fakes._common import (
    SEGMENT_HEADER,
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

PREFIX = "/dream-machine/v1"
MODELS = ("ray-2", "ray-flash-2")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
RESOLUTIONS = {"540p": 540, "720p": 720, "1080p": 1080, "4k": 2160}
DURATIONS = {"5s": 5, "9s": 9}
# Cents per generation at 5 s, from the [T] price table; the fake only uses it for /credits.
PRICE_CENTS = {"540p": 40, "720p": 71, "1080p": 159, "4k": 400}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"detail": message}


def size_for(aspect: str, resolution: str) -> tuple[int, int]:
    """Pixel size of a `resolution` (short side) at `aspect`."""
    w, h = (int(v) for v in aspect.split(":"))
    short = RESOLUTIONS[resolution]
    if w >= h:
        return round(short * w / h / 2) * 2, short
    return short, round(short * h / w / 2) * 2


def validate(body: Any) -> str | None:
    """The first validation problem, worded after Luma's "Errors" page where it gives one."""
    if not isinstance(body, dict):
        return "Unknown request type"
    if body.get("model") not in MODELS:
        return f"Invalid model: expected one of {', '.join(MODELS)}"
    keyframes = body.get("keyframes")
    has_image = False
    if keyframes is not None:
        if not isinstance(keyframes, dict) or not keyframes:
            return "No keyframes provided"
        for name, frame in keyframes.items():
            if name not in ("frame0", "frame1") or not isinstance(frame, dict):
                return f"Invalid keyframe {name!r}"
            if frame.get("type") == "image":
                url = frame.get("url")
                if not isinstance(url, str) or not url.startswith(("https://", "data:image/")):
                    return f"Invalid image url in {name}"
                has_image = True
            elif frame.get("type") == "generation":
                if not isinstance(frame.get("id"), str):
                    return f"Invalid generation id in {name}"
            else:
                return f"Unknown keyframe type in {name}"
        if body.get("loop") and "frame1" in keyframes:
            return "Loop is not supported with an end frame"
    prompt = body.get("prompt")
    if prompt is None or prompt == "":
        if not has_image:
            return "Prompt is required"
    elif not isinstance(prompt, str):
        return "Prompt must be a string"
    elif len(prompt) < 3:
        return "Prompt is too short, minimum length is 3"
    elif len(prompt) > 5000:
        return "Prompt is too long, maximum length is 5000"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return f"Invalid aspect_ratio: expected one of {', '.join(ASPECT_RATIOS)}"
    if body.get("resolution", "720p") not in RESOLUTIONS:
        return f"Invalid resolution: expected one of {', '.join(RESOLUTIONS)}"
    if body.get("duration", "5s") not in DURATIONS:
        return "Invalid duration: expected one of 5s, 9s"
    if not isinstance(body.get("loop", False), bool):
        return "loop must be a boolean"
    return None


def generation_json(state: FakeState, task: FakeTask, base_url: str) -> dict[str, Any]:
    phase, _progress = task.phase(state.clock())
    state_name = {
        "throttled": "queued",
        "pending": "queued",
        "running": "dreaming",
        "succeeded": "completed",
        "failed": "failed",
        "cancelled": "failed",  # not reachable: DELETE removes the generation
    }[phase]
    assets: dict[str, Any] | None = None
    failure: str | None = None
    if phase == "succeeded":
        assets = {"video": state.media_url(base_url, task), "image": None, "progress_video": None}
    elif phase == "failed":
        assert task.fault is not None
        failure = task.fault.failure or "Job failed"
    out: dict[str, Any] = {
        "id": task.id,
        "generation_type": "video",
        "state": state_name,
        "failure_reason": failure,
        "created_at": iso(task.created_wall),
        "model": task.model,
        "assets": assets,
        "request": task.request,
    }
    if state.faults.extra_fields:
        out["future_field"] = {"x": 1}
    return out


def create_app(config: FakeConfig) -> FastAPI:
    state = FakeState("luma", config)
    app = build_app(state, title="Fake Luma Dream Machine API", media_status_expired=403)

    def auth(request: Request) -> str | Response:
        key = bearer(request)
        if key is None or key not in config.keys:
            return JSONResponse({"detail": "Invalid API key is provided"}, status_code=401)
        return key

    async def create(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        faulted = await apply_fault(state, "create", request, error_body)
        if faulted is not None:
            return faulted
        body, problem = await read_json(request)
        problem = problem or validate(body)
        if problem is not None:
            return JSONResponse({"detail": problem}, status_code=400)
        aspect = body.get("aspect_ratio", "16:9")
        resolution = body.get("resolution", "720p")
        width, height = size_for(aspect, resolution)
        task = state.add_task(
            key=key,
            model=body["model"],
            seconds=DURATIONS[body.get("duration", "5s")],
            width=width,
            height=height,
            request=body,
            endpoint=request.url.path,
            segment=request.headers.get(SEGMENT_HEADER),
        )
        return JSONResponse(generation_json(state, task, str(request.base_url)), status_code=201)

    @app.post(f"{PREFIX}/generations/video")
    async def create_video(request: Request) -> Response:
        return await create(request)

    @app.post(f"{PREFIX}/generations")
    async def create_legacy(request: Request) -> Response:
        return await create(request)

    @app.get(f"{PREFIX}/generations")
    async def list_generations(request: Request, limit: int = 100, offset: int = 0) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        state.advance()
        mine = [t for t in state.tasks.values() if t.key == key]
        page = mine[offset : offset + limit]
        return JSONResponse(
            {
                "generations": [generation_json(state, t, str(request.base_url)) for t in page],
                "has_more": offset + limit < len(mine),
                "count": len(page),
                "limit": limit,
                "offset": offset,
            }
        )

    def delete(task: FakeTask, request: Request) -> Response:
        # Luma deletes the generation whatever its state; a later GET answers 404.
        del state.tasks[task.id]
        return Response(status_code=204)

    add_task_routes(
        app,
        state,
        poll_path=f"{PREFIX}/generations/{{task_id}}",
        cancel_route=("DELETE", f"{PREFIX}/generations/{{task_id}}"),
        auth=auth,
        error_body=error_body,
        not_found=lambda: JSONResponse({"detail": "Generation not found"}, status_code=404),
        show=lambda task, request: generation_json(state, task, str(request.base_url)),
        cancel=delete,
    )

    @app.get(f"{PREFIX}/credits")
    async def credits(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        return JSONResponse({"credit_balance": 100_000})

    return app
