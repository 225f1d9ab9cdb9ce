"""Optimistic concurrency for edits: segments and projects carry an integer `version`, bumped
by every update. An update may name the version it is based on in `If-Match` (`"3"`); when the
row moved on meanwhile, the update answers 412 with the current state instead of overwriting.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.core.errors import InvalidInput

IfMatch = Annotated[
    str | None,
    Header(
        description='The `version` the edit is based on, as `"3"`; a stale one answers 412 '
        "with the current state. Leave it out to overwrite whatever is there."
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names; None when absent or `*` (any version)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise InvalidInput(
            f'If-Match: expected a version such as "3", got {if_match!r}', "If-Match"
        )
    return int(tag)


async def bump(session: AsyncSession, model: Any, row_id: str, expected: int | None) -> bool:
    """Take the next version of a row in one conditional UPDATE (it holds the row lock until the
    transaction ends): of two edits based on one version, the second finds it moved on and gets
    False. Without `expected` the version is bumped unconditionally."""
    statement = update(model).where(model.id == row_id).values(version=model.version + 1)
    if expected is not None:
        statement = statement.where(model.version == expected)
    return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]
