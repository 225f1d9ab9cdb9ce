"""The AI worker's per-segment SQL, built once at import (building one costs more than running
it, and with fast or cached models these statements are most of the product's own cost)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, literal_column, or_, select, update
from sqlalchemy.sql.elements import Label

from videofoundry.models import Asset, SegmentRender
from videofoundry.models.segment_render import TERMINAL_SEGMENT_STATES

SR = cast(Table, SegmentRender.__table__)
EVENT_COLUMNS = (
    SR.c.id,
    SR.c.segment_id,
    SR.c.position,
    SR.c.status,
    SR.c.progress,
    SR.c.reused,
    SR.c.error,
    SR.c.message,
    SR.c.estimated_cost,
)
"""The columns a segment event and a claim need, read back by the UPDATE that changes them."""
# Written out: SQLite renders RETURNING columns unqualified, which would turn a correlated
# subquery built from column objects into `job_id = job_id`.
_TWINS: Label[int] = literal_column(
    "(SELECT count(*) FROM segment_render AS twin"
    " WHERE twin.job_id = segment_render.job_id"
    " AND twin.spec_hash = segment_render.spec_hash"
    " AND twin.id != segment_render.id)"
).label("twins")
"""Rows of the same job with the same spec: they wait for this one's clip."""
_RUNNING_ELSEWHERE: Label[int] = literal_column(
    "(SELECT count(*) FROM segment_render AS other"
    " WHERE other.spec_hash = segment_render.spec_hash"
    " AND other.job_id != segment_render.job_id"
    " AND other.status = 'running')"
).label("running_elsewhere")
"""Rows of other jobs with the same spec being generated (any owner; checked precisely when
there are some)."""

NOW = bindparam("p_now", type_=SR.c.started_at.type)
CLAIM_ROW = (
    update(SR)
    .where(
        SR.c.id == bindparam("p_row", type_=SR.c.id.type),
        SR.c.job_id == bindparam("p_job", type_=SR.c.job_id.type),
        # A twin with the same spec waits for the one that is generated.
        SR.c.reused.is_(False),
        # A continued shot waits for the clip it continues from (completion clears this).
        SR.c.waits_for.is_(None),
        or_(
            SR.c.status == "pending",
            (SR.c.status == "running") & (SR.c.lease_expires_at < NOW),
        ),
    )
    .values(
        status="running",
        lease_token=bindparam("p_lease", type_=SR.c.lease_token.type),
        lease_expires_at=bindparam("p_deadline", type_=SR.c.lease_expires_at.type),
        attempts=SR.c.attempts + 1,
        started_at=NOW,
        message=None,
    )
    .returning(
        *EVENT_COLUMNS,
        SR.c.spec,
        SR.c.spec_hash,
        SR.c.provider_task_id,
        SR.c.attempts,
        _TWINS,
        _RUNNING_ELSEWHERE,
    )
)
"""Take a pending segment, or one whose worker's lease ran out."""
_ASSET = cast(Table, Asset.__table__)
CLIP_ID = select(_ASSET.c.id).where(
    _ASSET.c.storage_key == bindparam("p_key"),
    _ASSET.c.damaged.is_(None),  # the plan found it bad: generate it again (integrity.py)
)
"""On the table, not the mapped class: a Core statement skips the ORM's result processing."""
_DONE: dict[str, Any] = {
    "status": "completed",
    "progress": 1.0,
    "clip_asset_id": bindparam("p_clip", type_=SR.c.clip_asset_id.type),
    "lease_token": None,
    "finished_at": NOW,
    "message": None,
}
DONE_OWN = (
    update(SR)
    .where(
        SR.c.id == bindparam("p_row", type_=SR.c.id.type),
        SR.c.lease_token == bindparam("p_lease", type_=SR.c.lease_token.type),
        SR.c.status == "running",
    )
    .values(
        **_DONE,
        reused=bindparam("p_reused", type_=SR.c.reused.type),
        actual_cost=bindparam("p_cost", type_=SR.c.actual_cost.type),
    )
    .returning(*EVENT_COLUMNS)
)
"""Our row, if we still hold it."""
DONE_TWINS = (
    update(SR)
    .where(
        SR.c.job_id == bindparam("p_job", type_=SR.c.job_id.type),
        SR.c.spec_hash == bindparam("p_spec", type_=SR.c.spec_hash.type),
        SR.c.id != bindparam("p_row", type_=SR.c.id.type),
        SR.c.status.not_in(TERMINAL_SEGMENT_STATES),
    )
    .values(**_DONE, reused=True)
    .returning(*EVENT_COLUMNS)
)
"""The rows of the same job with the same spec, which waited for our clip."""
RELEASE_CONTINUED = (
    update(SR)
    .where(
        SR.c.job_id == bindparam("p_job", type_=SR.c.job_id.type),
        SR.c.waits_for == bindparam("p_spec", type_=SR.c.spec_hash.type),
    )
    .values(waits_for=None)
    .returning(SR.c.id, SR.c.status, SR.c.reused)
)
"""The rows of the same job that continue from our clip: free to be generated now."""
