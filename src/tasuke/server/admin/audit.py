"""The audit log: an append-only table whose rows form a SHA-256 hash chain.

Each row's ``hash`` is SHA-256 over the previous row's hash and a canonical encoding of the row's
own fields (including its id and time). Editing a row changes its hash; deleting one breaks the
link of the row after it; either shows in :func:`verify_chain`, which names the first bad row.
The chain is not keyed: someone who can write the database can also recompute every hash after
the row they changed, or cut rows off the end. What catches that is an *anchor*: a head hash
written down elsewhere earlier (``tasuke audit verify`` prints it; exports carry it). Checking
with ``--anchor HASH`` then requires that row to still be in the chain, unchanged.

Hashing and verification are pure functions over rows; :class:`AuditLog` is the thin database
adapter. Appends are serialised per process by a lock, and ``prev_hash`` is UNIQUE, so two
processes (the server and a ``tasuke`` command) racing for the same parent cannot both win: the
loser re-reads the head and tries again.

Usage from anywhere in the server::

    from tasuke.server.admin import audit
    await audit.record(state.store, "signin.totp_enrolled", actor="sato", subject="sato",
                       address="192.0.2.1", details={"method": "totp"})
"""

import asyncio
import csv
import hashlib
import io
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession as AsyncDBSession
from sqlalchemy.ext.asyncio import async_sessionmaker

from tasuke.server.db.models import AuditEntry
from tasuke.server.deps import Clock, utc

__all__ = [
    "GENESIS",
    "AuditLog",
    "ChainReport",
    "HasAudit",
    "entry_hash",
    "export_csv",
    "export_json",
    "record",
    "verify_chain",
]

GENESIS: Final = "0" * 64
"""The ``prev_hash`` of the first row."""
FIELDS: Final = ("id", "at", "event", "actor", "subject", "address", "details")
_APPEND_ATTEMPTS: Final = 5


def _canonical_details(details: dict[str, Any]) -> str:
    # Sorted keys, no whitespace, UTF-8: one byte string per meaning, so the hash is stable.
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def entry_hash(
    prev_hash: str,
    *,
    id: int,
    at: datetime,
    event: str,
    actor: str | None,
    subject: str | None,
    address: str | None,
    details: str,
) -> str:
    """SHA-256 (hex) of the previous hash and the row's fields in a canonical encoding."""
    fields = [id, at.isoformat(timespec="microseconds"), event, actor, subject, address, details]
    encoded = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{encoded}".encode()).hexdigest()


def _row_hash(row: AuditEntry) -> str:
    return entry_hash(
        row.prev_hash,
        id=row.id,
        at=row.at,
        event=row.event,
        actor=row.actor,
        subject=row.subject,
        address=row.address,
        details=row.details,
    )


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: how many rows, and the first one that breaks it."""

    rows: int
    head: str
    broken_at: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when every row links to the one before and hashes to its stored hash."""
        return self.broken_at is None


def verify_chain(rows: Iterable[AuditEntry], anchors: Iterable[str] = ()) -> ChainReport:
    """Check rows in id order. Names the first row that was edited or follows a gap.

    Every hash in ``anchors`` (head hashes recorded earlier, elsewhere) must be the hash of a
    row of the intact chain; a missing anchor means history up to it was rewritten or cut.
    """
    missing = {a.strip().lower() for a in anchors if a.strip()}
    previous = GENESIS
    count = 0
    last_id = 0
    for row in rows:
        count += 1
        if row.id <= last_id:
            return ChainReport(count, previous, row.id, "ids out of order")
        if row.prev_hash != previous:
            return ChainReport(
                count, previous, row.id, "does not link to the row before it (a row was removed)"
            )
        if _row_hash(row) != row.hash:
            return ChainReport(count, previous, row.id, "its contents were changed")
        previous, last_id = row.hash, row.id
        missing.discard(row.hash)
    if missing:
        return ChainReport(
            count,
            previous,
            last_id + 1,
            f"anchor {sorted(missing)[0][:16]}... is not in the chain (history rewritten or cut)",
        )
    return ChainReport(count, previous)


Changes = Callable[[AsyncDBSession], Awaitable[None]]
"""Database changes made in the same transaction as an audit row (see AuditLog.append)."""


class HasAudit(Protocol):
    """Anything that carries an :class:`AuditLog` (the server's ``Store``)."""

    @property
    def audit(self) -> "AuditLog": ...


class AuditLog:
    """Appends to and reads the audit table."""

    def __init__(self, sessions: async_sessionmaker[AsyncDBSession], clock: Clock) -> None:
        self._db = sessions
        self._clock = clock
        self._lock = asyncio.Lock()

    async def append(
        self,
        event: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        address: str | None = None,
        details: dict[str, Any] | None = None,
        changes: Changes | None = None,
    ) -> AuditEntry:
        """Append one event at the end of the chain and return the stored row.

        ``changes``, if given, makes further changes in the same transaction, so the change
        and its audit row are stored together or not at all (it may run again if another
        writer won the race for the head; its work is rolled back in between).

        Raises:
            IntegrityError: another writer kept winning the race for the head (very unlikely).
        """
        text = _canonical_details(details or {})
        async with self._lock:
            for attempt in range(_APPEND_ATTEMPTS):
                try:
                    return await self._append_once(event, actor, subject, address, text, changes)
                except IntegrityError:
                    if attempt == _APPEND_ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    async def _append_once(
        self,
        event: str,
        actor: str | None,
        subject: str | None,
        address: str | None,
        details: str,
        changes: Changes | None = None,
    ) -> AuditEntry:
        async with self._db() as db:
            if changes is not None:
                await changes(db)
            head = (
                await db.execute(
                    select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
                )
            ).first()
            prev_id, prev_hash = (head[0], head[1]) if head else (0, GENESIS)
            row = AuditEntry(
                id=prev_id + 1,
                at=utc(self._clock()),
                event=event[:64],
                actor=_text(actor, 100),
                subject=_text(subject, 200),
                address=_text(address, 100),
                details=details,
                prev_hash=prev_hash,
                hash="",
            )
            row.hash = _row_hash(row)
            db.add(row)
            await db.commit()
            return row

    async def entries(
        self, *, limit: int | None = None, before: int | None = None, newest_first: bool = True
    ) -> list[AuditEntry]:
        """Rows of the log, newest first by default, optionally only those with id < ``before``."""
        statement = select(AuditEntry)
        if before is not None:
            statement = statement.where(AuditEntry.id < before)
        order = AuditEntry.id.desc() if newest_first else AuditEntry.id.asc()
        statement = statement.order_by(order)
        if limit is not None:
            statement = statement.limit(limit)
        async with self._db() as db:
            return list(await db.scalars(statement))

    async def verify(self, anchors: Iterable[str] = ()) -> ChainReport:
        """Check the whole chain, oldest first (and that every anchor is in it)."""
        return verify_chain(await self.entries(newest_first=False), anchors)


async def record(
    target: HasAudit | AuditLog,
    event: str,
    *,
    actor: str | None,
    subject: str | None,
    address: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append a security-relevant event to the audit log of ``target`` (a Store or AuditLog).

    ``event`` is a dotted name (``signin.failed``, ``operator.rights_changed``); ``actor`` who
    did it (user name, ``cli:<user>``, or ``None`` for a customer or the server); ``subject``
    what it was done to; ``details`` a small JSON object (never a password or a secret).
    """
    log = target if isinstance(target, AuditLog) else target.audit
    await log.append(event, actor=actor, subject=subject, address=address, details=details)


def _as_dict(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(timespec="microseconds"),
        "event": row.event,
        "actor": row.actor,
        "subject": row.subject,
        "address": row.address,
        "details": json.loads(row.details),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def export_json(rows: Sequence[AuditEntry]) -> str:
    """The rows as a JSON array (oldest first as given), with their hashes for re-checking."""
    return json.dumps([_as_dict(r) for r in rows], ensure_ascii=False, indent=1) + "\n"


def export_csv(rows: Sequence[AuditEntry]) -> str:
    """The rows as CSV with a header line; ``details`` is its canonical JSON text.

    Cells that a spreadsheet would run as a formula get a leading apostrophe: the actor and
    subject can come from outside (a user name typed at the sign-in page).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*FIELDS, "prev_hash", "hash"])
    for row in rows:
        values = [
            row.id,
            row.at.isoformat(timespec="microseconds"),
            row.event,
            row.actor,
            row.subject,
            row.address,
            row.details,
            row.prev_hash,
            row.hash,
        ]
        writer.writerow(["" if v is None else _defuse(str(v)) for v in values])
    return out.getvalue()


def _defuse(cell: str) -> str:
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
