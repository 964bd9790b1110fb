"""Single-use, short-lived tickets that open a console WebSocket leg.

A browser cannot set headers on a WebSocket upgrade, so a signed-in request mints a ticket that
the upgrade spends. Spending removes it: a ticket that leaked into a log is already worthless.
"""

import base64
from dataclasses import dataclass

from tasuke import limits
from tasuke.errors import LimitExceeded
from tasuke.server.deps import Clock, Random

__all__ = ["OperatorTicketLimit", "Ticket", "TicketStore"]


class OperatorTicketLimit(LimitExceeded):
    """One operator holds ``MAX_TICKETS_PER_OPERATOR`` unspent tickets (HTTP 429)."""


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
        per_operator: int = limits.MAX_TICKETS_PER_OPERATOR,
    ) -> None:
        self._clock, self._rng, self._ttl, self._capacity = clock, rng, ttl, capacity
        self._per_operator = per_operator
        self._tickets: dict[str, Ticket] = {}
        self._held: dict[int, int] = {}
        """Unspent tickets per operator, kept with ``_tickets`` so minting stays O(1)."""

    def _drop(self, token: str) -> Ticket | None:
        ticket = self._tickets.pop(token, None)
        if ticket is not None:
            left = self._held.get(ticket.operator_id, 0) - 1
            if left > 0:
                self._held[ticket.operator_id] = left
            else:
                self._held.pop(ticket.operator_id, None)
        return ticket

    def _purge(self, now: float) -> None:
        for key in [k for k, t in self._tickets.items() if t.expires <= now]:
            self._drop(key)

    def unspent(self, operator_id: int) -> int:
        """How many unspent, unexpired tickets ``operator_id`` holds."""
        self._purge(self._clock())
        return self._held.get(operator_id, 0)

    def mint(self, session_id: str, operator_id: int) -> str:
        """Create a ticket for one console leg of ``session_id``.

        Raises:
            OperatorTicketLimit: this operator holds ``MAX_TICKETS_PER_OPERATOR`` of them.
            LimitExceeded: ``MAX_LIVE_TICKETS`` unspent tickets exist.
        """
        now = self._clock()
        self._purge(now)
        if self._held.get(operator_id, 0) >= self._per_operator:
            raise OperatorTicketLimit("too many unspent tickets for this operator")
        if len(self._tickets) >= self._capacity:
            raise LimitExceeded("too many unspent tickets")
        token = base64.urlsafe_b64encode(self._rng(32)).decode("ascii").rstrip("=")
        self._tickets[token] = Ticket(session_id, operator_id, now + self._ttl)
        self._held[operator_id] = self._held.get(operator_id, 0) + 1
        return token

    def spend(self, token: str) -> Ticket | None:
        """Use up ``token``; ``None`` if it is unknown, spent or expired."""
        ticket = self._drop(token)
        if ticket is None or ticket.expires <= self._clock():
            return None
        return ticket
