"""asset damaged

`asset.damaged`: why a stored object is known not to match its recorded size and SHA-256
(found while composing, which hashes every clip it reads). The planner then generates the clip
again instead of reusing it; storing the new clip clears the mark. Null for every existing row.

Revision ID: c7d2e9a4f1b8
Revises: a61f3d8e02b4
Create Date: 2026-12-05 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7d2e9a4f1b8"
down_revision: str | None = "a61f3d8e02b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("damaged", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.drop_column("damaged")
