"""Operators, sign-in sessions, support sessions and the consent record.

Revision ID: 0001
Revises:
Create Date: 2025-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("password_is_one_time", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "operator_id",
            sa.Integer(),
            sa.ForeignKey("operators.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("address", sa.String(100), nullable=True),
    )
    op.create_table(
        "support_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(9), nullable=False, index=True),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=True),
        sa.Column("consent_at", sa.DateTime(), nullable=True),
        sa.Column("consent_decision", sa.String(16), nullable=True),
        sa.Column("consent_scope", sa.String(16), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=True),
        sa.Column("end_reason", sa.String(200), nullable=True),
        sa.Column("customer_address", sa.String(100), nullable=True),
        sa.Column("agent_info", sa.JSON(), nullable=True),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey("support_sessions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("address", sa.String(100), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("consent_events")
    op.drop_table("support_sessions")
    op.drop_table("login_sessions")
    op.drop_table("operators")
