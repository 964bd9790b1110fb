"""Network allow and block lists: who may reach the console, and which customers are refused.

Two lists, each of CIDR networks (a bare address is a /32 or /128):

- ``operator_allow``: when it holds at least one network, the console (sign-in page, pages,
  API, console WebSocket) answers only requests from those networks. Empty means no limit.
- ``customer_block``: agents connecting from these networks are refused at ``/ws/agent`` before
  the server reads their hello, so no session number is looked up and nothing is written.

The lists are read from the database on every check (one small indexed query), so a change by
``tasuke lists ...`` while the server runs takes effect at once, without a restart.
"""

import ipaddress
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from tasuke import limits
from tasuke.errors import ConfigError
from tasuke.server.db.models import NetworkEntry
from tasuke.server.db.store import Store
from tasuke.server.security.throttle import WindowLimit

__all__ = [
    "CUSTOMER_BLOCK",
    "LISTS",
    "OPERATOR_ALLOW",
    "ListEntry",
    "add_entry",
    "customer_blocked",
    "entries",
    "matches",
    "note_refusal",
    "operator_allowed",
    "parse_network",
    "remove_entry",
]

OPERATOR_ALLOW: Final = "operator_allow"
CUSTOMER_BLOCK: Final = "customer_block"
LISTS: Final = {
    OPERATOR_ALLOW: "Operator sign-in allowed from / サインインを許可するネットワーク",
    CUSTOMER_BLOCK: "Customers blocked from / 接続を拒否する顧客ネットワーク",
}
MAX_NOTE: Final = limits.MAX_NETWORK_NOTE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ListEntry:
    """One row of a list, for pages and the CLI."""

    id: int
    list_name: str
    network: str
    note: str
    created_by: str | None


def parse_network(text: str) -> Network:
    """Parse ``192.0.2.0/24``, ``2001:db8::/32`` or a bare address into a network.

    Host bits must be zero (``192.0.2.1/24`` is refused): a typo there usually means the admin
    meant a different network, and silently widening it would allow or block too much.

    Raises:
        ConfigError: not an IPv4 or IPv6 network.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ConfigError(f"not a network in CIDR form: {text.strip()[:64]!r} ({exc})") from exc


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:192.0.2.1) is still 192.0.2.1.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def matches(address: str | None, networks: list[str]) -> bool:
    """Whether ``address`` lies in any of ``networks`` (an unparsable address matches none)."""
    parsed = _address(address)
    if parsed is None:
        return False
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if parsed.version == network.version and parsed in network:
            return True
    return False


async def _networks(store: Store, list_name: str) -> list[str]:
    async with store.sessionmaker() as db:
        return list(
            await db.scalars(
                select(NetworkEntry.network).where(NetworkEntry.list_name == list_name)
            )
        )


async def customer_blocked(store: Store, address: str | None) -> bool:
    """Whether an agent from ``address`` must be refused."""
    return matches(address, await _networks(store, CUSTOMER_BLOCK))


async def operator_allowed(store: Store, address: str | None) -> bool:
    """Whether the console may answer ``address`` (always, while the allow list is empty).

    An address the server cannot parse is refused once the list is in use: deny by default.
    """
    networks = await _networks(store, OPERATOR_ALLOW)
    return not networks or matches(address, networks)


async def note_refusal(
    store: Store, noted: WindowLimit, event: str, address: str | None, now: float
) -> None:
    """Write a refusal by a network list to the audit log, once per address per interval.

    A flood of refused requests from one address then costs one row per
    ``limits.BLOCKED_AUDIT_INTERVAL``, not one per request.
    """
    key = f"{event}:{address}"
    if noted.blocked(key, now):
        return
    noted.failed(key, now)
    await store.audit.append(event, address=address)


async def entries(store: Store, list_name: str | None = None) -> list[ListEntry]:
    """The entries of one list, or of both, ordered by list and network."""
    statement = select(NetworkEntry).order_by(NetworkEntry.list_name, NetworkEntry.id)
    if list_name is not None:
        statement = statement.where(NetworkEntry.list_name == list_name)
    async with store.sessionmaker() as db:
        rows = list(await db.scalars(statement))
    return [ListEntry(r.id, r.list_name, r.network, r.note, r.created_by) for r in rows]


async def add_entry(
    store: Store,
    list_name: str,
    network: str,
    *,
    note: str = "",
    actor: str,
    address: str | None,
) -> ListEntry:
    """Add a network to a list and record it in the audit log.

    Raises:
        ConfigError: unknown list, malformed network, note too long, or already listed.
    """
    if list_name not in LISTS:
        raise ConfigError(f"no list {list_name!r} (lists: {', '.join(LISTS)})")
    text = str(parse_network(network))
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise ConfigError(f"notes are at most {MAX_NOTE} characters")
    row = NetworkEntry(
        list_name=list_name, network=text, note=note, created_at=store.now(), created_by=actor
    )
    try:
        async with store.sessionmaker() as db:
            db.add(row)
            await db.commit()
    except IntegrityError as exc:
        raise ConfigError(f"{text} is already on {list_name}") from exc
    await store.audit.append(
        "lists.added",
        actor=actor,
        subject=f"{list_name}:{text}",
        address=address,
        details={"list": list_name, "network": text, "note": note},
    )
    return ListEntry(row.id, list_name, text, note, actor)


async def remove_entry(
    store: Store, list_name: str, network: str, *, actor: str, address: str | None
) -> None:
    """Remove a network from a list and record it in the audit log.

    Raises:
        ConfigError: unknown list, malformed network, or not on the list.
    """
    if list_name not in LISTS:
        raise ConfigError(f"no list {list_name!r} (lists: {', '.join(LISTS)})")
    text = str(parse_network(network))
    async with store.sessionmaker() as db:
        result = await db.execute(
            delete(NetworkEntry).where(
                NetworkEntry.list_name == list_name, NetworkEntry.network == text
            )
        )
        await db.commit()
    if not getattr(result, "rowcount", 0):
        raise ConfigError(f"{text} is not on {list_name}")
    await store.audit.append(
        "lists.removed",
        actor=actor,
        subject=f"{list_name}:{text}",
        address=address,
        details={"list": list_name, "network": text},
    )
