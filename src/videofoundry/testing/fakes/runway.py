"""Fake Runway developer API (`https://api.dev.runwayml.com`), per docs/providers.md section 1.

Implements `POST /v1/image_to_video`, `POST /v1/text_to_video`, `GET|DELETE /v1/tasks/{id}` and
`GET /v1/organization` with the documented validation (per-model ratio, duration, prompt and
image rules), the `error`/`issues`/`docUrl` 400 shape, the task state machine
`THROTTLED -> PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED` with a per-key concurrency
cap, and signed result URLs that expire (403, as a CDN answers).

Its model table is written from providers.md independently of the adapter's, so a contract
test compares two readings of the document rather than one table with itself.

Real-API references: https://docs.dev.runwayml.com/api , GitHub runwayml/sdk-python.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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

API_VERSIONS = {"2024-11-06", "2024-09-13"}
DOC_URL = "https://docs.dev.runwayml.com/api"
GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
DATA_URI_MAX = 5 * 1024 * 1024


@dataclass(frozen=True)
class ModelRule:
    i2v: bool
    t2v: bool
    i2v_ratios: tuple[str, ...]
    t2v_ratios: tuple[str, ...]
    durations: tuple[int, ...]
    prompt_required_i2v: bool
    positions: tuple[str, ...] = ("first",)
    moderation: bool = False
    audio: bool = False
    duration_required: bool = False


MODELS: dict[str, ModelRule] = {
    "gen4_turbo": ModelRule(
        True, False, GEN4_RATIOS, (), tuple(range(2, 11)), False, ("first",), True
    ),
    "gen4.5": ModelRule(
        True,
        True,
        GEN4_RATIOS,
        ("1280:720", "720:1280"),
        tuple(range(2, 11)),
        True,
        ("first",),
        True,
        duration_required=True,
    ),
    "veo3.1": ModelRule(
        True, True, VEO_RATIOS, VEO_RATIOS, (4, 6, 8), False, ("first", "last"), audio=True
    ),
    "veo3.1_fast": ModelRule(
        True, True, VEO_RATIOS, VEO_RATIOS, (4, 6, 8), False, ("first", "last"), audio=True
    ),
}
CREDITS_PER_SECOND = {
    "gen4_turbo": 5,
    "gen4.5": 12,
    "veo3.1": 40,
    "veo3.1_fast": 15,
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def _issue(code: str, path: list[str | int], message: str) -> dict[str, Any]:
    return {"code": code, "path": path, "message": message}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_uri(uri: Any, path: list[str | int]) -> list[dict[str, Any]]:
    if not isinstance(uri, str):
        return [_issue("invalid_type", path, "Expected string")]
    if uri.startswith("data:"):
        match = re.match(r"^data:(image/(?:png|jpeg|jpg|webp));base64,(.*)$", uri, re.S)
        if match is None:
            return [_issue("custom", path, "Invalid data URI: must be a base64 PNG, JPEG or WebP")]
        if len(uri) >= DATA_URI_MAX:
            return [_issue("too_big", path, "Data URI must be under 5 MB")]
        try:
            base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            return [_issue("custom", path, "Invalid data URI: bad base64")]
        return []
    if uri.startswith("runway://"):
        return []
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host or re.fullmatch(r"[\d.]+|\[.*\]", host):
        return [_issue("custom", path, "URL must use HTTPS on a domain name")]
    if len(uri) > 2048:
        return [_issue("too_big", path, "URL must be at most 2048 characters")]
    return []


def validate(body: Any, *, text_only: bool) -> list[dict[str, Any]]:
    """Issues in the zod-like shape the live API answers with."""
    if not isinstance(body, dict):
        return [_issue("invalid_type", [], "Expected object, received " + type(body).__name__)]
    issues: list[dict[str, Any]] = []
    model = body.get("model")
    rule = MODELS.get(model) if isinstance(model, str) else None
    allowed = [m for m, r in MODELS.items() if (r.t2v if text_only else r.i2v)]
    if rule is None or (text_only and not rule.t2v) or (not text_only and not rule.i2v):
        return [
            _issue(
                "invalid_union",
                ["model"],
                "Invalid option: expected one of " + "|".join(f'"{m}"' for m in allowed),
            )
        ]
    prompt = body.get("promptText")
    prompt_required = text_only or rule.prompt_required_i2v
    if prompt is None:
        if prompt_required:
            issues.append(_issue("invalid_type", ["promptText"], "Required"))
    elif not isinstance(prompt, str):
        issues.append(_issue("invalid_type", ["promptText"], "Expected string"))
    elif _utf16_len(prompt) < 1:
        issues.append(
            _issue("too_small", ["promptText"], "String must contain at least 1 character(s)")
        )
    elif _utf16_len(prompt) > 1000:
        issues.append(
            _issue("too_big", ["promptText"], "String must contain at most 1000 character(s)")
        )
    if not text_only:
        image = body.get("promptImage")
        if image is None:
            issues.append(_issue("invalid_type", ["promptImage"], "Required"))
        elif isinstance(image, list):
            seen: set[str] = set()
            if not image:
                issues.append(_issue("too_small", ["promptImage"], "Array must not be empty"))
            for index, item in enumerate(image):
                if not isinstance(item, dict):
                    issues.append(_issue("invalid_type", ["promptImage", index], "Expected object"))
                    continue
                issues += _check_uri(item.get("uri"), ["promptImage", index, "uri"])
                position = item.get("position")
                if position not in rule.positions or position in seen:
                    issues.append(
                        _issue(
                            "invalid_value",
                            ["promptImage", index, "position"],
                            "Invalid option: expected one of "
                            + "|".join(f'"{p}"' for p in rule.positions),
                        )
                    )
                seen.add(str(position))
        else:
            issues += _check_uri(image, ["promptImage"])
    ratios = rule.t2v_ratios if text_only else rule.i2v_ratios
    ratio = body.get("ratio")
    if ratio not in ratios:
        issues.append(
            _issue(
                "invalid_value" if ratio is not None else "invalid_type",
                ["ratio"],
                "Invalid option: expected one of " + "|".join(f'"{r}"' for r in ratios)
                if ratio is not None
                else "Required",
            )
        )
    duration = body.get("duration")
    if duration is None and rule.duration_required:
        issues.append(_issue("invalid_type", ["duration"], "Required"))
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            issues.append(_issue("invalid_type", ["duration"], "Expected number"))
        elif not float(duration).is_integer() or int(duration) not in rule.durations:
            issues.append(
                _issue(
                    "invalid_value",
                    ["duration"],
                    "Invalid option: expected one of " + "|".join(str(d) for d in rule.durations),
                )
            )
    seed = body.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 4294967295
    ):
        issues.append(_issue("too_big", ["seed"], "Number must be an integer in 0..4294967295"))
    moderation = body.get("contentModeration")
    if moderation is not None:
        if not rule.moderation:
            issues.append(_issue("unrecognized_keys", ["contentModeration"], "Unrecognized key"))
        elif not isinstance(moderation, dict) or moderation.get("publicFigureThreshold") not in (
            None,
            "auto",
            "low",
        ):
            issues.append(
                _issue(
                    "invalid_value",
                    ["contentModeration", "publicFigureThreshold"],
                    'Invalid option: expected one of "auto"|"low"',
                )
            )
    audio = body.get("audio")
    if audio is not None and (not rule.audio or not isinstance(audio, bool)):
        issues.append(_issue("invalid_type", ["audio"], "Expected boolean on Veo models only"))
    return issues


def credits(task: FakeTask) -> int:
    """What a task costs: the model's credits per second times the seconds asked for."""
    return CREDITS_PER_SECOND[task.model] * int(task.seconds)


def task_json(state: FakeState, task: FakeTask, base_url: str) -> dict[str, Any]:
    """A task in the shape of the SDK's `TaskRetrieveResponse`: `estimatedCost` while it is
    waiting or running, `cost` once it is over (failed and cancelled tasks are refunded: 0)."""
    phase, progress = task.phase(state.clock())
    out: dict[str, Any] = {"id": task.id, "createdAt": iso(task.created_wall)}
    if phase in ("throttled", "pending", "running"):
        out["status"] = phase.upper()
        out["estimatedCost"] = {"credits": credits(task)}
        if phase == "running":
            out["progress"] = round(progress, 3)
    elif phase == "succeeded":
        out["status"] = "SUCCEEDED"
        out["output"] = [state.media_url(base_url, task)]
        out["cost"] = {"credits": credits(task)}
    elif phase == "failed":
        assert task.fault is not None
        out["status"] = "FAILED"
        out["failure"] = task.fault.failure or "An unexpected error occurred."
        if task.fault.failure_code is not None:
            out["failureCode"] = task.fault.failure_code
        out["cost"] = {"credits": 0}
    else:
        out["status"] = "CANCELLED"
        out["cost"] = {"credits": 0}
    if state.faults.extra_fields:
        out["futureField"] = {"nested": [1, 2, 3]}
    return out


def create_app(config: FakeConfig) -> FastAPI:
    state = FakeState("runway", config)
    app = build_app(
        state,
        title="Fake Runway API",
        media_status_expired=403,
        expired_body=lambda: Response(
            b"<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
            b"<Message>Request has expired</Message></Error>",
            status_code=403,
            media_type="application/xml",
        ),
    )

    def auth(request: Request) -> str | Response:
        """The caller's key, or the answer refusing it."""
        key = bearer(request)
        if key is None:
            return JSONResponse({"error": "Missing API key"}, status_code=401)
        if key not in config.keys:
            return JSONResponse(
                {"error": "Invalid API key. Make sure you use the api.dev.runwayml.com host."},
                status_code=401,
            )
        version = request.headers.get("x-runway-version")
        if version is None:
            return JSONResponse(
                {"error": "The X-Runway-Version header is required."}, status_code=400
            )
        if version not in API_VERSIONS:
            return JSONResponse({"error": f"Unsupported API version {version!r}."}, status_code=400)
        return key

    async def create(request: Request, text_only: bool) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        faulted = await apply_fault(state, "create", request, error_body)
        if faulted is not None:
            return faulted
        body, problem = await read_json(request)
        if problem is not None:
            return JSONResponse({"error": problem}, status_code=400)
        issues = validate(body, text_only=text_only)
        if issues:
            return JSONResponse(
                {"error": "Validation of body failed", "issues": issues, "docUrl": DOC_URL},
                status_code=400,
            )
        model = body["model"]
        rule = MODELS[model]
        default_ratio = (rule.t2v_ratios if text_only else rule.i2v_ratios)[0]
        width, height = (int(v) for v in body.get("ratio", default_ratio).split(":"))
        # Default when omitted is [U]; 5 s where allowed, else the longest.
        seconds = int(body.get("duration", 5 if 5 in rule.durations else rule.durations[-1]))
        task = state.add_task(
            key=key,
            model=model,
            seconds=seconds,
            width=width,
            height=height,
            request=body,
            endpoint=request.url.path,
            segment=request.headers.get(SEGMENT_HEADER),
        )
        answer = {"id": task.id, "estimatedCost": {"credits": credits(task)}}
        return JSONResponse(answer, status_code=200)

    @app.post("/v1/image_to_video")
    async def image_to_video(request: Request) -> Response:
        return await create(request, text_only=False)

    @app.post("/v1/text_to_video")
    async def text_to_video(request: Request) -> Response:
        return await create(request, text_only=True)

    def delete(task: FakeTask, request: Request) -> Response:
        if task.phase(state.clock())[0] in ("throttled", "pending", "running"):
            task.cancelled_at = state.clock()
        else:
            del state.tasks[task.id]
        return Response(status_code=204)

    add_task_routes(
        app,
        state,
        poll_path="/v1/tasks/{task_id}",
        cancel_route=("DELETE", "/v1/tasks/{task_id}"),
        auth=auth,
        error_body=error_body,
        not_found=lambda: JSONResponse({"error": "Task not found"}, status_code=404),
        show=lambda task, request: task_json(state, task, str(request.base_url)),
        cancel=delete,
    )

    @app.get("/v1/organization")
    async def organization(request: Request) -> Response:
        key = auth(request)
        if isinstance(key, Response):
            return key
        return JSONResponse(
            {
                "tier": {"maxMonthlyCreditSpend": 10000, "models": {}},
                "creditBalance": 100000,
                "usage": {"models": {}},
            }
        )

    return app
