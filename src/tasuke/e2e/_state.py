"""The handshake state machine of the end-to-end channel, as tables.

Rule (after h11's ``_state.py``): everything that decides whether a message or a local call is
allowed lives here. ``session.py`` asks :class:`StateMachine` before it does anything, so a
message type that is not in the table for the current state is refused by default.

::

    agent                                              console
    START  --initiate()-->  WAIT_ACCEPT                START
           ----------------- Commit ----------------->  WAIT_REVEAL
    WAIT_CONFIRM  <--------- Accept ------------------
           ----------------- Reveal ----------------->  WAIT_CONFIRM
           ----------------- Confirm(agent) --------->  ESTABLISHED
    ESTABLISHED  <---------- Confirm(console) --------
           <================ records both ways =======>

Any error, and ``destroy()``, moves either role to DEAD, which has no way out.
"""

import enum
from typing import Final

from tasuke.e2e.wire import MessageType
from tasuke.errors import E2EError

__all__ = ["TRANSITIONS", "Action", "Event", "Role", "State", "StateMachine"]


class Role(enum.Enum):
    """Which end of the channel a session is."""

    AGENT = "agent"
    CONSOLE = "console"


class State(enum.Enum):
    """Where a session is in its life."""

    START = "start"
    WAIT_ACCEPT = "wait_accept"
    WAIT_REVEAL = "wait_reveal"
    WAIT_CONFIRM = "wait_confirm"
    ESTABLISHED = "established"
    DEAD = "dead"


class Action(enum.Enum):
    """Local calls that the state machine governs, next to received message types."""

    INITIATE = "initiate"
    SEND = "send"


Event = MessageType | Action

TRANSITIONS: Final[dict[Role, dict[tuple[State, Event], State]]] = {
    Role.AGENT: {
        (State.START, Action.INITIATE): State.WAIT_ACCEPT,
        (State.WAIT_ACCEPT, MessageType.ACCEPT): State.WAIT_CONFIRM,
        (State.WAIT_CONFIRM, MessageType.CONFIRM): State.ESTABLISHED,
        (State.ESTABLISHED, MessageType.RECORD): State.ESTABLISHED,
        (State.ESTABLISHED, Action.SEND): State.ESTABLISHED,
    },
    Role.CONSOLE: {
        (State.START, MessageType.COMMIT): State.WAIT_REVEAL,
        (State.WAIT_REVEAL, MessageType.REVEAL): State.WAIT_CONFIRM,
        (State.WAIT_CONFIRM, MessageType.CONFIRM): State.ESTABLISHED,
        (State.ESTABLISHED, MessageType.RECORD): State.ESTABLISHED,
        (State.ESTABLISHED, Action.SEND): State.ESTABLISHED,
    },
}
"""(state, event) -> next state, per role. Anything missing is a protocol violation."""


class StateMachine:
    """The current state of one session and the only code that changes it."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = State.START

    def advance(self, event: Event) -> State:
        """Move to the state the table gives for ``event``, or die.

        Raises:
            E2EError: the event is not allowed in the current state.
        """
        if self.state is State.DEAD:
            raise E2EError("the end-to-end session has ended")
        following = TRANSITIONS[self.role].get((self.state, event))
        if following is None:
            current = self.state
            self.state = State.DEAD
            raise E2EError(f"{event.name.lower()} not allowed in state {current.value}")
        self.state = following
        return following

    def kill(self) -> None:
        """Enter DEAD; every later event is refused."""
        self.state = State.DEAD
