"""Managing operators: create, change rights, disable, enable, reset passwords — all audited.

Shared by the admin pages and the ``tasuke operator`` commands, so both write the same audit
events. Whether the *web* may touch a given account is decided by the pages: admin accounts
are managed only from the command line (see docs/security.md, "Roles and rights").
"""

from collections.abc import Iterable

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession as AsyncDBSession

from tasuke.errors import ConfigError
from tasuke.server.admin.rights import (
    MODES,
    RIGHTS,
    format_names,
    modes_of,
    normalise_rights,
    rights_of,
)
from tasuke.server.db.models import LoginSession, Operator, SupportSession
from tasuke.server.db.store import Store

__all__ = [
    "create_operator",
    "describe",
    "disable_operator",
    "enable_operator",
    "parse_modes",
    "parse_rights",
    "reset_operator_password",
    "set_rights",
]


def parse_rights(names: Iterable[str]) -> str:
    """Validate rights named by an admin and return them as stored.

    Raises:
        ConfigError: a name is not a right.
    """
    chosen = [n.strip() for n in names if n.strip()]
    unknown = [n for n in chosen if n not in RIGHTS]
    if unknown:
        raise ConfigError(f"unknown rights {', '.join(unknown)} (rights: {', '.join(RIGHTS)})")
    return format_names(normalise_rights(chosen), RIGHTS)


def parse_modes(names: Iterable[str]) -> str:
    """Validate connection modes named by an admin and return them as stored.

    Raises:
        ConfigError: a name is not an available mode (future modes cannot be given yet).
    """
    chosen = [n.strip() for n in names if n.strip()]
    unknown = [n for n in chosen if n not in MODES]
    if unknown:
        raise ConfigError(f"unavailable modes {', '.join(unknown)} (modes: {', '.join(MODES)})")
    return format_names(chosen, MODES)


def describe(operator: Operator) -> dict[str, object]:
    """What the audit log keeps about an operator's powers."""
    return {
        "admin": operator.is_admin,
        "rights": sorted(rights_of(operator)),
        "modes": sorted(modes_of(operator)),
    }


async def _get(store: Store, username: str) -> Operator:
    operator = await store.operator_by_username(username, include_disabled=True)
    if operator is None:
        raise ConfigError(f"no operator {username!r}")
    return operator


async def create_operator(
    store: Store,
    username: str,
    *,
    display_name: str | None,
    rights: str,
    modes: str,
    is_admin: bool,
    actor: str,
    address: str | None,
) -> str:
    """Create an operator and return their one-time password (shown once, stored hashed).

    Raises:
        ConfigError: bad or taken user name, bad display name.
    """
    password = await store.add_operator(
        username, display_name=display_name, is_admin=is_admin, rights=rights, modes=modes
    )
    created = await _get(store, username)
    await store.audit.append(
        "operator.created",
        actor=actor,
        subject=username,
        address=address,
        details=describe(created),
    )
    return password


async def set_rights(
    store: Store, username: str, *, rights: str, modes: str, actor: str, address: str | None
) -> Operator:
    """Replace an operator's rights and connection modes (both already validated).

    Raises:
        ConfigError: no such operator.
    """
    before = await _get(store, username)
    async with store.sessionmaker() as db:
        await db.execute(
            update(Operator).where(Operator.id == before.id).values(rights=rights, modes=modes)
        )
        await db.commit()
    after = await _get(store, username)
    await store.audit.append(
        "operator.rights_changed",
        actor=actor,
        subject=username,
        address=address,
        details={"before": describe(before), "after": describe(after)},
    )
    return after


async def disable_operator(store: Store, username: str, *, actor: str, address: str | None) -> None:
    """Disable an operator: signed out everywhere, waiting session numbers withdrawn.

    A disabled operator cannot sign in, and their remaining sign-in cookies stop working at
    the next request.

    Raises:
        ConfigError: no such operator, or already disabled.
    """
    operator = await _get(store, username)
    if operator.disabled_at is not None:
        raise ConfigError(f"operator {username!r} is already disabled")
    now = store.now()

    async def disable(db: AsyncDBSession) -> None:
        await db.execute(update(Operator).where(Operator.id == operator.id).values(disabled_at=now))
        await db.execute(delete(LoginSession).where(LoginSession.operator_id == operator.id))
        await db.execute(
            update(SupportSession)
            .where(
                SupportSession.operator_id == operator.id,
                SupportSession.joined_at.is_(None),
                SupportSession.ended_at.is_(None),
            )
            .values(ended_at=now, ended_by="server", end_reason="the operator was disabled")
        )

    # One transaction: the account is never disabled without its audit row, or the reverse.
    await store.audit.append(
        "operator.disabled", actor=actor, subject=username, address=address, changes=disable
    )


async def enable_operator(store: Store, username: str, *, actor: str, address: str | None) -> None:
    """Enable a disabled operator again (with the rights they had).

    Raises:
        ConfigError: no such operator, or not disabled.
    """
    operator = await _get(store, username)
    if operator.disabled_at is None:
        raise ConfigError(f"operator {username!r} is not disabled")
    async with store.sessionmaker() as db:
        await db.execute(
            update(Operator).where(Operator.id == operator.id).values(disabled_at=None)
        )
        await db.commit()
    await store.audit.append("operator.enabled", actor=actor, subject=username, address=address)


async def reset_operator_password(
    store: Store, username: str, *, actor: str, address: str | None
) -> str:
    """Give an operator a new one-time password (signed out everywhere) and return it.

    Raises:
        ConfigError: no such operator.
    """
    password = await store.reset_password(username)
    await store.audit.append(
        "operator.password_reset", actor=actor, subject=username, address=address
    )
    return password
