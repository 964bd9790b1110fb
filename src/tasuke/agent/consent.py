"""The customer's consent, as a pure state machine.

Rule 1 (after h11's ``_state.py``): everything that decides what the operator may
do lives in this file, in the table ``_TRANSITIONS``. Nothing else in the agent
keeps its own idea of whether the screen may be sent or input injected; it asks
:meth:`Consent.may_send_screen` and :meth:`Consent.may_inject_input`.

::

    PENDING ──AllowControl──► GRANTED_CONTROL ──EndSession / WindowClosed / AgentStopping──► ENDED
       │    ──AllowView─────► GRANTED_VIEW    ──EndSession / WindowClosed / AgentStopping──► ENDED
       ├──Deny / WindowClosed / TimedOut──► DENIED
       └──AgentStopping──► ENDED

Only :class:`LocalEvent` objects move the machine: things the customer did in
the consent window or terminal, the agent's own clock, and the agent deciding to
stop. Anything that came from the network is a :class:`RemoteEvent`, a separate
type with no common base, which :meth:`Consent.handle` refuses whatever its
contents. The lookup uses the event's exact class, so a subclass of a local
event cannot sneak into the table either.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from tasuke import limits
from tasuke.errors import LocalError

__all__ = [
    "AgentStopping",
    "AllowControl",
    "AllowView",
    "Consent",
    "Decision",
    "Deny",
    "EndSession",
    "LocalEvent",
    "PromptClosed",
    "PromptOpened",
    "RemoteConsentClaim",
    "RemoteEnd",
    "RemoteEvent",
    "RemoteInput",
    "State",
    "TimedOut",
    "WindowClosed",
]


class State(enum.Enum):
    """Where the customer's consent stands."""

    PENDING = "pending"
    GRANTED_VIEW = "granted_view"
    GRANTED_CONTROL = "granted_control"
    DENIED = "denied"
    ENDED = "ended"


# --- Local events: the only things that move the machine --------------------


@dataclass(frozen=True, slots=True)
class LocalEvent:
    """Something that happened on the customer's own PC."""


@dataclass(frozen=True, slots=True)
class AllowControl(LocalEvent):
    """The customer chose "Allow control"."""


@dataclass(frozen=True, slots=True)
class AllowView(LocalEvent):
    """The customer chose "Allow view only"."""


@dataclass(frozen=True, slots=True)
class Deny(LocalEvent):
    """The customer chose "Deny" (or answered the terminal prompt with EOF)."""


@dataclass(frozen=True, slots=True)
class WindowClosed(LocalEvent):
    """The customer closed the consent window or the session bar."""


@dataclass(frozen=True, slots=True)
class EndSession(LocalEvent):
    """The customer pressed End session (or Ctrl+C)."""


@dataclass(frozen=True, slots=True)
class TimedOut(LocalEvent):
    """The agent's own clock says the prompt went unanswered too long."""


@dataclass(frozen=True, slots=True)
class AgentStopping(LocalEvent):
    """The agent itself is stopping: its connection closed, or an error."""


@dataclass(frozen=True, slots=True)
class PromptOpened(LocalEvent):
    """A further prompt opened on the customer's screen; input pauses until it closes."""


@dataclass(frozen=True, slots=True)
class PromptClosed(LocalEvent):
    """A prompt opened with :class:`PromptOpened` was answered or closed."""


# --- Remote events: parsed from the network, never accepted ------------------


@dataclass(frozen=True, slots=True)
class RemoteEvent:
    """Something the operator's side or the server said. Never moves consent."""

    source: Literal["console", "server"]


@dataclass(frozen=True, slots=True)
class RemoteConsentClaim(RemoteEvent):
    """A peer claiming that consent was given (or any scope change)."""

    state: str
    scope: str | None


@dataclass(frozen=True, slots=True)
class RemoteEnd(RemoteEvent):
    """A peer saying that the session is over."""

    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class RemoteInput(RemoteEvent):
    """Keyboard or pointer input that arrived from the operator."""


# --- What a transition reports ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """A consent decision to report to the server and the console."""

    decision: Literal["granted", "denied"]
    scope: Literal["control", "view"] | None
    reason: Literal["user", "timeout", "window_closed"]


_Row = tuple[State, Decision | None]

_GRANT_CONTROL: Final = Decision("granted", "control", "user")
_GRANT_VIEW: Final = Decision("granted", "view", "user")
_DENY_USER: Final = Decision("denied", None, "user")
_DENY_CLOSED: Final = Decision("denied", None, "window_closed")
_DENY_TIMEOUT: Final = Decision("denied", None, "timeout")

_TRANSITIONS: Final[dict[tuple[State, type[LocalEvent]], _Row]] = {
    (State.PENDING, AllowControl): (State.GRANTED_CONTROL, _GRANT_CONTROL),
    (State.PENDING, AllowView): (State.GRANTED_VIEW, _GRANT_VIEW),
    (State.PENDING, Deny): (State.DENIED, _DENY_USER),
    (State.PENDING, WindowClosed): (State.DENIED, _DENY_CLOSED),
    (State.PENDING, TimedOut): (State.DENIED, _DENY_TIMEOUT),
    (State.PENDING, AgentStopping): (State.ENDED, None),
    (State.GRANTED_CONTROL, EndSession): (State.ENDED, None),
    (State.GRANTED_CONTROL, WindowClosed): (State.ENDED, None),
    (State.GRANTED_CONTROL, AgentStopping): (State.ENDED, None),
    (State.GRANTED_VIEW, EndSession): (State.ENDED, None),
    (State.GRANTED_VIEW, WindowClosed): (State.ENDED, None),
    (State.GRANTED_VIEW, AgentStopping): (State.ENDED, None),
}
"""(state, event class) -> (next state, decision to report). Pairs not listed are
ignored: UI events race with each other (a click that lands after the timeout),
so an event that no longer applies changes nothing."""

_PROMPT_EVENTS: Final = (PromptOpened, PromptClosed)
"""Events that change the count of open prompts and never the state."""

_LOCAL_EVENTS: Final[frozenset[type[LocalEvent]]] = frozenset(
    {event for _state, event in _TRANSITIONS} | set(_PROMPT_EVENTS)
)

_GRANTED: Final = frozenset({State.GRANTED_VIEW, State.GRANTED_CONTROL})


class Consent:
    """The customer's consent for one session.

    Input is suspended until the consent prompt is answered (nothing is granted
    before); :class:`PromptOpened` and :class:`PromptClosed` count further
    prompts during the session, each of which suspends input again.
    ``control_offered`` is False when the signed grant asks for view only.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        timeout: float = limits.CONSENT_TIMEOUT,
        control_offered: bool = True,
    ) -> None:
        self._clock = clock
        self._control_offered = control_offered
        self._deadline = clock() + timeout
        self._state = State.PENDING
        self._extra_prompts = 0

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    @property
    def deadline(self) -> float:
        """Clock time at which an unanswered prompt counts as Deny."""
        return self._deadline

    def handle(self, event: LocalEvent) -> Decision | None:
        """Apply a local event; return the decision to report, if this one made it.

        Raises:
            LocalError: ``event`` is not one of the local event classes above
                (for example a :class:`RemoteEvent`). The state is unchanged.
        """
        kind = type(event)
        if kind not in _LOCAL_EVENTS:
            raise LocalError(f"consent only follows local events, not {kind.__name__}")
        if kind is PromptOpened:
            self._extra_prompts += 1
            return None
        if kind is PromptClosed:
            self._extra_prompts = max(0, self._extra_prompts - 1)
            return None
        if kind is AllowControl and not self._control_offered:
            return None  # the grant asked for view only; control cannot be given
        row = _TRANSITIONS.get((self._state, kind))
        if row is None:
            return None
        self._state, decision = row
        return decision

    def poll(self) -> Decision | None:
        """Check the clock: an unanswered prompt past its deadline becomes Deny."""
        if self._state is State.PENDING and self._clock() >= self._deadline:
            return self.handle(TimedOut())
        return None

    def may_send_screen(self) -> bool:
        """True only while a grant (view or control) is in force."""
        return self._state in _GRANTED

    def may_inject_input(self) -> bool:
        """True only with control granted and no prompt open on the customer's screen."""
        return self._state is State.GRANTED_CONTROL and self._extra_prompts == 0

    @property
    def scope(self) -> Literal["control", "view"] | None:
        """The granted scope, or None when nothing is granted."""
        if self._state is State.GRANTED_CONTROL:
            return "control"
        if self._state is State.GRANTED_VIEW:
            return "view"
        return None
