"""job composition progress

`render_job.composition_progress`: the fraction of the composition done, saved by the
composition worker, so the job view gives the same progress as the live events while a job
composes. Existing jobs start at 0 (a finished job shows 1.0 whatever it holds).

Revision ID: b5f0e3a8c2d7
Revises: c7d2e9a4f1b8
Create Date: 2026-12-05 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5f0e3a8c2d7"
down_revision: str | None = "c7d2e9a4f1b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("composition_progress", sa.Float(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("render_job", schema=None) as batch_op:
        batch_op.drop_column("composition_progress")
