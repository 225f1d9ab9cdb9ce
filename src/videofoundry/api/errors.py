"""How errors become HTTP answers: domain errors, and validation errors made safe to echo.

A validation error repeats the offending input; that input may be NaN, a lone surrogate,
bytes or a huge document, none of which may turn a 422 into a 500 or a megabyte answer.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from videofoundry.core.errors import InvalidInput, RateLimited, VideoFoundryError

MAX_ECHO_CHARS = 200
MAX_ECHO_ITEMS = 20


def json_safe(value: Any, depth: int = 0) -> Any:
    """A small, JSON-encodable rendering of any input value."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        # Lone surrogates cannot be encoded as UTF-8: show them escaped.
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + "..."
    if depth >= 3:
        return "..."
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ECHO_ITEMS]
        return {str(json_safe(k, depth + 1)): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in list(value)[:MAX_ECHO_ITEMS]]
    return json_safe(str(value), depth)


def install(app: FastAPI) -> None:
    @app.exception_handler(VideoFoundryError)
    async def _domain_error(_request: Request, exc: VideoFoundryError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            # Same shape as FastAPI's own validation errors, so clients parse one format.
            loc = ["body", *(exc.field.split(".") if exc.field else [])]
            detail = [{"loc": loc, "msg": exc.message, "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=422)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {key: json_safe(value) for key, value in error.items() if key != "url"}
            for error in exc.errors()[:MAX_ECHO_ITEMS]
        ]
        return JSONResponse({"detail": detail}, status_code=422)
