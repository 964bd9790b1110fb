"""Test helpers: an agent and a console E2ESession wired through an in-memory link.

Like h11's ``ConnectionPair``: no sockets, no sleeps. The link passes every frame through a
relay, which by default forwards it verbatim (as the real server does). Attack tests plug in a
malicious relay instead.
"""

import hashlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tasuke.e2e import ChannelData, E2ESession, Event, Role, Suite
from tasuke.e2e.session import DEFAULT_SUITES
from tasuke.e2e.wire import MessageType

__all__ = [
    "SESSION_ID",
    "KeySwappingRelay",
    "Pair",
    "Relay",
    "counter_rng",
    "pair",
]

SESSION_ID = bytes.fromhex("00112233445566778899aabbccddeeff")

Relay = Callable[[Role, bytes], list[tuple[Role, bytes]]]
"""(sender role, frame) -> [(receiver role, frame), ...]: what the relay delivers instead."""


def counter_rng(seed: bytes) -> Callable[[int], bytes]:
    """Deterministic bytes: SHA-256 in counter mode over ``seed``."""
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
            counter += 1
        return out[:n]

    return rng


def _other(role: Role) -> Role:
    return Role.CONSOLE if role is Role.AGENT else Role.AGENT


def _verbatim(sender: Role, frame: bytes) -> list[tuple[Role, bytes]]:
    return [(_other(sender), frame)]


@dataclass
class Pair:
    """An agent and a console joined by a relay; ``log`` keeps every frame each side sent."""

    agent: E2ESession
    console: E2ESession
    relay: Relay = _verbatim
    log: list[tuple[Role, bytes]] = field(default_factory=list)

    def side(self, role: Role) -> E2ESession:
        """The session playing ``role``."""
        return self.agent if role is Role.AGENT else self.console

    def pump(self) -> None:
        """Deliver frames one at a time, in the order sent, until nobody has anything to send.

        A frame that makes the receiver fail raises its E2EError out of here.
        """
        queue: deque[tuple[Role, bytes]] = deque()
        while True:
            for session in (self.agent, self.console):
                for frame in session.frames_to_send():
                    self.log.append((session.role, frame))
                    queue.extend(self.relay(session.role, frame))
            if not queue:
                return
            receiver, frame = queue.popleft()
            self.side(receiver).receive_frame(frame)

    def handshake(self) -> tuple[list[Event], list[Event]]:
        """Run the whole handshake; return (agent events, console events)."""
        self.agent.initiate()
        self.pump()
        return self.agent.events_received(), self.console.events_received()

    def agent_to_console(self, channel: int, payload: bytes) -> list[Event]:
        """Send one record from the agent and return the console's events."""
        self.agent.send(channel, payload)
        self.pump()
        return self.console.events_received()

    def console_to_agent(self, channel: int, payload: bytes) -> list[Event]:
        """Send one record from the console and return the agent's events."""
        self.console.send(channel, payload)
        self.pump()
        return self.agent.events_received()


def pair(
    *,
    agent_suites: Iterable[Suite] = DEFAULT_SUITES,
    console_suites: Iterable[Suite] = DEFAULT_SUITES,
    relay: Relay = _verbatim,
    seed: bytes = b"pair",
) -> Pair:
    """Make a fresh agent/console pair on SESSION_ID with deterministic randomness."""
    return Pair(
        agent=E2ESession(
            Role.AGENT, SESSION_ID, rng=counter_rng(seed + b" agent"), suites=agent_suites
        ),
        console=E2ESession(
            Role.CONSOLE, SESSION_ID, rng=counter_rng(seed + b" console"), suites=console_suites
        ),
        relay=relay,
    )


class KeySwappingRelay:
    """A malicious relay that runs its own handshake with each side (a man in the middle).

    It plays console towards the agent and agent towards the console, with its own keys, so
    each real side completes a handshake with the relay. It honours the commitment rule (it
    sends its own Commit before it can see the console's key). Options:

    - ``forward_confirms``: deliver the real sides' Confirm messages in place of its own, as a
      relay that swapped keys but cannot forge MACs would have to.
    - ``reencrypt``: after the handshake, decrypt each record with one half's keys and
      re-encrypt it with the other's (full interception, which only the spoken verification
      code reveals); otherwise records are forwarded verbatim.
    """

    def __init__(self, *, forward_confirms: bool = False, reencrypt: bool = False) -> None:
        self.to_agent = E2ESession(Role.CONSOLE, SESSION_ID, rng=counter_rng(b"mitm console"))
        self.to_console = E2ESession(Role.AGENT, SESSION_ID, rng=counter_rng(b"mitm agent"))
        self.forward_confirms = forward_confirms
        self.reencrypt = reencrypt
        self.plaintexts: list[bytes] = []
        self._real_agent_confirm: bytes | None = None
        self._fake_confirm_waiting = False

    def _facing(self, role: Role) -> E2ESession:
        return self.to_agent if role is Role.AGENT else self.to_console

    def __call__(self, sender: Role, frame: bytes) -> list[tuple[Role, bytes]]:
        """Intercept one frame from ``sender``; return what each real side receives."""
        receiver = _other(sender)
        if frame[0] == MessageType.RECORD and not self.reencrypt:
            return [(receiver, frame)]
        if self.forward_confirms and frame[0] == MessageType.CONFIRM:
            if sender is Role.AGENT:
                self._real_agent_confirm = frame
                if self._fake_confirm_waiting:
                    return [(Role.CONSOLE, frame)]
                return []
            return [(receiver, frame)]
        near, far = self._facing(sender), self._facing(receiver)
        near.receive_frame(frame)
        if frame[0] == MessageType.COMMIT:
            self.to_console.initiate()
        for event in near.events_received():
            if isinstance(event, ChannelData):
                self.plaintexts.append(event.data)
                far.send(event.channel, event.data)
        far.events_received()
        out = [(Role.AGENT, f) for f in self.to_agent.frames_to_send()]
        for f in self.to_console.frames_to_send():
            if self.forward_confirms and f[0] == MessageType.CONFIRM:
                # Swap the relay's own MAC for the real agent's, which is all it can offer.
                if self._real_agent_confirm is None:
                    self._fake_confirm_waiting = True
                    continue
                f = self._real_agent_confirm
            out.append((Role.CONSOLE, f))
        return out
