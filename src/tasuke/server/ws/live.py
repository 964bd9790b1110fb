"""Rendezvous and relay: pairs the two legs of a support session and copies frames between them.

Lifecycle of a live session (all transitions happen here and nowhere else)::

    (no legs) --agent joins / console opens--> ONE LEG --other leg--> PAIRED --end--> ENDED
    ONE LEG (console only) --console closes--> (no legs)     the operator may reopen the page
    ONE LEG (agent) or PAIRED --any leg closes or ends--> ENDED

The relay never looks inside a binary frame. It awaits each send to the other leg before its
caller reads the next frame, so a slow reader slows the writer instead of growing server memory.
"""

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from tasuke import limits
from tasuke.errors import LimitExceeded, ProtocolError
from tasuke.server.db.store import Store
from tasuke.server.ws.leg import Leg

__all__ = ["LiveSession", "Registry"]

log = logging.getLogger("tasuke.server.ws")


@dataclass
class LiveSession:
    """The in-memory side of one support session while at least one leg is open."""

    session_id: str
    number: str
    store: Store
    registry: "Registry"
    agent: Leg | None = None
    console: Leg | None = None
    agent_info: dict[str, Any] = field(default_factory=dict)
    paired: bool = False
    ended: bool = False
    relayed_bytes: int = 0
    relayed_frames: int = 0

    def legs(self) -> Iterator[Leg]:
        """The legs that are attached."""
        for leg in (self.agent, self.console):
            if leg is not None:
                yield leg

    def peer_of(self, leg: Leg) -> Leg | None:
        """The other leg."""
        return self.console if leg is self.agent else self.agent

    async def attach_agent(self, leg: Leg, agent_info: dict[str, Any]) -> None:
        """The agent joined with this session's number (already spent in the database)."""
        self.agent = leg
        self.agent_info = agent_info
        await self._pair_or_wait(leg)

    async def attach_console(self, leg: Leg) -> bool:
        """A console leg arrived; ``False`` if this session already has one."""
        if self.console is not None or self.ended:
            return False
        self.console = leg
        await self._pair_or_wait(leg)
        return True

    async def _pair_or_wait(self, leg: Leg) -> None:
        if self.agent is None or self.console is None:
            if leg is self.agent:
                await leg.send_json({"type": "waiting"})
            else:
                await leg.send_json(
                    {"type": "waiting", "session_id": self.session_id, "number": self.number}
                )
            return
        self.paired = True
        await self.console.send_json(
            {
                "type": "peer_joined",
                "session_id": self.session_id,
                "agent": self.agent_info,
                "address": self.agent.address,
            }
        )
        await self.agent.send_json({"type": "peer_joined"})

    def detach_console(self, leg: Leg) -> None:
        """A console closed before any agent joined: the session stays open for a new one."""
        if self.console is leg:
            self.console = None
        if self.agent is None and self.console is None:
            self.registry.forget(self)

    async def forward(self, sender: Leg, data: bytes) -> None:
        """Copy one binary frame to the other leg, verbatim.

        Raises:
            ProtocolError: the legs are not paired yet.
            LimitExceeded: the session used up its byte or frame allowance.
        """
        if not self.paired:
            raise ProtocolError("binary frame before both legs joined")
        self.relayed_bytes += len(data)
        self.relayed_frames += 1
        if self.relayed_bytes > limits.MAX_SESSION_BYTES:
            raise LimitExceeded("session byte limit reached")
        if self.relayed_frames > limits.MAX_SESSION_FRAMES:
            raise LimitExceeded("session frame limit reached")
        peer = self.peer_of(sender)
        if peer is not None:
            await peer.send_bytes(data)

    async def consent(
        self, decision: str, scope: str | None, reason: str, address: str | None
    ) -> None:
        """Record the agent's consent decision and tell the console."""
        await self.store.record_consent(self.session_id, decision, scope, reason, address)
        if self.console is not None:
            await self.console.send_json({"type": "consent", "decision": decision, "scope": scope})

    async def verified(self) -> None:
        """Record that the operator confirmed the verification codes.

        Raises:
            ProtocolError: no agent has joined, so there is no code to confirm.
        """
        if not self.paired:
            raise ProtocolError("verified before the agent joined")
        await self.store.record_verified(self.session_id)

    async def end(
        self,
        by: str,
        reason: str,
        *,
        culprit: Leg | None = None,
        code: int = 1008,
        record: bool = True,
    ) -> None:
        """End the session once: record it, tell every other open leg, close them all.

        ``culprit`` is a leg that broke the rules; it is closed with ``code`` and ``reason``
        instead of getting ``session_ended``.
        """
        if self.ended:
            return
        self.ended = True
        self.registry.forget(self)
        if record:
            try:
                await self.store.record_end(self.session_id, by, reason)
            except SQLAlchemyError:
                log.exception("could not record the end of session %s", self.session_id)
        notice = {"type": "session_ended", "by": by, "reason": reason}
        closing = []
        for leg in self.legs():
            if leg is culprit:
                closing.append(leg.close(code, reason[:120]))
            else:
                closing.append(leg.send_then_close(notice, 1000, "session ended"))
        await asyncio.gather(*closing)


class Registry:
    """The live sessions of this process, by session id."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._live: dict[str, LiveSession] = {}

    def get(self, session_id: str) -> LiveSession | None:
        """The live session with that id, if one is open."""
        return self._live.get(session_id)

    def open(self, session_id: str, number: str) -> LiveSession:
        """The live session with that id, created if needed."""
        live = self._live.get(session_id)
        if live is None:
            live = LiveSession(session_id, number, self._store, self)
            self._live[session_id] = live
        return live

    def forget(self, live: LiveSession) -> None:
        """Drop a session that has ended or has no legs left."""
        if self._live.get(live.session_id) is live:
            del self._live[live.session_id]

    async def end_all(self, reason: str) -> None:
        """End every live session (server shutdown)."""
        for live in list(self._live.values()):
            await live.end("server", reason, record=True)
