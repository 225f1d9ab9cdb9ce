"""Fake Stability AI REST API v2beta (`https://api.stability.ai`), per providers.md section 2.

- `POST /v2beta/stable-image/generate/core`: multipart; answers at once with a PNG/JPEG/WebP of
  the aspect ratio's ~1.5 MP size (`accept: image/*`) or JSON with base64 (`application/json`).
- `POST /v2beta/image-to-video` (alias `/v2alpha/generation/image-to-video`): multipart; `image`
  must be JPEG/PNG of exactly 1024x576, 576x1024 or 768x768; answers `{"id": <64 hex>}`.
- `GET /v2beta/image-to-video/result/{id}`: 202 `in-progress`, then 200 video/mp4 bytes (or JSON
  with base64 for `accept: application/json`) with `finish-reason` and `seed` headers; 404
  `generation_not_found` for unknown, foreign or expired ids.

The real video endpoint was discontinued on 2025-07-24 (https://stability.ai/api-pricing-update-25);
the `discontinued` fault makes the fake answer 404 as a live call would [U].
Clip length is [U]: the fake serves 25 frames at 8 fps (about 3 s) at the input size.
Errors are `{"id", "name", "errors": [...]}`.
"""

from __future__ import annotations

import asyncio
import io
import math
import secrets
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from videofoundry.testing.fakes._common import (
    SEGMENT_HEADER,
    FakeConfig,
    FakeState,
    apply_fault,
    b64,
    bearer,
    build_app,
    fault_response,
    make_image,
    task_video,
    truncated_response,
)

VIDEO_SIZES = {(1024, 576), (576, 1024), (768, 768)}
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
MAX_REQUEST = 10 * 1024 * 1024
SVD_FRAMES = 25
SVD_FPS = 8
NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "content_moderation",
    404: "not_found",
    413: "payload_too_large",
    422: "invalid_language",
    429: "rate_limit_exceeded",
    500: "internal_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    if status == 403 and message == "Forbidden":
        message = (
            "Your request was flagged by our content moderation system, as a result your "
            "request was denied and you were not charged."
        )
    if status == 429 and message == "Too many requests":
        message = "You have exceeded the rate limit of 150 requests within a 10 second period."
    return {"id": secrets.token_hex(16), "name": NAMES.get(status, "error"), "errors": [message]}


def error(status: int, message: str, name: str | None = None) -> JSONResponse:
    body = error_body(status, message)
    if name is not None:
        body["name"] = name
    return JSONResponse(body, status_code=status)


def core_size(aspect: str) -> tuple[int, int]:
    """About 1.5 megapixels at `aspect`, multiples of 64."""
    w, h = (int(v) for v in aspect.split(":"))
    ratio = w / h
    width = round(math.sqrt(1.5e6 * ratio) / 64) * 64
    height = round(width / ratio / 64) * 64
    return width, height


def _number(form: Any, name: str, low: float, high: float, default: float) -> float | str:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return f"{name}: expected a number"
    if not low <= value <= high:
        return f"{name}: must be between {low:g} and {high:g}"
    return value


def create_app(config: FakeConfig) -> FastAPI:
    state = FakeState("stability", config)
    app = build_app(state, title="Fake Stability AI API", media_status_expired=404)

    def auth(request: Request) -> str | Response:
        key = bearer(request)
        if key is None or key not in config.keys:
            return error(401, "authorization: invalid or missing API key", "unauthorized")
        return key

    def too_big(request: Request) -> Response | None:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_REQUEST:
            return error(413, "Your request was larger than 10MiB.", "payload_too_large")
        return None

    @app.post("/v2beta/stable-image/generate/core")
    async def core(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        refused = too_big(request) or await apply_fault(state, "image", request, error_body)
        if refused is not None:
            return refused
        form = await request.form()
        prompt = form.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 10000:
            return error(400, "prompt: is required and must be 1 to 10000 characters")
        aspect = form.get("aspect_ratio") or "1:1"
        if aspect not in ASPECT_RATIOS:
            return error(400, f"aspect_ratio: must be one of {', '.join(ASPECT_RATIOS)}")
        seed = _number(form, "seed", 0, 4294967294, 0)
        if isinstance(seed, str):
            return error(400, seed)
        output_format = form.get("output_format") or "png"
        if output_format not in ("png", "jpeg", "webp"):
            return error(400, "output_format: must be one of png, jpeg, webp")
        width, height = core_size(str(aspect))
        image = make_image(
            width, height, {"jpeg": "JPEG", "webp": "WEBP"}.get(str(output_format), "PNG")
        )
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        with state.lock:
            state.ledger.append(
                {
                    "seq": len(state.ledger) + 1,
                    "endpoint": request.url.path,
                    "task_id": None,
                    "model": "core",
                    "segment": request.headers.get(SEGMENT_HEADER),
                    "body": fields,
                    "time": time.time(),
                }
            )
        used_seed = int(seed) or 1234
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(
                {"image": b64(image), "finish_reason": "SUCCESS", "seed": used_seed}
            )
        return Response(
            image,
            media_type=f"image/{output_format}",
            headers={"finish-reason": "SUCCESS", "seed": str(used_seed)},
        )

    async def image_to_video(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        if state.faults.discontinued:
            return error(404, "The requested endpoint is no longer available.", "not_found")
        refused = too_big(request) or await apply_fault(state, "create", request, error_body)
        if refused is not None:
            return refused
        form = await request.form()
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            return error(400, "image: required")
        data = await upload.read()
        from PIL import Image, UnidentifiedImageError

        try:
            picture = Image.open(io.BytesIO(data))
            picture_format = picture.format
            size = picture.size
        except (UnidentifiedImageError, OSError):
            return error(400, "image: could not be decoded")
        if picture_format not in ("JPEG", "PNG"):
            return error(400, "image: must be a JPEG or PNG")
        if size not in VIDEO_SIZES:
            return error(
                400,
                f"image: dimensions {size[0]}x{size[1]} are not supported; "
                "use 1024x576, 576x1024 or 768x768",
            )
        numbers: dict[str, float] = {}
        for name, low, high, default in (
            ("seed", 0, 4294967294, 0),
            ("cfg_scale", 0, 10, 1.8),
            ("motion_bucket_id", 1, 255, 127),
        ):
            value = _number(form, name, low, high, default)
            if isinstance(value, str):
                return error(400, value)
            numbers[name] = value
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        fields["image"] = f"<{picture_format} {size[0]}x{size[1]}, {len(data)} bytes>"
        task = state.add_task(
            key=key,
            model="svd",
            seconds=SVD_FRAMES / SVD_FPS,
            width=size[0],
            height=size[1],
            request=fields,
            endpoint=request.url.path,
            segment=request.headers.get(SEGMENT_HEADER),
            task_id=secrets.token_hex(32),
            frames=SVD_FRAMES,
            fps=SVD_FPS,
        )
        task.extra["seed"] = int(numbers["seed"]) or 42
        return JSONResponse({"id": task.id})

    @app.post("/v2beta/image-to-video")
    async def create_video(request: Request) -> Response:
        return await image_to_video(request)

    @app.post("/v2alpha/generation/image-to-video")
    async def create_video_alpha(request: Request) -> Response:
        return await image_to_video(request)

    @app.get("/v2beta/image-to-video/result/{generation_id}")
    async def result(generation_id: str, request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        fault = state.take_http_fault("poll")
        if fault is not None:
            return fault_response(fault, request, error_body)
        now = state.clock()
        minimum = state.faults.poll_min_interval
        with state.lock:
            previous = state.last_poll.get(generation_id)
            state.last_poll[generation_id] = now
        if minimum is not None and previous is not None and now - previous < minimum:
            return error(429, "Too many requests", "rate_limit_exceeded")
        task = state.get_task(generation_id, key)
        finished = task.finished_at() if task is not None else None
        if task is None or (finished is not None and now - finished > state.output_ttl):
            return error(404, f"Generation {generation_id} was not found", "generation_not_found")
        phase, _progress = task.phase(now)
        if phase == "failed":
            # How a failed generation reads is [U]; the fake answers a 500 internal_error.
            assert task.fault is not None
            return error(500, task.fault.failure or "An unexpected error occurred.")
        if phase != "succeeded":
            return JSONResponse({"id": task.id, "status": "in-progress"}, status_code=202)
        reason = (
            "CONTENT_FILTERED"
            if task.fault is not None and task.fault.content_filtered
            else "SUCCESS"
        )
        video = await asyncio.to_thread(task_video, task)
        seed = str(task.extra.get("seed", 42))
        # The finished result *is* the download: `download` faults apply here.
        download_fault = state.take_http_fault("download")
        if download_fault is not None and download_fault.truncate:
            return truncated_response(video, "video/mp4")
        if download_fault is not None:
            return fault_response(download_fault, request, error_body)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(
                {"video": b64(video), "finish_reason": reason, "seed": int(seed)},
                media_type="application/json; type=video/mp4",
            )
        return Response(
            video,
            media_type="video/mp4",
            headers={"finish-reason": reason, "seed": seed, "x-request-id": secrets.token_hex(8)},
        )

    return app
