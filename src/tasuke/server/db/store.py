"""Every read and write the server makes, behind one class with an injected clock and randomness.

Each method is one short transaction, committed before it returns, so a connection that dies a
moment later never takes stored data with it.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession as AsyncDBSession
from sqlalchemy.ext.asyncio import async_sessionmaker

from tasuke import limits
from tasuke.errors import ConfigError
from tasuke.server.admin.audit import AuditLog
from tasuke.server.admin.rights import DEFAULT_MODES, DEFAULT_RIGHTS
from tasuke.server.db.models import ConsentEvent, LoginSession, Operator, SupportSession
from tasuke.server.deps import Clock, Random, utc
from tasuke.server.security.passwords import hash_password, new_one_time_password

__all__ = ["SessionRow", "SignedIn", "Store", "StoreBase", "session_status", "token_hash"]

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def token_hash(token: str) -> str:
    """The stored form of a bearer token: its SHA-256, so a copied database cannot sign in."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def session_status(row: SupportSession, now: datetime) -> str:
    """Where a support session is in its life: waiting, active, expired or ended."""
    if row.ended_at is not None:
        return "ended"
    if row.joined_at is not None:
        return "active"
    if row.expires_at <= now:
        return "expired"
    return "waiting"


@dataclass(frozen=True)
class SignedIn:
    """The operator behind a valid sign-in cookie, and that sign-in's CSRF token."""

    operator: Operator
    csrf_token: str
    token_hash: str
    stage: str = "full"
    """``full``; or ``second_factor`` / ``enrol`` while the sign-in is half done."""
    created_at: datetime | None = None
    failures_notice: int = 0
    """Failed sign-ins against the account before this sign-in (0: nothing to tell)."""


@dataclass(frozen=True)
class SessionRow:
    """A support session with the operator who created it, for lists."""

    session: SupportSession
    operator: Operator


class StoreBase:
    """What every data-access class shares: the database sessions, clock and randomness."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncDBSession], clock: Clock, rng: Random
    ) -> None:
        self._db = sessions
        self._clock = clock
        self._rng = rng

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncDBSession]:
        """The database sessions behind this store (for the admin modules' own queries)."""
        return self._db

    def now(self) -> datetime:
        """The injected clock as an aware UTC datetime."""
        return utc(self._clock())


class Store(StoreBase):
    """Data access for the server, CLI and tests."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncDBSession], clock: Clock, rng: Random
    ) -> None:
        super().__init__(sessions, clock, rng)
        self.audit = AuditLog(sessions, clock)
        """The hash-chained audit log (tasuke.server.admin.audit)."""

    # --- operators --------------------------------------------------------------------

    async def operator_count(self) -> int:
        """How many operators exist."""
        async with self._db() as db:
            return int(await db.scalar(select(func.count()).select_from(Operator)) or 0)

    async def add_operator(
        self,
        username: str,
        *,
        display_name: str | None = None,
        is_admin: bool = False,
        rights: str = DEFAULT_RIGHTS,
        modes: str = DEFAULT_MODES,
    ) -> str:
        """Create an operator with a one-time password and return that password.

        ``rights`` and ``modes`` are comma lists (see tasuke.server.admin.rights); a new
        operator may only view unless given more.

        Raises:
            ConfigError: the user name is malformed or taken, or the display name is too long.
        """
        if len(username) > limits.MAX_USERNAME_LENGTH or not _USERNAME.fullmatch(username):
            raise ConfigError("user names are lowercase letters, digits and . _ - (max 64)")
        name = (display_name or username).strip()
        if not name or len(name) > limits.MAX_DISPLAY_NAME_LENGTH:
            raise ConfigError(f"display names are 1..{limits.MAX_DISPLAY_NAME_LENGTH} characters")
        password = new_one_time_password(self._rng)
        hashed = await hash_password(password)
        async with self._db() as db:
            if await db.scalar(select(Operator.id).where(Operator.username == username)):
                raise ConfigError(f"operator {username!r} already exists")
            db.add(
                Operator(
                    username=username,
                    display_name=name,
                    password_hash=hashed,
                    is_admin=is_admin,
                    password_is_one_time=True,
                    created_at=self.now(),
                    rights=rights,
                    modes=modes,
                )
            )
            await db.commit()
        return password

    async def reset_password(self, username: str) -> str:
        """Give an operator a new one-time password, sign them out everywhere, return it.

        Raises:
            ConfigError: no such operator.
        """
        password = new_one_time_password(self._rng)
        hashed = await hash_password(password)
        async with self._db() as db:
            operator = await db.scalar(select(Operator).where(Operator.username == username))
            if operator is None:
                raise ConfigError(f"no operator {username!r}")
            operator.password_hash = hashed
            operator.password_is_one_time = True
            operator.credentials_generation = (operator.credentials_generation or 0) + 1
            await db.execute(delete(LoginSession).where(LoginSession.operator_id == operator.id))
            await db.commit()
        return password

    async def list_operators(self) -> list[Operator]:
        """All operators, by user name."""
        async with self._db() as db:
            return list(await db.scalars(select(Operator).order_by(Operator.username)))

    async def operator_by_username(
        self, username: str, *, include_disabled: bool = False
    ) -> Operator | None:
        """The operator with that user name, if any; a disabled one only if asked for."""
        statement = select(Operator).where(Operator.username == username)
        if not include_disabled:
            statement = statement.where(Operator.disabled_at.is_(None))
        async with self._db() as db:
            result: Operator | None = await db.scalar(statement)
            return result

    async def operator_by_id(self, operator_id: int) -> Operator | None:
        """The operator with that id, disabled or not (a live leg re-checks its operator)."""
        async with self._db() as db:
            return await db.get(Operator, operator_id)

    async def set_password(self, operator_id: int, password_hash: str) -> None:
        """Store a password the operator chose (no longer one-time)."""
        async with self._db() as db:
            await db.execute(
                update(Operator)
                .where(Operator.id == operator_id)
                .values(password_hash=password_hash, password_is_one_time=False)
            )
            await db.commit()

    # --- sign-in sessions -------------------------------------------------------------

    async def create_login(
        self,
        operator_id: int,
        address: str | None,
        *,
        stage: str = "full",
        failures_notice: int = 0,
    ) -> tuple[str, str]:
        """Start a sign-in session; return the cookie token and the CSRF token.

        A half-done sign-in lasts only ``SECOND_FACTOR_TIMEOUT`` (or ``ENROL_TIMEOUT`` while
        enrolling); a full one ``SESSION_COOKIE_TTL`` (the absolute timeout).
        """
        token = self._rng(32).hex()
        csrf = self._rng(32).hex()
        now = self._clock()
        ttl = {"full": limits.SESSION_COOKIE_TTL, "enrol": limits.ENROL_TIMEOUT}.get(
            stage, limits.SECOND_FACTOR_TIMEOUT
        )
        async with self._db() as db:
            db.add(
                LoginSession(
                    token_hash=token_hash(token),
                    operator_id=operator_id,
                    csrf_token=csrf,
                    created_at=utc(now),
                    expires_at=utc(now + ttl),
                    address=address,
                    stage=stage,
                    last_seen_at=utc(now),
                    failures_notice=failures_notice,
                )
            )
            await db.commit()
        return token, csrf

    async def lookup_login(self, token: str) -> SignedIn | None:
        """The operator signed in with ``token``, unless unknown, expired or idle too long.

        Using a sign-in session moves its idle deadline (written at most once per
        ``SESSION_TOUCH_INTERVAL``); the absolute deadline ``expires_at`` never moves.
        """
        hashed = token_hash(token)
        now = self.now()
        async with self._db() as db:
            row = (
                await db.execute(
                    select(LoginSession, Operator)
                    .join(Operator, Operator.id == LoginSession.operator_id)
                    .where(LoginSession.token_hash == hashed, Operator.disabled_at.is_(None))
                )
            ).first()
            if row is None or row[0].expires_at <= now:
                return None
            login = row[0]
            seen = login.last_seen_at or login.created_at
            idle = (now - seen).total_seconds()
            if idle >= limits.SESSION_IDLE_TIMEOUT:
                await db.execute(delete(LoginSession).where(LoginSession.id == login.id))
                await db.commit()
                return None
            if idle >= limits.SESSION_TOUCH_INTERVAL:
                await db.execute(
                    update(LoginSession).where(LoginSession.id == login.id).values(last_seen_at=now)
                )
                await db.commit()
        return SignedIn(
            operator=row[1],
            csrf_token=login.csrf_token,
            token_hash=hashed,
            stage=login.stage,
            created_at=login.created_at,
            failures_notice=login.failures_notice,
        )

    async def delete_logins(
        self, operator_id: int | None = None, *, hashed: str | None = None
    ) -> None:
        """Sign out one sign-in session (by token hash) or every one of an operator."""
        async with self._db() as db:
            statement = delete(LoginSession)
            if hashed is not None:
                statement = statement.where(LoginSession.token_hash == hashed)
            elif operator_id is not None:
                statement = statement.where(LoginSession.operator_id == operator_id)
            else:
                raise ValueError("say whose sign-ins to delete")
            await db.execute(statement)
            await db.execute(delete(LoginSession).where(LoginSession.expires_at <= self.now()))
            await db.commit()

    # --- support sessions -------------------------------------------------------------

    async def create_session(
        self, operator_id: int, *, address: str | None = None
    ) -> SupportSession:
        """Create a support session with a fresh 9-digit number, unique among live numbers.

        Whether the operator may do so is decided where the request is dispatched
        (tasuke.server.admin.rights); ``address`` is the operator's, for the audit log.
        """
        now = self._clock()
        async with self._db() as db:
            actor = await db.scalar(select(Operator.username).where(Operator.id == operator_id))
            while True:
                value = int.from_bytes(self._rng(8), "big") % 900_000_000 + 100_000_000
                number = str(value)
                clash = await db.scalar(
                    select(SupportSession.id).where(
                        SupportSession.number == number,
                        SupportSession.ended_at.is_(None),
                        SupportSession.joined_at.is_(None),
                        SupportSession.expires_at > utc(now),
                    )
                )
                if clash is None:
                    break
            row = SupportSession(
                id=self._rng(16).hex(),
                number=number,
                operator_id=operator_id,
                created_at=utc(now),
                expires_at=utc(now + limits.SESSION_NUMBER_TTL),
            )
            db.add(row)
            await db.commit()
        await self.audit.append(
            "session.created",
            actor=actor,
            subject=row.id,
            address=address,
            details={"number": number},
        )
        return row

    async def get_session(self, session_id: str) -> SessionRow | None:
        """One support session with its operator."""
        async with self._db() as db:
            row = (
                await db.execute(
                    select(SupportSession, Operator)
                    .join(Operator, Operator.id == SupportSession.operator_id)
                    .where(SupportSession.id == session_id)
                )
            ).first()
        return None if row is None else SessionRow(session=row[0], operator=row[1])

    async def list_sessions(
        self, operator_id: int | None = None, limit: int = limits.MAX_SESSIONS_LISTED
    ) -> list[SessionRow]:
        """The newest support sessions first; only ``operator_id``'s own unless ``None`` (all)."""
        query = select(SupportSession, Operator).join(
            Operator, Operator.id == SupportSession.operator_id
        )
        if operator_id is not None:
            query = query.where(SupportSession.operator_id == operator_id)
        async with self._db() as db:
            rows = await db.execute(query.order_by(SupportSession.created_at.desc()).limit(limit))
            return [SessionRow(session=s, operator=o) for s, o in rows]

    async def claim_number(
        self, number: str, address: str | None, agent_info: dict[str, Any]
    ) -> SessionRow | None:
        """Spend a session number for a joining agent; ``None`` if unknown, expired or used.

        The conditional UPDATE is the single point where a number becomes used, so two agents
        racing for one number cannot both win.
        """
        now = self.now()
        async with self._db() as db:
            session_id = await db.scalar(
                update(SupportSession)
                .where(
                    SupportSession.number == number,
                    SupportSession.joined_at.is_(None),
                    SupportSession.ended_at.is_(None),
                    SupportSession.expires_at > now,
                )
                .values(joined_at=now, customer_address=address, agent_info=agent_info)
                .returning(SupportSession.id)
            )
            await db.commit()
        if session_id is None:
            return None
        await self.audit.append(
            "session.joined",
            actor=None,
            subject=session_id,
            address=address,
            details={"number": number},
        )
        return await self.get_session(session_id)

    async def record_consent(
        self, session_id: str, decision: str, scope: str | None, reason: str, address: str | None
    ) -> None:
        """Append a consent decision to the record and make it the session's current one."""
        now = self.now()
        async with self._db() as db:
            db.add(
                ConsentEvent(
                    session_id=session_id,
                    at=now,
                    decision=decision,
                    scope=scope,
                    reason=reason,
                    address=address,
                )
            )
            await db.execute(
                update(SupportSession)
                .where(SupportSession.id == session_id)
                .values(consent_at=now, consent_decision=decision, consent_scope=scope)
            )
            await db.commit()
        await self.audit.append(
            "session.consent",
            actor=None,
            subject=session_id,
            address=address,
            details={"decision": decision, "scope": scope, "reason": reason},
        )

    async def consent_events(self, session_id: str) -> list[ConsentEvent]:
        """The consent record of one session, oldest first."""
        async with self._db() as db:
            return list(
                await db.scalars(
                    select(ConsentEvent)
                    .where(ConsentEvent.session_id == session_id)
                    .order_by(ConsentEvent.id)
                )
            )

    async def record_verified(self, session_id: str) -> None:
        """The operator confirmed that both verification codes match."""
        async with self._db() as db:
            await db.execute(
                update(SupportSession)
                .where(SupportSession.id == session_id, SupportSession.verified_at.is_(None))
                .values(verified_at=self.now())
            )
            await db.commit()
        await self.audit.append("session.verified", actor=None, subject=session_id)

    async def record_end(self, session_id: str, by: str, reason: str) -> bool:
        """Record who ended a session and why; ``False`` if it had already ended."""
        async with self._db() as db:
            result = await db.execute(
                update(SupportSession)
                .where(SupportSession.id == session_id, SupportSession.ended_at.is_(None))
                .values(
                    ended_at=self.now(), ended_by=by, end_reason=reason[: limits.MAX_END_REASON]
                )
            )
            await db.commit()
        ended = bool(getattr(result, "rowcount", 0))
        if ended:
            await self.audit.append(
                "session.ended",
                actor=None,
                subject=session_id,
                details={"by": by, "reason": reason[: limits.MAX_END_REASON]},
            )
        return ended

    async def end_interrupted(self) -> int:
        """At start-up, end sessions whose legs were lost when the server last stopped."""
        async with self._db() as db:
            result = await db.execute(
                update(SupportSession)
                .where(SupportSession.joined_at.is_not(None), SupportSession.ended_at.is_(None))
                .values(ended_at=self.now(), ended_by="server", end_reason="server restarted")
            )
            await db.commit()
        count = int(getattr(result, "rowcount", 0))
        if count:
            await self.audit.append(
                "session.ended",
                actor=None,
                subject=None,
                details={"by": "server", "reason": "server restarted", "sessions": count},
            )
        return count
