"""Operator rights and modes, disabled operators, network lists and the hash-chained audit log.

Revision ID: 0002_admin
Revises: 0001
Create Date: 2026-11-30

Operators that existed before this revision keep what they could do before it (every right, the
session-number mode); operators created afterwards get only what the admin gives them.

The audit log is append-only. Besides the hash chain (which shows any edit or deletion to
``tasuke audit verify``), SQLite triggers refuse UPDATE and DELETE on the table, so a bug in the
server cannot rewrite history by accident. Someone with the database file can drop the triggers;
the chain is what catches that.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_admin"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = {
    "audit_log_no_update": "UPDATE",
    "audit_log_no_delete": "DELETE",
}


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.add_column(
            sa.Column(
                "rights",
                sa.String(200),
                nullable=False,
                server_default="view,control,files,sysinfo",
            )
        )
        batch.add_column(
            sa.Column("modes", sa.String(200), nullable=False, server_default="number")
        )
        batch.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))

    op.create_table(
        "network_lists",
        sa.Column("id", sa.Integer(), primary_key=True),
        # "operator_allow": operator sign-in only from these networks (when any are listed).
        # "customer_block": agents from these networks are refused at /ws/agent.
        sa.Column("list_name", sa.String(32), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("list_name", "network", name="uq_network_lists_entry"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("address", sa.String(100), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, verb in _TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_log")
    op.drop_table("network_lists")
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("modes")
        batch.drop_column("rights")
