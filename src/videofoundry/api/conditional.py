"""Conditional GETs: a view answers with its `ETag`, and `If-None-Match` naming it gets 304."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response
from pydantic import BaseModel

IfNoneMatch = Annotated[
    str | None,
    Header(description="An ETag from an earlier answer; unchanged since, the answer is 304"),
]

# Browsers keep the answer and revalidate it on every use: fetch() then sends If-None-Match
# itself and hands the page the kept body on 304.
CACHE_CONTROL = "private, no-cache"


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag`, compared weakly as RFC 9110 asks for GETs."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in if_none_match.split(","))


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def json_with_etag(body: BaseModel, etag: str) -> Response:
    """The body serialised once (the route's response_model would validate it again)."""
    return Response(
        body.model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag, "Cache-Control": CACHE_CONTROL},
    )
