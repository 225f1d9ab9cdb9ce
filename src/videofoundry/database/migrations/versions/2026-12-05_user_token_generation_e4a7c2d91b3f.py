"""user token generation

`user.token_generation`: login tokens carry the generation they were issued in; signing out
(POST /api/auth/logout) increments it, so every login token issued before stops working.
Existing accounts start at 0, as do tokens issued before this column existed.

Revision ID: e4a7c2d91b3f
Revises: 9d4e2b7c1a36
Create Date: 2026-12-05 18:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e4a7c2d91b3f"
down_revision: str | None = "9d4e2b7c1a36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("token_generation")
