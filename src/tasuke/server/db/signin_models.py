"""Tables of the second factor, trusted browsers, sign-in notices and server-wide settings.

Kept apart from :mod:`tasuke.server.db.models` so the sign-in half of the schema reads as one
idea; the tables share its declarative base and its UTC datetime type. Created by Alembic
revision ``0003_signin``.

Secrets are stored as little as possible: recovery codes and trusted-browser tokens only as
SHA-256 (they are 80+ random bits, so a fast hash is enough), WebAuthn only as public keys. The
TOTP secret has to be kept as is, because the server must compute the same codes as the app.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tasuke.server.db.models import Base, UTCDateTime

__all__ = [
    "RecoveryCode",
    "ServerSetting",
    "SigninNotice",
    "TotpCredential",
    "TrustedBrowser",
    "WebAuthnCredential",
]


class TotpCredential(Base):
    """An operator's TOTP secret; it counts only once ``confirmed_at`` is set."""

    __tablename__ = "totp_credentials"

    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    """The newest time step a code was accepted for: older or equal steps are replays."""


class RecoveryCode(Base):
    """One single-use recovery code, stored as its SHA-256."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnCredential(Base):
    """A registered security key or passkey: its id, public key and signature counter."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrustedBrowser(Base):
    """A browser that may skip the second factor until ``expires_at`` (token kept hashed)."""

    __tablename__ = "trusted_browsers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SigninNotice(Base):
    """Failed sign-ins against an account since its last sign-in, shown at the next one."""

    __tablename__ = "signin_notices"

    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_signin_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_signin_address: Mapped[str | None] = mapped_column(String(100))


class ServerSetting(Base):
    """One server-wide setting that admins change in the console (key -> JSON text)."""

    __tablename__ = "server_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(64))
