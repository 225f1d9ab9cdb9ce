"""segment trim

`segment.trim_start` and `segment.trim_end`: in and out points, in seconds within the
segment's generated clip. Not part of the clip's spec: a trim is applied when composing.
Existing segments are untrimmed (both null).

Revision ID: 9d4e2b7c1a36
Revises: 3f8a2c6d1e57
Create Date: 2026-12-05 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4e2b7c1a36"
down_revision: str | None = "3f8a2c6d1e57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trim_start", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("trim_end", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_column("trim_end")
        batch_op.drop_column("trim_start")
