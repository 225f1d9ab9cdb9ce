"""drop segment clip_asset_id

A segment's clip is the asset stored under its spec hash (content addressing), so the column
duplicated what the key already says, and cost the render pipeline a write per segment.
Downgrading brings the column back empty. During a rolling upgrade, workers of the previous
release still write the column: their completions fail until they are replaced, and the task is
retried by a new worker (a hosted task resumes from its saved provider task id, not paid again).

Revision ID: d8186ffdb8d8
Revises: 2890c0863f6e
Create Date: 2026-11-29 10:54:55.084466
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8186ffdb8d8"
down_revision: str | None = "2890c0863f6e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_segment_clip_asset_id_asset"), type_="foreignkey")
        batch_op.drop_column("clip_asset_id")


def downgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clip_asset_id", sa.VARCHAR(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_segment_clip_asset_id_asset"),
            "asset",
            ["clip_asset_id"],
            ["id"],
            ondelete="SET NULL",
        )
