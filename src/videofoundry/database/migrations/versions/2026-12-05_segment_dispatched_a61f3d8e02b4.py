"""segment_render.dispatched_at

When a segment's task was handed to the queue. Each user has a bounded number of segment tasks
queued or running at once (SEGMENTS_IN_FLIGHT_PER_USER); the rest wait with this column empty
and are released as that user's earlier segments finish, so one large render cannot hold the
queue. Rows that exist already were queued the old way, so they count as dispatched.

Revision ID: a61f3d8e02b4
Revises: e4a7c2d91b3f
Create Date: 2026-12-05 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a61f3d8e02b4"
down_revision: str | None = "e4a7c2d91b3f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segment_render", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE segment_render SET dispatched_at = COALESCE(started_at, finished_at, "
        "CURRENT_TIMESTAMP) WHERE waits_for IS NULL AND reused = false"
    )


def downgrade() -> None:
    with op.batch_alter_table("segment_render", schema=None) as batch_op:
        batch_op.drop_column("dispatched_at")
