"""Operators gain a credentials generation, bumped by a password or second-factor reset.

Revision ID: 0004_operator_generation
Revises: 0003_signin
Create Date: 2026-11-30

A live console leg notes its operator's generation when it opens and re-reads it while it
runs: a reset made by another process (``tasuke operator ...``) then ends the session.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_operator_generation"
down_revision: str | None = "0003_signin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.add_column(
            sa.Column("credentials_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("credentials_generation")
