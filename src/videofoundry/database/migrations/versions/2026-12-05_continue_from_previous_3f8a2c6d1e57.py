"""continue from previous

`segment.continue_from_previous`: the shot starts from the previous shot's last frame.
`segment_render.waits_for`: the spec_hash of the clip such a shot waits for within its job.
Existing segments do not continue; existing rows wait for nothing.

Revision ID: 3f8a2c6d1e57
Revises: 7b3e91c2a4f0
Create Date: 2026-12-05 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a2c6d1e57"
down_revision: str | None = "7b3e91c2a4f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "continue_from_previous", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    with op.batch_alter_table("segment_render", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waits_for", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segment_render", schema=None) as batch_op:
        batch_op.drop_column("waits_for")
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_column("continue_from_previous")
