"""Database tables (SQLAlchemy 2 declarative). The schema itself is owned by Alembic.

Times are stored as aware UTC datetimes. The ``consent_events`` table is append-only: it is the
session's consent record, the evidence that the customer agreed, so nothing updates or deletes it.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEntry",
    "Base",
    "ConsentEvent",
    "LoginSession",
    "NetworkEntry",
    "Operator",
    "SupportSession",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that is always aware UTC in Python, whatever the database keeps."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every Tasuke table."""


class Operator(Base):
    """A help-desk operator who signs in to the console."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(default=False)
    password_is_one_time: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Comma-separated names from tasuke.server.admin.rights (RIGHTS, MODES); read them with
    # rights_of() / modes_of(), which drop anything unknown (default deny).
    rights: Mapped[str] = mapped_column(String(200), default="")
    modes: Mapped[str] = mapped_column(String(200), default="")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Added by 0004: bumped by every password or second-factor reset, so a live console leg
    # (which re-reads it) can tell that its operator's sign-in was taken away.
    credentials_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginSession(Base):
    """A signed-in browser: the cookie token is kept only as its SHA-256."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(100))
    # Added by 0003_signin: "full", or "second_factor" / "enrol" while the sign-in is half done
    # (password accepted, second factor pending or required but not set up yet).
    stage: Mapped[str] = mapped_column(String(16), default="full")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures_notice: Mapped[int] = mapped_column(Integer, default=0)
    """Failed sign-ins against the account before this sign-in, shown until dismissed."""


class SupportSession(Base):
    """One support session: its number, its timeline and who ended it."""

    __tablename__ = "support_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[str] = mapped_column(String(9), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_decision: Mapped[str | None] = mapped_column(String(16))
    consent_scope: Mapped[str | None] = mapped_column(String(16))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(200))
    customer_address: Mapped[str | None] = mapped_column(String(100))
    agent_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ConsentEvent(Base):
    """One consent decision as the agent reported it (append-only)."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("support_sessions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(100))


class NetworkEntry(Base):
    """One network on the operator allow list or the customer block list."""

    __tablename__ = "network_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_name: Mapped[str] = mapped_column(String(32))
    network: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """One security-relevant event; append-only and hash-chained (see admin/audit.py)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
