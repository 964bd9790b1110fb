"""Single-use, short-lived tickets that open a console WebSocket leg.

A browser cannot set headers on a WebSocket upgrade, so a signed-in request mints a ticket that
the upgrade spends. Spending removes it: a ticket that leaked into a log is already worthless.
"""

import base64
from dataclasses import dataclass

from tasuke import limits
from tasuke.errors import LimitExceeded
from tasuke.server.deps import Clock, Random

__all__ = ["Ticket", "TicketStore"]


@dataclass(frozen=True)
class Ticket:
    """What a spent ticket vouches for."""

    session_id: str
    operator_id: int
    expires: float


class TicketStore:
    """Tickets held in memory (a restart invalidates them, which is harmless)."""

    def __init__(
        self,
        clock: Clock,
        rng: Random,
        *,
        ttl: float = limits.WS_TICKET_TTL,
        capacity: int = limits.MAX_LIVE_TICKETS,
    ) -> None:
        self._clock, self._rng, self._ttl, self._capacity = clock, rng, ttl, capacity
        self._tickets: dict[str, Ticket] = {}

    def _purge(self, now: float) -> None:
        for key in [k for k, t in self._tickets.items() if t.expires <= now]:
            del self._tickets[key]

    def mint(self, session_id: str, operator_id: int) -> str:
        """Create a ticket for one console leg of ``session_id``.

        Raises:
            LimitExceeded: ``MAX_LIVE_TICKETS`` unspent tickets exist.
        """
        now = self._clock()
        self._purge(now)
        if len(self._tickets) >= self._capacity:
            raise LimitExceeded("too many unspent tickets")
        token = base64.urlsafe_b64encode(self._rng(32)).decode("ascii").rstrip("=")
        self._tickets[token] = Ticket(session_id, operator_id, now + self._ttl)
        return token

    def spend(self, token: str) -> Ticket | None:
        """Use up ``token``; ``None`` if it is unknown, spent or expired."""
        ticket = self._tickets.pop(token, None)
        if ticket is None or ticket.expires <= self._clock():
            return None
        return ticket
