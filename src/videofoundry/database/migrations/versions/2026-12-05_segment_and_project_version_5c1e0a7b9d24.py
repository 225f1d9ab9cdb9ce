"""segment and project version

An integer bumped on every edit of a segment or a project's own fields. Updates may carry it
in `If-Match`; a stale one answers 412 with the current state, so two tabs editing the same
timeline cannot overwrite each other without noticing. Existing rows start at 1.

Revision ID: 5c1e0a7b9d24
Revises: d8186ffdb8d8
Create Date: 2026-12-05 17:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e0a7b9d24"
down_revision: str | None = "d8186ffdb8d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("segment", "project"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("version", sa.Integer(), server_default="1", nullable=False)
            )


def downgrade() -> None:
    for table in ("segment", "project"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
