"""Rendezvous and relay: pairs the two legs of a support session and copies frames between them.

Lifecycle of a live session (all transitions happen here and nowhere else)::

    (no legs) --agent joins / console opens--> ONE LEG --other leg--> PAIRED --end--> ENDED
    ONE LEG (console only) --console closes--> (no legs)     the operator may reopen the page
    ONE LEG (agent) or PAIRED --any leg closes or ends--> ENDED

Consent, as the server records it (the agent's own state machine is the authority; these are
the only reports the record accepts)::

    undecided --granted--> granted --denied--> denied
    undecided --denied---> denied
    anything else (a second grant, a grant after a denial, any report before PAIRED): violation

Each leg is read by its own task (the endpoint that serves it). Binary frames go from the
reader to a forwarder task through a one-slot queue per direction: the reader waits for the
slot, so a slow reader on the other side slows the sender instead of growing server memory (at
most one frame in the slot and one being sent, per direction). While it waits, the end of the
session wakes it at once, so an end, a disconnect or a violation on either leg is acted on
without waiting for the stuck direction. A frame that waits ``RELAY_STALL_TIMEOUT`` for the slot
ends the session: the other side stopped reading. The relay never looks inside a binary frame.
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

# Who a leg speaks for, and how its loss is described: the session's `ended_by` vocabulary.
_BY = {"agent": "customer", "console": "operator"}
_NAME = {"agent": "the customer's agent", "console": "the operator's console"}
# Consent reports the record accepts, by the current decision (None: undecided).
_CONSENT_NEXT: dict[str | None, frozenset[str]] = {
    None: frozenset({"granted", "denied"}),
    "granted": frozenset({"denied"}),
    "denied": frozenset(),
}


@dataclass
class LiveSession:
    """The in-memory side of one support session while at least one leg is open."""

    session_id: str
    number: str
    store: Store
    registry: "Registry"
    stall_timeout: float = limits.RELAY_STALL_TIMEOUT
    operator_id: int | None = None
    """The operator who created the session (ending an operator's sessions finds it by this)."""
    agent: Leg | None = None
    console: Leg | None = None
    agent_info: dict[str, Any] = field(default_factory=dict)
    paired: bool = False
    ended: bool = False
    consent_decision: str | None = None
    verified_noted: bool = False
    relayed_bytes: int = 0
    relayed_frames: int = 0
    control_messages: int = 0
    _slots: dict[str, asyncio.Queue[bytes]] = field(default_factory=dict)
    _room: dict[str, asyncio.Event] = field(default_factory=dict)
    _forwarders: list["asyncio.Task[None]"] = field(default_factory=list)
    _settled: asyncio.Event = field(default_factory=asyncio.Event)

    def legs(self) -> Iterator[Leg]:
        """The legs that are attached."""
        for leg in (self.agent, self.console):
            if leg is not None:
                yield leg

    def peer_of(self, leg: Leg) -> Leg | None:
        """The other leg."""
        return self.console if leg is self.agent else self.agent

    def queued(self, role: str) -> int:
        """Binary frames from ``role``'s leg waiting for the forwarder (never more than one)."""
        slot = self._slots.get(role)
        return 0 if slot is None else slot.qsize()

    @property
    def relaying(self) -> bool:
        """Whether a forwarder task is still running (false once the session has ended)."""
        return any(not task.done() for task in self._forwarders)

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
        for sender, receiver in ((self.agent, self.console), (self.console, self.agent)):
            self._slots[sender.role] = asyncio.Queue(maxsize=1)
            self._room[sender.role] = asyncio.Event()
            self._forwarders.append(asyncio.create_task(self._forwarder(sender.role, receiver)))
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

    def note_control(self) -> None:
        """Count one control (text) frame from either leg against the session's allowance.

        Raises:
            LimitExceeded: more than ``MAX_SESSION_CONTROL_MESSAGES`` in this session.
        """
        self.control_messages += 1
        if self.control_messages > limits.MAX_SESSION_CONTROL_MESSAGES:
            raise LimitExceeded("too many control messages")

    async def forward(self, sender: Leg, data: bytes) -> None:
        """Hand one binary frame to the forwarder towards the other leg, verbatim.

        Waits for the one-slot queue (backpressure), but returns as soon as the session ends.

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
        slot, room = self._slots[sender.role], self._room[sender.role]
        deadline = asyncio.get_running_loop().time() + self.stall_timeout
        while slot.full() and not self.ended:
            room.clear()
            left = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(room.wait(), max(0.0, left))
            except TimeoutError:
                peer = self.peer_of(sender)
                role = peer.role if peer is not None else "console"
                await self.end("server", f"{_NAME[role]} stopped reading", culprit=peer)
                return
        if not self.ended:
            slot.put_nowait(data)

    async def _forwarder(self, role: str, receiver: Leg) -> None:
        slot, room = self._slots[role], self._room[role]
        try:
            while True:
                data = await slot.get()
                room.set()
                try:
                    sent = await asyncio.wait_for(receiver.send_bytes(data), self.stall_timeout)
                except TimeoutError:
                    # Also a lone frame, with nothing queued behind it, cannot hang forever.
                    reason = f"{_NAME[receiver.role]} stopped reading"
                    await self.end("server", reason, culprit=receiver)
                    return
                if not sent:
                    break
        except Exception:
            log.exception("relay from the %s leg failed", role)
            await self.end("server", "internal error")
            return
        # The receiver is gone; its own reader may be stuck behind its slot and not notice.
        await self.end(_BY[receiver.role], f"{_NAME[receiver.role]} disconnected")

    async def consent(
        self, decision: str, scope: str | None, reason: str, address: str | None
    ) -> None:
        """Record the agent's consent decision and tell the console.

        Raises:
            ProtocolError: before the console joined, a second decision, or a grant after a
                denial (see the table in the module docstring).
        """
        if not self.paired:
            raise ProtocolError("consent before the operator joined")
        if decision not in _CONSENT_NEXT[self.consent_decision]:
            raise ProtocolError(f"consent {decision} after {self.consent_decision}")
        self.consent_decision = decision
        await self.store.record_consent(self.session_id, decision, scope, reason, address)
        if self.console is not None:
            await self.notify(
                self.console, {"type": "consent", "decision": decision, "scope": scope}
            )

    async def verified(self) -> None:
        """Record that the operator confirmed the verification codes (once; repeats ignored).

        Raises:
            ProtocolError: no agent has joined, so there is no code to confirm.
        """
        if not self.paired:
            raise ProtocolError("verified before the agent joined")
        if not self.verified_noted:
            self.verified_noted = True
            await self.store.record_verified(self.session_id)

    async def notify(self, leg: Leg, payload: dict[str, Any]) -> None:
        """Send a control message to ``leg``; a leg that cannot take it in time ends the session."""
        try:
            await asyncio.wait_for(leg.send_json(payload), self.stall_timeout)
        except TimeoutError:
            await self.end("server", f"{_NAME[leg.role]} stopped reading", culprit=leg)

    async def end(
        self,
        by: str,
        reason: str,
        *,
        culprit: Leg | None = None,
        code: int = 1008,
        record: bool = True,
    ) -> None:
        """End the session once: stop relaying, record it, tell the other legs, close them all.

        ``culprit`` is a leg that broke the rules; it is closed with ``code`` and ``reason``
        instead of getting ``session_ended``. Every leg is closed within ``CLOSE_TIMEOUT``,
        also one that stopped reading (it gets no close frame then).
        """
        if self.ended:
            return
        self.ended = True
        try:
            await self._finish(by, reason, culprit, code, record)
        finally:
            self._settled.set()

    async def settled(self) -> None:
        """Wait until the end has been recorded and every leg closed.

        A leg's endpoint waits for this before it returns: the ASGI server drops a connection
        whose app returned, and that must not overtake the ``session_ended`` being sent on it.
        """
        await self._settled.wait()

    async def _finish(
        self, by: str, reason: str, culprit: Leg | None, code: int, record: bool
    ) -> None:
        self.registry.forget(self)
        for room in self._room.values():
            room.set()  # wake readers waiting for a slot
        current = asyncio.current_task()
        for task in self._forwarders:
            if task is not current:
                task.cancel()  # releases a send stuck on a leg that stopped reading
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

    def __init__(
        self,
        store: Store,
        *,
        stall_timeout: float = limits.RELAY_STALL_TIMEOUT,
        operator_recheck: float = limits.OPERATOR_RECHECK_INTERVAL,
    ) -> None:
        self._store = store
        self._live: dict[str, LiveSession] = {}
        self.stall_timeout = stall_timeout
        """Given to each new live session (tests shorten it)."""
        self.operator_recheck = operator_recheck
        """How often a console leg re-reads its operator (tests shorten it)."""

    def get(self, session_id: str) -> LiveSession | None:
        """The live session with that id, if one is open."""
        return self._live.get(session_id)

    def open(self, session_id: str, number: str, operator_id: int | None = None) -> LiveSession:
        """The live session with that id, created if needed."""
        live = self._live.get(session_id)
        if live is None:
            live = LiveSession(
                session_id,
                number,
                self._store,
                self,
                stall_timeout=self.stall_timeout,
                operator_id=operator_id,
            )
            self._live[session_id] = live
        return live

    async def end_operator(self, operator_id: int, reason: str) -> int:
        """End every live session of one operator (disabled, or their sign-in reset).

        Each end is recorded and both legs are told ``reason``. Returns how many ended.
        """
        mine = [live for live in self._live.values() if live.operator_id == operator_id]
        for live in mine:
            await live.end("server", reason)
        return len(mine)

    def forget(self, live: LiveSession) -> None:
        """Drop a session that has ended or has no legs left."""
        if self._live.get(live.session_id) is live:
            del self._live[live.session_id]

    async def end_all(self, reason: str) -> None:
        """End every live session (server shutdown)."""
        for live in list(self._live.values()):
            await live.end("server", reason, record=True)
