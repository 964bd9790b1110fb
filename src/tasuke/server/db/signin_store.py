"""Reads and writes of the second factor, trusted browsers, sign-in notices and settings.

Like :class:`tasuke.server.db.store.Store`, each method is one short committed transaction.
Anything that must happen at most once (a TOTP time step, a recovery code) is decided by one
conditional UPDATE, so two requests racing with the same code cannot both succeed.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession as AsyncDBSession

from tasuke import limits
from tasuke.server.db.models import LoginSession, Operator
from tasuke.server.db.signin_models import (
    RecoveryCode,
    ServerSetting,
    SigninNotice,
    TotpCredential,
    TrustedBrowser,
    WebAuthnCredential,
)
from tasuke.server.db.store import StoreBase, token_hash
from tasuke.server.deps import utc
from tasuke.server.security import totp

__all__ = ["REQUIRE_SECOND_FACTOR", "SigninStore", "TrustedRow"]

REQUIRE_SECOND_FACTOR = "require_second_factor"
"""Setting: when true, every operator must use a second factor (they enrol at next sign-in)."""


@dataclass(frozen=True)
class TrustedRow:
    """A trusted browser with the user name of its operator, for listings."""

    browser: TrustedBrowser
    username: str


class SigninStore(StoreBase):
    """Data access for second factors, trusted browsers, sign-in notices and settings."""

    # --- TOTP ----------------------------------------------------------------------------

    async def totp(self, operator_id: int) -> TotpCredential | None:
        """The operator's TOTP credential, confirmed or not."""
        async with self._db() as db:
            return await db.get(TotpCredential, operator_id)

    async def start_totp(self, operator_id: int, *, restart: bool = False) -> str:
        """Begin enrolment (or go on with the unfinished one); it counts only once confirmed.

        ``restart`` replaces an unfinished enrolment's secret with a new one (a deliberate
        POST, never a page view: a prefetched or cross-site GET must not invalidate the code
        the operator is scanning). A confirmed credential is kept: it has to be removed
        first, with the password.
        """
        async with self._db() as db:
            row = await db.get(TotpCredential, operator_id)
            if row is not None and (row.confirmed_at is not None or not restart):
                return row.secret
            secret = totp.new_totp_secret(self._rng)
            if row is None:
                db.add(
                    TotpCredential(
                        operator_id=operator_id, secret=secret, created_at=self.now(), last_step=0
                    )
                )
            else:
                row.secret, row.created_at, row.last_step = secret, self.now(), 0
            await db.commit()
            return secret

    async def _spend_step(self, db: AsyncDBSession, operator_id: int, code: str) -> bool:
        row = await db.get(TotpCredential, operator_id)
        if row is None:
            return False
        step = totp.verify_totp(row.secret, code, self._clock(), row.last_step)
        if step is None:
            return False
        result = await db.execute(
            update(TotpCredential)
            .where(TotpCredential.operator_id == operator_id, TotpCredential.last_step < step)
            .values(last_step=step)
        )
        return bool(getattr(result, "rowcount", 0))

    async def confirm_totp(self, operator_id: int, code: str) -> list[str] | None:
        """Confirm enrolment with a code from the app; return fresh recovery codes, or None."""
        async with self._db() as db:
            row = await db.get(TotpCredential, operator_id)
            if row is None or row.confirmed_at is not None:
                return None
            if not await self._spend_step(db, operator_id, code):
                await db.rollback()
                return None
            await db.execute(
                update(TotpCredential)
                .where(TotpCredential.operator_id == operator_id)
                .values(confirmed_at=self.now())
            )
            codes = await self._replace_recovery_codes(db, operator_id)
            await db.commit()
            return codes

    async def check_totp(self, operator_id: int, code: str) -> bool:
        """Whether ``code`` is right now and not a replay (the step is spent if it is)."""
        async with self._db() as db:
            row = await db.get(TotpCredential, operator_id)
            if row is None or row.confirmed_at is None:
                return False
            ok = await self._spend_step(db, operator_id, code)
            await db.commit()
            return ok

    async def remove_totp(self, operator_id: int) -> None:
        """Remove the TOTP credential and its recovery codes."""
        async with self._db() as db:
            await db.execute(
                delete(TotpCredential).where(TotpCredential.operator_id == operator_id)
            )
            await db.execute(delete(RecoveryCode).where(RecoveryCode.operator_id == operator_id))
            await db.commit()

    # --- recovery codes --------------------------------------------------------------------

    async def _replace_recovery_codes(self, db: AsyncDBSession, operator_id: int) -> list[str]:
        await db.execute(delete(RecoveryCode).where(RecoveryCode.operator_id == operator_id))
        codes = totp.new_recovery_codes(self._rng)
        for code in codes:
            db.add(
                RecoveryCode(
                    operator_id=operator_id,
                    code_hash=totp.hash_recovery_code(code),
                    created_at=self.now(),
                )
            )
        return codes

    async def new_recovery_codes(self, operator_id: int) -> list[str]:
        """Replace the operator's recovery codes; the new ones are returned to show once."""
        async with self._db() as db:
            codes = await self._replace_recovery_codes(db, operator_id)
            await db.commit()
            return codes

    async def use_recovery_code(self, operator_id: int, code: str) -> bool:
        """Spend a recovery code; ``False`` if it is wrong or was used before."""
        async with self._db() as db:
            result = await db.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.operator_id == operator_id,
                    RecoveryCode.code_hash == totp.hash_recovery_code(code),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=self.now())
            )
            await db.commit()
            return bool(getattr(result, "rowcount", 0))

    async def recovery_codes_left(self, operator_id: int) -> int:
        """Unused recovery codes of the operator."""
        async with self._db() as db:
            count = await db.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.operator_id == operator_id, RecoveryCode.used_at.is_(None))
            )
            return int(count or 0)

    # --- WebAuthn --------------------------------------------------------------------------

    async def webauthn_credentials(self, operator_id: int) -> list[WebAuthnCredential]:
        """The operator's security keys and passkeys, oldest first."""
        async with self._db() as db:
            return list(
                await db.scalars(
                    select(WebAuthnCredential)
                    .where(WebAuthnCredential.operator_id == operator_id)
                    .order_by(WebAuthnCredential.id)
                )
            )

    async def add_webauthn(
        self, operator_id: int, credential_id: bytes, public_key: bytes, sign_count: int, label: str
    ) -> bool:
        """Store a new credential; ``False`` if the id is registered already or too many."""
        async with self._db() as db:
            if await db.scalar(
                select(WebAuthnCredential.id).where(
                    WebAuthnCredential.credential_id == credential_id
                )
            ):
                return False
            count = await db.scalar(
                select(func.count())
                .select_from(WebAuthnCredential)
                .where(WebAuthnCredential.operator_id == operator_id)
            )
            if int(count or 0) >= limits.MAX_WEBAUTHN_CREDENTIALS:
                return False
            db.add(
                WebAuthnCredential(
                    operator_id=operator_id,
                    credential_id=credential_id,
                    public_key=public_key,
                    sign_count=sign_count,
                    label=label[: limits.MAX_DEVICE_LABEL] or "Security key",
                    created_at=self.now(),
                )
            )
            await db.commit()
            return True

    async def webauthn_used(self, row_id: int, sign_count: int) -> None:
        """Record a successful use and the authenticator's new signature counter."""
        async with self._db() as db:
            await db.execute(
                update(WebAuthnCredential)
                .where(WebAuthnCredential.id == row_id)
                .values(sign_count=sign_count, last_used_at=self.now())
            )
            await db.commit()

    async def remove_webauthn(self, operator_id: int, row_id: int) -> bool:
        """Remove one of the operator's credentials; ``False`` if it is not theirs."""
        async with self._db() as db:
            result = await db.execute(
                delete(WebAuthnCredential).where(
                    WebAuthnCredential.id == row_id, WebAuthnCredential.operator_id == operator_id
                )
            )
            await db.commit()
            return bool(getattr(result, "rowcount", 0))

    async def has_second_factor(self, operator_id: int) -> bool:
        """Whether the operator has a confirmed TOTP app or at least one security key."""
        async with self._db() as db:
            confirmed = await db.scalar(
                select(TotpCredential.operator_id).where(
                    TotpCredential.operator_id == operator_id,
                    TotpCredential.confirmed_at.is_not(None),
                )
            )
            key = await db.scalar(
                select(WebAuthnCredential.id)
                .where(WebAuthnCredential.operator_id == operator_id)
                .limit(1)
            )
            return confirmed is not None or key is not None

    # --- trusted browsers ------------------------------------------------------------------

    async def trust_browser(self, operator_id: int, label: str, address: str | None) -> str:
        """Remember this browser for ``TRUSTED_BROWSER_DAYS``; return the cookie token."""
        token = self._rng(32).hex()
        now = self._clock()
        async with self._db() as db:
            db.add(
                TrustedBrowser(
                    operator_id=operator_id,
                    token_hash=token_hash(token),
                    label=label[: limits.MAX_DEVICE_LABEL],
                    address=address,
                    created_at=utc(now),
                    last_used_at=utc(now),
                    expires_at=utc(now + limits.TRUSTED_BROWSER_DAYS * 86400),
                )
            )
            await db.flush()
            ids = list(
                await db.scalars(
                    select(TrustedBrowser.id)
                    .where(TrustedBrowser.operator_id == operator_id)
                    .order_by(TrustedBrowser.id.desc())
                    .offset(limits.MAX_TRUSTED_BROWSERS)
                )
            )
            if ids:
                await db.execute(delete(TrustedBrowser).where(TrustedBrowser.id.in_(ids)))
            await db.commit()
        return token

    async def is_trusted(self, operator_id: int, token: str) -> bool:
        """Whether ``token`` is a live trusted browser of this operator (records the use)."""
        now = self.now()
        async with self._db() as db:
            result = await db.execute(
                update(TrustedBrowser)
                .where(
                    TrustedBrowser.operator_id == operator_id,
                    TrustedBrowser.token_hash == token_hash(token),
                    TrustedBrowser.expires_at > now,
                )
                .values(last_used_at=now)
            )
            await db.commit()
            return bool(getattr(result, "rowcount", 0))

    async def trusted_browsers(self, operator_id: int | None = None) -> list[TrustedRow]:
        """Live trusted browsers of one operator, or of everyone (``None``), newest first."""
        async with self._db() as db:
            query = (
                select(TrustedBrowser, Operator.username)
                .join(Operator, Operator.id == TrustedBrowser.operator_id)
                .where(TrustedBrowser.expires_at > self.now())
                .order_by(TrustedBrowser.last_used_at.desc())
            )
            if operator_id is not None:
                query = query.where(TrustedBrowser.operator_id == operator_id)
            return [TrustedRow(b, name) for b, name in await db.execute(query)]

    async def revoke_trusted(self, row_id: int, operator_id: int | None = None) -> bool:
        """Forget a trusted browser (only the operator's own, unless ``operator_id`` is None)."""
        async with self._db() as db:
            statement = delete(TrustedBrowser).where(TrustedBrowser.id == row_id)
            if operator_id is not None:
                statement = statement.where(TrustedBrowser.operator_id == operator_id)
            result = await db.execute(statement)
            await db.commit()
            return bool(getattr(result, "rowcount", 0))

    # --- sign-in notices -------------------------------------------------------------------

    async def _notice(self, db: AsyncDBSession, operator_id: int) -> SigninNotice:
        row = await db.get(SigninNotice, operator_id)
        if row is None:
            row = SigninNotice(operator_id=operator_id, failures=0)
            db.add(row)
        return row

    async def record_failure(self, operator_id: int) -> None:
        """Count a failed sign-in against an existing account, for the owner to see."""
        async with self._db() as db:
            row = await self._notice(db, operator_id)
            row.failures = (row.failures or 0) + 1
            row.last_failure_at = self.now()
            await db.commit()

    async def signed_in(self, operator_id: int, address: str | None) -> tuple[int, SigninNotice]:
        """A full sign-in happened: return the failures since the previous one and reset.

        The returned notice row holds the previous sign-in's time and address.
        """
        async with self._db() as db:
            row = await self._notice(db, operator_id)
            previous = SigninNotice(
                operator_id=operator_id,
                failures=row.failures or 0,
                last_failure_at=row.last_failure_at,
                last_signin_at=row.last_signin_at,
                last_signin_address=row.last_signin_address,
            )
            row.failures = 0
            row.last_signin_at = self.now()
            row.last_signin_address = address
            await db.commit()
            return previous.failures, previous

    # --- sign-in sessions ------------------------------------------------------------------

    async def login_count(self, operator_id: int) -> int:
        """Live sign-in sessions of the operator (for the account page)."""
        async with self._db() as db:
            count = await db.scalar(
                select(func.count())
                .select_from(LoginSession)
                .where(
                    LoginSession.operator_id == operator_id, LoginSession.expires_at > self.now()
                )
            )
            return int(count or 0)

    # --- settings --------------------------------------------------------------------------

    async def setting(self, key: str, default: Any = None) -> Any:
        """A server-wide setting's value (JSON-decoded), or ``default``."""
        async with self._db() as db:
            row = await db.get(ServerSetting, key)
            return default if row is None else json.loads(row.value)

    async def set_setting(self, key: str, value: Any, by: str | None) -> None:
        """Store a server-wide setting (JSON-encoded)."""
        async with self._db() as db:
            row = await db.get(ServerSetting, key)
            text = json.dumps(value)
            if row is None:
                db.add(ServerSetting(key=key, value=text, updated_at=self.now(), updated_by=by))
            else:
                row.value, row.updated_at, row.updated_by = text, self.now(), by
            await db.commit()

    async def dismiss_notice(self, hashed: str) -> None:
        """Stop showing the failed-attempts notice on one sign-in session."""
        async with self._db() as db:
            await db.execute(
                update(LoginSession)
                .where(LoginSession.token_hash == hashed)
                .values(failures_notice=0)
            )
            await db.commit()

    async def reset_second_factor(self, operator_id: int) -> None:
        """Remove every second factor and trusted browser of an operator, and sign them out.

        For an operator who lost their authenticator and their recovery codes; an admin runs
        it from the server host (``tasuke operator reset-second-factor``).
        """
        async with self._db() as db:
            for table in (TotpCredential, RecoveryCode, WebAuthnCredential, TrustedBrowser):
                await db.execute(delete(table).where(table.operator_id == operator_id))
            await db.execute(delete(LoginSession).where(LoginSession.operator_id == operator_id))
            # A live console of this operator notices the new generation and ends.
            await db.execute(
                update(Operator)
                .where(Operator.id == operator_id)
                .values(credentials_generation=Operator.credentials_generation + 1)
            )
            await db.commit()
